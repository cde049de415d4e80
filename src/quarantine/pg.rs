//! The shared quarantine backend: PostgreSQL, for a trust or a regional provider that runs
//! several relays on several machines with one review queue. Same schema and promises as
//! the SQLite store (a hold is committed before the relay says 250; a release is claimed
//! with one conditional UPDATE, so exactly one of two reviewers or relays wins). Every relay
//! must have the same `quarantine.key` (see docs/quarantine.md). What is stored and how is
//! `store.rs`; this file is the schema, the connection and the value translation.
//!
//! The synchronous `postgres` client runs on threads of its own (one per connection, a small
//! pool); callers hand them jobs and wait for the answer, so the store can be called from
//! any thread, async ones included, and several holds and reviews run at once.

use std::collections::HashMap;
use std::error::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, GenericClient, NoTls, Statement};

use super::crypto::Keyring;
use super::db::{Db, Row, Tx, Value};
use super::store::Store;
use super::{Result, StoreError};

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
CREATE TABLE IF NOT EXISTS key_use (
    node TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS retired_keys (
    key_id TEXT PRIMARY KEY,
    at BIGINT NOT NULL
);
";

type Job = Box<dyn FnOnce(&mut Conn) + Send>;

/// One connection and the statements it has prepared (by SQL text): a statement is parsed
/// once per connection, then each use is one round trip instead of two.
struct Conn {
    client: Client,
    prepared: HashMap<String, Statement>,
}

/// Prepared statements kept per connection; the texts are a bounded set (the store's own
/// statements and the queue's filter combinations), this only bounds a mistake.
const MAX_PREPARED: usize = 512;

/// The quarantine on PostgreSQL.
pub type PgStore = Store<Pg>;

/// The connections' threads, fed jobs through one queue.
pub struct Pg {
    jobs: Mutex<mpsc::Sender<Job>>,
}

/// The error with its causes ("error connecting to server: Connection refused").
fn pg_err(e: postgres::Error) -> StoreError {
    let mut msg = format!("postgresql: {e}");
    let mut cause = Error::source(&e);
    while let Some(c) = cause {
        msg.push_str(&format!(": {c}"));
        cause = c.source();
    }
    StoreError::Invalid(msg)
}

fn stopped() -> StoreError {
    StoreError::Invalid("postgresql: connection thread stopped".into())
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

impl Store<Pg> {
    /// Connects (`host=… user=… dbname=…` or a `postgresql://` URL) with
    /// [`DEFAULT_CONNECTIONS`], creates the tables if needed, and opens the keyring in
    /// `data_dir`.
    pub fn open(url: &str, data_dir: &std::path::Path) -> Result<PgStore> {
        Self::open_pool(url, data_dir, DEFAULT_CONNECTIONS)
    }

    /// As [`open`](Self::open), with `connections` connections (at least one), each on a
    /// thread of its own taking the next job. The first creates or migrates the schema;
    /// a database that cannot be reached fails here, with its error.
    pub fn open_pool(url: &str, data_dir: &std::path::Path, connections: usize) -> Result<PgStore> {
        std::fs::create_dir_all(data_dir)?;
        let keys = Keyring::open_or_create(&data_dir.join("quarantine.key"))?;
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let breaks = Arc::new(AtomicU64::new(0));
        for n in 0..connections.max(1) {
            // Everything the blocking client does happens on its own threads, connecting
            // included: the client runs a runtime of its own, which must never start inside
            // the caller's (`hallpass serve` opens the store from within tokio).
            let (opened_tx, opened_rx) = mpsc::sync_channel::<Result<()>>(1);
            let (url, rx, breaks) = (url.to_string(), rx.clone(), breaks.clone());
            std::thread::Builder::new()
                .name(format!("hallpass-postgres-{n}"))
                .spawn(move || {
                    let connected = if n == 0 {
                        connect_and_migrate(&url)
                    } else {
                        Client::connect(&url, NoTls).map_err(pg_err)
                    };
                    let client = match connected {
                        Ok(c) => {
                            let _ = opened_tx.send(Ok(()));
                            c
                        }
                        Err(e) => {
                            let _ = opened_tx.send(Err(e));
                            return;
                        }
                    };
                    serve_jobs(&url, client, &rx, &breaks);
                })?;
            match opened_rx.recv().map_err(|_| stopped())? {
                Ok(()) => {}
                Err(e) if n == 0 => return Err(e),
                // The pool is smaller; the first connection serves.
                Err(e) => tracing::warn!(error = %e, "postgresql: extra connection failed"),
            }
        }
        let pg = Pg {
            jobs: Mutex::new(tx),
        };
        Ok(Store::new(pg, keys))
    }
}

/// Connections per relay unless `[quarantine] postgres_connections` says otherwise.
pub const DEFAULT_CONNECTIONS: usize = 4;

/// One connection's thread: takes the next job until the store is dropped. A connection
/// only learns it was lost when used, so when any connection finds itself closed (the
/// database restarted, the network dropped) it counts a break in `breaks`, and every other
/// connection checks itself (one round trip) before its next job and connects again if
/// needed: after an outage at most the job that found it fails, not one per connection.
fn serve_jobs(url: &str, client: Client, jobs: &Mutex<mpsc::Receiver<Job>>, breaks: &AtomicU64) {
    let mut conn = Conn {
        client,
        prepared: HashMap::new(),
    };
    let mut seen = breaks.load(Ordering::SeqCst);
    loop {
        let job = match jobs.lock().unwrap_or_else(|p| p.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        let now = breaks.load(Ordering::SeqCst);
        let suspect = now != seen && conn.client.is_valid(Duration::from_secs(5)).is_err();
        seen = now;
        if conn.client.is_closed() || suspect {
            match Client::connect(url, NoTls) {
                Ok(c) => {
                    conn.client = c;
                    conn.prepared.clear();
                }
                Err(e) => tracing::warn!(error = %e, "postgresql: reconnect failed"),
            }
        }
        job(&mut conn);
        if conn.client.is_closed() {
            seen = breaks.fetch_add(1, Ordering::SeqCst) + 1;
        }
    }
}

impl Pg {
    /// Runs `f` on the connection's thread and waits for its answer.
    fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(Box::new(move |c| {
                let _ = tx.send(f(c));
            }))
            .map_err(|_| stopped())?;
        rx.recv().map_err(|_| stopped())?
    }
}

impl Db for Pg {
    fn transaction<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.with(move |c| {
            let mut tx = c.client.transaction().map_err(pg_err)?;
            let out = f(&mut On {
                client: &mut tx,
                prepared: &mut c.prepared,
            })?;
            tx.commit().map_err(pg_err)?;
            Ok(out)
        })
    }

    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.with(move |c| {
            f(&mut On {
                client: &mut c.client,
                prepared: &mut c.prepared,
            })
        })
    }

    fn key_lock(&self, exclusive: bool) -> Option<&'static str> {
        // 0x4861_6c6c_7061_4b65: "HallpaKe", another number than the schema lock.
        Some(if exclusive {
            "SELECT pg_advisory_xact_lock(5215569056469437285)"
        } else {
            "SELECT pg_advisory_xact_lock_shared(5215569056469437285)"
        })
    }

    fn utc_day(&self, column: &str) -> String {
        format!("to_char(to_timestamp({column}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')")
    }
}

