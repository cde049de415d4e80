//! password_in_body: an encrypted attachment whose password travels in the same message.
//!
//! Candidate strings come from the phrasings people use ("password: X", "the password is
//! X", "pw X", "use X to open", "it's X"), in the subject, the body or another attachment.
//! Each candidate is then tried against the encrypted ZIP entries and PDFs themselves, so a
//! hit there is certain; a bounded number of tries. Encrypted Office Open XML files are tried
//! against their password verifier, at most [`MAX_OFFICE_TRIES`] times a message (each try
//! costs ~100,000 hash rounds). For formats that cannot be tried here (OpenDocument, 7-Zip,
//! legacy Office), an explicit "password: X" phrasing is enough.

use regex::Regex;

use crate::scan::extract::{Locked, pdf_password_opens, zip_password_opens};
use crate::scan::{Location, Segment};

pub struct PasswordDetector {
    phrases: Regex,
    use_to_open: Regex,
}

/// A password candidate and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub value: String,
    pub location: Location,
    /// Written as "password: X" / "password is X" (not only a looser phrasing).
    pub explicit: bool,
}

const MAX_CANDIDATES: usize = 16;
const MAX_TRIES: usize = 48;
/// Office verifiers are slow by design (a 100,000-round hash per try).
pub const MAX_OFFICE_TRIES: usize = 6;

impl Default for PasswordDetector {
    fn default() -> Self {
        PasswordDetector {
            phrases: Regex::new(
                r#"(?i)\b(password|passcode|passphrase|pass word|pwd|pw|passwd|the code)\b(?:\s+(?:for|to)\s+(?:the\s+)?(?:file|attachment|zip|document|spreadsheet|it)(?:\s+is)?)?(\s+is|\s*[:=\-–]|\s+will\s+be|\s+-)?\s*["'“‘]?([^\s"'”’<>]{3,64})"#,
            )
            .unwrap(),
            use_to_open: Regex::new(r#"(?i)\b(?:use|enter|type)\s+["'“‘]?([^\s"'”’<>]{3,64}?)["'”’]?\s+to\s+(?:open|unlock|access)\b"#).unwrap(),
        }
    }
}

fn clean(v: &str) -> String {
    v.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']'])
        .to_string()
}

const NOT_PASSWORDS: &[&str] = &[
    "the",
    "will",
    "to",
    "follow",
    "follows",
    "sent",
    "separately",
    "separate",
    "text",
    "sms",
    "phone",
    "call",
    "email",
    "required",
    "protected",
    "below",
    "above",
    "attached",
    "same",
    "usual",
    "for",
    "and",
    "has",
    "was",
    "been",
    "you",
    "your",
];

impl PasswordDetector {
    pub fn candidates(&self, segments: &[Segment]) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = Vec::new();
        for seg in segments {
            for c in self.phrases.captures_iter(&seg.text) {
                let explicit = c.get(2).is_some();
                // "Tr1p2026!" at the end of a sentence: try it with and without the mark.
                for v in [c[3].to_string(), clean(&c[3])] {
                    if v.len() < 3 || NOT_PASSWORDS.contains(&v.to_ascii_lowercase().as_str()) {
                        continue;
                    }
                    if !out.iter().any(|o| o.value == v) {
                        out.push(Candidate {
                            value: v,
                            location: seg.location.clone(),
                            explicit,
                        });
                    }
                }
            }
            for c in self.use_to_open.captures_iter(&seg.text) {
                let v = clean(&c[1]);
                if v.len() >= 3 && !out.iter().any(|o| o.value == v) {
                    out.push(Candidate {
                        value: v,
                        location: seg.location.clone(),
                        explicit: true,
                    });
                }
            }
            if out.len() >= MAX_CANDIDATES {
                out.truncate(MAX_CANDIDATES);
                break;
            }
        }
        out
    }

    /// The candidates that open a locked file, tried within a bounded number of attempts.
    pub fn opening(
        &self,
        candidates: &[Candidate],
        locked: &[Locked],
    ) -> Vec<(Candidate, Location)> {
        let mut tries = 0;
        let mut office_tries = 0;
        let mut hits = Vec::new();
        // Explicit phrasings ("password: X") first: they are the likeliest.
        let mut ordered: Vec<&Candidate> = candidates.iter().collect();
        ordered.sort_by_key(|c| !c.explicit);
        for l in locked {
            for c in &ordered {
                if tries >= MAX_TRIES {
                    return hits;
                }
                if matches!(l, Locked::Office { .. }) {
                    if office_tries >= MAX_OFFICE_TRIES {
                        break;
                    }
                    office_tries += 1;
                }
                tries += 1;
                let (opens, loc) = match l {
                    Locked::Zip {
                        location,
                        bytes,
                        entries,
                    } => (
                        zip_password_opens(bytes, entries, &c.value, 8 << 20),
                        location,
                    ),
                    Locked::Pdf { location, bytes } => {
                        (pdf_password_opens(bytes, &c.value), location)
                    }
                    Locked::Office { location, verifier } => (verifier.opens(&c.value), location),
                };
                if opens {
                    hits.push(((*c).clone(), loc.clone()));
                    break;
                }
            }
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: &str) -> Vec<String> {
        PasswordDetector::default()
            .candidates(&[Segment::text(Location::Body, t.into())])
            .into_iter()
            .map(|c| c.value)
            .collect()
    }

    #[test]
    fn phrasings() {
        assert_eq!(
            values("The password is Tr1p2026!"),
            ["Tr1p2026!", "Tr1p2026"]
        );
        assert_eq!(values("password: bps-8A-list"), ["bps-8A-list"]);
        assert_eq!(values("pw Sunflower22"), ["Sunflower22"]);
        assert_eq!(values("Use Kestrel99 to open it"), ["Kestrel99"]);
        assert_eq!(
            values("The password for the file is 'mango77'"),
            ["mango77"]
        );
        assert!(values("The password will follow by text.").is_empty());
        assert!(values("I'll send the password separately").is_empty());
    }
}
