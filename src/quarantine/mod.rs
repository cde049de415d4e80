//! The quarantine: where held messages wait for the data protection lead (DPL) or the DSL.
//! It owns the `QuarantineStore` trait (items, their review state, decision events for the
//! dashboard, the audit log, reviewers and their sign-in sessions), the item types, and the
//! embedded SQLite backend (`sqlite`). Message bodies and everything that may carry pupil
//! data (subject, recipients, findings, reviewer notes) are sealed with `crypto` before
//! they touch the disk; only what the queue filters on stays in clear (time, school,
//! sender, finding kinds, status).
//!
//! A release is claimed atomically (held → releasing) so two reviewers, or two relays
//! sharing one store, can never deliver the same item twice.

pub mod crypto;
mod db;
pub mod pg;
mod rows;
pub mod sqlite;
mod store;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::scan::Finding;

pub use pg::PgStore;
pub use sqlite::SqliteStore;
pub use store::Store;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("quarantine database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("quarantine encryption: {0}")]
    Crypto(#[from] crypto::CryptoError),
    #[error("quarantine: {0}")]
    Io(#[from] std::io::Error),
    #[error("quarantine: {0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Where an item is in its review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Held,
    /// Claimed by a reviewer whose release is being delivered.
    Releasing,
    Released,
    Returned,
    Deleted,
    Expired,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Held,
        Status::Releasing,
        Status::Released,
        Status::Returned,
        Status::Deleted,
        Status::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Held => "held",
            Status::Releasing => "releasing",
            Status::Released => "released",
            Status::Returned => "returned",
            Status::Deleted => "deleted",
            Status::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the relay stores with a held message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldItem {
    pub reference: String,
    pub received: DateTime<Utc>,
    /// The sending school's id ("" when the sender is not at a school of the trust).
    pub school: String,
    pub sender: String,
    pub recipients: Vec<String>,
    pub held_recipients: Vec<String>,
    pub subject: String,
    pub findings: Vec<Finding>,
    pub reasons: Vec<String>,
    /// A safeguarding flag is among the findings: the DSL reviews it.
    pub safeguarding: bool,
}

impl HeldItem {
    pub fn kinds(&self) -> Vec<String> {
        crate::scan::kind_names(&self.findings)
    }
}

/// A stored item as a reviewer sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    #[serde(flatten)]
    pub held: HeldItem,
    pub status: Status,
    pub false_positive: bool,
    pub reviewer: Option<String>,
    pub reviewed: Option<DateTime<Utc>>,
    pub note: Option<String>,
    /// Whether the message itself is still kept (not after release, return, delete, expiry).
    pub has_message: bool,
    pub size: usize,
}

/// One row of the queue.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub reference: String,
    pub received: DateTime<Utc>,
    pub school: String,
    pub sender: String,
    pub subject: String,
    pub kinds: Vec<String>,
    pub held_recipients: usize,
    pub status: Status,
    pub false_positive: bool,
    pub safeguarding: bool,
}

/// Who may see what: a school's DPL that school, a DSL the safeguarding items, a trust
/// DPL or an admin everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub school: Option<String>,
    pub safeguarding_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Newest,
    Oldest,
    Sender,
}

/// A queue query: filters, sort and page.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub scope: Scope,
    pub status: Option<Status>,
    pub school: Option<String>,
    pub kind: Option<String>,
    /// Part of the sender address.
    pub sender: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub sort: Sort,
    pub page: usize,
    pub per_page: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub items: Vec<Summary>,
    /// How many items match the filters.
    pub total: usize,
    /// Items per status within the scope (for the counts above the queue).
    pub by_status: Vec<(Status, usize)>,
}

/// A decision the relay took, for the dashboard (no message, no pupil data).
#[derive(Debug, Clone)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub school: String,
    pub sender: String,
    /// held, refused, tagged, released, returned, deleted, false_positive, expired.
    pub action: String,
    pub kinds: Vec<String>,
    pub reference: String,
    pub safeguarding: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub reference: String,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Data protection lead: held items of their school, or all with no school.
    Dpl,
    /// Designated safeguarding lead: safeguarding items.
    Dsl,
    /// Everything, and the audit log.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Dpl => "dpl",
            Role::Dsl => "dsl",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        [Role::Dpl, Role::Dsl, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub password_hash: String,
    pub role: Role,
    pub school: Option<String>,
}

