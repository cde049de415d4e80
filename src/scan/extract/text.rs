//! Text-like attachments: plain text, CSV/TSV (rows and cells kept, so a pupil counts when
//! forename and surname stand in the same row), HTML, and attached messages (.eml).

use super::sink::{Extractor, Sink};
use crate::scan::segment::{Location, Segment};

fn decode(bytes: &[u8]) -> String {
    crate::directory::decode_text(bytes.to_vec())
}

/// The first `n` lines that are not blank.
fn first_lines(text: &str, n: usize) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .take(n)
        .collect()
}

/// The rows of a delimited text (quotes honoured, rows of any length).
fn csv_rows(text: &str, d: u8) -> Result<Vec<Vec<String>>, csv::Error> {
    csv::ReaderBuilder::new()
        .delimiter(d)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.map(|r| r.iter().map(str::to_string).collect()))
        .collect()
}

/// The delimiter of an export that is not quite regular (a title line, a blank line, rows with
/// fields missing, a quoted delimiter): the one that splits most of the first lines into three
/// or more fields, when the fields are short like a table's and not sentences.
fn loose_delimiter(text: &str) -> Option<u8> {
    let lines = first_lines(text, 50);
    if lines.len() < 3 {
        return None;
    }
    // Lines with three or more fields, for each delimiter.
    let (d, holding) = ['\t', ',', ';', '|']
        .into_iter()
        .map(|d| {
            (
                d,
                lines.iter().filter(|l| l.matches(d).count() >= 2).count(),
            )
        })
        .max_by_key(|(_, n)| *n)?;
    let fields: Vec<&str> = lines.iter().flat_map(|l| l.split(d)).collect();
    let short = fields
        .iter()
        .filter(|f| f.split_whitespace().count() <= 4)
        .count();
    (holding * 10 >= lines.len() * 6 && short * 10 >= fields.len() * 8).then_some(d as u8)
}

/// The delimiter when every one of the first lines has the same (non-zero) count of it.
fn delimiter(text: &str) -> Option<u8> {
    let lines = first_lines(text, 6);
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
        if let Some(d) = delimiter(&text)
            && let Ok(rows) = csv_rows(&text, d)
        {
            sink.push(Segment::table(location.clone(), rows));
            return;
        }
        if let Some(d) = loose_delimiter(&text) {
            // Rows split on the delimiter, quotes honoured where the csv crate can; the text as
            // written is scanned too.
            let rows = csv_rows(&text, d).unwrap_or_else(|_| {
                text.lines()
                    .map(|l| l.split(d as char).map(str::to_string).collect())
                    .collect()
            });
            sink.push(Segment::table(location.clone(), rows));
        }
        sink.push_text(location.clone(), text);
    }
}

/// An HTML attachment, as text.
pub struct Html;

impl Extractor for Html {
    fn extract(&self, location: &Location, bytes: &[u8], _depth: usize, sink: &mut Sink) {
        let text = crate::scan::html::html_to_text(&decode(bytes));
        sink.push_text(location.clone(), text);
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
        sink.open_message(location, bytes, depth + 1);
    }
}

/// An RTF document: control words and groups that are not text (font tables, pictures,
/// `{\\* ...}` destinations) dropped; `\\'hh` (Windows-1252) and `\\uN` escapes decoded.
pub struct Rtf;

impl Extractor for Rtf {
    fn extract(&self, location: &Location, bytes: &[u8], _depth: usize, sink: &mut Sink) {
        sink.push(Segment::text(location.clone(), rtf_to_text(bytes)));
    }
}

