//! The quarantine store, written once for both databases: every statement of
//! `QuarantineStore` (hold, query, review, audit, sessions, the daily claim), the sealing
//! of what may carry pupil data before it reaches a row, and key rotation. A backend
//! (`sqlite.rs`, `pg.rs`) supplies only a `Db` — its schema, its connection, how it runs
//! `$n`-numbered SQL — so a rule changed here holds on SQLite and PostgreSQL alike.
//! Imports the quarantine's own types, `db`, `rows` and `crypto`; nothing else of Hallpass.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use super::crypto::{CryptoError, Keyring};
use super::db::{Db, Row, Sql, Tx};
use super::rows::{self, from_ts, kinds_col, kinds_vec, like_escape, ts};
use super::{
    AuditEntry, Event, HeldItem, Item, KEY_USE_FRESH_SECS, Page, QuarantineStore, Query, Result,
    Role, Rotation, Scope, Sort, Stats, Status, StoreError, Summary, User,
};

/// A quarantine on database `D`, its blobs sealed with the keyring of its data directory.
pub struct Store<D: Db> {
    db: D,
    keys: RwLock<Arc<Keyring>>,
}

impl<D: Db> Store<D> {
    pub(super) fn new(db: D, keys: Keyring) -> Store<D> {
        Store {
            db,
            keys: RwLock::new(Arc::new(keys)),
        }
    }

    /// The keyring in force (a rotation or a reload swaps it whole).
    fn keys(&self) -> Arc<Keyring> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stores many held items in one transaction (a migration from another store, or a
    /// bench filling the queue); each as `hold` would, without a commit per item.
    pub fn import(&self, items: &[(HeldItem, Vec<u8>)]) -> Result<usize> {
        let keys = self.keys();
        let key_id = keys.current_id().to_string();
        let mut sealed = Vec::with_capacity(items.len());
        for (item, message) in items {
            check_reference(&item.reference)?;
            sealed.push((
                item.clone(),
                message.len(),
                rows::seal_meta(&keys, item)?,
                rows::seal_message(&keys, &item.reference, message)?,
            ));
        }
        let n = sealed.len();
        let lock = self.db.key_lock(false);
        self.db.transaction(move |tx| {
            check_not_retired(tx, &key_id, keys.path(), lock)?;
            for (item, size, meta, body) in sealed {
                insert_item(tx, &item, size, &key_id, meta, body)?;
            }
            Ok(())
        })?;
        Ok(n)
    }

    fn set_keys(&self, keys: Keyring) -> Arc<Keyring> {
        let keys = Arc::new(keys);
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys.clone();
        keys
    }

    /// `f` with the keyring; when a blob names a key this relay does not have (another
    /// relay rotated and the new key file was copied here), the key file is read again once.
    fn opened<T>(&self, f: impl Fn(&Keyring) -> Result<T>) -> Result<T> {
        match f(&self.keys()) {
            Err(StoreError::Crypto(CryptoError::UnknownKey(id))) => {
                let keys = Keyring::open(self.keys().path())?;
                if !keys.ids().contains(&id) {
                    return Err(CryptoError::UnknownKey(id).into());
                }
                f(&self.set_keys(keys))
            }
            r => r,
        }
    }
}

/// Refuses to seal with a key a rotation retired (this relay's key file is out of date).
/// With `lock` (the database's shared key lock, a SELECT) it is taken by the same statement,
/// one round trip.
fn check_not_retired(
    tx: &mut dyn Tx,
    key_id: &str,
    key_file: &std::path::Path,
    lock: Option<&str>,
) -> Result<()> {
    let sql = match lock {
        Some(lock) => format!(
            "SELECT (SELECT at FROM retired_keys WHERE key_id = $1) FROM ({lock}) AS key_lock"
        ),
        None => "SELECT (SELECT at FROM retired_keys WHERE key_id = $1)".to_string(),
    };
    if let Some(at) = tx.query_one(&sql, &[key_id.into()])?.opt_int(0)? {
        return Err(StoreError::Invalid(format!(
            "{} seals with key {key_id}, which a key rotation retired on {}: copy the current \
             quarantine.key from a relay that has it, then reload (docs/quarantine.md)",
            key_file.display(),
            from_ts(at).format("%Y-%m-%d %H:%M UTC")
        )));
    }
    Ok(())
}

/// Reseals every blob not under the current key, one item at a time in the caller's
/// transaction; the number of items resealed.
fn reseal(tx: &mut dyn Tx, keys: &Keyring) -> Result<usize> {
    let cur = keys.current_id().to_string();
    let mut n = 0;
    let items = tx.query(
        "SELECT reference, key_id, meta, note_key, note FROM items
         WHERE key_id <> $1 OR note_key <> $1",
        &[cur.clone().into()],
    )?;
    for r in items {
        let reference = r.text(0)?;
        let aad = format!("{reference}/meta");
        let meta = keys.seal(&aad, &keys.open_blob(&r.text(1)?, &aad, &r.bytes(2)?)?)?;
        let note = match (r.opt_text(3)?, r.opt_bytes(4)?) {
            (Some(k), Some(b)) => {
                let aad = format!("{reference}/note");
                Some(keys.seal(&aad, &keys.open_blob(&k, &aad, &b)?)?)
            }
            _ => None,
        };
        tx.execute(
            "UPDATE items SET key_id = $2, meta = $3, note_key = $4, note = $5 WHERE reference = $1",
            &[
                reference.into(),
                cur.clone().into(),
                meta.into(),
                note.as_ref().map(|_| cur.clone()).into(),
                note.into(),
            ],
        )?;
        n += 1;
    }
    let bodies = tx.query(
        "SELECT reference, key_id, body FROM messages WHERE key_id <> $1",
        &[cur.clone().into()],
    )?;
    for r in bodies {
        let reference = r.text(0)?;
        let aad = format!("{reference}/message");
        let body = keys.seal(&aad, &keys.open_blob(&r.text(1)?, &aad, &r.bytes(2)?)?)?;
        tx.execute(
            "UPDATE messages SET key_id = $2, body = $3 WHERE reference = $1",
            &[reference.into(), cur.clone().into(), body.into()],
        )?;
    }
    Ok(n)
}

fn check_reference(reference: &str) -> Result<()> {
    if super::valid_reference(reference) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!("bad reference {reference:?}")))
    }
}

