//! Notices: guidance to the member of staff whose message was held, refused (or, if
//! configured, tagged); immediate safeguarding alerts to the DSL; the daily digest for the
//! data lead (with the DSL's out-of-hours summary); release, return and override notices.
//! It owns the `[guidance]` config, the templates (minijinja; defaults in
//! `src/notify/templates/`, any of which a school may replace with a file of the same name in
//! its own directory), and mail-loop safety: never to the null sender or to
//! mailer-daemon/postmaster/no-reply addresses, never about a notice, `Auto-Submitted` on
//! every notice, and a per-sender rate limit. Notices carry masked names only. It builds
//! messages; the caller hands them to the next hop.

pub mod digest;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minijinja::Environment;
use serde::{Deserialize, Serialize};

use crate::quarantine::crypto::Keyring;
use crate::scan::{Finding, FindingKind};
use crate::settings::{School, Site};

/// `[guidance]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuidanceConfig {
    /// From: of every notice (default `postmaster@` the relay's host name). The envelope
    /// sender is always empty, so a notice can never bounce back into a loop.
    #[serde(default)]
    pub from: Option<String>,
    /// Also tell the sender when a message was delivered but tagged.
    #[serde(default)]
    pub on_tag: bool,
    /// Notices to one sender per hour, at most.
    #[serde(default = "default_rate")]
    pub rate_limit_per_hour: usize,
    /// When the daily digest goes out, local time ("HH:MM"); "" for never.
    #[serde(default = "default_digest_time")]
    pub digest_time: String,
    /// The subject tag of a deliberate send, `[TAG: reason]`; only for schools that allow it.
    #[serde(default = "default_override_tag")]
    pub override_tag: String,
    /// Per school id: the policy clause, a template directory, whether overrides are allowed.
    #[serde(default)]
    pub school: HashMap<String, SchoolGuidance>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SchoolGuidance {
    /// The rule as the school's acceptable-use policy words it.
    #[serde(default)]
    pub clause: Option<String>,
    /// A directory whose files replace the default templates of the same name.
    #[serde(default)]
    pub templates: Option<PathBuf>,
    /// Senders may mark a message as deliberate with the override tag (off by default).
    #[serde(default)]
    pub allow_override: bool,
}

impl Default for GuidanceConfig {
    fn default() -> Self {
        GuidanceConfig {
            from: None,
            on_tag: false,
            rate_limit_per_hour: default_rate(),
            digest_time: default_digest_time(),
            override_tag: default_override_tag(),
            school: HashMap::new(),
        }
    }
}

fn default_rate() -> usize {
    10
}
fn default_digest_time() -> String {
    "07:30".into()
}
fn default_override_tag() -> String {
    "dlp-override".into()
}

pub const DEFAULT_CLAUSE: &str = "School data protection policy: pupil personal data leaves the school only inside an encrypted, password-protected attachment, with the password sent another way; a pupil's full name never goes in a subject line; pupil data never goes to personal email or personal cloud storage.";

const TEMPLATES: [(&str, &str); 8] = [
    ("guidance.txt", include_str!("templates/guidance.txt")),
    ("guidance.html", include_str!("templates/guidance.html")),
    ("dsl-alert.txt", include_str!("templates/dsl-alert.txt")),
    ("digest.txt", include_str!("templates/digest.txt")),
    ("dsl-digest.txt", include_str!("templates/dsl-digest.txt")),
    ("released.txt", include_str!("templates/released.txt")),
    ("returned.txt", include_str!("templates/returned.txt")),
    ("override.txt", include_str!("templates/override.txt")),
];

/// One message to send: to whom, and the whole RFC 5322 message.
#[derive(Debug, Clone)]
pub struct Notice {
    pub to: String,
    pub kind: &'static str,
    pub message: Vec<u8>,
}

/// What happened to the recipients a sender notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Held,
    Refused,
    Tagged,
}

/// One finding as a notice lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub what: &'static str,
    pub location: String,
    pub count: usize,
    pub examples: String,
}

