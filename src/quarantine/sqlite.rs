//! The embedded quarantine backend: one SQLite file (`quarantine.db` in the data directory,
//! rusqlite with SQLite bundled) in WAL mode with `synchronous = FULL`, so a committed hold
//! is on disk before the relay answers 250. Several processes (the relay, the CLI) may open
//! it at once; SQLite's locking serialises writers, and every transaction takes the write
//! lock at its start (`BEGIN IMMEDIATE`). What is stored and how is `store.rs`; this file
//! is the schema, the connection and the `$n` → `?n` parameter translation.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, TransactionBehavior};

use super::Result;
use super::crypto::Keyring;
use super::db::{Db, Row, Tx, Value};
use super::store::Store;

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
CREATE TABLE IF NOT EXISTS key_use (
    node TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS retired_keys (
    key_id TEXT PRIMARY KEY,
    at INTEGER NOT NULL
);
";

/// The quarantine on SQLite.
pub type SqliteStore = Store<Sqlite>;

/// One connection to `quarantine.db`, shared by the threads of a process.
pub struct Sqlite {
    conn: Mutex<Connection>,
}

impl Store<Sqlite> {
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
        Ok(Store::new(
            Sqlite {
                conn: Mutex::new(conn),
            },
            keys,
        ))
    }
}

impl Sqlite {
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Db for Sqlite {
    fn transaction<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&mut On(&tx))?;
        tx.commit()?;
        Ok(out)
    }

    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        f(&mut On(&self.conn()))
    }

    fn key_lock(&self, _exclusive: bool) -> Option<&'static str> {
        None
    }

    fn utc_day(&self, column: &str) -> String {
        format!("date({column}, 'unixepoch')")
    }
}

/// Statements on a connection (a `rusqlite::Transaction` is one too).
struct On<'a>(&'a Connection);

/// `$3` → `?3`: SQLite reads `$3` as a *named* parameter numbered by first appearance, so
/// a statement using `$2` before `$1` would bind the wrong values; `?3` is bound by number.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

fn bind(args: &[Value]) -> Vec<SqlValue> {
    args.iter()
        .map(|v| match v {
            Value::Null => SqlValue::Null,
            Value::Int(n) => SqlValue::Integer(*n),
            Value::Bool(b) => SqlValue::Integer(*b as i64),
            Value::Text(s) => SqlValue::Text(s.clone()),
            Value::Bytes(b) => SqlValue::Blob(b.clone()),
        })
        .collect()
}

impl Tx for On<'_> {
    fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64> {
        let mut stmt = self.0.prepare_cached(&numbered(sql))?;
        Ok(stmt.execute(rusqlite::params_from_iter(bind(args)))? as u64)
    }

    fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>> {
        let mut stmt = self.0.prepare_cached(&numbered(sql))?;
        let width = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(bind(args)))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(width);
            for i in 0..width {
                row.push(match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::Int(n),
                    ValueRef::Real(x) => Value::Int(x as i64),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
                });
            }
            out.push(Row(row));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dollar_parameters_become_numbered_question_marks() {
        assert_eq!(
            super::numbered("UPDATE t SET a = $2 WHERE b = $1 AND c LIKE '%$%' ESCAPE '\\'"),
            "UPDATE t SET a = ?2 WHERE b = ?1 AND c LIKE '%$%' ESCAPE '\\'"
        );
    }
}
