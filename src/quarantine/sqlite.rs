//! The embedded quarantine backend: one SQLite file (`quarantine.db` in the data directory,
//! rusqlite with SQLite bundled) in WAL mode with `synchronous = FULL`, so a committed hold
//! is on disk before the relay answers 250. Several processes (the relay, the CLI) may open
//! it at once; SQLite's locking serialises writers.

use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::crypto::Keyring;
use super::rows::{self, from_ts, kinds_col, kinds_vec, like_escape, ts};
use super::{
    AuditEntry, Event, HeldItem, Item, Page, QuarantineStore, Query, Result, Role, Scope, Sort,
    Stats, Status, StoreError, Summary, User,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    reference TEXT PRIMARY KEY,
    received INTEGER NOT NULL,
    school TEXT NOT NULL,
    sender TEXT NOT NULL,
    kinds TEXT NOT NULL,
    safeguarding INTEGER NOT NULL,
    held_count INTEGER NOT NULL,
    status TEXT NOT NULL,
    false_positive INTEGER NOT NULL DEFAULT 0,
    reviewer TEXT,
    reviewed INTEGER,
    size INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    meta BLOB NOT NULL,
    note_key TEXT,
    note BLOB
);
CREATE INDEX IF NOT EXISTS items_status_received ON items(status, received);
CREATE INDEX IF NOT EXISTS items_received ON items(received);
CREATE INDEX IF NOT EXISTS items_school_received ON items(school, received);
CREATE TABLE IF NOT EXISTS messages (
    reference TEXT PRIMARY KEY REFERENCES items(reference),
    key_id TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    school TEXT NOT NULL,
    sender TEXT NOT NULL,
    action TEXT NOT NULL,
    kinds TEXT NOT NULL,
    reference TEXT NOT NULL,
    safeguarding INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_at ON events(at);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
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
    user TEXT NOT NULL REFERENCES users(name),
    csrf TEXT NOT NULL,
    expires INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS daily_runs (
    job TEXT NOT NULL,
    day TEXT NOT NULL,
    node TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (job, day)
);
";

pub struct SqliteStore {
    conn: Mutex<Connection>,
    keys: Keyring,
}

impl SqliteStore {
    /// Opens (creating) `data_dir/quarantine.db` and the keyring `data_dir/quarantine.key`.
    pub fn open(data_dir: &Path) -> Result<SqliteStore> {
        std::fs::create_dir_all(data_dir)?;
        let keys = Keyring::open_or_create(&data_dir.join("quarantine.key"))?;
        let conn = Connection::open(data_dir.join("quarantine.db"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            keys,
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn seal_meta(&self, item: &HeldItem) -> Result<Vec<u8>> {
        rows::seal_meta(&self.keys, item)
    }

    fn open_meta(&self, reference: &str, key_id: &str, blob: &[u8]) -> Result<rows::Meta> {
        rows::open_meta(&self.keys, reference, key_id, blob)
    }

    /// Stores many held items in one transaction (a migration from another store, or a
    /// bench filling the queue); each as `hold` would, without the per-item fsync.
    pub fn import(&self, items: &[(HeldItem, Vec<u8>)]) -> Result<usize> {
        let key_id = self.keys.current_id().to_string();
        let mut sealed = Vec::with_capacity(items.len());
        for (item, message) in items {
            if !super::valid_reference(&item.reference) {
                return Err(StoreError::Invalid(format!(
                    "bad reference {:?}",
                    item.reference
                )));
            }
            sealed.push((
                self.seal_meta(item)?,
                rows::seal_message(&self.keys, &item.reference, message)?,
            ));
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for ((item, message), (meta, body)) in items.iter().zip(sealed) {
            insert_item(&tx, item, message.len(), &key_id, &meta, &body)?;
        }
        tx.commit()?;
        Ok(items.len())
    }

    /// Key rotation: adds a key, reseals every blob with it in one transaction, then
    /// drops the old keys. Interrupted at any point, every blob still opens.
    pub fn rotate_key(&mut self) -> Result<usize> {
        self.keys.add_key()?;
        let n = {
            let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            let tx = conn.transaction()?;
            let mut n = 0;
            let rows: Vec<(String, String, Vec<u8>, Option<String>, Option<Vec<u8>>)> = tx
                .prepare("SELECT reference, key_id, meta, note_key, note FROM items")?
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect::<std::result::Result<_, _>>()?;
            let cur = self.keys.current_id().to_string();
            for (reference, key_id, meta, note_key, note) in rows {
                let aad = format!("{reference}/meta");
                let plain = self.keys.open_blob(&key_id, &aad, &meta)?;
                let meta = self.keys.seal(&aad, &plain)?;
                let note = match (note_key, note) {
                    (Some(k), Some(b)) => {
                        let aad = format!("{reference}/note");
                        Some(self.keys.seal(&aad, &self.keys.open_blob(&k, &aad, &b)?)?)
                    }
                    _ => None,
                };
                tx.execute(
                    "UPDATE items SET key_id = ?2, meta = ?3, note_key = CASE WHEN ?4 IS NULL THEN NULL ELSE ?2 END, note = ?4 WHERE reference = ?1",
                    params![reference, cur, meta, note],
                )?;
                n += 1;
            }
            let bodies: Vec<(String, String, Vec<u8>)> = tx
                .prepare("SELECT reference, key_id, body FROM messages")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<std::result::Result<_, _>>()?;
            for (reference, key_id, body) in bodies {
                let aad = format!("{reference}/message");
                let plain = self.keys.open_blob(&key_id, &aad, &body)?;
                tx.execute(
                    "UPDATE messages SET key_id = ?2, body = ?3 WHERE reference = ?1",
                    params![reference, cur, self.keys.seal(&aad, &plain)?],
                )?;
            }
            tx.commit()?;
            n
        };
        self.keys.retire_old_keys()?;
        Ok(n)
    }
}

/// One held item: its row, its sealed message and its `held` event.
fn insert_item(
    tx: &Connection,
    item: &HeldItem,
    size: usize,
    key_id: &str,
    meta: &[u8],
    body: &[u8],
) -> rusqlite::Result<()> {
    let kinds = item.kinds();
    tx.execute(
        "INSERT INTO items (reference, received, school, sender, kinds, safeguarding, held_count, status, size, key_id, meta)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'held', ?8, ?9, ?10)",
        params![
            item.reference,
            ts(item.received),
            item.school,
            item.sender,
            kinds_col(&kinds),
            item.safeguarding,
            item.held_recipients.len() as i64,
            size as i64,
            key_id,
            meta
        ],
    )?;
    tx.execute(
        "INSERT INTO messages (reference, key_id, body) VALUES (?1, ?2, ?3)",
        params![item.reference, key_id, body],
    )?;
    insert_event(
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

fn insert_event(conn: &Connection, e: &Event) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO events (at, school, sender, action, kinds, reference, safeguarding) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            ts(e.at),
            e.school,
            e.sender,
            e.action,
            kinds_col(&e.kinds),
            e.reference,
            e.safeguarding
        ],
    )?;
    Ok(())
}

fn insert_audit(
    conn: &Connection,
    actor: &str,
    action: &str,
    reference: &str,
    detail: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO audit (at, actor, action, reference, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![Utc::now().timestamp(), actor, action, reference, detail],
    )?;
    Ok(())
}

/// The SQL condition and parameters of a scope (applied to table `items`).
fn scope_sql(scope: &Scope, sql: &mut String, args: &mut Vec<rusqlite::types::Value>) {
    if let Some(s) = &scope.school {
        sql.push_str(" AND school = ?");
        args.push(s.clone().into());
    }
    if scope.safeguarding_only {
        sql.push_str(" AND safeguarding = 1");
    }
}

impl QuarantineStore for SqliteStore {
    fn hold(&self, item: &HeldItem, message: &[u8]) -> Result<()> {
        if !super::valid_reference(&item.reference) {
            return Err(StoreError::Invalid(format!(
                "bad reference {:?}",
                item.reference
            )));
        }
        let meta = self.seal_meta(item)?;
        let body = rows::seal_message(&self.keys, &item.reference, message)?;
        let key_id = self.keys.current_id().to_string();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        insert_item(&tx, item, message.len(), &key_id, &meta, &body)?;
        insert_audit(
            &tx,
            "relay",
            "held",
            &item.reference,
            &format!("{} recipient(s) held", item.held_recipients.len()),
        )?;
        tx.commit()?;
        Ok(())
    }

    fn record(&self, event: &Event) -> Result<()> {
        insert_event(&self.conn(), event)?;
        Ok(())
    }

    fn query(&self, q: &Query) -> Result<Page> {
        let mut filter = String::from(" WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        scope_sql(&q.scope, &mut filter, &mut args);
        let scope_filter = filter.clone();
        let scope_args = args.clone();
        if let Some(s) = q.status {
            filter.push_str(" AND status = ?");
            args.push(s.as_str().to_string().into());
        }
        if let Some(s) = &q.school {
            filter.push_str(" AND school = ?");
            args.push(s.clone().into());
        }
        if let Some(k) = &q.kind {
            filter.push_str(" AND kinds LIKE ? ESCAPE '\\'");
            args.push(format!("%,{},%", like_escape(k)).into());
        }
        if let Some(s) = &q.sender {
            filter.push_str(" AND lower(sender) LIKE ? ESCAPE '\\'");
            args.push(format!("%{}%", like_escape(&s.to_ascii_lowercase())).into());
        }
        if let Some(t) = q.since {
            filter.push_str(" AND received >= ?");
            args.push(ts(t).into());
        }
        if let Some(t) = q.until {
            filter.push_str(" AND received < ?");
            args.push(ts(t).into());
        }
        let conn = self.conn();
        let total: i64 = conn.query_row(
            &format!("SELECT COUNT(*) FROM items{filter}"),
            rusqlite::params_from_iter(args.iter()),
            |r| r.get(0),
        )?;
        let order = match q.sort {
            Sort::Newest => "received DESC, reference",
            Sort::Oldest => "received ASC, reference",
            Sort::Sender => "sender ASC, received DESC",
        };
        let per_page = q.per_page.clamp(1, 500);
        let mut page_args = args.clone();
        page_args.push((per_page as i64).into());
        page_args.push(((q.page * per_page) as i64).into());
        let rows: Vec<(Summary, String, Vec<u8>)> = conn
            .prepare(&format!(
                "SELECT reference, received, school, sender, kinds, held_count, status, false_positive, safeguarding, key_id, meta
                 FROM items{filter} ORDER BY {order} LIMIT ? OFFSET ?"
            ))?
            .query_map(rusqlite::params_from_iter(page_args.iter()), |r| {
                let status: String = r.get(6)?;
                Ok((
                    Summary {
                        reference: r.get(0)?,
                        received: from_ts(r.get(1)?),
                        school: r.get(2)?,
                        sender: r.get(3)?,
                        subject: String::new(),
                        kinds: kinds_vec(&r.get::<_, String>(4)?),
                        held_recipients: r.get::<_, i64>(5)? as usize,
                        status: Status::parse(&status).unwrap_or(Status::Held),
                        false_positive: r.get(7)?,
                        safeguarding: r.get(8)?,
                    },
                    r.get(9)?,
                    r.get(10)?,
                ))
            })?
            .collect::<std::result::Result<_, _>>()?;
        let mut by_status = Vec::new();
        {
            let mut stmt = conn.prepare(&format!(
                "SELECT status, COUNT(*) FROM items{scope_filter} GROUP BY status"
            ))?;
            let counts: Vec<(String, i64)> = stmt
                .query_map(rusqlite::params_from_iter(scope_args.iter()), |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<std::result::Result<_, _>>()?;
            for s in Status::ALL {
                let n = counts
                    .iter()
                    .find(|(k, _)| k == s.as_str())
                    .map_or(0, |c| c.1);
                by_status.push((s, n as usize));
            }
        }
        drop(conn);
        let mut items = Vec::with_capacity(rows.len());
        for (mut s, key_id, meta) in rows {
            s.subject = self
                .open_meta(&s.reference, &key_id, &meta)
                .map(|m| m.subject)
                .unwrap_or_else(|e| format!("(cannot open: {e})"));
            items.push(s);
        }
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
        let mut sql = String::from(
            "SELECT received, school, sender, safeguarding, status, false_positive, reviewer, reviewed, size, key_id, meta, note_key, note,
                    EXISTS (SELECT 1 FROM messages m WHERE m.reference = items.reference)
             FROM items WHERE reference = ?",
        );
        let mut args: Vec<rusqlite::types::Value> = vec![reference.to_string().into()];
        scope_sql(scope, &mut sql, &mut args);
        type Row = (
            i64,
            String,
            String,
            bool,
            String,
            bool,
            Option<String>,
            Option<i64>,
            i64,
            String,
            Vec<u8>,
            Option<String>,
            Option<Vec<u8>>,
            bool,
        );
        let row: Option<Row> = self
            .conn()
            .query_row(&sql, rusqlite::params_from_iter(args.iter()), |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                    r.get(12)?,
                    r.get(13)?,
                ))
            })
            .optional()?;
        let Some(r) = row else { return Ok(None) };
        let meta = self.open_meta(reference, &r.9, &r.10)?;
        let note = match (r.11, r.12) {
            (Some(k), Some(b)) => Some(rows::open_note(&self.keys, reference, &k, &b)?),
            _ => None,
        };
        Ok(Some(Item {
            held: HeldItem {
                reference: reference.to_string(),
                received: from_ts(r.0),
                school: r.1,
                sender: r.2,
                recipients: meta.recipients,
                held_recipients: meta.held_recipients,
                subject: meta.subject,
                findings: meta.findings,
                reasons: meta.reasons,
                safeguarding: r.3,
            },
            status: Status::parse(&r.4).unwrap_or(Status::Held),
            false_positive: r.5,
            reviewer: r.6,
            reviewed: r.7.map(from_ts),
            note,
            has_message: r.13,
            size: r.8 as usize,
        }))
    }

    fn message(&self, reference: &str) -> Result<Option<Vec<u8>>> {
        if !super::valid_reference(reference) {
            return Ok(None);
        }
        let row: Option<(String, Vec<u8>)> = self
            .conn()
            .query_row(
                "SELECT key_id, body FROM messages WHERE reference = ?1",
                [reference],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            None => Ok(None),
            Some((k, b)) => Ok(Some(rows::open_message(&self.keys, reference, &k, &b)?)),
        }
    }

    fn claim(&self, reference: &str, actor: &str) -> Result<bool> {
        let n = self.conn().execute(
            "UPDATE items SET status = 'releasing', reviewer = ?2, reviewed = ?3 WHERE reference = ?1 AND status = 'held'",
            params![reference, actor, Utc::now().timestamp()],
        )?;
        Ok(n == 1)
    }

    fn unclaim(&self, reference: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE items SET status = 'held' WHERE reference = ?1 AND status = 'releasing'",
            [reference],
        )?;
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
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let froms: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let placeholders = vec!["?"; froms.len()].join(",");
        let mut args: Vec<rusqlite::types::Value> = vec![
            to.as_str().to_string().into(),
            actor.to_string().into(),
            Utc::now().timestamp().into(),
            note.as_ref().map(|n| n.0.clone()).into(),
            note.as_ref().map(|n| n.1.clone()).into(),
            reference.to_string().into(),
        ];
        args.extend(froms.iter().map(|s| s.to_string().into()));
        let n = tx.execute(
            &format!(
                "UPDATE items SET status = ?, reviewer = ?, reviewed = ?,
                     note_key = COALESCE(?4, note_key), note = COALESCE(?5, note)
                 WHERE reference = ? AND status IN ({placeholders})"
            ),
            rusqlite::params_from_iter(args.iter()),
        )?;
        if n != 1 {
            return Ok(false);
        }
        tx.execute("DELETE FROM messages WHERE reference = ?1", [reference])?;
        let (school, sender, kinds, safeguarding): (String, String, String, bool) = tx.query_row(
            "SELECT school, sender, kinds, safeguarding FROM items WHERE reference = ?1",
            [reference],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        insert_event(
            &tx,
            &Event {
                at: Utc::now(),
                school,
                sender,
                action: to.as_str().into(),
                kinds: kinds_vec(&kinds),
                reference: reference.into(),
                safeguarding,
            },
        )?;
        insert_audit(&tx, actor, to.as_str(), reference, detail)?;
        tx.commit()?;
        Ok(true)
    }

    fn mark_false_positive(
        &self,
        reference: &str,
        actor: &str,
        note: Option<&str>,
    ) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let row: Option<(String, String, String, bool, bool)> = tx
            .query_row(
                "SELECT school, sender, kinds, safeguarding, false_positive FROM items WHERE reference = ?1",
                [reference],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((school, sender, kinds, safeguarding, already)) = row else {
            return Ok(false);
        };
        if already {
            return Ok(true);
        }
        tx.execute(
            "UPDATE items SET false_positive = 1 WHERE reference = ?1",
            [reference],
        )?;
        if let Some((key_id, sealed)) = rows::sealed_note(&self.keys, reference, note)? {
            tx.execute(
                "UPDATE items SET note_key = ?2, note = ?3 WHERE reference = ?1",
                params![reference, key_id, sealed],
            )?;
        }
        insert_event(
            &tx,
            &Event {
                at: Utc::now(),
                school,
                sender,
                action: "false_positive".into(),
                kinds: kinds_vec(&kinds),
                reference: reference.into(),
                safeguarding,
            },
        )?;
        insert_audit(
            &tx,
            actor,
            "false_positive",
            reference,
            "marked as a false positive",
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn audit(&self, actor: &str, action: &str, reference: &str, detail: &str) -> Result<()> {
        insert_audit(&self.conn(), actor, action, reference, detail)?;
        Ok(())
    }

    fn audit_of(&self, reference: &str) -> Result<Vec<AuditEntry>> {
        let rows = self
            .conn()
            .prepare(
                "SELECT at, actor, action, reference, detail FROM audit WHERE reference = ?1 ORDER BY id",
            )?
            .query_map([reference], audit_row)?
            .collect::<std::result::Result<_, _>>()?;
        Ok(rows)
    }

    fn events(&self, since: DateTime<Utc>, scope: &Scope) -> Result<Vec<Event>> {
        let mut sql = String::from(
            "SELECT at, school, sender, action, kinds, reference, safeguarding FROM events WHERE at >= ?",
        );
        let mut args: Vec<rusqlite::types::Value> = vec![ts(since).into()];
        scope_sql(scope, &mut sql, &mut args);
        sql.push_str(" ORDER BY id");
        let rows = self
            .conn()
            .prepare(&sql)?
            .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok(Event {
                    at: from_ts(r.get(0)?),
                    school: r.get(1)?,
                    sender: r.get(2)?,
                    action: r.get(3)?,
                    kinds: kinds_vec(&r.get::<_, String>(4)?),
                    reference: r.get(5)?,
                    safeguarding: r.get(6)?,
                })
            })?
            .collect::<std::result::Result<_, _>>()?;
        Ok(rows)
    }

    fn audit_log(&self, limit: usize, offset: usize) -> Result<Vec<AuditEntry>> {
        let limit = if limit == 0 { -1 } else { limit as i64 };
        let rows = self
            .conn()
            .prepare(
                "SELECT at, actor, action, reference, detail FROM audit ORDER BY id DESC LIMIT ?1 OFFSET ?2",
            )?
            .query_map(params![limit, offset as i64], audit_row)?
            .collect::<std::result::Result<_, _>>()?;
        Ok(rows)
    }

    fn held_before(&self, cutoff: DateTime<Utc>) -> Result<Vec<String>> {
        let cutoff = ts(cutoff);
        Ok(self
            .conn()
            .prepare("SELECT reference FROM items WHERE status = 'held' AND received < ?1")?
            .query_map([cutoff], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?)
    }

    fn stats(&self, now: DateTime<Utc>, scope: &Scope) -> Result<Stats> {
        let since = ts(now) - 30 * 86_400;
        let mut filter = String::from(" WHERE at >= ?");
        let mut args: Vec<rusqlite::types::Value> = vec![since.into()];
        scope_sql(scope, &mut filter, &mut args);
        let conn = self.conn();
        let per_day = conn
            .prepare(&format!(
                "SELECT date(at, 'unixepoch'), action, COUNT(*) FROM events{filter} GROUP BY 1, 2 ORDER BY 1"
            ))?
            .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as usize))
            })?
            .collect::<std::result::Result<_, _>>()?;
        let mut tally = rows::Tally::default();
        {
            let mut stmt = conn.prepare(&format!(
                "SELECT kinds, sender FROM events{filter} AND action IN ('held', 'refused')"
            ))?;
            let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
            while let Some(r) = rows.next()? {
                tally.add(&r.get::<_, String>(0)?, r.get(1)?);
            }
        }
        let (per_kind, top_senders) = tally.finish();
        let mut ofilter = String::from(" WHERE status = 'held'");
        let mut oargs = Vec::new();
        scope_sql(scope, &mut ofilter, &mut oargs);
        let oldest_held = conn
            .query_row(
                &format!(
                    "SELECT reference, received FROM items{ofilter} ORDER BY received LIMIT 1"
                ),
                rusqlite::params_from_iter(oargs.iter()),
                |r| Ok((r.get(0)?, from_ts(r.get(1)?))),
            )
            .optional()?;
        Ok(Stats {
            per_day,
            per_kind,
            oldest_held,
            top_senders,
        })
    }

    fn put_user(&self, user: &User) -> Result<()> {
        self.conn().execute(
            "INSERT INTO users (name, hash, role, school) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(name) DO UPDATE SET hash = excluded.hash, role = excluded.role, school = excluded.school",
            params![user.name, user.password_hash, user.role.as_str(), user.school],
        )?;
        Ok(())
    }

    fn user(&self, name: &str) -> Result<Option<User>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT name, hash, role, school FROM users WHERE name = ?1",
                [name],
                row_user,
            )
            .optional()?)
    }

    fn users(&self) -> Result<Vec<User>> {
        Ok(self
            .conn()
            .prepare("SELECT name, hash, role, school FROM users ORDER BY name")?
            .query_map([], row_user)?
            .collect::<std::result::Result<_, _>>()?)
    }

    fn create_session(&self, token_hash: &str, user: &str, csrf: &str, expires: i64) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "DELETE FROM sessions WHERE expires < ?1",
            [Utc::now().timestamp()],
        )?;
        conn.execute(
            "INSERT INTO sessions (token_hash, user, csrf, expires) VALUES (?1, ?2, ?3, ?4)",
            params![token_hash, user, csrf, expires],
        )?;
        Ok(())
    }

    fn session(&self, token_hash: &str, now: i64) -> Result<Option<(User, String)>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT u.name, u.hash, u.role, u.school, s.csrf FROM sessions s JOIN users u ON u.name = s.user
                 WHERE s.token_hash = ?1 AND s.expires > ?2",
                params![token_hash, now],
                |r| Ok((row_user(r)?, r.get(4)?)),
            )
            .optional()?)
    }

    fn delete_session(&self, token_hash: &str) -> Result<()> {
        self.conn()
            .execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
        Ok(())
    }

    fn claim_daily(&self, job: &str, day: &str, node: &str) -> Result<bool> {
        let n = self.conn().execute(
            "INSERT INTO daily_runs (job, day, node, at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (job, day) DO NOTHING",
            params![job, day, node, Utc::now().timestamp()],
        )?;
        Ok(n == 1)
    }
}

fn audit_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        at: from_ts(r.get(0)?),
        actor: r.get(1)?,
        action: r.get(2)?,
        reference: r.get(3)?,
        detail: r.get(4)?,
    })
}

fn row_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(2)?;
    Ok(User {
        name: r.get(0)?,
        password_hash: r.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::Dpl),
        school: r.get(3)?,
    })
}
