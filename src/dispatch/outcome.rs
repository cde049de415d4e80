//! Carrying out a decision: which copies go to the next hop, which are held, which are
//! refused, the guidance text of a refusal, the headers Hallpass adds, and the DSN for
//! refused recipients of a message that was otherwise accepted. The body is never changed.

use crate::policy::{Action, Decision, RecipientDecision};
use crate::scan::{Finding, FindingKind};

/// A reference id for one message: "HP-" and 12 letters/digits, unguessable enough to quote.
pub fn reference() -> String {
    use std::hash::{BuildHasher, Hasher};
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_u64(SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    let v = h.finish();
    const A: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let s: String = (0..12)
        .map(|i| A[((v >> (i * 5)) & 31) as usize] as char)
        .collect();
    format!("HP-{s}")
}

/// The header lines Hallpass adds to a copy it hands on.
pub fn added_headers(
    received: &str,
    action: Action,
    findings: &[Finding],
    reference: &str,
) -> String {
    let mut kinds: Vec<&str> = findings.iter().map(|f| f.kind.as_str()).collect();
    kinds.sort();
    kinds.dedup();
    format!(
        "{received}X-Hallpass-Result: action={action}; findings={}; ref={reference}\r\n",
        if kinds.is_empty() {
            "none".to_string()
        } else {
            kinds.join(",")
        }
    )
}

/// The short guidance of a refusal, one line each (for a multi-line 550 and the DSN).
pub fn guidance_lines(
    rcpt: &RecipientDecision,
    findings: &[Finding],
    reference: &str,
) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for f in findings {
        let s = match f.location.strip_prefix("attachment-name:") {
            Some(name) => format!("{} in the file name of {name}", f.kind.plain()),
            None => format!(
                "{} in the {}",
                f.kind.plain(),
                f.location.replace("attachment:", "attachment ")
            ),
        };
        if !found.contains(&s) && f.kind != FindingKind::EncryptedAttachment {
            found.push(s);
        }
    }
    found.truncate(4);
    // The reason that set this recipient's action.
    let suffix = format!("-> {}", rcpt.action);
    let rule = rcpt
        .reasons
        .iter()
        .find(|r| r.ends_with(&suffix))
        .or(rcpt.reasons.last())
        .cloned()
        .unwrap_or_default();
    vec![
        format!("Hallpass did not send this message to {} ({}).", rcpt.address, rcpt.class.as_str().replace('_', " ")),
        format!("Found: {}.", if found.is_empty() { "nothing specific".to_string() } else { found.join("; ") }),
        format!("Rule: {rule}."),
        "School policy: pupil data leaves the school only in an encrypted, password-protected attachment, with the password sent another way (e.g. SMS); never a full name in a subject; never to personal email.".to_string(),
        "To fix: use initials, remove the data, or send it encrypted; ask your data protection lead if unsure.".to_string(),
        format!("Reference: {reference}"),
    ]
}

/// A multi-line SMTP reply.
pub fn multiline(code: u16, enhanced: &str, lines: &[String]) -> String {
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
        // Replies are ASCII (names are masked anyway; anything else becomes '?').
        let l: String = l
            .chars()
            .filter(|c| !c.is_control())
            .map(|c| if c.is_ascii() { c } else { '?' })
            .take(400)
            .collect();
        out.push_str(&format!("{code}{sep}{enhanced} {l}\r\n"));
    }
    out
}

/// An RFC 3464 delivery status notification to the sender for refused recipients.
pub fn dsn(
    hostname: &str,
    sender: &str,
    refused: &[(RecipientDecision, Vec<String>)],
    original_headers: &str,
    reference: &str,
) -> Vec<u8> {
    let boundary = format!("hallpass-{reference}");
    let date = chrono::Utc::now().to_rfc2822();
    let mut human = String::from(
        "Some recipients of your message were refused by the school's data protection filter.\r\n\r\n",
    );
    let mut status =
        format!("Reporting-MTA: dns; {hostname}\r\nX-Hallpass-Reference: {reference}\r\n");
    for (r, lines) in refused {
        human.push_str(&format!("{}\r\n", r.address));
        for l in lines {
            human.push_str(&format!("    {l}\r\n"));
        }
        human.push_str("\r\n");
        status.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: 5.7.1\r\nDiagnostic-Code: smtp; 550 5.7.1 refused by Hallpass ({reference})\r\n",
            r.address
        ));
    }
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\nTo: <{sender}>\r\nSubject: Undelivered Mail: refused by the data protection filter\r\n\
         Date: {date}\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{human}\
         --{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n{status}\r\n\
         --{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n{original_headers}\r\n--{boundary}--\r\n"
    )
    .into_bytes()
}

/// Recipients grouped by what happens to them.
pub struct Plan<'a> {
    pub deliver: Vec<&'a RecipientDecision>,
    pub hold: Vec<&'a RecipientDecision>,
    pub refuse: Vec<&'a RecipientDecision>,
}

pub fn plan(d: &Decision) -> Plan<'_> {
    let mut p = Plan {
        deliver: Vec::new(),
        hold: Vec::new(),
        refuse: Vec::new(),
    };
    for r in &d.recipients {
        match r.action {
            Action::Allow | Action::Tag | Action::Notify => p.deliver.push(r),
            Action::Quarantine => p.hold.push(r),
            Action::Reject => p.refuse.push(r),
        }
    }
    p
}
