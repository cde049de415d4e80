//! The notices of one relayed message, sent after its outcome is final (never for a 4xx):
//! guidance to the sender for held, refused (and, if configured, tagged) recipients, the
//! DSL's immediate safeguarding alert, and the data lead's notice of a deliberate send.
//! Each goes to the next hop from the null sender; a notice that cannot be sent is logged
//! and never changes what happened to the message.

use crate::notify::{Facts, Notice, Outcome, is_automatic};
use crate::policy::{Action, Decision};
use crate::quarantine::Event;
use crate::scan::{Envelope, Finding, FindingKind};

use super::Dispatcher;
use super::outcome::Plan;

pub struct Pending {
    reference: String,
    sender: String,
    subject_masked: String,
    findings: Vec<Finding>,
    held: Vec<String>,
    refused: Vec<String>,
    tagged: Vec<String>,
    flags: Vec<FindingKind>,
    recipients: Vec<String>,
    school: String,
    /// The sender's reason and the recipients a deliberate send lifted.
    deliberate: Option<(String, Vec<String>)>,
    /// The message is itself automatic (a notice, an auto-reply, a bounce).
    automatic: bool,
}

impl Pending {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        scanner: &crate::scan::Scanner,
        reference: &str,
        envelope: &Envelope,
        raw: &[u8],
        decision: &Decision,
        plan: &Plan<'_>,
        findings: Vec<Finding>,
        deliberate: Option<(String, Vec<String>)>,
    ) -> Pending {
        let subject = mail_parser::MessageParser::new()
            .parse_headers(raw)
            .and_then(|m| m.subject().map(str::to_string))
            .unwrap_or_default();
        let addrs = |v: &[&crate::policy::RecipientDecision]| -> Vec<String> {
            v.iter().map(|r| r.address.clone()).collect()
        };
        Pending {
            reference: reference.to_string(),
            sender: envelope.mail_from.clone(),
            subject_masked: crate::text::mask_spans(&subject, &scanner.highlights(&subject)),
            findings,
            held: addrs(&plan.hold),
            refused: addrs(&plan.refuse),
            tagged: plan
                .deliver
                .iter()
                .filter(|r| r.action >= Action::Tag && !r.reasons.is_empty())
                .map(|r| r.address.clone())
                .collect(),
            flags: decision.dsl_alerts.clone(),
            recipients: envelope.rcpt_to.clone(),
            school: scanner
                .site
                .school_of(&envelope.mail_from)
                .map(|s| s.id.clone())
                .unwrap_or_default(),
            deliberate,
            automatic: is_automatic(&envelope.mail_from, raw),
        }
    }
}

impl Dispatcher {
    /// Builds and sends the notices of one message (bounded in time; failures logged).
    pub async fn send_notices(&self, p: Pending) {
        let Some(n) = self.notifier() else { return };
        let facts = Facts {
            reference: &p.reference,
            sender: &p.sender,
            subject_masked: p.subject_masked.clone(),
            findings: &p.findings,
        };
        let mut notices: Vec<Notice> = Vec::new();
        if !p.automatic {
            let mut by_outcome = vec![(Outcome::Held, &p.held), (Outcome::Refused, &p.refused)];
            if n.guidance_config().on_tag && p.deliberate.is_none() {
                by_outcome.push((Outcome::Tagged, &p.tagged));
            }
            for (o, rcpts) in by_outcome {
                if !rcpts.is_empty()
                    && let Some(x) = n.guidance(&facts, o, rcpts)
                {
                    notices.push(x);
                }
            }
        }
        if !p.flags.is_empty() {
            let what = if p.held.is_empty() {
                if p.refused.is_empty() {
                    "delivered"
                } else {
                    "refused"
                }
            } else {
                "held"
            };
            notices.extend(n.dsl_alerts(&facts, &p.flags, &p.recipients, what));
        }
        if let Some((reason, rcpts)) = &p.deliberate {
            notices.extend(n.override_notice(&facts, rcpts, reason));
            let store = self.store.clone();
            let event = Event {
                at: chrono::Utc::now(),
                school: p.school.clone(),
                sender: p.sender.clone(),
                action: "override".into(),
                kinds: crate::scan::kind_names(&p.findings),
                reference: p.reference.clone(),
                safeguarding: false,
            };
            let (sender, reference, detail) = (
                p.sender.clone(),
                p.reference.clone(),
                format!("deliberate send to {} recipient(s): {reason}", rcpts.len()),
            );
            let _ = tokio::task::spawn_blocking(move || {
                if let Err(e) = store.record(&event).and_then(|_| {
                    store.audit(
                        &format!("sender {sender}"),
                        "deliberate_send",
                        &reference,
                        &detail,
                    )
                }) {
                    tracing::warn!(error = %e, "could not record a deliberate send");
                }
            })
            .await;
        }
        for notice in notices {
            let sent = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                self.deliverer
                    .deliver("", std::slice::from_ref(&notice.to), &notice.message),
            )
            .await;
            match sent {
                Ok(Ok(())) => {
                    crate::metrics::get().notice(notice.kind);
                    tracing::info!(reference = %p.reference, kind = notice.kind, "notice sent")
                }
                Ok(Err(e)) => {
                    tracing::warn!(reference = %p.reference, kind = notice.kind, error = %e, "notice not sent")
                }
                Err(_) => {
                    tracing::warn!(reference = %p.reference, kind = notice.kind, "notice not sent: next hop timed out")
                }
            }
        }
    }
}