/// One held item: its row, its sealed message and its `held` event.
fn insert_item(
    tx: &mut dyn Tx,
    item: &HeldItem,
    size: usize,
    key_id: &str,
    meta: Vec<u8>,
    body: Vec<u8>,
) -> Result<()> {
    let kinds = item.kinds();
    tx.execute(
        "INSERT INTO items (reference, received, school, sender, kinds, safeguarding, held_count, status, size, key_id, meta)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'held', $8, $9, $10)",
        &[
            item.reference.clone().into(),
            ts(item.received).into(),
            item.school.clone().into(),
            item.sender.clone().into(),
            kinds_col(&kinds).into(),
            item.safeguarding.into(),
            (item.held_recipients.len() as i64).into(),
            (size as i64).into(),
            key_id.into(),
            meta.into(),
        ],
    )?;
    tx.execute(
        "INSERT INTO messages (reference, key_id, body) VALUES ($1, $2, $3)",
        &[item.reference.clone().into(), key_id.into(), body.into()],
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

fn insert_event(tx: &mut dyn Tx, e: &Event) -> Result<()> {
    tx.execute(
        "INSERT INTO events (at, school, sender, action, kinds, reference, safeguarding)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            ts(e.at).into(),
            e.school.clone().into(),
            e.sender.clone().into(),
            e.action.clone().into(),
            kinds_col(&e.kinds).into(),
            e.reference.clone().into(),
            e.safeguarding.into(),
        ],
    )?;
    Ok(())
}

fn insert_audit(
    tx: &mut dyn Tx,
    actor: &str,
    action: &str,
    reference: &str,
    detail: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO audit (at, actor, action, reference, detail) VALUES ($1, $2, $3, $4, $5)",
        &[
            Utc::now().timestamp().into(),
            actor.into(),
            action.into(),
            reference.into(),
            detail.into(),
        ],
    )?;
    Ok(())
}

