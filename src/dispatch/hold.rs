//! Holding a message's copy for the data lead and recording the decision for the
//! dashboard: shared by the relay (SMTP/LMTP) and the milter, so both store the same item
//! and count the same way.

use super::outcome::{Plan, added_headers};
use super::{Dispatcher, Judged};
use crate::policy::Action;
use crate::quarantine::{Event, HeldItem};

/// The decoded Subject of a message ("" without one).
pub fn subject_of(msg: &[u8]) -> String {
    mail_parser::MessageParser::new()
        .parse_headers(msg)
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_default()
}

impl Dispatcher {
    /// Stores the copy for the `hold` recipients of `plan` (durably, before returning) and
    /// records refused/tagged decisions for the dashboard (best effort). `received` is the
    /// front end's Received line.
    pub async fn hold_and_record(
        &self,
        j: &Judged,
        received: &str,
        p: &Plan<'_>,
    ) -> std::io::Result<()> {
        let (scanner, envelope, msg, decision) = (&j.scanner, &j.envelope, &j.msg, &j.decision);
        let reference = j.reference.clone();
        let findings = j.findings.clone();
        let kinds: Vec<&str> = findings.iter().map(|f| f.kind.as_str()).collect();
        let school = scanner
            .site
            .school_of(&envelope.mail_from)
            .or_else(|| {
                envelope
                    .rcpt_to
                    .iter()
                    .find_map(|r| scanner.site.school_of(r))
            })
            .map(|s| s.id.clone())
            .unwrap_or_default();
        let kinds_owned: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        let mut held: std::io::Result<()> = Ok(());
        if !p.hold.is_empty() {
            let item = HeldItem {
                reference: reference.clone(),
                received: chrono::Utc::now(),
                school: school.clone(),
                sender: envelope.mail_from.clone(),
                recipients: envelope.rcpt_to.clone(),
                held_recipients: p.hold.iter().map(|r| r.address.clone()).collect(),
                subject: subject_of(msg),
                findings: findings.clone(),
                reasons: p.hold.iter().flat_map(|r| r.reasons.clone()).collect(),
                safeguarding: !decision.dsl_alerts.is_empty(),
            };
            let mut copy =
                added_headers(received, Action::Quarantine, &findings, &reference).into_bytes();
            copy.extend_from_slice(msg);
            let store = self.store.clone();
            held = tokio::task::spawn_blocking(move || {
                store.hold(&item, &copy).map_err(std::io::Error::other)
            })
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        }
        if !p.refuse.is_empty()
            || (p.hold.is_empty() && matches!(decision.action, Action::Tag | Action::Notify))
        {
            // For the dashboard; losing this row never loses mail, so errors are logged only.
            let event = Event {
                at: chrono::Utc::now(),
                school,
                sender: envelope.mail_from.clone(),
                action: if p.refuse.is_empty() {
                    "tagged"
                } else {
                    "refused"
                }
                .into(),
                kinds: kinds_owned,
                reference: reference.clone(),
                safeguarding: !decision.dsl_alerts.is_empty(),
            };
            let store = self.store.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || store.record(&event)).await {
                tracing::warn!(reference = %reference, error = %e, "could not record the decision for the dashboard");
            }
        }
        held
    }
}
