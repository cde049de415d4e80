//! The CLI's store commands (`hallpass quarantine …`, `hallpass user …`): the same store
//! and the same actions as the review page, for scripts and for the first admin account.
//! Every change is audited under the name `cli:$USER`.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;

use hallpass::config::Config;
use hallpass::quarantine::{QuarantineStore, Query, Role, Scope, Status, User};
use hallpass::review::{actions, auth};

#[derive(Subcommand)]
pub enum QuarantineCommand {
    /// Held items, newest first (or with --status any|released|…).
    List {
        #[arg(long)]
        config: std::path::PathBuf,
        #[arg(long, default_value = "held")]
        status: String,
        #[arg(long)]
        school: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// One item: envelope, findings, status (add --raw for the message itself).
    Show {
        #[arg(long)]
        config: std::path::PathBuf,
        reference: String,
        /// Print the original message instead (audited).
        #[arg(long)]
        raw: bool,
    },
    /// Deliver a held item to all its held recipients (or --to chosen ones).
    Release {
        #[arg(long)]
        config: std::path::PathBuf,
        reference: String,
        #[arg(long = "to")]
        to: Vec<String>,
        #[arg(long)]
        note: Option<String>,
    },
    /// Delete a held item (its record and the audit entry stay).
    Delete {
        #[arg(long)]
        config: std::path::PathBuf,
        reference: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Expire held items older than the retention period now ([quarantine] retention_days).
    Purge {
        #[arg(long)]
        config: std::path::PathBuf,
    },
    /// New encryption key; every held message and record is resealed with it. The old keys
    /// are retired once every running relay seals with the new one (else: copy the key
    /// file, reload, and run it again with --finish; docs/quarantine.md).
    RotateKey {
        #[arg(long)]
        config: std::path::PathBuf,
        /// Finish a rotation started earlier: reseal what relays sealed with an older key
        /// meanwhile and retire the old keys, once every relay seals with the new one.
        #[arg(long)]
        finish: bool,
    },
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a reviewer (or change their password, role or school).
    Add {
        #[arg(long)]
        config: std::path::PathBuf,
        name: String,
        #[arg(long, value_parser = ["dpl", "dsl", "admin"])]
        role: String,
        /// The school (its `id`) a DPL or DSL reviews; none means the whole trust.
        #[arg(long)]
        school: Option<String>,
        /// Read the password from standard input (otherwise it is asked for on the terminal).
        #[arg(long)]
        password_stdin: bool,
    },
    /// The reviewers.
    List {
        #[arg(long)]
        config: std::path::PathBuf,
    },
}

type Opened = (
    Config,
    hallpass::smtp::config::Relay,
    Arc<dyn QuarantineStore>,
);

fn open(config: &Path) -> anyhow::Result<Opened> {
    let c = Config::load(config)?;
    let relay = c
        .relay
        .resolve(&c.site.base_dir)
        .map_err(|e| anyhow!("{}: {e}", config.display()))?;
    let store = hallpass::quarantine::open(&c.quarantine, &relay.data_dir)?;
    Ok((c, relay, store))
}

fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "unknown".into())
    )
}

pub fn quarantine(cmd: QuarantineCommand) -> anyhow::Result<()> {
    match cmd {
        QuarantineCommand::List {
            config,
            status,
            school,
            limit,
            json,
        } => {
            let (_, _, store) = open(&config)?;
            let status = match status.as_str() {
                "any" => None,
                s => Some(Status::parse(s).ok_or_else(|| anyhow!("unknown status {s:?}"))?),
            };
            let page = store.query(&Query {
                status,
                school,
                per_page: limit.clamp(1, 500),
                ..Query::default()
            })?;
            for i in &page.items {
                if json {
                    println!("{}", serde_json::to_string(i)?);
                } else {
                    println!(
                        "{}  {}  {:9}  {:6}  {}  [{}]",
                        i.reference,
                        i.received.format("%Y-%m-%d %H:%M"),
                        i.status,
                        i.school,
                        i.sender,
                        i.kinds.join(",")
                    );
                }
            }
            if !json {
                eprintln!("{} of {} item(s)", page.items.len(), page.total);
            }
        }
        QuarantineCommand::Show {
            config,
            reference,
            raw,
        } => {
            let (_, _, store) = open(&config)?;
            let item = store
                .get(&reference, &Scope::default())?
                .ok_or_else(|| anyhow!("{reference}: no such item"))?;
            if raw {
                let m = store
                    .message(&reference)?
                    .ok_or_else(|| anyhow!("{reference}: the message is no longer kept"))?;
                store.audit(&actor(), "downloaded", &reference, "printed by the CLI")?;
                use std::io::Write;
                std::io::stdout().write_all(&m)?;
            } else {
                store.audit(&actor(), "viewed", &reference, "shown by the CLI")?;
                println!("{}", serde_json::to_string_pretty(&item)?);
            }
        }
        QuarantineCommand::Release {
            config,
            reference,
            to,
            note,
        } => {
            let (c, relay, store) = open(&config)?;
            // The sender's release notice masks names in the subject: that needs the roster.
            let scanner = Arc::new(c.scanner()?);
            let notifier = c.notifier(&relay.hostname, &relay.data_dir, Some(scanner))?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let sent = rt.block_on(async {
                let d = hallpass::deliver::Deliverer::new(&relay.next_hop)?;
                actions::release(
                    &*store,
                    &d,
                    Some(&notifier),
                    &reference,
                    &Scope::default(),
                    &actor(),
                    &to,
                    note.as_deref(),
                )
                .await
                .map_err(anyhow::Error::from)
            })?;
            println!("{reference}: released to {}", sent.join(", "));
        }
        QuarantineCommand::Delete {
            config,
            reference,
            note,
        } => {
            let (_, _, store) = open(&config)?;
            actions::delete(
                &*store,
                &reference,
                &Scope::default(),
                &actor(),
                note.as_deref(),
            )?;
            println!("{reference}: deleted");
        }
        QuarantineCommand::Purge { config } => {
            let (c, _, store) = open(&config)?;
            let n = store.purge(chrono::Utc::now(), c.quarantine.retention_days)?;
            println!(
                "{n} held item(s) older than {} days expired",
                c.quarantine.retention_days
            );
        }
        QuarantineCommand::RotateKey { config, finish } => {
            let (_, relay, store) = open(&config)?;
            let key_file = relay.data_dir.join("quarantine.key");
            let r = store.rotate_key(!finish)?;
            let detail = if r.waiting.is_empty() {
                format!(
                    "key {} seals; {} item(s) resealed; {} old key(s) retired",
                    r.key_id,
                    r.resealed,
                    r.retired.len()
                )
            } else {
                format!(
                    "key {} seals; {} item(s) resealed; old keys kept: {} relay(s) still seal with an older key",
                    r.key_id,
                    r.resealed,
                    r.waiting.len()
                )
            };
            store.audit(&actor(), "rotated_key", "-", &detail)?;
            if r.waiting.is_empty() {
                println!(
                    "key {} in use; {} item(s) resealed; old keys removed from {}",
                    r.key_id,
                    r.resealed,
                    key_file.display()
                );
            } else {
                println!(
                    "key {} added to {} and {} item(s) resealed with it; old keys kept (they still open).",
                    r.key_id,
                    key_file.display(),
                    r.resealed
                );
                println!("These relays still seal with an older key:");
                for (node, key, at) in &r.waiting {
                    println!(
                        "  {node}  (key {key}, reported {})",
                        at.format("%Y-%m-%d %H:%M UTC")
                    );
                }
                println!(
                    "Copy {} to each of them (mode 0600; a relay on this data directory reads it already), reload them (systemctl reload hallpass), then run:\n  hallpass quarantine rotate-key --finish --config {}",
                    key_file.display(),
                    config.display()
                );
                if finish {
                    bail!(
                        "rotation not finished: {} relay(s) still seal with an older key",
                        r.waiting.len()
                    );
                }
            }
        }
    }
    Ok(())
}