/// The event of a decision on an item, from the item's row (`school, sender, kinds,
/// safeguarding` as its first four columns).
fn decision_event(row: &Row, action: &str, reference: &str) -> Result<Event> {
    Ok(Event {
        at: Utc::now(),
        school: row.text(0)?,
        sender: row.text(1)?,
        action: action.into(),
        kinds: kinds_vec(&row.text(2)?),
        reference: reference.into(),
        safeguarding: row.bool(3)?,
    })
}

/// The conditions of a scope (on table `items` or `events`).
fn push_scope(scope: &Scope, sql: &mut Sql) {
    if let Some(s) = &scope.school {
        sql.push(" AND school = ?", [s.into()]);
    }
    if scope.safeguarding_only {
        sql.push(" AND safeguarding", []);
    }
}

const AUDIT_COLUMNS: &str = "SELECT at, actor, action, reference, detail FROM audit";

fn audit_entry(r: &Row) -> Result<AuditEntry> {
    Ok(AuditEntry {
        at: from_ts(r.int(0)?),
        actor: r.text(1)?,
        action: r.text(2)?,
        reference: r.text(3)?,
        detail: r.text(4)?,
    })
}

fn user_of(r: &Row) -> Result<User> {
    Ok(User {
        name: r.text(0)?,
        password_hash: r.text(1)?,
        role: Role::parse(&r.text(2)?).unwrap_or(Role::Dpl),
        school: r.opt_text(3)?,
    })
}

fn all<T>(rows: Vec<Row>, f: impl Fn(&Row) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(f).collect()
}

impl<D: Db> QuarantineStore for Store<D> {
    fn hold(&self, item: &HeldItem, message: &[u8]) -> Result<()> {
        check_reference(&item.reference)?;
        let keys = self.keys();
        let meta = rows::seal_meta(&keys, item)?;
        let body = rows::seal_message(&keys, &item.reference, message)?;
        let key_id = keys.current_id().to_string();
        let item = item.clone();
        let size = message.len();
        let lock = self.db.key_lock(false);
        self.db.transaction(move |tx| {
            check_not_retired(tx, &key_id, keys.path(), lock)?;
            insert_item(tx, &item, size, &key_id, meta, body)?;
            insert_audit(
                tx,
                "relay",
                "held",
                &item.reference,
                &format!("{} recipient(s) held", item.held_recipients.len()),
            )
        })
    }

    fn record(&self, event: &Event) -> Result<()> {
        let e = event.clone();
        self.db.run(move |c| insert_event(c, &e))
    }