/// Statements on a client or a transaction.
struct On<'a, C: GenericClient> {
    client: &'a mut C,
    prepared: &'a mut HashMap<String, Statement>,
}

impl<C: GenericClient> On<'_, C> {
    /// The statement for `sql`, prepared on this connection the first time.
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).map_err(pg_err)?;
        if self.prepared.len() >= MAX_PREPARED {
            self.prepared.clear();
        }
        self.prepared.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

/// A parameter is sent as the type PostgreSQL expects for its place (checked by the
/// value's own `ToSql`); NULL fits any place.
impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(n) => n.to_sql_checked(ty, out),
            Value::Text(s) => s.to_sql_checked(ty, out),
            Value::Bytes(b) => b.to_sql_checked(ty, out),
            Value::Bool(b) => b.to_sql_checked(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn params(args: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

/// A column as a plain value, by its PostgreSQL type.
fn column(r: &postgres::Row, i: usize) -> std::result::Result<Value, postgres::Error> {
    let ty = r.columns()[i].type_();
    Ok(if *ty == Type::INT8 {
        r.try_get::<_, Option<i64>>(i)?
            .map_or(Value::Null, Value::Int)
    } else if *ty == Type::INT4 {
        r.try_get::<_, Option<i32>>(i)?
            .map_or(Value::Null, |n| Value::Int(n.into()))
    } else if *ty == Type::BOOL {
        r.try_get::<_, Option<bool>>(i)?
            .map_or(Value::Null, Value::Bool)
    } else if *ty == Type::BYTEA {
        r.try_get::<_, Option<Vec<u8>>>(i)?
            .map_or(Value::Null, Value::Bytes)
    } else {
        r.try_get::<_, Option<String>>(i)?
            .map_or(Value::Null, Value::Text)
    })
}

impl<C: GenericClient> Tx for On<'_, C> {
    fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64> {
        let stmt = self.statement(sql)?;
        self.client.execute(&stmt, &params(args)).map_err(pg_err)
    }

    fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>> {
        let stmt = self.statement(sql)?;
        let rows = self.client.query(&stmt, &params(args)).map_err(pg_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let row = (0..r.len())
                .map(|i| column(r, i))
                .collect::<std::result::Result<_, _>>();
            out.push(Row(row.map_err(pg_err)?));
        }
        Ok(out)
    }
}
