//! Deliberate sends: a school may let staff mark a message as deliberate with a subject tag
//! (`[dlp-override: reason]`, the tag name from `[guidance] override_tag`). Then the message
//! is delivered with the tag taken out of the Subject, and the data lead is told. Never for
//! bulk pupil data or special-category data, never to personal webmail, never without a
//! reason, never when the tag is not literally in the header (an encoded subject cannot
//! have it removed, so it is not honoured). This module decides and rewrites the header; it
//! never touches the body.

use super::{Action, Decision, Policy, RecipientClass};
use crate::scan::{Finding, FindingKind};

/// An honoured override: the reason given and the message with the tag removed.
pub struct Deliberate {
    pub reason: String,
    pub message: Vec<u8>,
    /// The recipients whose hold or refusal it lifted.
    pub recipients: Vec<String>,
}

/// Finds `[tag: reason]` (case-insensitive tag) in the raw Subject header; returns the
/// byte range of the whole bracket and the reason.
fn find_tag(raw: &[u8], tag: &str) -> Option<(usize, usize, String)> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = &raw[..end];
    let mut at = 0;
    // The Subject field: from "Subject:" at a line start to the next line that does not
    // begin with whitespace.
    let start = loop {
        let line_end = head[at..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(head.len(), |p| at + p);
        if head[at..line_end].len() >= 8 && head[at..at + 8].eq_ignore_ascii_case(b"subject:") {
            break at + 8;
        }
        if line_end >= head.len() {
            return None;
        }
        at = line_end + 2;
    };
    let mut stop = start;
    loop {
        let line_end = head[stop..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(head.len(), |p| stop + p);
        stop = line_end;
        if stop + 2 < head.len() && matches!(head[stop + 2], b' ' | b'\t') {
            stop += 2;
            continue;
        }
        break;
    }
    let field = std::str::from_utf8(&head[start..stop]).ok()?;
    let lower = field.to_ascii_lowercase();
    let open = lower.find(&format!("[{}:", tag.to_ascii_lowercase()))?;
    let close = open + field[open..].find(']')?;
    let reason = field[open + tag.len() + 2..close].trim().to_string();
    Some((start + open, start + close + 1, reason))
}

/// Applies an override to `decision` when the sender's school allows it and the message
/// qualifies; returns what was done.
pub fn apply(
    policy: &Policy,
    decision: &mut Decision,
    findings: &[Finding],
    sender: &str,
    raw: &[u8],
) -> Option<Deliberate> {
    let tag = policy.override_tag.as_str();
    if tag.is_empty() {
        return None;
    }
    let school = policy.site.school_of(sender)?;
    if !policy.override_schools.contains(&school.id) {
        return None;
    }
    let (from, to, reason) = find_tag(raw, tag)?;
    if reason.is_empty() {
        return None;
    }
    let never = findings.iter().any(|f| {
        matches!(
            f.kind,
            FindingKind::BulkPupilData | FindingKind::SpecialCategory
        )
    });
    if never
        || decision
            .recipients
            .iter()
            .any(|r| r.class == RecipientClass::PersonalWebmail)
        || !decision.dsl_alerts.is_empty()
    {
        return None;
    }
    let mut lifted = Vec::new();
    for r in &mut decision.recipients {
        if matches!(r.action, Action::Quarantine | Action::Reject) {
            r.action = Action::Tag;
            r.reasons
                .push(format!("deliberate send by the sender ({reason}) -> tag"));
            lifted.push(r.address.clone());
        }
    }
    if lifted.is_empty() {
        return None;
    }
    decision.action = decision
        .recipients
        .iter()
        .map(|r| r.action)
        .max()
        .unwrap_or(Action::Tag);
    let mut message = Vec::with_capacity(raw.len());
    message.extend_from_slice(&raw[..from]);
    // Drop one space left doubled by the removal.
    let rest = &raw[to..];
    if from > 0 && raw[from - 1] == b' ' && rest.first() == Some(&b' ') {
        message.extend_from_slice(&rest[1..]);
    } else {
        message.extend_from_slice(rest);
    }
    Some(Deliberate {
        reason: reason
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect(),
        message,
        recipients: lifted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_tag_in_the_subject_only() {
        let raw = b"From: a@b\r\nSubject: Results [DLP-Override: exam board asked] for 9X\r\n\r\n[dlp-override: body]\r\n";
        let (f, t, reason) = find_tag(raw, "dlp-override").unwrap();
        assert_eq!(reason, "exam board asked");
        assert_eq!(&raw[f..t], b"[DLP-Override: exam board asked]");
        assert!(
            find_tag(
                b"Subject: x\r\n\r\n[dlp-override: in body]\r\n",
                "dlp-override"
            )
            .is_none()
        );
        // Folded subject.
        let raw = b"Subject: Results\r\n [dlp-override: asked]\r\nTo: x\r\n\r\nb";
        assert_eq!(find_tag(raw, "dlp-override").unwrap().2, "asked");
    }
}