    fn query(&self, q: &Query) -> Result<Page> {
        let mut scope_where = Sql::new(" WHERE TRUE");
        push_scope(&q.scope, &mut scope_where);
        let mut filter = scope_where.clone();
        if let Some(s) = q.status {
            filter.push(" AND status = ?", [s.as_str().into()]);
        }
        if let Some(s) = &q.school {
            filter.push(" AND school = ?", [s.into()]);
        }
        if let Some(k) = &q.kind {
            filter.push(
                " AND kinds LIKE ? ESCAPE '\\'",
                [format!("%,{},%", like_escape(k)).into()],
            );
        }
        if let Some(s) = &q.sender {
            let pattern = format!("%{}%", like_escape(&s.to_ascii_lowercase()));
            filter.push(" AND lower(sender) LIKE ? ESCAPE '\\'", [pattern.into()]);
        }
        if let Some(t) = q.since {
            filter.push(" AND received >= ?", [ts(t).into()]);
        }
        if let Some(t) = q.until {
            filter.push(" AND received < ?", [ts(t).into()]);
        }
        let order = match q.sort {
            Sort::Newest => "received DESC, reference",
            Sort::Oldest => "received ASC, reference",
            Sort::Sender => "sender ASC, received DESC",
        };
        let per_page = q.per_page.clamp(1, 500) as i64;
        let offset = (q.page as i64) * per_page;
        let (total, page_rows, counts) = self.db.run(move |c| {
            let total = c
                .query_one(&format!("SELECT COUNT(*) FROM items{}", filter.text), &filter.args)?
                .int(0)?;
            let mut page = Sql {
                text: format!(
                    "SELECT reference, received, school, sender, kinds, held_count, status, false_positive, safeguarding, key_id, meta
                     FROM items{}",
                    filter.text
                ),
                args: filter.args,
            };
            page.push(
                &format!(" ORDER BY {order} LIMIT ? OFFSET ?"),
                [per_page.into(), offset.into()],
            );
            let page_rows = c.query(&page.text, &page.args)?;
            let counts = c.query(
                &format!("SELECT status, COUNT(*) FROM items{} GROUP BY status", scope_where.text),
                &scope_where.args,
            )?;
            Ok((total, page_rows, counts))
        })?;
        let mut items = Vec::with_capacity(page_rows.len());
        for r in &page_rows {
            let reference = r.text(0)?;
            let (key_id, meta) = (r.text(9)?, r.bytes(10)?);
            let subject = self
                .opened(|keys| rows::open_meta(keys, &reference, &key_id, &meta))
                .map(|m| m.subject)
                .unwrap_or_else(|e| format!("(cannot open: {e})"));
            items.push(Summary {
                reference,
                received: from_ts(r.int(1)?),
                school: r.text(2)?,
                sender: r.text(3)?,
                subject,
                kinds: kinds_vec(&r.text(4)?),
                held_recipients: r.int(5)? as usize,
                status: Status::parse(&r.text(6)?).unwrap_or(Status::Held),
                false_positive: r.bool(7)?,
                safeguarding: r.bool(8)?,
            });
        }
        let mut by_status = Vec::new();
        for s in Status::ALL {
            let mut n = 0;
            for r in &counts {
                if r.text(0)? == s.as_str() {
                    n = r.int(1)?;
                }
            }
            by_status.push((s, n as usize));
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
        let mut sql = Sql::new(
            "SELECT received, school, sender, safeguarding, status, false_positive, reviewer, reviewed, size, key_id, meta, note_key, note,
                    EXISTS (SELECT 1 FROM messages m WHERE m.reference = items.reference)
             FROM items WHERE",
        );
        sql.push(" reference = ?", [reference.into()]);
        push_scope(scope, &mut sql);
        let Some(r) = self.db.run(move |c| c.query_opt(&sql.text, &sql.args))? else {
            return Ok(None);
        };
        let (key_id, blob) = (r.text(9)?, r.bytes(10)?);
        let meta = self.opened(|keys| rows::open_meta(keys, reference, &key_id, &blob))?;
        let note = match (r.opt_text(11)?, r.opt_bytes(12)?) {
            (Some(k), Some(b)) => {
                Some(self.opened(|keys| rows::open_note(keys, reference, &k, &b))?)
            }
            _ => None,
        };
        Ok(Some(Item {
            held: HeldItem {
                reference: reference.to_string(),
                received: from_ts(r.int(0)?),
                school: r.text(1)?,
                sender: r.text(2)?,
                recipients: meta.recipients,
                held_recipients: meta.held_recipients,
                subject: meta.subject,
                findings: meta.findings,
                reasons: meta.reasons,
                safeguarding: r.bool(3)?,
            },
            status: Status::parse(&r.text(4)?).unwrap_or(Status::Held),
            false_positive: r.bool(5)?,
            reviewer: r.opt_text(6)?,
            reviewed: r.opt_int(7)?.map(from_ts),
            note,
            has_message: r.bool(13)?,
            size: r.int(8)? as usize,
        }))
    }

    fn message(&self, reference: &str) -> Result<Option<Vec<u8>>> {
        if !super::valid_reference(reference) {
            return Ok(None);
        }
        let args = [reference.into()];
        let row = self.db.run(move |c| {
            c.query_opt(
                "SELECT key_id, body FROM messages WHERE reference = $1",
                &args,
            )
        })?;
        match row {
            None => Ok(None),
            Some(r) => {
                let (key_id, blob) = (r.text(0)?, r.bytes(1)?);
                Ok(Some(self.opened(|keys| {
                    rows::open_message(keys, reference, &key_id, &blob)
                })?))
            }
        }
    }

    fn claim(&self, reference: &str, actor: &str) -> Result<bool> {
        let args = [
            reference.into(),
            actor.into(),
            Utc::now().timestamp().into(),
        ];
        let n = self.db.run(move |c| {
            c.execute(
                "UPDATE items SET status = 'releasing', reviewer = $2, reviewed = $3
                 WHERE reference = $1 AND status = 'held'",
                &args,
            )
        })?;
        Ok(n == 1)
    }

    fn unclaim(&self, reference: &str) -> Result<()> {
        let args = [reference.into()];
        self.db.run(move |c| {
            c.execute(
                "UPDATE items SET status = 'held' WHERE reference = $1 AND status = 'releasing'",
                &args,
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
        let (note_key, note) = rows::sealed_note(&self.keys(), reference, note)?.unzip();
        let mut update = Sql::new(
            "UPDATE items SET status = $1, reviewer = $2, reviewed = $3,
                 note_key = COALESCE($4, note_key), note = COALESCE($5, note)
             WHERE reference = $6",
        );
        update.args = vec![
            to.as_str().into(),
            actor.into(),
            Utc::now().timestamp().into(),
            note_key.into(),
            note.into(),
            reference.into(),
        ];
        update.push_in("status", from.iter().map(|s| s.as_str().into()));
        let (r, a, d) = (reference.to_string(), actor.to_string(), detail.to_string());
        self.db.transaction(move |tx| {
            if tx.execute(&update.text, &update.args)? != 1 {
                return Ok(false);
            }
            tx.execute(
                "DELETE FROM messages WHERE reference = $1",
                &[r.clone().into()],
            )?;
            let row = tx.query_one(
                "SELECT school, sender, kinds, safeguarding FROM items WHERE reference = $1",
                &[r.clone().into()],
            )?;
            insert_event(tx, &decision_event(&row, to.as_str(), &r)?)?;
            insert_audit(tx, &a, to.as_str(), &r, &d)?;
            Ok(true)
        })
    }

    fn mark_false_positive(
        &self,
        reference: &str,
        actor: &str,
        note: Option<&str>,
    ) -> Result<bool> {
        let note = rows::sealed_note(&self.keys(), reference, note)?;
        let (r, a) = (reference.to_string(), actor.to_string());
        self.db.transaction(move |tx| {
            // One conditional UPDATE decides who marks it (no read-then-write race).
            let marked = tx.execute(
                "UPDATE items SET false_positive = TRUE WHERE reference = $1 AND NOT false_positive",
                &[r.clone().into()],
            )?;
            let row = tx.query_opt(
                "SELECT school, sender, kinds, safeguarding FROM items WHERE reference = $1",
                &[r.clone().into()],
            )?;
            let Some(row) = row else { return Ok(false) };
            if marked != 1 {
                return Ok(true);
            }
            if let Some((k, b)) = note {
                tx.execute(
                    "UPDATE items SET note_key = $2, note = $3 WHERE reference = $1",
                    &[r.clone().into(), k.into(), b.into()],
                )?;
            }
            insert_event(tx, &decision_event(&row, "false_positive", &r)?)?;
            insert_audit(tx, &a, "false_positive", &r, "marked as a false positive")?;
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
        self.db.run(move |c| insert_audit(c, &a, &b, &r, &d))
    }

    fn audit_of(&self, reference: &str) -> Result<Vec<AuditEntry>> {
        let args = [reference.into()];
        let found = self.db.run(move |c| {
            c.query(
                &format!("{AUDIT_COLUMNS} WHERE reference = $1 ORDER BY id"),
                &args,
            )
        })?;
        all(found, audit_entry)
    }

    fn events(&self, since: DateTime<Utc>, scope: &Scope) -> Result<Vec<Event>> {
        let mut sql = Sql::new(
            "SELECT at, school, sender, action, kinds, reference, safeguarding FROM events WHERE",
        );
        sql.push(" at >= ?", [ts(since).into()]);
        push_scope(scope, &mut sql);
        sql.push(" ORDER BY id", []);
        let found = self.db.run(move |c| c.query(&sql.text, &sql.args))?;
        all(found, |r| {
            Ok(Event {
                at: from_ts(r.int(0)?),
                school: r.text(1)?,
                sender: r.text(2)?,
                action: r.text(3)?,
                kinds: kinds_vec(&r.text(4)?),
                reference: r.text(5)?,
                safeguarding: r.bool(6)?,
            })
        })
    }

    fn audit_log(&self, limit: usize, offset: usize) -> Result<Vec<AuditEntry>> {
        let limit = if limit == 0 { i64::MAX } else { limit as i64 };
        let args = [limit.into(), (offset as i64).into()];
        let found = self.db.run(move |c| {
            c.query(
                &format!("{AUDIT_COLUMNS} ORDER BY id DESC LIMIT $1 OFFSET $2"),
                &args,
            )
        })?;
        all(found, audit_entry)
    }

    fn held_before(&self, cutoff: DateTime<Utc>) -> Result<Vec<String>> {
        let args = [ts(cutoff).into()];
        let found = self.db.run(move |c| {
            c.query(
                "SELECT reference FROM items WHERE status = 'held' AND received < $1",
                &args,
            )
        })?;
        all(found, |r| r.text(0))
    }

    fn stats(&self, now: DateTime<Utc>, scope: &Scope) -> Result<Stats> {
        let mut filter = Sql::new(" WHERE");
        filter.push(" at >= ?", [(ts(now) - 30 * 86_400).into()]);
        push_scope(scope, &mut filter);
        let mut ofilter = Sql::new(" WHERE status = 'held'");
        push_scope(scope, &mut ofilter);
        let day = self.db.utc_day("at");
        let (per_day, tallied, oldest) = self.db.run(move |c| {
            let per_day = c.query(
                &format!(
                    "SELECT {day}, action, COUNT(*) FROM events{} GROUP BY 1, 2 ORDER BY 1",
                    filter.text
                ),
                &filter.args,
            )?;
            let tallied = c.query(
                &format!(
                    "SELECT kinds, sender FROM events{} AND action IN ('held', 'refused')",
                    filter.text
                ),
                &filter.args,
            )?;
            let oldest = c.query_opt(
                &format!(
                    "SELECT reference, received FROM items{} ORDER BY received LIMIT 1",
                    ofilter.text
                ),
                &ofilter.args,
            )?;
            Ok((per_day, tallied, oldest))
        })?;
        let mut tally = rows::Tally::default();
        for r in &tallied {
            tally.add(&r.text(0)?, r.text(1)?);
        }
        let (per_kind, top_senders) = tally.finish();
        Ok(Stats {
            per_day: all(per_day, |r| {
                Ok((r.text(0)?, r.text(1)?, r.int(2)? as usize))
            })?,
            per_kind,
            oldest_held: match oldest {
                Some(r) => Some((r.text(0)?, from_ts(r.int(1)?))),
                None => None,
            },
            top_senders,
        })
    }

    fn put_user(&self, user: &User) -> Result<()> {
        let args = [
            user.name.clone().into(),
            user.password_hash.clone().into(),
            user.role.as_str().into(),
            user.school.clone().into(),
        ];
        self.db.run(move |c| {
            c.execute(
                "INSERT INTO users (name, hash, role, school) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO UPDATE
                 SET hash = excluded.hash, role = excluded.role, school = excluded.school",
                &args,
            )
        })?;
        Ok(())
    }

    fn user(&self, name: &str) -> Result<Option<User>> {
        let args = [name.into()];
        self.db
            .run(move |c| {
                c.query_opt(
                    "SELECT name, hash, role, school FROM users WHERE name = $1",
                    &args,
                )
            })?
            .as_ref()
            .map(user_of)
            .transpose()
    }

    fn users(&self) -> Result<Vec<User>> {
        let found = self.db.run(|c| {
            c.query(
                "SELECT name, hash, role, school FROM users ORDER BY name",
                &[],
            )
        })?;
        all(found, user_of)
    }

    fn create_session(&self, token_hash: &str, user: &str, csrf: &str, expires: i64) -> Result<()> {
        let args = [token_hash.into(), user.into(), csrf.into(), expires.into()];
        self.db.run(move |c| {
            c.execute(
                "DELETE FROM sessions WHERE expires < $1",
                &[Utc::now().timestamp().into()],
            )?;
            c.execute(
                "INSERT INTO sessions (token_hash, \"user\", csrf, expires) VALUES ($1, $2, $3, $4)",
                &args,
            )
        })?;
        Ok(())
    }

    fn session(&self, token_hash: &str, now: i64) -> Result<Option<(User, String)>> {
        let args = [token_hash.into(), now.into()];
        let found = self.db.run(move |c| {
            c.query_opt(
                "SELECT u.name, u.hash, u.role, u.school, s.csrf
                 FROM sessions s JOIN users u ON u.name = s.\"user\"
                 WHERE s.token_hash = $1 AND s.expires > $2",
                &args,
            )
        })?;
        match found {
            Some(r) => Ok(Some((user_of(&r)?, r.text(4)?))),
            None => Ok(None),
        }
    }

    fn delete_session(&self, token_hash: &str) -> Result<()> {
        let args = [token_hash.into()];
        self.db
            .run(move |c| c.execute("DELETE FROM sessions WHERE token_hash = $1", &args))?;
        Ok(())
    }

    fn claim_daily(&self, job: &str, day: &str, node: &str) -> Result<bool> {
        let args = [
            job.into(),
            day.into(),
            node.into(),
            Utc::now().timestamp().into(),
        ];
        let inserted = self.db.run(move |c| {
            c.execute(
                "INSERT INTO daily_runs (job, day, node, at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (job, day) DO NOTHING",
                &args,
            )
        })?;
        Ok(inserted == 1)
    }

    fn rotate_key(&self, add: bool) -> Result<Rotation> {
        let mut keys = Keyring::open(self.keys().path())?;
        if add {
            keys.add_key()?;
        }
        let keys = self.set_keys(keys);
        let key_id = keys.current_id().to_string();
        let old: Vec<String> = keys.ids().into_iter().filter(|k| *k != key_id).collect();
        let lock = self.db.key_lock(true);
        let (resealed, waiting) = {
            let (keys, old, key_id) = (keys.clone(), old.clone(), key_id.clone());
            self.db.transaction(move |tx| {
                if let Some(lock) = lock {
                    tx.execute(lock, &[])?;
                }
                let resealed = reseal(tx, &keys)?;
                let now = Utc::now().timestamp();
                let waiting = tx.query(
                    "SELECT node, key_id, at FROM key_use WHERE key_id <> $1 AND at >= $2 ORDER BY node",
                    &[key_id.into(), (now - KEY_USE_FRESH_SECS).into()],
                )?;
                let waiting = all(waiting, |r| Ok((r.text(0)?, r.text(1)?, from_ts(r.int(2)?))))?;
                if waiting.is_empty() {
                    for id in old {
                        tx.execute(
                            "INSERT INTO retired_keys (key_id, at) VALUES ($1, $2)
                             ON CONFLICT (key_id) DO NOTHING",
                            &[id.into(), now.into()],
                        )?;
                    }
                }
                Ok((resealed, waiting))
            })?
        };
        let retired = if waiting.is_empty() && !old.is_empty() {
            // Committed: no blob is under an old key and no relay may seal with one, so
            // the old keys can leave the file.
            let mut keys = Keyring::open(keys.path())?;
            keys.retire_old_keys()?;
            self.set_keys(keys);
            old
        } else {
            Vec::new()
        };
        Ok(Rotation {
            key_id,
            resealed,
            retired,
            waiting,
        })
    }

    fn reload_keys(&self) -> Result<()> {
        self.set_keys(Keyring::open(self.keys().path())?);
        Ok(())
    }

    fn key_in_use(&self, node: &str) -> Result<()> {
        let keys = self.keys();
        let node = node.to_string();
        self.db.transaction(move |tx| {
            check_not_retired(tx, keys.current_id(), keys.path(), None)?;
            tx.execute(
                "INSERT INTO key_use (node, key_id, at) VALUES ($1, $2, $3)
                 ON CONFLICT (node) DO UPDATE SET key_id = excluded.key_id, at = excluded.at",
                &[
                    node.into(),
                    keys.current_id().into(),
                    Utc::now().timestamp().into(),
                ],
            )?;
            Ok(())
        })
    }
}