impl Dispatcher {
    /// Sends each notice through the next hop from the null sender; returns how many went.
    pub async fn send_all(&self, notices: &[Notice]) -> usize {
        let mut sent = 0;
        for n in notices {
            match self
                .deliverer
                .deliver("", std::slice::from_ref(&n.to), &n.message)
                .await
            {
                Ok(()) => {
                    crate::metrics::get().notice(n.kind);
                    sent += 1
                }
                Err(e) => tracing::warn!(kind = n.kind, error = %e, "notice not sent"),
            }
        }
        sent
    }

    /// Sends the daily digests at `[guidance] digest_time` (trust time zone) until shutdown.
    pub async fn digest_loop(
        self: std::sync::Arc<Self>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let Some(n) = self.notifier() else { return };
        let digest_time = n.guidance_config().digest_time.trim().to_string();
        let Ok(at) = chrono::NaiveTime::parse_from_str(&digest_time, "%H:%M") else {
            if !digest_time.is_empty() {
                tracing::warn!(%digest_time, "digest_time is not HH:MM: no daily digest");
            }
            return;
        };
        let tz: chrono_tz::Tz = n
            .site()
            .trust
            .timezone
            .parse()
            .unwrap_or(chrono_tz::Europe::London);
        loop {
            let now = chrono::Utc::now().with_timezone(&tz);
            let mut next = now.date_naive().and_time(at);
            if next <= now.naive_local() {
                next += chrono::Duration::days(1);
            }
            let wait = next
                .and_local_timezone(tz)
                .earliest()
                .map(|t| {
                    (t.with_timezone(&chrono::Utc) - chrono::Utc::now())
                        .to_std()
                        .unwrap_or_default()
                })
                .unwrap_or(std::time::Duration::from_secs(3600));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            let Some(n) = self.notifier() else {
                return;
            };
            let store = self.store.clone();
            // Relays sharing one quarantine (two nodes on PostgreSQL) send it once: the first
            // to claim today's digest sends it.
            let day = chrono::Utc::now()
                .with_timezone(&tz)
                .date_naive()
                .to_string();
            let node = self.settings.hostname.clone();
            match tokio::task::spawn_blocking(move || {
                if !store.claim_daily("digest", &day, &node)? {
                    return Ok(None);
                }
                crate::notify::digest::digests(&n, &*store, chrono::Utc::now()).map(Some)
            })
            .await
            {
                Ok(Ok(None)) => {
                    tracing::info!(
                        "daily digest already sent today by another relay on this quarantine"
                    )
                }
                Ok(Ok(Some(notices))) => {
                    let sent = self.send_all(&notices).await;
                    tracing::info!(sent, "daily digests sent");
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "daily digest failed"),
                Err(e) => tracing::warn!(error = %e, "daily digest failed"),
            }
        }
    }
}
