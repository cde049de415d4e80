//! The shared quarantine backend: PostgreSQL, for a trust or a regional provider that runs
//! several relays on several machines with one review queue. Same schema and promises as
//! the SQLite store (a hold is committed before the relay says 250; a release is claimed
//! with one conditional UPDATE, so exactly one of two reviewers or relays wins). Every relay
//! must have the same `quarantine.key` (see docs/quarantine.md).
//!
//! The synchronous `postgres` client runs on a thread of its own; callers hand it jobs and
//! wait for the answer, so the store can be called from any thread, async ones included.

use std::sync::Mutex;
use std::sync::mpsc;

use chrono::{DateTime, Utc};
use postgres::types::ToSql;
use postgres::{Client, NoTls};

use super::crypto::Keyring;
use super::rows::{self, from_ts, kinds_col, kinds_vec, like_escape, ts};
use super::{
    AuditEntry, Event, HeldItem, Item, Page, QuarantineStore, Query, Result, Role, Scope, Sort,
    Stats, Status, StoreError, Summary, User,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    reference TEXT PRIMARY KEY,
    received BIGINT NOT NULL,
    school TEXT NOT NULL,
    sender TEXT NOT NULL,
    kinds TEXT NOT NULL,
    safeguarding BOOLEAN NOT NULL,
    held_count BIGINT NOT NULL,
    status TEXT NOT NULL,
    false_positive BOOLEAN NOT NULL DEFAULT FALSE,
    reviewer TEXT,
    reviewed BIGINT,
    size BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    meta BYTEA NOT NULL,
    note_key TEXT,
    note BYTEA
);
CREATE INDEX IF NOT EXISTS items_status_received ON items(status, received);
CREATE INDEX IF NOT EXISTS items_received ON items(received);
CREATE INDEX IF NOT EXISTS items_school_received ON items(school, received);
CREATE TABLE IF NOT EXISTS messages (
    reference TEXT PRIMARY KEY REFERENCES items(reference),
    key_id TEXT NOT NULL,
    body BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    school TEXT NOT NULL,
    sender TEXT NOT NULL,
    action TEXT NOT NULL,
    kinds TEXT NOT NULL,
    reference TEXT NOT NULL,
    safeguarding BOOLEAN NOT NULL
);
CREATE INDEX IF NOT EXISTS events_at ON events(at);
CREATE TABLE IF NOT EXISTS audit (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    reference TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    role TEXT NOT NULL,
    school TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    \"user\" TEXT NOT NULL REFERENCES users(name),
    csrf TEXT NOT NULL,
    expires BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS daily_runs (
    job TEXT NOT NULL,
    day TEXT NOT NULL,
    node TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (job, day)
);
";

type Job = Box<dyn FnOnce(&mut Client) + Send>;

pub struct PgStore {
    jobs: Mutex<mpsc::Sender<Job>>,
    keys: Keyring,
}

/// A statement with numbered parameters, built piece by piece.
#[derive(Default)]
struct Sql {
    text: String,
    args: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Sql {
    fn new(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            args: Vec::new(),
        }
    }
    /// Appends `text` with each `?` replaced by the next parameter.
    fn push(&mut self, text: &str, args: Vec<Box<dyn ToSql + Sync + Send>>) -> &mut Sql {
        let mut args = args.into_iter();
        for c in text.chars() {
            if c == '?' {
                self.args.push(args.next().expect("one argument per ?"));
                self.text.push_str(&format!("${}", self.args.len()));
            } else {
                self.text.push(c);
            }
        }
        self
    }
    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

fn scope_sql(scope: &Scope, sql: &mut Sql) {
    if let Some(s) = &scope.school {
        sql.push(" AND school = ?", vec![Box::new(s.clone())]);
    }
    if scope.safeguarding_only {
        sql.push(" AND safeguarding", vec![]);
    }
}

fn audit_in(
    c: &mut impl postgres::GenericClient,
    actor: &str,
    action: &str,
    reference: &str,
    detail: &str,
) -> std::result::Result<(), postgres::Error> {
    c.execute(
        "INSERT INTO audit (at, actor, action, reference, detail) VALUES ($1, $2, $3, $4, $5)",
        &[
            &Utc::now().timestamp(),
            &actor,
            &action,
            &reference,
            &detail,
        ],
    )?;
    Ok(())
}

fn event_in(
    c: &mut impl postgres::GenericClient,
    e: &Event,
) -> std::result::Result<(), postgres::Error> {
    c.execute(
        "INSERT INTO events (at, school, sender, action, kinds, reference, safeguarding) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &ts(e.at),
            &e.school,
            &e.sender,
            &e.action,
            &kinds_col(&e.kinds),
            &e.reference,
            &e.safeguarding,
        ],
    )?;
    Ok(())
}

/// The error with its causes ("error connecting to server: Connection refused").
fn pg_err(e: postgres::Error) -> StoreError {
    let mut msg = format!("postgresql: {e}");
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        msg.push_str(&format!(": {c}"));
        cause = c.source();
    }
    StoreError::Invalid(msg)
}

