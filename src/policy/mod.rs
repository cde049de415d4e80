//! The policy: recipient classes, the default action table, `[policy]` overrides, and the
//! per-recipient decision with reasons that name the rule.
//!
//! It knows the directory (domains, pupils, staff, contacts) but never parses mail: it takes
//! a scanner `Report` and the envelope.

use serde::{Deserialize, Serialize};

/// What happens to one recipient's copy, mildest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Tag,
    Notify,
    Quarantine,
    Reject,
}

/// The kind of recipient, from the trust's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientClass {
    Internal,
    Pupil,
    Contact,
    Partner,
    PersonalWebmail,
    External,
}

/// `[policy]`: per recipient class, any cell of the default table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyOverrides {}
