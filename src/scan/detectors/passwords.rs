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
use crate::scan::segment::{Location, Segment};

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
/// Password-like words tried besides the phrasings (a password alone on a line).
const MAX_TOKENS: usize = 40;
const MAX_TRIES: usize = 64;
/// Office verifiers are slow by design (a 100,000-round hash per try).
pub const MAX_OFFICE_TRIES: usize = 6;

impl Default for PasswordDetector {
    fn default() -> Self {
        PasswordDetector {
            phrases: Regex::new(
                r#"(?i)\b(password|passcode|passphrase|pass word|pword|pwd|pw|passwd|pass|the code)\b(?:\s+(?:for|to|on)\s+(?:the\s+)?(?:file|attachment|zip|document|spreadsheet|it|open(?:\s+(?:it|the\s+\w+))?)(?:\s+is)?)?(\s+is\s*[:=\-–]?|\s*[:=\-–]|\s+will\s+be|\s+-)?\s*["'“‘(]?([^\s"'”’<>()]{3,64})"#,
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
    /// Candidates from the phrasings ("password: X", explicit ones first in [`Self::opening`]),
    /// then password-like words anywhere in the text (letters with digits or symbols, 6 to 40
    /// characters: "Tr1p2026" alone on a line) — those are only ever tried against the file,
    /// never taken as stated.
    pub fn candidates(&self, segments: &[Segment]) -> Vec<Candidate> {
        let mut out = self.phrased(segments);
        let mut tokens = 0;
        'segs: for seg in segments {
            for w in seg.text.split(|c: char| c.is_whitespace()) {
                let w = w.trim_matches(|c: char| "\"'“”‘’()[]<>,;".contains(c));
                // "Tr1p2026!" may be the password or the end of a sentence: both, but only
                // when the word is password-like without its final mark ("password:" is not).
                let cleaned = clean(w);
                if !password_like(&cleaned) {
                    continue;
                }
                for v in [w, cleaned.as_str()] {
                    if !out.iter().any(|o| o.value == v) {
                        out.push(Candidate {
                            value: v.to_string(),
                            location: seg.location.clone(),
                            explicit: false,
                        });
                        tokens += 1;
                        if tokens >= MAX_TOKENS {
                            break 'segs;
                        }
                    }
                }
            }
        }
        out
    }

    fn phrased(&self, segments: &[Segment]) -> Vec<Candidate> {
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

    /// The candidates that open a locked file: each file is tried with the explicit
    /// phrasings first, then the rest, within [`MAX_TRIES`] a message ([`MAX_OFFICE_TRIES`]
    /// for Office files). A PDF is parsed once for all its tries.
    pub fn opening(
        &self,
        candidates: &[Candidate],
        locked: &[Locked],
    ) -> Vec<(Candidate, Location)> {
        let mut ordered: Vec<&Candidate> = candidates.iter().collect();
        ordered.sort_by_key(|c| !c.explicit);
        let mut tries = 0;
        let mut office_tries = 0;
        let mut hits = Vec::new();
        for l in locked {
            let mut budget = MAX_TRIES.saturating_sub(tries).min(ordered.len());
            if matches!(l, Locked::Office { .. }) {
                budget = budget.min(MAX_OFFICE_TRIES.saturating_sub(office_tries));
                office_tries += budget;
            }
            let these = &ordered[..budget];
            tries += budget;
            let values: Vec<&str> = these.iter().map(|c| c.value.as_str()).collect();
            let hit = match l {
                Locked::Zip { bytes, entries, .. } => values
                    .iter()
                    .position(|v| zip_password_opens(bytes, entries, v, 8 << 20)),
                Locked::Pdf { bytes, .. } => pdf_password_opens(bytes, &values),
                Locked::Office { verifier, .. } => values.iter().position(|v| verifier.opens(v)),
            };
            if let Some(i) = hit {
                hits.push((these[i].clone(), l.location().clone()));
            }
        }
        hits
    }
}

/// Looks like a password someone chose: 6 to 40 characters without spaces, letters with
/// digits or symbols ("Tr1p2026", "Sunflower22", "bps-8A-list", "Kite#Blue"), not an address
/// or a link, not mostly digits.
fn password_like(w: &str) -> bool {
    let n = w.chars().count();
    if !(6..=40).contains(&n) || w.contains('@') || w.contains("://") || w.starts_with("www.") {
        return false;
    }
    let letters = w.chars().filter(|c| c.is_alphabetic()).count();
    let digits = w.chars().filter(char::is_ascii_digit).count();
    // Hyphens, dots and apostrophes join ordinary words ("follow-up"); these do not.
    let symbols = w.chars().filter(|c| "!#$%^&*?_+=~£".contains(*c)).count();
    letters > 0
        && (digits > 0 || symbols > 0)
        // dates, times, prices and phone numbers are mostly digits
        && letters * 4 >= n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: &str) -> Vec<String> {
        PasswordDetector::default()
            .candidates(&[Segment::text(Location::Body, t)])
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
        assert_eq!(values("The password is: Tr1p2026"), ["Tr1p2026"]);
        assert_eq!(values("the password to open it is Tr1p2026"), ["Tr1p2026"]);
        assert_eq!(values("pass: Tr1p2026"), ["Tr1p2026"]);
        // Alone on a line: a password-like word, tried against the file only.
        let c = PasswordDetector::default().candidates(&[Segment::text(
            Location::Body,
            "List attached.\nTr1p2026\nThanks, see www.x.org or 12/03/2026 at 10:30",
        )]);
        assert_eq!(
            c.iter().map(|c| c.value.as_str()).collect::<Vec<_>>(),
            ["Tr1p2026"]
        );
        assert!(!c[0].explicit);
        assert!(values("The password will follow by text.").is_empty());
        assert!(values("I'll send the password separately").is_empty());
    }
}