/// Any number, the same for every Hallpass: the advisory lock that lets one relay create or
/// migrate the schema while another starting at the same moment waits for it.
const SCHEMA_LOCK: i64 = 0x4861_6c6c_7061_7373; // "Hallpass"

/// Connects and creates the tables if needed, holding [`SCHEMA_LOCK`] for the whole schema
/// (two relays starting together: `CREATE … IF NOT EXISTS` is not safe run concurrently).
fn connect_and_migrate(url: &str) -> Result<Client> {
    let mut client = Client::connect(url, NoTls).map_err(pg_err)?;
    let mut tx = client.transaction().map_err(pg_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .map_err(pg_err)?;
    tx.batch_execute(SCHEMA).map_err(pg_err)?;
    tx.commit().map_err(pg_err)?;
    Ok(client)
}

impl PgStore {
    /// Connects (`host=… user=… dbname=…` or a `postgresql://` URL), creates the tables if
    /// needed, and opens the keyring in `data_dir`.
    pub fn open(url: &str, data_dir: &std::path::Path) -> Result<PgStore> {
        std::fs::create_dir_all(data_dir)?;
        let keys = Keyring::open_or_create(&data_dir.join("quarantine.key"))?;
        let url = url.to_string();
        // Everything the blocking client does happens on its own thread, connecting
        // included: the client runs a runtime of its own, which must never start inside the
        // caller's (`hallpass serve` opens the store from within tokio).
        let (opened_tx, opened_rx) = mpsc::sync_channel::<Result<()>>(1);
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("hallpass-postgres".into())
            .spawn(move || {
                let mut client = match connect_and_migrate(&url) {
                    Ok(c) => {
                        let _ = opened_tx.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                for job in rx {
                    if client.is_closed() {
                        match Client::connect(&url, NoTls) {
                            Ok(c) => client = c,
                            Err(e) => {
                                tracing::warn!(error = %e, "postgresql: reconnect failed");
                            }
                        }
                    }
                    job(&mut client);
                }
            })?;
        opened_rx
            .recv()
            .map_err(|_| StoreError::Invalid("postgresql: connection thread stopped".into()))??;
        Ok(PgStore {
            jobs: Mutex::new(tx),
            keys,
        })
    }

    /// Runs `f` on the connection's thread and waits for its answer.
    fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> std::result::Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(Box::new(move |c| {
                let _ = tx.send(f(c));
            }))
            .map_err(|_| StoreError::Invalid("postgresql: connection thread stopped".into()))?;
        rx.recv()
            .map_err(|_| StoreError::Invalid("postgresql: connection thread stopped".into()))?
            .map_err(pg_err)
    }

    pub fn import(&self, items: &[(HeldItem, Vec<u8>)]) -> Result<usize> {
        let mut rows_ = Vec::with_capacity(items.len());
        for (item, message) in items {
            if !super::valid_reference(&item.reference) {
                return Err(StoreError::Invalid(format!(
                    "bad reference {:?}",
                    item.reference
                )));
            }
            rows_.push((
                item.clone(),
                message.len(),
                rows::seal_meta(&self.keys, item)?,
                rows::seal_message(&self.keys, &item.reference, message)?,
            ));
        }
        let key_id = self.keys.current_id().to_string();
        let n = rows_.len();
        self.with(move |c| {
            let mut tx = c.transaction()?;
            for (item, size, meta, body) in &rows_ {
                insert_item(&mut tx, item, *size, &key_id, meta, body)?;
            }
            tx.commit()
        })?;
        Ok(n)
    }
}

fn insert_item(
    tx: &mut postgres::Transaction<'_>,
    item: &HeldItem,
    size: usize,
    key_id: &str,
    meta: &[u8],
    body: &[u8],
) -> std::result::Result<(), postgres::Error> {
    let kinds = item.kinds();
    tx.execute(
        "INSERT INTO items (reference, received, school, sender, kinds, safeguarding, held_count, status, size, key_id, meta)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'held', $8, $9, $10)",
        &[
            &item.reference,
            &ts(item.received),
            &item.school,
            &item.sender,
            &kinds_col(&kinds),
            &item.safeguarding,
            &(item.held_recipients.len() as i64),
            &(size as i64),
            &key_id,
            &meta,
        ],
    )?;
    tx.execute(
        "INSERT INTO messages (reference, key_id, body) VALUES ($1, $2, $3)",
        &[&item.reference, &key_id, &body],
    )?;
    event_in(
        tx,
        &Event {
            at: item.received,
            school: item.school.clone(),
            sender: item.sender.clone(),
            action: "held".into(),
            kinds,
            reference: item.reference.clone(),
            safeguarding: item.safeguarding,
        },
    )
}

fn audit_row(r: &postgres::Row) -> AuditEntry {
    AuditEntry {
        at: from_ts(r.get(0)),
        actor: r.get(1),
        action: r.get(2),
        reference: r.get(3),
        detail: r.get(4),
    }
}

fn user_of(r: &postgres::Row) -> User {
    User {
        name: r.get(0),
        password_hash: r.get(1),
        role: Role::parse(r.get::<_, &str>(2)).unwrap_or(Role::Dpl),
        school: r.get(3),
    }
}

impl QuarantineStore for PgStore {
    fn hold(&self, item: &HeldItem, message: &[u8]) -> Result<()> {
        if !super::valid_reference(&item.reference) {
            return Err(StoreError::Invalid(format!(
                "bad reference {:?}",
                item.reference
            )));
        }
        let meta = rows::seal_meta(&self.keys, item)?;
        let body = rows::seal_message(&self.keys, &item.reference, message)?;
        let key_id = self.keys.current_id().to_string();
        let item = item.clone();
        let size = message.len();
        self.with(move |c| {
            let mut tx = c.transaction()?;
            insert_item(&mut tx, &item, size, &key_id, &meta, &body)?;
            audit_in(
                &mut tx,
                "relay",
                "held",
                &item.reference,
                &format!("{} recipient(s) held", item.held_recipients.len()),
            )?;
            tx.commit()
        })
    }

    fn record(&self, event: &Event) -> Result<()> {
        let e = event.clone();
        self.with(move |c| event_in(c, &e))
    }

    fn query(&self, q: &Query) -> Result<Page> {
        let mut scope_where = Sql::new(" WHERE TRUE");
        scope_sql(&q.scope, &mut scope_where);
        let mut filter = Sql::new(" WHERE TRUE");
        scope_sql(&q.scope, &mut filter);
        if let Some(s) = q.status {
            filter.push(" AND status = ?", vec![Box::new(s.as_str().to_string())]);
        }
        if let Some(s) = &q.school {
            filter.push(" AND school = ?", vec![Box::new(s.clone())]);
        }
        if let Some(k) = &q.kind {
            filter.push(
                " AND kinds LIKE ? ESCAPE '\\'",
                vec![Box::new(format!("%,{},%", like_escape(k)))],
            );
        }
        if let Some(s) = &q.sender {
            filter.push(
                " AND lower(sender) LIKE ? ESCAPE '\\'",
                vec![Box::new(format!(
                    "%{}%",
                    like_escape(&s.to_ascii_lowercase())
                ))],
            );
        }
        if let Some(t) = q.since {
            filter.push(" AND received >= ?", vec![Box::new(ts(t))]);
        }
        if let Some(t) = q.until {
            filter.push(" AND received < ?", vec![Box::new(ts(t))]);
        }
        let order = match q.sort {
            Sort::Newest => "received DESC, reference",
            Sort::Oldest => "received ASC, reference",
            Sort::Sender => "sender ASC, received DESC",
        };
        let per_page = q.per_page.clamp(1, 500) as i64;
        let offset = (q.page as i64) * per_page;
        let (total, rows_, counts) = self.with(move |c| {
            let total: i64 = c
                .query_one(&format!("SELECT COUNT(*) FROM items{}", filter.text), &filter.params())?
                .get(0);
            let mut page = Sql::new(&format!(
                "SELECT reference, received, school, sender, kinds, held_count, status, false_positive, safeguarding, key_id, meta FROM items{}",
                filter.text
            ));
            page.args = filter.args;
            page.push(&format!(" ORDER BY {order} LIMIT ? OFFSET ?"), vec![Box::new(per_page), Box::new(offset)]);
            let rows_ = c.query(&page.text, &page.params())?;
            let counts = c.query(
                &format!("SELECT status, COUNT(*) FROM items{} GROUP BY status", scope_where.text),
                &scope_where.params(),
            )?;
            Ok((total, rows_, counts))
        })?;
        let mut items = Vec::with_capacity(rows_.len());
        for r in rows_ {
            let reference: String = r.get(0);
            let subject = rows::open_meta(&self.keys, &reference, r.get(9), r.get(10))
                .map(|m| m.subject)
                .unwrap_or_else(|e| format!("(cannot open: {e})"));
            items.push(Summary {
                reference,
                received: from_ts(r.get(1)),
                school: r.get(2),
                sender: r.get(3),
                subject,
                kinds: kinds_vec(r.get(4)),
                held_recipients: r.get::<_, i64>(5) as usize,
                status: Status::parse(r.get(6)).unwrap_or(Status::Held),
                false_positive: r.get(7),
                safeguarding: r.get(8),
            });
        }
        let by_status = Status::ALL
            .into_iter()
            .map(|s| {
                let n = counts
                    .iter()
                    .find(|r| r.get::<_, &str>(0) == s.as_str())
                    .map_or(0, |r| r.get::<_, i64>(1));
                (s, n as usize)
            })
            .collect();
        Ok(Page {
            items,
            total: total as usize,
            by_status,
        })
    }

    fn get(&self, reference: &str, scope: &Scope) -> Result<Option<Item>> {
        if !super::valid_reference(reference) {
            return Ok(None);
        }
        let mut sql = Sql::new(
            "SELECT received, school, sender, safeguarding, status, false_positive, reviewer, reviewed, size, key_id, meta, note_key, note,
                    EXISTS (SELECT 1 FROM messages m WHERE m.reference = items.reference)
             FROM items WHERE",
        );
        sql.push(" reference = ?", vec![Box::new(reference.to_string())]);
        scope_sql(scope, &mut sql);
        let Some(r) = self.with(move |c| c.query_opt(&sql.text, &sql.params()))? else {
            return Ok(None);
        };
        let meta = rows::open_meta(&self.keys, reference, r.get(9), r.get(10))?;
        let note = match (r.get::<_, Option<&str>>(11), r.get::<_, Option<&[u8]>>(12)) {
            (Some(k), Some(b)) => Some(rows::open_note(&self.keys, reference, k, b)?),
            _ => None,
        };
        Ok(Some(Item {
            held: HeldItem {
                reference: reference.to_string(),
                received: from_ts(r.get(0)),
                school: r.get(1),
                sender: r.get(2),
                recipients: meta.recipients,
                held_recipients: meta.held_recipients,
                subject: meta.subject,
                findings: meta.findings,
                reasons: meta.reasons,
                safeguarding: r.get(3),
            },
            status: Status::parse(r.get(4)).unwrap_or(Status::Held),
            false_positive: r.get(5),
            reviewer: r.get(6),
            reviewed: r.get::<_, Option<i64>>(7).map(from_ts),
            note,
            has_message: r.get(13),
            size: r.get::<_, i64>(8) as usize,
        }))
    }

    fn message(&self, reference: &str) -> Result<Option<Vec<u8>>> {
        if !super::valid_reference(reference) {
            return Ok(None);
        }
        let r = reference.to_string();
        let row = self.with(move |c| {
            c.query_opt(
                "SELECT key_id, body FROM messages WHERE reference = $1",
                &[&r],
            )
        })?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some(rows::open_message(
                &self.keys,
                reference,
                row.get(0),
                row.get(1),
            )?)),
        }
    }

    fn claim(&self, reference: &str, actor: &str) -> Result<bool> {
        let (r, a) = (reference.to_string(), actor.to_string());
        let n = self.with(move |c| {
            c.execute(
                "UPDATE items SET status = 'releasing', reviewer = $2, reviewed = $3 WHERE reference = $1 AND status = 'held'",
                &[&r, &a, &Utc::now().timestamp()],
            )
        })?;
        Ok(n == 1)
    }

    fn unclaim(&self, reference: &str) -> Result<()> {
        let r = reference.to_string();
        self.with(move |c| {
            c.execute(
                "UPDATE items SET status = 'held' WHERE reference = $1 AND status = 'releasing'",
                &[&r],
            )
        })?;
        Ok(())
    }

    fn finish(
        &self,
        reference: &str,
        from: &[Status],
        to: Status,
        actor: &str,
        note: Option<&str>,
        detail: &str,
    ) -> Result<bool> {
        let note = rows::sealed_note(&self.keys, reference, note)?;
        let (r, a, d) = (reference.to_string(), actor.to_string(), detail.to_string());
        let froms: Vec<String> = from.iter().map(|s| s.as_str().to_string()).collect();
        self.with(move |c| {
            let mut tx = c.transaction()?;
            let (nk, nb) = match &note {
                Some((k, b)) => (Some(k.clone()), Some(b.clone())),
                None => (None, None),
            };
            let n = tx.execute(
                "UPDATE items SET status = $1, reviewer = $2, reviewed = $3,
                     note_key = COALESCE($4, note_key), note = COALESCE($5, note)
                 WHERE reference = $6 AND status = ANY($7)",
                &[
                    &to.as_str(),
                    &a,
                    &Utc::now().timestamp(),
                    &nk,
                    &nb,
                    &r,
                    &froms,
                ],
            )?;
            if n != 1 {
                return Ok(false);
            }
            tx.execute("DELETE FROM messages WHERE reference = $1", &[&r])?;
            let row = tx.query_one(
                "SELECT school, sender, kinds, safeguarding FROM items WHERE reference = $1",
                &[&r],
            )?;
            event_in(
                &mut tx,
                &Event {
                    at: Utc::now(),
                    school: row.get(0),
                    sender: row.get(1),
                    action: to.as_str().into(),
                    kinds: kinds_vec(row.get(2)),
                    reference: r.clone(),
                    safeguarding: row.get(3),
                },
            )?;
            audit_in(&mut tx, &a, to.as_str(), &r, &d)?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn mark_false_positive(
        &self,
        reference: &str,
        actor: &str,
        note: Option<&str>,
    ) -> Result<bool> {
        let note = rows::sealed_note(&self.keys, reference, note)?;
        let (r, a) = (reference.to_string(), actor.to_string());
        self.with(move |c| {
            let mut tx = c.transaction()?;
            let Some(row) = tx.query_opt(
                "SELECT school, sender, kinds, safeguarding, false_positive FROM items WHERE reference = $1 FOR UPDATE",
                &[&r],
            )?
            else {
                return Ok(false);
            };
            if row.get::<_, bool>(4) {
                return Ok(true);
            }
            tx.execute(
                "UPDATE items SET false_positive = TRUE WHERE reference = $1",
                &[&r],
            )?;
            if let Some((k, b)) = &note {
                tx.execute(
                    "UPDATE items SET note_key = $2, note = $3 WHERE reference = $1",
                    &[&r, k, b],
                )?;
            }
            event_in(
                &mut tx,
                &Event {
                    at: Utc::now(),
                    school: row.get(0),
                    sender: row.get(1),
                    action: "false_positive".into(),
                    kinds: kinds_vec(row.get(2)),
                    reference: r.clone(),
                    safeguarding: row.get(3),
                },
            )?;
            audit_in(&mut tx, &a, "false_positive", &r, "marked as a false positive")?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn audit(&self, actor: &str, action: &str, reference: &str, detail: &str) -> Result<()> {
        let (a, b, r, d) = (
            actor.to_string(),
            action.to_string(),
            reference.to_string(),
            detail.to_string(),
        );
        self.with(move |c| audit_in(c, &a, &b, &r, &d))
    }

    fn audit_of(&self, reference: &str) -> Result<Vec<AuditEntry>> {
        let r = reference.to_string();
        Ok(self
            .with(move |c| {
                c.query(
                    "SELECT at, actor, action, reference, detail FROM audit WHERE reference = $1 ORDER BY id",
                    &[&r],
                )
            })?
            .iter()
            .map(audit_row)
            .collect())
    }

    fn events(&self, since: DateTime<Utc>, scope: &Scope) -> Result<Vec<Event>> {
        let mut sql = Sql::new(
            "SELECT at, school, sender, action, kinds, reference, safeguarding FROM events WHERE",
        );
        sql.push(" at >= ?", vec![Box::new(ts(since))]);
        scope_sql(scope, &mut sql);
        sql.push(" ORDER BY id", vec![]);
        Ok(self
            .with(move |c| c.query(&sql.text, &sql.params()))?
            .iter()
            .map(|r| Event {
                at: from_ts(r.get(0)),
                school: r.get(1),
                sender: r.get(2),
                action: r.get(3),
                kinds: kinds_vec(r.get(4)),
                reference: r.get(5),
                safeguarding: r.get(6),
            })
            .collect())
    }

    fn audit_log(&self, limit: usize, offset: usize) -> Result<Vec<AuditEntry>> {
        let limit: Option<i64> = (limit > 0).then_some(limit as i64);
        let offset = offset as i64;
        let rows_ = self.with(move |c| {
            c.query(
                "SELECT at, actor, action, reference, detail FROM audit ORDER BY id DESC LIMIT $1 OFFSET $2",
                &[&limit, &offset],
            )
        })?;
        Ok(rows_.iter().map(audit_row).collect())
    }

    fn held_before(&self, cutoff: DateTime<Utc>) -> Result<Vec<String>> {
        let cutoff = ts(cutoff);
        Ok(self
            .with(move |c| {
                c.query(
                    "SELECT reference FROM items WHERE status = 'held' AND received < $1",
                    &[&cutoff],
                )
            })?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn stats(&self, now: DateTime<Utc>, scope: &Scope) -> Result<Stats> {
        let since = ts(now) - 30 * 86_400;
        let mut filter = Sql::new(" WHERE");
        filter.push(" at >= ?", vec![Box::new(since)]);
        scope_sql(scope, &mut filter);
        let mut ofilter = Sql::new(" WHERE status = 'held'");
        scope_sql(scope, &mut ofilter);
        let (per_day, tallied, oldest) = self.with(move |c| {
            let per_day = c.query(
                &format!(
                    "SELECT to_char(to_timestamp(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), action, COUNT(*) FROM events{} GROUP BY 1, 2 ORDER BY 1",
                    filter.text
                ),
                &filter.params(),
            )?;
            let tallied = c.query(
                &format!(
                    "SELECT kinds, sender FROM events{} AND action IN ('held', 'refused')",
                    filter.text
                ),
                &filter.params(),
            )?;
            let oldest = c.query_opt(
                &format!(
                    "SELECT reference, received FROM items{} ORDER BY received LIMIT 1",
                    ofilter.text
                ),
                &ofilter.params(),
            )?;
            Ok((per_day, tallied, oldest))
        })?;
        let mut tally = rows::Tally::default();
        for r in &tallied {
            tally.add(r.get(0), r.get(1));
        }
        let (per_kind, top_senders) = tally.finish();
        Ok(Stats {
            per_day: per_day
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get::<_, i64>(2) as usize))
                .collect(),
            per_kind,
            oldest_held: oldest.map(|r| (r.get(0), from_ts(r.get(1)))),
            top_senders,
        })
    }

    fn put_user(&self, user: &User) -> Result<()> {
        let u = user.clone();
        self.with(move |c| {
            c.execute(
                "INSERT INTO users (name, hash, role, school) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, role = excluded.role, school = excluded.school",
                &[&u.name, &u.password_hash, &u.role.as_str(), &u.school],
            )
        })?;
        Ok(())
    }

    fn user(&self, name: &str) -> Result<Option<User>> {
        let n = name.to_string();
        Ok(self
            .with(move |c| {
                c.query_opt(
                    "SELECT name, hash, role, school FROM users WHERE name = $1",
                    &[&n],
                )
            })?
            .map(|r| user_of(&r)))
    }

    fn users(&self) -> Result<Vec<User>> {
        Ok(self
            .with(|c| {
                c.query(
                    "SELECT name, hash, role, school FROM users ORDER BY name",
                    &[],
                )
            })?
            .iter()
            .map(user_of)
            .collect())
    }

    fn create_session(&self, token_hash: &str, user: &str, csrf: &str, expires: i64) -> Result<()> {
        let (t, u, x) = (token_hash.to_string(), user.to_string(), csrf.to_string());
        self.with(move |c| {
            c.execute(
                "DELETE FROM sessions WHERE expires < $1",
                &[&Utc::now().timestamp()],
            )?;
            c.execute(
                "INSERT INTO sessions (token_hash, \"user\", csrf, expires) VALUES ($1, $2, $3, $4)",
                &[&t, &u, &x, &expires],
            )
        })?;
        Ok(())
    }

    fn session(&self, token_hash: &str, now: i64) -> Result<Option<(User, String)>> {
        let t = token_hash.to_string();
        Ok(self
            .with(move |c| {
                c.query_opt(
                    "SELECT u.name, u.hash, u.role, u.school, s.csrf FROM sessions s JOIN users u ON u.name = s.\"user\"
                     WHERE s.token_hash = $1 AND s.expires > $2",
                    &[&t, &now],
                )
            })?
            .map(|r| (user_of(&r), r.get(4))))
    }

    fn delete_session(&self, token_hash: &str) -> Result<()> {
        let t = token_hash.to_string();
        self.with(move |c| c.execute("DELETE FROM sessions WHERE token_hash = $1", &[&t]))?;
        Ok(())
    }

    fn claim_daily(&self, job: &str, day: &str, node: &str) -> Result<bool> {
        let (j, d, n) = (job.to_string(), day.to_string(), node.to_string());
        let inserted = self.with(move |c| {
            c.execute(
                "INSERT INTO daily_runs (job, day, node, at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (job, day) DO NOTHING",
                &[&j, &d, &n, &Utc::now().timestamp()],
            )
        })?;
        Ok(inserted == 1)
    }
}
