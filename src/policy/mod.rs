//! The policy: recipient classes, the default action table, `[policy]` overrides, and the
//! per-recipient decision with reasons that name the rule.
//!
//! It knows the directory (through [`Classifier`]) but never parses mail: it takes a scanner
//! [`Report`] and the envelope. When several rules apply, the strictest action wins.

pub mod deliberate;
pub mod output;

use serde::{Deserialize, Serialize};

pub use crate::classes::{Classifier, RecipientClass, domain_of};

use crate::directory::{Owner, PupilId};
use crate::scan::{Envelope, FindingKind, Report};
use crate::settings::{FailMode, Site};

/// What happens to one recipient's copy, mildest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Deliver.
    Allow,
    /// Deliver, with `X-Hallpass-Result` saying what was found.
    Tag,
    /// Deliver and send the sender guidance.
    Notify,
    /// Hold for the data lead.
    Quarantine,
    /// Refuse with guidance.
    Reject,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Tag => "tag",
            Action::Notify => "notify",
            Action::Quarantine => "quarantine",
            Action::Reject => "reject",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the action table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub no_pupil_data: Action,
    pub pupil_data: Action,
    pub bulk: Action,
    pub special_category: Action,
}

/// The default table (issue "scanner and policy"); `[policy]` may override any cell.
pub fn default_row(class: RecipientClass) -> Row {
    use Action::*;
    let r = |a, b, c, d| Row {
        no_pupil_data: a,
        pupil_data: b,
        bulk: c,
        special_category: d,
    };
    match class {
        RecipientClass::Internal => r(Allow, Tag, Tag, Tag),
        RecipientClass::Pupil => r(Allow, Tag, Tag, Quarantine),
        RecipientClass::Contact => r(Allow, Tag, Notify, Tag),
        RecipientClass::Partner => r(Allow, Tag, Quarantine, Tag),
        RecipientClass::External => r(Allow, Reject, Quarantine, Quarantine),
        RecipientClass::PersonalWebmail => r(Allow, Reject, Reject, Reject),
    }
}

/// `[policy.CLASS]`: overrides for cells of one row.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowOverride {
    pub no_pupil_data: Option<Action>,
    pub pupil_data: Option<Action>,
    pub bulk: Option<Action>,
    pub special_category: Option<Action>,
}

/// `[policy]`: per recipient class, any cell of the default table.
///
/// ```toml
/// [policy.partner]
/// bulk = "tag"
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyOverrides {
    pub internal: Option<RowOverride>,
    pub pupil: Option<RowOverride>,
    pub contact: Option<RowOverride>,
    pub partner: Option<RowOverride>,
    pub personal_webmail: Option<RowOverride>,
    pub external: Option<RowOverride>,
    /// Treat ZipCrypto (breakable without the password) as no protection for mail leaving
    /// the school: such a message is held for the data lead.
    #[serde(default)]
    pub require_aes: bool,
}