pub fn rtf_to_text(b: &[u8]) -> String {
    const SKIP: &[&str] = &[
        "fonttbl",
        "colortbl",
        "stylesheet",
        "info",
        "pict",
        "header",
        "footer",
        "object",
        "themedata",
        "datastore",
        "xmlnstbl",
        "listtable",
        "listoverridetable",
        "generator",
        "rsidtbl",
    ];
    let mut out = String::new();
    // Per group: whether its text is skipped.
    let mut stack: Vec<bool> = vec![false];
    let mut i = 0;
    let mut uc_skip = 0usize;
    while i < b.len() {
        let skipping = *stack.last().unwrap_or(&false);
        match b[i] {
            b'{' => {
                stack.push(skipping);
                if stack.len() > 512 {
                    break;
                }
                i += 1;
            }
            b'}' => {
                if stack.len() > 1 {
                    stack.pop();
                }
                i += 1;
            }
            b'\\' => {
                i += 1;
                let Some(&c) = b.get(i) else { break };
                if c.is_ascii_alphabetic() {
                    let s = i;
                    while i < b.len() && b[i].is_ascii_alphabetic() {
                        i += 1;
                    }
                    let word = std::str::from_utf8(&b[s..i]).unwrap_or("");
                    let ns = i;
                    if i < b.len() && (b[i] == b'-' || b[i].is_ascii_digit()) {
                        i += 1;
                        while i < b.len() && b[i].is_ascii_digit() {
                            i += 1;
                        }
                    }
                    let num: Option<i32> = std::str::from_utf8(&b[ns..i])
                        .ok()
                        .and_then(|n| n.parse().ok());
                    if i < b.len() && b[i] == b' ' {
                        i += 1;
                    }
                    if SKIP.contains(&word) {
                        if let Some(top) = stack.last_mut() {
                            *top = true;
                        }
                    } else if !skipping {
                        match word {
                            "par" | "line" | "row" | "sect" | "page" => out.push('\n'),
                            "tab" | "cell" => out.push('\t'),
                            "u" => {
                                if let Some(n) = num {
                                    let cp = if n < 0 { (n + 65536) as u32 } else { n as u32 };
                                    if let Some(ch) = char::from_u32(cp) {
                                        out.push(ch);
                                    }
                                    uc_skip = 1;
                                }
                            }
                            _ => {}
                        }
                    }
                } else {
                    match c {
                        b'*' => {
                            if let Some(top) = stack.last_mut() {
                                *top = true;
                            }
                        }
                        b'\'' => {
                            let hex = b
                                .get(i + 1..i + 3)
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u8::from_str_radix(h, 16).ok());
                            if let Some(v) = hex {
                                if uc_skip > 0 {
                                    uc_skip -= 1;
                                } else if !skipping {
                                    out.push_str(
                                        &encoding_rs::WINDOWS_1252
                                            .decode_without_bom_handling(&[v])
                                            .0,
                                    );
                                }
                            }
                            i += 2;
                        }
                        b'\\' | b'{' | b'}' if !skipping => out.push(c as char),
                        b'~' if !skipping => out.push(' '),
                        _ => {}
                    }
                    i += 1;
                }
            }
            b'\r' | b'\n' => i += 1,
            c => {
                if uc_skip > 0 {
                    uc_skip -= 1;
                } else if !skipping {
                    out.push(c as char);
                }
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn irregular_exports_still_have_a_delimiter_and_prose_has_none() {
        let export = "Export from SIMS, 30/11/2026\n\nForename,Year,Surname,Notes\nTom,10,Clark,\nFreya,8,Rogers,\"needs, reminders\"\nHarry,8,Fisher\n";
        assert_eq!(delimiter(export), None);
        assert_eq!(loose_delimiter(export), Some(b','));
        let letter = "Dear parents and carers,\nThank you all for coming to the summer fair, which raised a record sum for the library.\nThe next meeting is on Tuesday, in the hall, at seven.\nBest wishes,\nThe PTA\n";
        assert_eq!(loose_delimiter(letter), None);
    }

    #[test]
    fn rtf_text() {
        let r = br"{\rtf1\ansi{\fonttbl{\f0 Arial;}}{\*\generator x;}\f0 Dear Zo\'eb O\u8217?Brien\par Smith}";
        assert_eq!(rtf_to_text(r), "Dear Zo\u{eb} O\u{2019}Brien\nSmith");
    }

    #[test]
    fn delimiters() {
        assert_eq!(delimiter("a,b,c\n1,2,3\n"), Some(b','));
        assert_eq!(delimiter("a\tb\n1\t2\n"), Some(b'\t'));
        assert_eq!(delimiter("Dear parents,\nThanks, all.\nBye\n"), None);
    }
}
