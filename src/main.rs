//! The `hallpass` command line: check-config, scan, serve, quarantine, user, roster (the store
//! commands live in `admin`). Errors go to stderr; exit status 2 for bad usage or configuration,
//! 1 for a runtime failure.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod admin;

use hallpass::config::Config;
use hallpass::directory::Directory;

#[derive(Parser)]
#[command(
    name = "hallpass",
    version,
    about = "Email data-loss-prevention filter for UK schools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load a configuration and everything it points to; print per-school counts.
    CheckConfig {
        /// The configuration file (TOML).
        config: PathBuf,
    },
    /// Run the relay: SMTP/LMTP listeners from [relay], scanning every message.
    Serve {
        /// The configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Log lines as text (default) or one JSON object per line. RUST_LOG sets the level.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        log_format: String,
        /// For benchmarks only: hand every message to the next hop without scanning it, to
        /// measure the relay's own cost. Never in production: nothing is checked.
        #[arg(long)]
        no_scan: bool,
    },
    /// Scan one message and show what was found and each recipient's action.
    Scan {
        /// The configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Envelope sender (default: the From header).
        #[arg(long)]
        from: Option<String>,
        /// Envelope recipient; repeat for several (default: To, Cc and Bcc headers).
        #[arg(long = "to")]
        to: Vec<String>,
        /// One JSON object instead of the human report.
        #[arg(long)]
        json: bool,
        /// Scan as if it were this time (RFC 3339), for replaying old mail and for tests:
        /// it stands in for a missing or absurd Date header and dates the DOB check.
        #[arg(long, value_parser = parse_now)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        /// The message file (.eml), or - for standard input.
        message: PathBuf,
    },
    /// The quarantine: list, show, release, delete held items; purge; rotate the key.
    Quarantine {
        #[command(subcommand)]
        command: admin::QuarantineCommand,
    },
    /// The daily summary for each school's data lead (and the DSL's out-of-hours summary):
    /// printed, or sent through the next hop with --send.
    Digest {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        send: bool,
    },
    /// Reviewers who may sign in to the review page.
    User {
        #[command(subcommand)]
        command: admin::UserCommand,
    },
    /// Inspect the school directory loaded from the MIS exports.
    Roster {
        #[command(subcommand)]
        command: RosterCommand,
    },
}

#[derive(Subcommand)]
enum RosterCommand {
    /// Counts and the first rows of a school's roster, names masked.
    Show {
        /// The configuration file (TOML).
        config: PathBuf,
        /// Only this school (its `id`).
        #[arg(long)]
        school: Option<String>,
        /// How many rows to show.
        #[arg(long, default_value_t = 10)]
        rows: usize,
        /// Print names and identifiers in full. The directory is personal data.
        #[arg(long)]
        unmasked: bool,
    },
    /// Write a synthetic roster (fictional pupils, valid identifiers) for tests and benches.
    Generate {
        /// How many pupils.
        #[arg(long, default_value_t = 500)]
        pupils: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The pupils' mail domain.
        #[arg(long, default_value = "pupils.example.sch.uk")]
        pupil_domain: String,
        /// Write a DfE Common Transfer File instead of a SIMS-style CSV.
        #[arg(long)]
        ctf: bool,
        /// Write a staff file of this many staff instead (school domain from --pupil-domain).
        #[arg(long)]
        staff: Option<usize>,
        /// More distinct names (invented forenames, double-barrelled surnames) for large rosters.
        #[arg(long)]
        varied: bool,
    },
}

/// A failure with its exit status.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

