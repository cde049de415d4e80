//! Text-like attachments: plain text, CSV/TSV (rows and cells kept, so a pupil counts when
//! forename and surname stand in the same row), HTML, and attached messages (.eml).

use super::{Extractor, Sink};
use crate::scan::{Location, Segment, mime};

/// Bytes that read as text: no NULs and few control characters in the first 8 KiB
/// (UTF-16 with a BOM counts as text).
pub fn looks_like_text(b: &[u8]) -> bool {
    if b.starts_with(&[0xFF, 0xFE]) || b.starts_with(&[0xFE, 0xFF]) {
        return true;
    }
    let head = &b[..b.len().min(8192)];
    if head.contains(&0) {
        return false;
    }
    let control = head
        .iter()
        .filter(|c| **c < 0x20 && !matches!(**c, b'\n' | b'\r' | b'\t' | 0x0C))
        .count();
    control * 100 <= head.len()
}

/// A text that starts with RFC 5322 header fields and has a From or Subject among them.
pub fn looks_like_rfc822(head_lower: &str) -> bool {
    let mut fields = 0;
    let mut has_key = false;
    for line in head_lower.lines().take(40) {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        match line.split_once(':') {
            Some((name, _))
                if !name.is_empty()
                    && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') =>
            {
                fields += 1;
                has_key |= matches!(name, "from" | "subject" | "date" | "message-id");
            }
            _ => return false,
        }
    }
    fields >= 2 && has_key
}

fn decode(bytes: &[u8]) -> String {
    crate::directory::decode_text(bytes.to_vec())
}

/// The delimiter when every one of the first lines has the same (non-zero) count of it.
fn delimiter(text: &str) -> Option<u8> {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(6)
        .collect();
    if lines.len() < 2 {
        return None;
    }
    for d in ['\t', ',', ';', '|'] {
        let n = lines[0].matches(d).count();
        if n >= 1 && lines.iter().all(|l| l.matches(d).count() == n) {
            return Some(d as u8);
        }
    }
    None
}

/// Plain text, or a delimited table when it looks like one.
pub struct Delimited;

impl Extractor for Delimited {
    fn extract(&self, location: &Location, bytes: &[u8], _depth: usize, sink: &mut Sink) {
        let text = decode(bytes);
        if let Some(d) = delimiter(&text) {
            let mut rdr = csv::ReaderBuilder::new()
                .delimiter(d)
                .has_headers(false)
                .flexible(true)
                .from_reader(text.as_bytes());
            let mut rows = Vec::new();
            let mut ok = true;
            for r in rdr.records() {
                match r {
                    Ok(r) => rows.push(r.iter().map(str::to_string).collect::<Vec<_>>()),
                    Err(_) => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                sink.push(Segment::table(location.clone(), rows));
                return;
            }
        }
        sink.push(Segment::text(location.clone(), text));
    }
}

/// An HTML attachment, as text.
pub struct Html;

impl Extractor for Html {
    fn extract(&self, location: &Location, bytes: &[u8], _depth: usize, sink: &mut Sink) {
        let text = crate::scan::html::html_to_text(&decode(bytes));
        sink.push(Segment::text(location.clone(), text));
    }
}

/// An attached message (.eml, message/rfc822 that mail-parser left as bytes).
pub struct Rfc822;

impl Extractor for Rfc822 {
    fn extract(&self, location: &Location, bytes: &[u8], depth: usize, sink: &mut Sink) {
        if depth + 1 > sink.budget.limits().max_depth {
            sink.not_read(location.clone(), "attached messages nested too deep".into());
            return;
        }
        match mail_parser::MessageParser::default().parse(bytes) {
            Some(m) => mime::walk_message(&m, Some(location), depth + 1, sink),
            None => sink.not_read(
                location.clone(),
                "attached message could not be parsed".into(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters() {
        assert_eq!(delimiter("a,b,c\n1,2,3\n"), Some(b','));
        assert_eq!(delimiter("a\tb\n1\t2\n"), Some(b'\t'));
        assert_eq!(delimiter("Dear parents,\nThanks, all.\nBye\n"), None);
    }
}