impl PolicyOverrides {
    /// The table row for a class with the overrides applied.
    pub fn row(&self, class: RecipientClass) -> Row {
        let mut row = default_row(class);
        let o = match class {
            RecipientClass::Internal => self.internal,
            RecipientClass::Pupil => self.pupil,
            RecipientClass::Contact => self.contact,
            RecipientClass::Partner => self.partner,
            RecipientClass::PersonalWebmail => self.personal_webmail,
            RecipientClass::External => self.external,
        };
        if let Some(o) = o {
            row.no_pupil_data = o.no_pupil_data.unwrap_or(row.no_pupil_data);
            row.pupil_data = o.pupil_data.unwrap_or(row.pupil_data);
            row.bulk = o.bulk.unwrap_or(row.bulk);
            row.special_category = o.special_category.unwrap_or(row.special_category);
        }
        row
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecipientDecision {
    pub address: String,
    pub class: RecipientClass,
    pub action: Action,
    pub reasons: Vec<String>,
}

/// The decision for a whole message.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// The strictest action over all recipients.
    pub action: Action,
    pub recipients: Vec<RecipientDecision>,
    /// The scan was incomplete and `fail_mode = "tempfail"`: answer 451 for mail leaving the
    /// school, so the upstream MTA retries.
    pub tempfail: bool,
    /// Safeguarding flags the DSL must hear about.
    pub dsl_alerts: Vec<FindingKind>,
}

struct Acc {
    action: Action,
    reasons: Vec<String>,
}

impl Acc {
    fn raise(&mut self, to: Action, why: String) {
        if to > Action::Allow {
            self.reasons.push(format!("{why} -> {to}"));
        }
        self.action = self.action.max(to);
    }
}

/// The policy in force: the action table (defaults with `[policy]`) and who may mark a
/// send as deliberate. Built by `config` from `[policy]` and `[guidance]`; swapped whole on
/// reload.
#[derive(Debug, Clone)]
pub struct Policy {
    pub site: std::sync::Arc<Site>,
    pub table: PolicyOverrides,
    /// `[guidance] override_tag`, trimmed (empty: no deliberate sends).
    pub override_tag: String,
    /// The ids of the schools with `allow_override = true`.
    pub override_schools: std::collections::HashSet<String>,
}

/// Decides each recipient's action for a scanned message.
pub fn decide(
    policy: &Policy,
    classifier: &Classifier,
    report: &Report,
    envelope: &Envelope,
) -> Decision {
    let kinds = report.kinds();
    let identifying: Vec<&str> = kinds
        .iter()
        .filter(|k| k.is_pupil_identifying())
        .map(|k| k.as_str())
        .collect();
    let pupil_data = !identifying.is_empty();
    let bulk = kinds.contains(&FindingKind::BulkPupilData);
    let special = pupil_data && kinds.contains(&FindingKind::SpecialCategory);
    let persons: Vec<&[PupilId]> = report.persons.values().map(Vec::as_slice).collect();
    let complete = report.complete();
    let mut dsl_alerts = Vec::new();
    let mut tempfail = false;
    let mut out = Vec::new();
    for addr in &envelope.rcpt_to {
        let class = classifier.classify(addr, &persons);
        let row = policy.table.row(class);
        let inside = class.inside_school();
        let pupil_personal = classifier
            .owners(addr)
            .iter()
            .any(|o| matches!(o, Owner::PupilPersonal(_)));
        let to_pupil = class == RecipientClass::Pupil || pupil_personal;
        let mut acc = Acc {
            action: row.no_pupil_data,
            reasons: Vec::new(),
        };
        if row.no_pupil_data > Action::Allow {
            acc.reasons.push(format!(
                "table {class} x no pupil data -> {}",
                row.no_pupil_data
            ));
        }
        if pupil_data {
            acc.raise(
                row.pupil_data,
                format!("table {class} x pupil data ({})", identifying.join(", ")),
            );
        }
        if bulk {
            acc.raise(
                row.bulk,
                format!(
                    "table {class} x bulk pupil data ({} pupils)",
                    report.distinct_persons()
                ),
            );
        }
        if special {
            acc.raise(
                row.special_category,
                format!("table {class} x special-category pupil data"),
            );
        }
        if report.name_in_subject {
            let to = if matches!(
                class,
                RecipientClass::External | RecipientClass::PersonalWebmail
            ) {
                Action::Reject
            } else {
                Action::Notify
            };
            acc.raise(
                to,
                "rule subject_name: a pupil's full name in the Subject".into(),
            );
        }
        if kinds.contains(&FindingKind::PasswordInBody) && !inside {
            acc.raise(
                Action::Reject,
                "rule password_in_body: the password travels with the encrypted file".into(),
            );
        }
        if policy.table.require_aes && report.weak_encryption && !inside {
            acc.raise(
                Action::Quarantine,
                "rule require_aes: an attachment uses weak ZipCrypto encryption".into(),
            );
        }
        if kinds.contains(&FindingKind::PersonalCloudLink) && pupil_data && !inside {
            acc.raise(
                Action::Quarantine,
                "rule personal_cloud_link: personal cloud link with pupil data".into(),
            );
        }
        if kinds.contains(&FindingKind::PersonalAccountToPupil) && to_pupil {
            acc.raise(Action::Quarantine, "rule personal_account_to_pupil: staff personal account writing to a pupil (DSL alerted)".into());
            push_once(&mut dsl_alerts, FindingKind::PersonalAccountToPupil);
        }
        if kinds.contains(&FindingKind::SchoolAccountToPupilPersonal) && pupil_personal {
            acc.raise(Action::Quarantine, "rule school_account_to_pupil_personal: school account writing to a pupil's personal address (DSL alerted)".into());
            push_once(&mut dsl_alerts, FindingKind::SchoolAccountToPupilPersonal);
        }
        if kinds.contains(&FindingKind::OutOfHoursPupilContact) && to_pupil {
            acc.raise(Action::Notify, "rule out_of_hours_pupil_contact: staff writing to a pupil outside school hours (DSL digest)".into());
            push_once(&mut dsl_alerts, FindingKind::OutOfHoursPupilContact);
        }
        if !complete {
            if inside {
                acc.raise(
                    Action::Tag,
                    "rule incomplete_scan: part of the message could not be read".into(),
                );
            } else {
                match policy.site.trust.fail_mode {
                    FailMode::Hold => acc.raise(
                        Action::Quarantine,
                        "rule incomplete_scan: part of the message could not be read (fail_mode hold)".into(),
                    ),
                    FailMode::Tempfail => {
                        tempfail = true;
                        acc.reasons.push("rule incomplete_scan: part of the message could not be read (fail_mode tempfail -> 451)".into());
                    }
                }
            }
        }
        out.push(RecipientDecision {
            address: addr.clone(),
            class,
            action: acc.action,
            reasons: acc.reasons,
        });
    }
    Decision {
        action: out.iter().map(|r| r.action).max().unwrap_or(Action::Allow),
        recipients: out,
        tempfail,
        dsl_alerts,
    }
}

fn push_once(v: &mut Vec<FindingKind>, k: FindingKind) {
    if !v.contains(&k) {
        v.push(k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_table_cell_by_cell() {
        use Action::*;
        use RecipientClass::*;
        let expect = [
            (Internal, [Allow, Tag, Tag, Tag]),
            (Pupil, [Allow, Tag, Tag, Quarantine]),
            (Contact, [Allow, Tag, Notify, Tag]),
            (Partner, [Allow, Tag, Quarantine, Tag]),
            (External, [Allow, Reject, Quarantine, Quarantine]),
            (PersonalWebmail, [Allow, Reject, Reject, Reject]),
        ];
        for (class, cells) in expect {
            let r = default_row(class);
            assert_eq!(
                [r.no_pupil_data, r.pupil_data, r.bulk, r.special_category],
                cells,
                "{class}"
            );
        }
    }

    #[test]
    fn overrides_change_one_cell() {
        let o: PolicyOverrides = toml::from_str("[partner]\nbulk = \"tag\"\n").unwrap();
        assert_eq!(o.row(RecipientClass::Partner).bulk, Action::Tag);
        assert_eq!(o.row(RecipientClass::Partner).pupil_data, Action::Tag);
        assert_eq!(
            o.row(RecipientClass::External),
            default_row(RecipientClass::External)
        );
        assert!(toml::from_str::<PolicyOverrides>("[partner]\nbluk = \"tag\"\n").is_err());
        assert!(toml::from_str::<PolicyOverrides>("[partner]\nbulk = \"maybe\"\n").is_err());
        assert!(
            toml::from_str::<PolicyOverrides>("require_aes = true\n")
                .unwrap()
                .require_aes
        );
    }
}