pub fn user(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            config,
            name,
            role,
            school,
            password_stdin,
        } => {
            let (c, _, store) = open(&config)?;
            if name.is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|ch| ch.is_alphanumeric() || "._-@".contains(ch))
            {
                bail!("a user name is 1-64 letters, digits and . _ - @");
            }
            if let Some(s) = &school
                && !c.site.schools.iter().any(|x| &x.id == s)
            {
                bail!(
                    "no school with id {s:?} in {} (ids: {})",
                    config.display(),
                    c.site
                        .schools
                        .iter()
                        .map(|x| x.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            let password = if password_stdin {
                let mut p = String::new();
                std::io::stdin()
                    .take(1024)
                    .read_to_string(&mut p)
                    .context("reading the password from standard input")?;
                p.trim_end_matches(['\r', '\n']).to_string()
            } else {
                eprint!("Password for {name}: ");
                let mut p = String::new();
                std::io::stdin().read_line(&mut p)?;
                p.trim_end_matches(['\r', '\n']).to_string()
            };
            if password.chars().count() < 12 {
                bail!("the password must have at least 12 characters");
            }
            let hash = auth::hash_password(&password).map_err(|e| anyhow!(e))?;
            let role = Role::parse(&role).expect("clap checked it");
            store.put_user(&User {
                name: name.clone(),
                password_hash: hash,
                role,
                school: school.clone(),
            })?;
            store.audit(
                &actor(),
                "user_saved",
                "-",
                &format!("{name} as {}", role.as_str()),
            )?;
            println!(
                "{name}: {} of {}",
                role.as_str(),
                school.as_deref().unwrap_or("the whole trust")
            );
        }
        UserCommand::List { config } => {
            let (_, _, store) = open(&config)?;
            for u in store.users()? {
                println!(
                    "{}  {}  {}",
                    u.name,
                    u.role.as_str(),
                    u.school.as_deref().unwrap_or("(trust)")
                );
            }
        }
    }
    Ok(())
}

/// `hallpass digest`: builds today's digests; prints them, or sends them with `send`.
pub fn digest(config: &Path, send: bool) -> anyhow::Result<()> {
    let (c, relay, store) = open(config)?;
    let notifier = c.notifier(&relay.hostname, &relay.data_dir, None)?;
    let notices = hallpass::notify::digest::digests(&notifier, &*store, chrono::Utc::now())?;
    if notices.is_empty() {
        eprintln!("nothing to report");
        return Ok(());
    }
    if !send {
        for n in &notices {
            println!("==== {} to {}", n.kind, n.to);
            println!("{}", String::from_utf8_lossy(&n.message));
        }
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let d = hallpass::deliver::Deliverer::new(&relay.next_hop)?;
        for n in &notices {
            d.deliver("", std::slice::from_ref(&n.to), &n.message)
                .await
                .map_err(|e| anyhow!("{} to {}: {e}", n.kind, n.to))?;
            println!("sent {} to {}", n.kind, n.to);
        }
        store.audit(
            &actor(),
            "digest_sent",
            "-",
            &format!("{} notice(s)", notices.len()),
        )?;
        anyhow::Ok(())
    })
}