pub fn listed(findings: &[Finding]) -> Vec<Listed> {
    findings
        .iter()
        .filter(|f| f.kind != FindingKind::EncryptedAttachment)
        .map(|f| Listed {
            what: f.kind.plain(),
            location: match f.location.as_str() {
                "subject" => "the subject".into(),
                "body" => "the body".into(),
                "message" => "the message as a whole".into(),
                l => match (
                    l.strip_prefix("attachment:"),
                    l.strip_prefix("attachment-name:"),
                ) {
                    (Some(name), _) => format!("attachment {name}"),
                    (_, Some(name)) => format!("the file name of {name}"),
                    _ => l.replace(':', " "),
                },
            },
            count: f.count,
            examples: f.evidence.clone(),
        })
        .collect()
}

/// What a notice about one message needs to know.
pub struct Facts<'a> {
    pub reference: &'a str,
    pub sender: &'a str,
    /// The subject with pupil names and identifiers masked.
    pub subject_masked: String,
    pub findings: &'a [Finding],
}

/// The local part of addresses that never get a notice.
const NEVER: [&str; 9] = [
    "mailer-daemon",
    "postmaster",
    "no-reply",
    "noreply",
    "do-not-reply",
    "donotreply",
    "bounce",
    "bounces",
    "abuse",
];

/// Whether an address may receive an automatic notice at all.
pub fn notifiable(address: &str) -> bool {
    let a = address.trim().trim_start_matches('<').trim_end_matches('>');
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    let local = local.to_ascii_lowercase();
    !domain.is_empty()
        && !NEVER.contains(&local.as_str())
        && !local.starts_with("bounce")
        && !local.starts_with("mailer-daemon")
        && !local.starts_with("owner-")
        && !local.ends_with("-request")
}

/// Whether a message is itself automatic (a notice of ours, an auto-reply, a bounce, a
/// list): no sender notice is ever sent about it (RFC 3834).
pub fn is_automatic(envelope_sender: &str, raw: &[u8]) -> bool {
    if envelope_sender.is_empty() || !notifiable(envelope_sender) {
        return true;
    }
    let Some(msg) = mail_parser::MessageParser::new().parse_headers(raw) else {
        return false;
    };
    let header = |name: &str| msg.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    header("X-Hallpass-Notice").is_some()
        || header("Auto-Submitted").is_some_and(|v| !v.starts_with("no"))
        || header("Precedence").is_some_and(|v| matches!(v.as_str(), "bulk" | "junk" | "list"))
        || header("List-Id").is_some()
}

pub struct Notifier {
    site: Arc<Site>,
    guidance: GuidanceConfig,
    from: String,
    /// The review page's address for links (`None`: the page is off, no links).
    base_url: Option<String>,
    /// Per school id ("" for the defaults): templates.
    envs: HashMap<String, Environment<'static>>,
    sent: Mutex<HashMap<String, Vec<Instant>>>,
    links: Keyring,
    /// Finds what to mask in a subject (pupil names, identifiers).
    scanner: Option<Arc<crate::scan::Scanner>>,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{path}: {message}")]
    Template { path: String, message: String },
    #[error("guidance: {0}")]
    Keys(#[from] crate::quarantine::crypto::CryptoError),
}

fn environment(overrides: Option<&Path>) -> Result<Environment<'static>, NotifyError> {
    let mut env = Environment::new();
    for (name, default) in TEMPLATES {
        let source = match overrides.map(|d| d.join(name)).filter(|p| p.exists()) {
            Some(p) => std::fs::read_to_string(&p).map_err(|e| NotifyError::Template {
                path: p.display().to_string(),
                message: e.to_string(),
            })?,
            None => default.to_string(),
        };
        let path = overrides
            .map(|d| d.join(name).display().to_string())
            .unwrap_or_else(|| name.to_string());
        env.add_template_owned(name, source)
            .map_err(|e| NotifyError::Template {
                path,
                message: e.to_string(),
            })?;
    }
    Ok(env)
}

impl Notifier {
    /// Loads the templates (a school's broken template is an error naming its file) and
    /// the key that signs "false alarm" links (`feedback.key` in `data_dir`).
    pub fn new(
        site: Arc<Site>,
        guidance: GuidanceConfig,
        base_url: Option<String>,
        hostname: &str,
        data_dir: &Path,
        scanner: Option<Arc<crate::scan::Scanner>>,
    ) -> Result<Notifier, NotifyError> {
        let mut envs = HashMap::new();
        envs.insert(String::new(), environment(None)?);
        for (id, g) in &guidance.school {
            if let Some(dir) = &g.templates {
                envs.insert(id.clone(), environment(Some(&site.resolve(dir)))?);
            }
        }
        Ok(Notifier {
            from: guidance
                .from
                .clone()
                .unwrap_or_else(|| format!("postmaster@{hostname}")),
            base_url,
            links: Keyring::open_or_create(&data_dir.join("feedback.key"))?,
            sent: Mutex::new(HashMap::new()),
            scanner,
            envs,
            site,
            guidance,
        })
    }

