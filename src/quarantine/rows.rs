//! What both backends store the same way: the sealed metadata of an item (`Meta`), times
//! as Unix seconds, finding kinds as a ",a,b," column that LIKE can filter, user-typed
//! LIKE patterns made literal, and the dashboard's tallies.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeZone, Utc};

use super::crypto::Keyring;
use super::{HeldItem, Result, StoreError};

/// What is sealed in `items.meta`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Meta {
    pub recipients: Vec<String>,
    pub held_recipients: Vec<String>,
    pub subject: String,
    pub findings: Vec<crate::scan::Finding>,
    pub reasons: Vec<String>,
}

pub fn seal_meta(keys: &Keyring, item: &HeldItem) -> Result<Vec<u8>> {
    let meta = Meta {
        recipients: item.recipients.clone(),
        held_recipients: item.held_recipients.clone(),
        subject: item.subject.clone(),
        findings: item.findings.clone(),
        reasons: item.reasons.clone(),
    };
    let json = serde_json::to_vec(&meta).map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(keys.seal(&format!("{}/meta", item.reference), &json)?)
}

pub fn open_meta(keys: &Keyring, reference: &str, key_id: &str, blob: &[u8]) -> Result<Meta> {
    let json = keys.open_blob(key_id, &format!("{reference}/meta"), blob)?;
    serde_json::from_slice(&json).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub fn seal_message(keys: &Keyring, reference: &str, message: &[u8]) -> Result<Vec<u8>> {
    Ok(keys.seal(&format!("{reference}/message"), message)?)
}

pub fn open_message(keys: &Keyring, reference: &str, key_id: &str, blob: &[u8]) -> Result<Vec<u8>> {
    Ok(keys.open_blob(key_id, &format!("{reference}/message"), blob)?)
}

fn seal_note(keys: &Keyring, reference: &str, note: &str) -> Result<Vec<u8>> {
    Ok(keys.seal(&format!("{reference}/note"), note.as_bytes())?)
}

/// A reviewer's note sealed under the current key, with that key's id; `None` for a blank
/// note (which leaves any earlier note as it is).
pub fn sealed_note(
    keys: &Keyring,
    reference: &str,
    note: Option<&str>,
) -> Result<Option<(String, Vec<u8>)>> {
    match note.filter(|n| !n.trim().is_empty()) {
        Some(n) => Ok(Some((
            keys.current_id().to_string(),
            seal_note(keys, reference, n)?,
        ))),
        None => Ok(None),
    }
}

pub fn open_note(keys: &Keyring, reference: &str, key_id: &str, blob: &[u8]) -> Result<String> {
    Ok(
        String::from_utf8_lossy(&keys.open_blob(key_id, &format!("{reference}/note"), blob)?)
            .into_owned(),
    )
}

pub fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

pub fn from_ts(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(s, 0).single().unwrap_or_default()
}

pub fn kinds_col(kinds: &[String]) -> String {
    format!(",{},", kinds.join(","))
}

pub fn kinds_vec(col: &str) -> Vec<String> {
    col.split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// `%` and `_` in a LIKE pattern taken from a user are literal (escape character `\`).
pub fn like_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// Counts per finding kind and per sender of held and refused messages.
#[derive(Default)]
pub struct Tally {
    kinds: BTreeMap<String, usize>,
    senders: HashMap<String, usize>,
}

impl Tally {
    pub fn add(&mut self, kinds: &str, sender: String) {
        for k in kinds_vec(kinds) {
            *self.kinds.entry(k).or_default() += 1;
        }
        *self.senders.entry(sender).or_default() += 1;
    }

    /// (per kind, top ten senders), most first.
    pub fn finish(self) -> (Vec<(String, usize)>, Vec<(String, usize)>) {
        let mut per_kind: Vec<(String, usize)> = self.kinds.into_iter().collect();
        per_kind.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut top: Vec<(String, usize)> = self.senders.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top.truncate(10);
        (per_kind, top)
    }
}