fn usage(e: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: 2,
        error: e.into(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::CheckConfig { config } => check_config(&config),
        Command::Serve {
            config,
            log_format,
            no_scan,
        } => serve(&config, log_format == "json", no_scan),
        Command::Quarantine { command } => {
            admin::quarantine(command).map_err(|e| Failure { code: 1, error: e })
        }
        Command::Digest { config, send } => {
            admin::digest(&config, send).map_err(|e| Failure { code: 1, error: e })
        }
        Command::User { command } => {
            admin::user(command).map_err(|e| Failure { code: 1, error: e })
        }
        Command::Scan {
            config,
            from,
            to,
            json,
            now,
            message,
        } => scan(
            &config,
            from,
            to,
            json,
            now.unwrap_or_else(chrono::Utc::now),
            &message,
        ),
        Command::Roster {
            command:
                RosterCommand::Show {
                    config,
                    school,
                    rows,
                    unmasked,
                },
        } => roster_show(&config, school.as_deref(), rows, unmasked),
        Command::Roster {
            command:
                RosterCommand::Generate {
                    pupils,
                    seed,
                    pupil_domain,
                    ctf,
                    staff,
                    varied,
                },
        } => {
            use hallpass::synth;
            let out = if let Some(n) = staff {
                synth::staff_csv(n, seed, &pupil_domain)
            } else {
                let spec = synth::RosterSpec {
                    pupils,
                    seed,
                    la: 881,
                    estab: 4000 + (seed % 1000) as u16,
                    pupil_domain: &pupil_domain,
                    varied,
                };
                if ctf {
                    synth::roster_ctf(&spec)
                } else {
                    synth::roster_csv(&spec)
                }
            };
            use std::io::Write;
            std::io::stdout()
                .lock()
                .write_all(out.as_bytes())
                .map_err(|e| Failure {
                    code: 1,
                    error: e.into(),
                })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("hallpass: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}

fn load(path: &std::path::Path) -> Result<(Config, Directory), Failure> {
    let config = Config::load(path).map_err(usage)?;
    let dir = Directory::load(&config.site).map_err(usage)?;
    Ok((config, dir))
}

fn serve(path: &std::path::Path, json: bool, no_scan: bool) -> Result<(), Failure> {
    use std::sync::Arc;
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        log.json().init();
    } else {
        log.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let config = Config::load(path).map_err(usage)?;
    let mut relay = config
        .relay
        .resolve(&config.site.base_dir)
        .map_err(|e| usage(anyhow::anyhow!("{}: {e}", path.display())))?;
    if no_scan {
        tracing::warn!(
            "--no-scan: scanning is OFF, every message goes to the next hop unchecked (benchmarks only)"
        );
        relay.no_scan = true;
    }
    std::fs::create_dir_all(&relay.data_dir).map_err(|e| Failure {
        code: 1,
        error: anyhow::anyhow!("{}: {e}", relay.data_dir.display()),
    })?;
    let in_force = config
        .in_force(&relay.hostname, &relay.data_dir)
        .map_err(usage)?;
    let scanner = in_force.scanner.clone();
    let runtime = |e: std::io::Error| Failure {
        code: 1,
        error: e.into(),
    };
    let rt = tokio::runtime::Runtime::new().map_err(runtime)?;
    rt.block_on(async move {
        let store = hallpass::quarantine::open(&config.quarantine, &relay.data_dir)
            .map_err(|e| runtime(std::io::Error::other(e)))?;
        // Which key this relay seals with, for a rotation run anywhere on this store; a key
        // file older than the store's last rotation stops the start here.
        let node = format!("{}:{}", relay.hostname, relay.data_dir.display());
        {
            let (s, n) = (store.clone(), node.clone());
            tokio::task::spawn_blocking(move || s.key_in_use(&n))
                .await
                .map_err(|e| runtime(std::io::Error::other(e)))?
                .map_err(|e| runtime(std::io::Error::other(e)))?;
        }
        let server = Arc::new(
            hallpass::smtp::Server::new(relay.clone(), in_force, store.clone())
                .map_err(runtime)?,
        );
        let listeners = server.bind().await.map_err(runtime)?;
        // The bound addresses (a port of 0 in the config is chosen by the kernel).
        for (listener, lmtp) in &listeners {
            let addr = listener.local_addr().map_err(runtime)?;
            tracing::info!(listen = %addr, lmtp, next_hop = ?relay.next_hop, "hallpass relay listening");
        }
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut review = None;
        if !config.review.listen.is_empty() {
            let listener = tokio::net::TcpListener::bind(&config.review.listen)
                .await
                .map_err(|e| {
                    runtime(std::io::Error::new(
                        e.kind(),
                        format!("cannot listen on {} for the review page: {e}", config.review.listen),
                    ))
                })?;
            let app = Arc::new(hallpass::review::App {
                store: store.clone(),
                deliverer: hallpass::deliver::Deliverer::new(&relay.next_hop).map_err(runtime)?,
                site: config.site.clone(),
                review: config.review.clone(),
                scanner: Some(scanner.clone()),
                notifier: server.dispatch.notifier(),
                throttle: Default::default(),
            });
            let addr = listener.local_addr().map_err(runtime)?;
            tracing::info!(listen = %addr, url = %config.review.base_url().unwrap_or_default(), "review page listening");
            review = Some(tokio::spawn(hallpass::review::serve(app, listener, rx.clone())));
        }
        tokio::spawn(server.dispatch.clone().digest_loop(rx.clone()));
        if !config.milter.listen.is_empty() {
            let listener = tokio::net::TcpListener::bind(&config.milter.listen)
                .await
                .map_err(|e| {
                    runtime(std::io::Error::new(
                        e.kind(),
                        format!("cannot listen on {} for the milter: {e}", config.milter.listen),
                    ))
                })?;
            let addr = listener.local_addr().map_err(runtime)?;
            tracing::info!(listen = %addr, hold = ?config.milter.hold, "milter listening");
            let milter = Arc::new(hallpass::milter::Milter {
                dispatch: server.dispatch.clone(),
                allowed: relay.allowed.clone(),
                max_message_size: relay.max_message_size,
                max_connections: relay.max_connections,
                hold: config.milter.hold,
            });
            tokio::spawn(hallpass::milter::serve(milter, listener, rx.clone()));
        }
        if !config.metrics.listen.is_empty() {
            let listener = tokio::net::TcpListener::bind(&config.metrics.listen)
                .await
                .map_err(|e| {
                    runtime(std::io::Error::new(
                        e.kind(),
                        format!("cannot listen on {} for metrics: {e}", config.metrics.listen),
                    ))
                })?;
            let addr = listener.local_addr().map_err(runtime)?;
            tracing::info!(listen = %addr, "metrics, /healthz and /readyz listening");
            let health = Arc::new(hallpass::metrics::Health {
                probe: Arc::new(hallpass::quarantine::StoreProbe(store.clone())),
            });
            let mut stop = rx.clone();
            tokio::spawn(async move {
                let _ = axum::serve(listener, hallpass::metrics::router(health))
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await;
            });
        }
        tokio::spawn(hallpass::review::retention_loop(
            store.clone(),
            node.clone(),
            config.quarantine.retention_days,
            rx.clone(),
        ));
        let serving = tokio::spawn(server.clone().serve(listeners, rx));
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(runtime)?;
        let mut hup = signal(SignalKind::hangup()).map_err(runtime)?;
        // systemd: ready once every listener is bound; the watchdog is fed from the runtime
        // (a wedged runtime stops feeding it and systemd restarts the service).
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        tracing::info!("ready: every listener bound, SIGHUP reloads, SIGTERM stops");
        if let Some(every) = sd_notify::watchdog_enabled() {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every / 2);
                loop {
                    tick.tick().await;
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                }
            });
        }
        let config_path = path.to_path_buf();
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
                _ = hup.recv() => {
                    let mut states = vec![sd_notify::NotifyState::Reloading];
                    if let Ok(t) = sd_notify::NotifyState::monotonic_usec_now() {
                        states.push(t);
                    }
                    let _ = sd_notify::notify(&states);
                    let (q, n) = (store.clone(), node.clone());
                    let keys = tokio::task::spawn_blocking(move || match q.reload_keys() {
                        Err(e) => Err(format!("{e}; still sealing with the key already loaded")),
                        Ok(()) => q
                            .key_in_use(&n)
                            .map_err(|e| format!("{e}; held mail is deferred (4xx) until this is mended")),
                    })
                    .await;
                    match keys {
                        Ok(Ok(())) => tracing::info!("quarantine key file read again"),
                        Ok(Err(e)) => tracing::error!(error = %e, "quarantine key file"),
                        Err(e) => tracing::error!(error = %e, "quarantine key file not reloaded"),
                    }
                    let s = server.clone();
                    let p = config_path.clone();
                    match tokio::task::spawn_blocking(move || hallpass::config::reload(&s, &p)).await {
                        Ok(Ok(())) => {
                            hallpass::metrics::get().reload(true);
                            tracing::info!(config = %config_path.display(), "reloaded: config, rosters, staff, patterns, templates, TLS certificate");
                        }
                        Ok(Err(e)) => {
                            hallpass::metrics::get().reload(false);
                            tracing::error!(error = %e, "reload failed; still running on the previous configuration");
                        }
                        Err(e) => {
                            hallpass::metrics::get().reload(false);
                            tracing::error!(error = %e, "reload failed; still running on the previous configuration");
                        }
                    }
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
                }
            }
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        tracing::info!("shutting down: no new connections; finishing transactions in progress");
        let _ = tx.send(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(60), serving).await;
        if let Some(r) = review {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), r).await;
        }
        Ok(())
    })
}