    /// A subject as notices show it: pupil names and identifiers masked.
    pub fn mask_subject(&self, subject: &str) -> String {
        match &self.scanner {
            Some(s) => crate::text::mask_spans(subject, &s.highlights(subject)),
            None => subject.to_string(),
        }
    }

    /// The trust and its schools this notifier was built for.
    pub fn site(&self) -> &Site {
        &self.site
    }

    /// `[guidance]` as loaded.
    pub fn guidance_config(&self) -> &GuidanceConfig {
        &self.guidance
    }

    /// The review page's address, when the page is on.
    pub fn base_url(&self) -> Option<&str> {
        self.base_url.as_deref()
    }

    fn env(&self, school: Option<&School>) -> &Environment<'static> {
        school
            .and_then(|s| self.envs.get(&s.id))
            .unwrap_or_else(|| &self.envs[""])
    }

    fn render(&self, school: Option<&School>, name: &str, ctx: &impl Serialize) -> String {
        let env = self.env(school);
        env.get_template(name)
            .and_then(|t| t.render(minijinja::value::Serde(ctx)))
            .unwrap_or_else(|e| {
                tracing::warn!(template = name, error = %e, "notice template failed; using the default");
                let mut d = Environment::new();
                let src = TEMPLATES.iter().find(|t| t.0 == name).map_or("", |t| t.1);
                d.add_template(name, src)
                    .and_then(|_| d.get_template(name))
                    .and_then(|t| t.render(minijinja::value::Serde(ctx)))
                    .unwrap_or_default()
            })
    }

    fn school_name(&self, school: Option<&School>) -> String {
        school
            .map(|s| s.name.clone())
            .unwrap_or_else(|| self.site.trust.name.clone())
    }

    /// The signed link a sender follows to say "this is a false alarm".
    pub fn false_alarm_url(&self, reference: &str) -> String {
        format!(
            "{}/false-alarm/{reference}/{}",
            self.base_url.as_deref().unwrap_or_default(),
            self.false_alarm_token(reference)
        )
    }

    pub fn false_alarm_token(&self, reference: &str) -> String {
        self.links.mac(reference.as_bytes())
    }

    /// Takes one from the sender's hourly allowance; false when it is used up.
    fn allow(&self, sender: &str) -> bool {
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        if sent.len() > 100_000 {
            sent.clear();
        }
        let now = Instant::now();
        let v = sent.entry(sender.to_ascii_lowercase()).or_default();
        v.retain(|t| now.duration_since(*t) < Duration::from_secs(3600));
        if v.len() >= self.guidance.rate_limit_per_hour {
            return false;
        }
        v.push(now);
        true
    }

    /// Guidance to the sender about the recipients of one outcome; `None` when the sender
    /// must not get one (null sender, system address, rate limit).
    pub fn guidance(
        &self,
        facts: &Facts<'_>,
        outcome: Outcome,
        recipients: &[String],
    ) -> Option<Notice> {
        if recipients.is_empty() || !notifiable(facts.sender) || !self.allow(facts.sender) {
            return None;
        }
        let school = self.site.school_of(facts.sender);
        let heading = match outcome {
            Outcome::Held => "Your email is waiting for the data protection lead",
            Outcome::Refused => "Your email was not sent",
            Outcome::Tagged => "Your email was sent, and marked",
        };
        #[derive(Serialize)]
        struct Ctx<'a> {
            heading: &'a str,
            outcome: Outcome,
            school: String,
            subject: &'a str,
            recipients: &'a [String],
            findings: Vec<Listed>,
            clause: String,
            dpl: String,
            reference: &'a str,
            false_alarm_url: Option<String>,
        }
        let ctx = Ctx {
            heading,
            outcome,
            school: self.school_name(school),
            subject: &facts.subject_masked,
            recipients,
            findings: listed(facts.findings),
            clause: school
                .and_then(|s| self.guidance.school.get(&s.id))
                .and_then(|g| g.clause.clone())
                .unwrap_or_else(|| DEFAULT_CLAUSE.to_string()),
            dpl: school
                .map(|s| s.dpl.clone())
                .unwrap_or_else(|| "your data protection lead".into()),
            reference: facts.reference,
            false_alarm_url: self
                .base_url
                .is_some()
                .then(|| self.false_alarm_url(facts.reference)),
        };
        let text = self.render(school, "guidance.txt", &ctx);
        let html = self.render(school, "guidance.html", &ctx);
        let subject = format!("{heading} ({})", facts.reference);
        Some(Notice {
            to: facts.sender.to_string(),
            kind: "guidance",
            message: self.build(
                facts.sender,
                &subject,
                text,
                Some(html),
                "auto-replied",
                "guidance",
            ),
        })
    }

    /// Immediate alerts to the DSLs of the school(s) concerned, for safeguarding flags
    /// other than out-of-hours contact (that one goes into the daily summary).
    pub fn dsl_alerts(
        &self,
        facts: &Facts<'_>,
        flags: &[FindingKind],
        recipients: &[String],
        action: &str,
    ) -> Vec<Notice> {
        let immediate: Vec<FindingKind> = flags
            .iter()
            .copied()
            .filter(|k| *k != FindingKind::OutOfHoursPupilContact)
            .collect();
        if immediate.is_empty() {
            return Vec::new();
        }
        // The pupils' school (a pupil address among the recipients), else the sender's.
        let school = recipients
            .iter()
            .find_map(|r| self.site.school_of(r))
            .or_else(|| self.site.school_of(facts.sender));
        let Some(school) = school else {
            return Vec::new();
        };
        let pupils: Vec<String> = facts
            .findings
            .iter()
            .filter(|f| f.kind == FindingKind::PupilName)
            .map(|f| f.evidence.clone())
            .collect();
        #[derive(Serialize)]
        struct Ctx<'a> {
            what: &'static str,
            school: &'a str,
            when: String,
            sender: &'a str,
            recipients: &'a [String],
            flags: Vec<&'static str>,
            pupils: String,
            action: &'a str,
            reference: &'a str,
            item_url: Option<String>,
        }
        let ctx = Ctx {
            what: immediate[0].plain(),
            school: &school.name,
            when: chrono::Utc::now()
                .with_timezone(
                    &self
                        .site
                        .trust
                        .timezone
                        .parse()
                        .unwrap_or(chrono_tz::Europe::London),
                )
                .format("%a %d %b %Y %H:%M")
                .to_string(),
            sender: facts.sender,
            recipients,
            flags: immediate.iter().map(|k| k.plain()).collect(),
            pupils: pupils.join(", "),
            action,
            reference: facts.reference,
            item_url: self
                .base_url
                .as_ref()
                .filter(|_| action == "held")
                .map(|b| format!("{b}/item/{}", facts.reference)),
        };
        let text = self.render(Some(school), "dsl-alert.txt", &ctx);
        let subject = format!("Safeguarding flag at {} ({})", school.name, facts.reference);
        school
            .dsl
            .iter()
            .map(|to| Notice {
                to: to.clone(),
                kind: "dsl-alert",
                message: self.build(
                    to,
                    &subject,
                    text.clone(),
                    None,
                    "auto-generated",
                    "dsl-alert",
                ),
            })
            .collect()
    }

    /// The sender hears that the data lead released (`released`) or returned their message.
    pub fn review_outcome(
        &self,
        item: &crate::quarantine::HeldItem,
        returned: bool,
        reviewer: &str,
        note: Option<&str>,
        recipients: &[String],
    ) -> Option<Notice> {
        if !notifiable(&item.sender) {
            return None;
        }
        let subject_masked = self.mask_subject(&item.subject);
        let school = self.site.school_of(&item.sender);
        #[derive(Serialize)]
        struct Ctx<'a> {
            school: String,
            subject: &'a str,
            reference: &'a str,
            reviewer: &'a str,
            recipients: &'a [String],
            note: Option<&'a str>,
            dpl: String,
        }
        let ctx = Ctx {
            school: self.school_name(school),
            subject: &subject_masked,
            reference: &item.reference,
            reviewer,
            recipients,
            note: note.filter(|n| !n.trim().is_empty()),
            dpl: school
                .map(|s| s.dpl.clone())
                .unwrap_or_else(|| "your data protection lead".into()),
        };
        let (name, subject) = if returned {
            (
                "returned.txt",
                format!("Returned by the data protection lead ({})", item.reference),
            )
        } else {
            (
                "released.txt",
                format!("Released by the data protection lead ({})", item.reference),
            )
        };
        let text = self.render(school, name, &ctx);
        Some(Notice {
            to: item.sender.clone(),
            kind: if returned { "returned" } else { "released" },
            message: self.build(&item.sender, &subject, text, None, "auto-replied", "review"),
        })
    }

    /// The data lead hears about a deliberate send (override).
    pub fn override_notice(
        &self,
        facts: &Facts<'_>,
        recipients: &[String],
        reason: &str,
    ) -> Vec<Notice> {
        let Some(school) = self.site.school_of(facts.sender) else {
            return Vec::new();
        };
        #[derive(Serialize)]
        struct Ctx<'a> {
            school: &'a str,
            when: String,
            sender: &'a str,
            recipients: &'a [String],
            reason: &'a str,
            findings: Vec<Listed>,
            reference: &'a str,
        }
        let ctx = Ctx {
            school: &school.name,
            when: chrono::Utc::now().to_rfc2822(),
            sender: facts.sender,
            recipients,
            reason,
            findings: listed(facts.findings),
            reference: facts.reference,
        };
        let text = self.render(Some(school), "override.txt", &ctx);
        vec![Notice {
            to: school.dpl.clone(),
            kind: "override",
            message: self.build(
                &school.dpl,
                &format!("Deliberate send by {} ({})", facts.sender, facts.reference),
                text,
                None,
                "auto-generated",
                "override",
            ),
        }]
    }

    /// A whole message: headers, then text (and HTML as an alternative).
    fn build(
        &self,
        to: &str,
        subject: &str,
        text: String,
        html: Option<String>,
        auto: &str,
        kind: &str,
    ) -> Vec<u8> {
        use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
        let from: Mailbox = format!("Hallpass <{}>", self.from)
            .parse()
            .or_else(|_| self.from.parse())
            .unwrap_or_else(|_| "postmaster@localhost".parse().expect("valid"));
        let to_box: Mailbox = to
            .parse()
            .unwrap_or_else(|_| "postmaster@localhost".parse().expect("valid"));
        let b = lettre::Message::builder()
            .from(from)
            .to(to_box)
            .subject(subject);
        let built = match html {
            Some(h) => b.multipart(MultiPart::alternative_plain_html(text, h)),
            None => b.singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(text),
            ),
        };
        let mut out =
            format!("Auto-Submitted: {auto}\r\nX-Hallpass-Notice: {kind}\r\n").into_bytes();
        match built {
            Ok(m) => out.extend_from_slice(&m.formatted()),
            Err(e) => {
                tracing::warn!(error = %e, "notice could not be built");
                out.extend_from_slice(
                    b"Subject: Hallpass notice\r\n\r\nA notice could not be built.\r\n",
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_addresses_never_get_notices() {
        for a in [
            "",
            "MAILER-DAEMON@school.example",
            "postmaster@x.example",
            "no-reply@x.example",
            "noreply@x.example",
            "bounces+123@x.example",
            "owner-list@x.example",
            "list-request@x.example",
            "nodomain",
        ] {
            assert!(!notifiable(a), "{a}");
        }
        assert!(notifiable("luke.rich0@beaulieupark.example.sch.uk"));
    }

    #[test]
    fn automatic_messages_are_recognised() {
        let staff = "t@school.example";
        assert!(is_automatic("", b"Subject: x\r\n\r\nbody\r\n"));
        assert!(is_automatic(
            staff,
            b"X-Hallpass-Notice: guidance\r\nSubject: x\r\n\r\nb\r\n"
        ));
        assert!(is_automatic(
            staff,
            b"Auto-Submitted: auto-replied\r\nSubject: x\r\n\r\nb\r\n"
        ));
        assert!(is_automatic(
            staff,
            b"Precedence: bulk\r\nSubject: x\r\n\r\nb\r\n"
        ));
        assert!(!is_automatic(
            staff,
            b"Auto-Submitted: no\r\nSubject: x\r\n\r\nb\r\n"
        ));
        assert!(!is_automatic(staff, b"Subject: x\r\n\r\nb\r\n"));
    }
}