impl User {
    pub fn scope(&self) -> Scope {
        Scope {
            school: match self.role {
                Role::Admin => None,
                _ => self.school.clone(),
            },
            safeguarding_only: self.role == Role::Dsl,
        }
    }
}

/// Daily counts and the rest of the dashboard's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// (day "YYYY-MM-DD", action, count), last 30 days.
    pub per_day: Vec<(String, String, usize)>,
    /// (finding kind, count) of held and refused messages, last 30 days.
    pub per_kind: Vec<(String, usize)>,
    pub oldest_held: Option<(String, DateTime<Utc>)>,
    /// (sender, messages held or refused), most first.
    pub top_senders: Vec<(String, usize)>,
}

pub trait QuarantineStore: Send + Sync {
    /// Stores a held message durably; returns only once it is on disk (and records the
    /// `held` event and audit entry in the same transaction).
    fn hold(&self, item: &HeldItem, message: &[u8]) -> Result<()>;
    /// Records a decision that kept no message (refused, tagged).
    fn record(&self, event: &Event) -> Result<()>;
    fn query(&self, q: &Query) -> Result<Page>;
    /// One item within `scope` (None when absent or outside it).
    fn get(&self, reference: &str, scope: &Scope) -> Result<Option<Item>>;
    /// The held message itself.
    fn message(&self, reference: &str) -> Result<Option<Vec<u8>>>;
    /// Held → releasing, atomically: true for exactly one caller.
    fn claim(&self, reference: &str, actor: &str) -> Result<bool>;
    /// Releasing → held again (the delivery failed).
    fn unclaim(&self, reference: &str) -> Result<()>;
    /// Ends a review: `from` must be the item's current status; drops the message.
    fn finish(
        &self,
        reference: &str,
        from: &[Status],
        to: Status,
        actor: &str,
        note: Option<&str>,
        detail: &str,
    ) -> Result<bool>;
    fn mark_false_positive(&self, reference: &str, actor: &str, note: Option<&str>)
    -> Result<bool>;
    fn audit(&self, actor: &str, action: &str, reference: &str, detail: &str) -> Result<()>;
    /// The audit entries of one item, oldest first.
    fn audit_of(&self, reference: &str) -> Result<Vec<AuditEntry>>;
    /// Decision events since `since` within `scope`, oldest first.
    fn events(&self, since: DateTime<Utc>, scope: &Scope) -> Result<Vec<Event>>;
    /// Newest first; `limit` 0 means all.
    fn audit_log(&self, limit: usize, offset: usize) -> Result<Vec<AuditEntry>>;
    /// References of the items held since before `cutoff`.
    fn held_before(&self, cutoff: DateTime<Utc>) -> Result<Vec<String>>;
    /// Held items older than `retention_days` expire: the message is purged, the
    /// metadata and an audit entry stay. Returns how many.
    fn purge(&self, now: DateTime<Utc>, retention_days: u32) -> Result<usize> {
        let cutoff = now - chrono::Duration::days(i64::from(retention_days));
        let mut n = 0;
        for r in self.held_before(cutoff)? {
            if self.finish(
                &r,
                &[Status::Held],
                Status::Expired,
                "retention",
                None,
                &format!("not reviewed within {retention_days} days; message purged"),
            )? {
                n += 1;
            }
        }
        Ok(n)
    }
    fn stats(&self, now: DateTime<Utc>, scope: &Scope) -> Result<Stats>;

    fn put_user(&self, user: &User) -> Result<()>;
    fn user(&self, name: &str) -> Result<Option<User>>;
    fn users(&self) -> Result<Vec<User>>;
    fn create_session(&self, token_hash: &str, user: &str, csrf: &str, expires: i64) -> Result<()>;
    /// The signed-in user and the session's CSRF token, if the session is live.
    fn session(&self, token_hash: &str, now: i64) -> Result<Option<(User, String)>>;
    fn delete_session(&self, token_hash: &str) -> Result<()>;
    /// Claims a once-a-day job (`job` on local date `day`) for `node`: true for the first
    /// claim, false when any relay on this store claimed it already. With two relays on one
    /// PostgreSQL, the daily digest goes out once.
    fn claim_daily(&self, job: &str, day: &str, node: &str) -> Result<bool>;