/// The largest message `hallpass scan` reads.
const MAX_MESSAGE: u64 = 100 << 20;

fn read_message(path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    use std::io::Read;
    let runtime = |e: anyhow::Error| Failure { code: 1, error: e };
    let mut buf = Vec::new();
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(path)
                .map_err(|e| runtime(anyhow::anyhow!("{}: cannot read: {e}", path.display())))?,
        )
    };
    reader
        .take(MAX_MESSAGE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| runtime(anyhow::anyhow!("{}: cannot read: {e}", path.display())))?;
    if buf.len() as u64 > MAX_MESSAGE {
        return Err(runtime(anyhow::anyhow!(
            "{}: message larger than {} MB",
            path.display(),
            MAX_MESSAGE >> 20
        )));
    }
    Ok(buf)
}

fn parse_now(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&chrono::Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 time such as 2026-11-25T10:00:00Z: {e}"))
}

fn scan(
    config: &std::path::Path,
    from: Option<String>,
    to: Vec<String>,
    json: bool,
    now: chrono::DateTime<chrono::Utc>,
    message: &std::path::Path,
) -> Result<(), Failure> {
    use hallpass::scan::Envelope;
    let config = Config::load(config).map_err(usage)?;
    let scanner = config.scanner().map_err(usage)?;
    let raw = read_message(message)?;
    let headers = hallpass::scan::mime::envelope_from_headers(&raw);
    let envelope = Envelope {
        mail_from: from.unwrap_or(headers.mail_from),
        rcpt_to: if to.is_empty() { headers.rcpt_to } else { to },
    };
    let report = scanner.scan(&raw, &envelope, now);
    let decision =
        hallpass::policy::decide(&config.policy(), &scanner.classifier, &report, &envelope);
    let out = hallpass::policy::output::ScanOutput::new(&report, &decision);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("serialisable")
        );
    } else {
        print!("{}", out.human());
    }
    Ok(())
}