    /// Key rotation, safe while relays run (docs/quarantine.md). With `add`, a new key goes
    /// into this store's key file and seals from now on; then every blob under another key
    /// is resealed with the current one in one transaction. The old keys are retired (out
    /// of the file, refused for sealing by every relay) only when no relay seen in the last
    /// [`KEY_USE_FRESH_SECS`] still seals with one; otherwise they are kept and the rotation
    /// says which relays to give the new key file and reload (run it again without `add`).
    fn rotate_key(&self, add: bool) -> Result<Rotation>;
    /// Reads the key file again (after a rotation, or a copy from another relay).
    fn reload_keys(&self) -> Result<()>;
    /// Records that relay `node` seals with this store's current key; refused (with what to
    /// do) when a rotation retired that key.
    fn key_in_use(&self, node: &str) -> Result<()>;
}

/// How long a relay's report of its sealing key counts for a rotation (relays report at
/// start, on reload and hourly).
pub const KEY_USE_FRESH_SECS: i64 = 2 * 3600;

/// What a key rotation did.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The key that seals now.
    pub key_id: String,
    /// Items resealed with it.
    pub resealed: usize,
    /// Keys retired (empty while relays still seal with an older key).
    pub retired: Vec<String>,
    /// Relays still sealing with an older key: (node, key id, last reported).
    pub waiting: Vec<(String, String, DateTime<Utc>)>,
}

/// `[quarantine]`: which backend, and how long held items wait for review.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineConfig {
    /// "sqlite" (the embedded default: `quarantine.db` in the data directory) or "postgres".
    #[serde(default)]
    pub backend: Backend,
    /// For "postgres": `host=… user=… password=… dbname=…` or a `postgresql://` URL.
    #[serde(default)]
    pub postgres_url: Option<String>,
    /// For "postgres": connections this relay keeps open (holds and reviews run at once).
    #[serde(default = "default_connections")]
    pub postgres_connections: usize,
    /// Days a held item waits for review before it expires and its message is purged.
    #[serde(default = "default_retention")]
    pub retention_days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Sqlite,
    Postgres,
}

impl Default for QuarantineConfig {
    fn default() -> Self {
        QuarantineConfig {
            backend: Backend::Sqlite,
            postgres_url: None,
            postgres_connections: default_connections(),
            retention_days: default_retention(),
        }
    }
}

fn default_connections() -> usize {
    pg::DEFAULT_CONNECTIONS
}

fn default_retention() -> u32 {
    30
}

/// Opens the configured store; the key file is in `data_dir` for either backend.
pub fn open(
    config: &QuarantineConfig,
    data_dir: &std::path::Path,
) -> Result<std::sync::Arc<dyn QuarantineStore>> {
    Ok(match config.backend {
        Backend::Sqlite => std::sync::Arc::new(SqliteStore::open(data_dir)?),
        Backend::Postgres => {
            let url = config.postgres_url.as_deref().ok_or_else(|| {
                StoreError::Invalid("[quarantine] backend = \"postgres\" needs postgres_url".into())
            })?;
            std::sync::Arc::new(PgStore::open_pool(
                url,
                data_dir,
                config.postgres_connections,
            )?)
        }
    })
}

/// A reference id is "HP-" and letters/digits; anything else never reaches a query.
pub fn valid_reference(r: &str) -> bool {
    r.len() <= 40
        && r.starts_with("HP-")
        && r[3..].bytes().all(|b| b.is_ascii_alphanumeric())
        && r.len() > 3
}

/// The quarantine as the metrics endpoints see it: the held gauge and readiness.
pub struct StoreProbe(pub Arc<dyn QuarantineStore>);

impl crate::metrics::Probe for StoreProbe {
    fn held(&self) -> std::result::Result<u64, String> {
        self.0
            .query(&Query {
                status: Some(Status::Held),
                per_page: 1,
                ..Default::default()
            })
            .map(|page| page.total as u64)
            .map_err(|e| e.to_string())
    }

    fn ready(&self) -> std::result::Result<(), String> {
        self.0
            .audit_log(1, 0)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