fn check_config(path: &std::path::Path) -> Result<(), Failure> {
    let (config, dir) = load(path)?;
    println!(
        "{}: OK — trust {:?}, {} school(s)",
        path.display(),
        config.site.trust.name,
        config.site.schools.len()
    );
    for (school, st) in config.site.schools.iter().zip(&dir.stats) {
        println!(
            "  {} ({}): {} pupils, {} staff, {} contacts, {} rows skipped",
            school.id, school.name, st.pupils, st.staff, st.contacts, st.rows_skipped
        );
        for issue in &st.issues {
            println!("    warning: {issue}");
        }
    }
    Ok(())
}

fn roster_show(
    path: &std::path::Path,
    school: Option<&str>,
    rows: usize,
    unmasked: bool,
) -> Result<(), Failure> {
    let (config, dir) = load(path)?;
    if let Some(id) = school
        && !config.site.schools.iter().any(|s| s.id == id)
    {
        let ids: Vec<&str> = config.site.schools.iter().map(|s| s.id.as_str()).collect();
        return Err(usage(anyhow::anyhow!(
            "no school {id:?} in {} (schools: {})",
            path.display(),
            ids.join(", ")
        )));
    }
    for (i, (s, st)) in config.site.schools.iter().zip(&dir.stats).enumerate() {
        if school.is_some_and(|id| id != s.id) {
            continue;
        }
        println!(
            "{} ({}): {} pupils, {} staff, {} contacts, {} rows skipped",
            s.id, s.name, st.pupils, st.staff, st.contacts, st.rows_skipped
        );
        println!(
            "  {:<6} {:<28} {:<10} {:<14} {}",
            "line", "name", "dob", "upn", "adno"
        );
        let mut shown = 0;
        for (pid, p) in dir.pupils.iter().enumerate() {
            if p.school as usize != i || shown >= rows {
                continue;
            }
            shown += 1;
            let pid = pid as u32;
            let (name, upn, dob, adno) = if unmasked {
                (
                    dir.full_name_unmasked(pid),
                    p.upn
                        .map(|u| String::from_utf8_lossy(&u).into_owned())
                        .unwrap_or_default(),
                    p.dob
                        .map(|d| d.format("%Y-%m-%d").to_string())
                        .unwrap_or_default(),
                    dir.adno_written(p.adno),
                )
            } else {
                (
                    dir.masked_name(pid),
                    p.upn
                        .map(|u| format!("{}************", u[0] as char))
                        .unwrap_or_default(),
                    p.dob.map(|_| "****-**-**".to_string()).unwrap_or_default(),
                    if p.adno == hallpass::directory::NO_ADNO {
                        String::new()
                    } else {
                        "****".into()
                    },
                )
            };
            println!(
                "  {:<6} {:<28} {:<10} {:<14} {}",
                p.line, name, dob, upn, adno
            );
        }
    }
    Ok(())
}
