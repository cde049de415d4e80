//! The MIME walk: a message's bytes (parsed by mail-parser) become [`Segment`]s: the decoded
//! Subject, each text and HTML body (transfer encodings and declared charsets decoded by
//! mail-parser, HTML turned to text), and each attachment through `extract` (a text/*
//! attachment whose bytes are not text in its label's charset — a workbook sent as
//! text/plain, UTF-16 — goes there as its bytes, so the type comes from them). Nested
//! `message/rfc822` parts are walked too, within the depth limit.
//!
//! It also collects the header facts the detectors need (From, Date). It never decides
//! anything about the content.

use mail_parser::{Address, Message, MessageParser, MessagePart, MimeHeaders, PartType};

use super::budget::Budget;
use super::extract::{self, Sink};
use super::report::NotScanned;
use super::segment::{Location, Segment};

/// Header facts of the outer message.
#[derive(Debug, Clone, Default)]
pub struct HeaderInfo {
    pub from_address: Option<String>,
    pub from_name: Option<String>,
    /// Unix time of the Date header, if present and parseable.
    pub date: Option<i64>,
    pub to: Vec<String>,
    /// To and Cc with their display names, as written.
    pub to_named: Vec<(Option<String>, String)>,
}

/// Everything the walk produced.
#[derive(Debug, Default)]
pub struct Walked<'m> {
    pub segments: Vec<Segment<'m>>,
    pub not_scanned: Vec<NotScanned>,
    pub headers: HeaderInfo,
    /// Attachments that were protected (encrypted), by location, with how.
    pub encrypted: Vec<(Location, String)>,
    /// Encrypted files kept for the password test.
    pub locked: Vec<extract::Locked>,
}

fn addresses(a: Option<&Address>) -> Vec<String> {
    a.map(|a| {
        a.iter()
            .filter_map(|x| x.address().map(str::to_string))
            .collect()
    })
    .unwrap_or_default()
}

/// The envelope a message's own headers imply: From as sender, To, Cc and Bcc as
/// recipients (for `hallpass scan` without --from/--to).
pub fn envelope_from_headers(raw: &[u8]) -> super::envelope::Envelope {
    let Some(msg) = MessageParser::default().parse_headers(raw) else {
        return super::envelope::Envelope::default();
    };
    super::envelope::Envelope {
        mail_from: msg
            .from()
            .and_then(|f| f.first())
            .and_then(|f| f.address())
            .unwrap_or_default()
            .to_string(),
        rcpt_to: [msg.to(), msg.cc(), msg.bcc()]
            .into_iter()
            .flat_map(addresses)
            .collect(),
    }
}

/// Walks a whole message.
pub fn walk<'m>(raw: &'m [u8], budget: &mut Budget) -> Walked<'m> {
    let mut walked = Walked::default();
    if raw.iter().all(u8::is_ascii_whitespace) {
        return walked;
    }
    let Some(msg) = MessageParser::default().parse(raw) else {
        walked.not_scanned.push(NotScanned {
            location: "message".into(),
            why: "not a readable MIME message".into(),
            incomplete: true,
        });
        return walked;
    };
    let from = msg.from().and_then(|f| f.first());
    walked.headers = HeaderInfo {
        from_address: from.and_then(|f| f.address()).map(str::to_string),
        from_name: from.and_then(|f| f.name()).map(str::to_string),
        date: msg
            .date()
            .filter(|d| d.is_valid())
            .map(|d| d.to_timestamp()),
        to: [msg.to(), msg.cc(), msg.bcc()]
            .into_iter()
            .flat_map(addresses)
            .collect(),
        to_named: [msg.to(), msg.cc()]
            .into_iter()
            .flatten()
            .flat_map(|a| a.iter())
            .filter_map(|x| Some((x.name().map(str::to_string), x.address()?.to_string())))
            .collect(),
    };
    let mut sink = Sink {
        segments: &mut walked.segments,
        not_scanned: &mut walked.not_scanned,
        encrypted: &mut walked.encrypted,
        locked: &mut walked.locked,
        budget,
        open: OPEN,
    };
    walk_message(&msg, None, 0, &mut sink);
    walked
}

/// How the extractors read what containers hold: files through the dispatcher, attached
/// messages through this walker.
pub const OPEN: extract::Opener = extract::Opener {
    file: extract::attachment,
    message: attached_message,
};

/// An attached message (.eml, or message/rfc822 that mail-parser left as bytes): parsed and
/// walked like the outer one.
pub fn attached_message(location: &Location, bytes: &[u8], depth: usize, sink: &mut Sink) {
    match mail_parser::MessageParser::default().parse(bytes) {
        Some(m) => walk_message(&m.into_owned(), Some(location), depth, sink),
        None => sink.not_read(
            location.clone(),
            "attached message could not be parsed".into(),
        ),
    }
}

/// Walks a message: the outer one (`within` = None) or one attached at `within`.
pub fn walk_message<'m>(
    msg: &Message<'m>,
    within: Option<&Location>,
    depth: usize,
    sink: &mut Sink<'_, 'm>,
) {
    let subject_loc = within.cloned().unwrap_or(Location::Subject);
    if let Some(s) = msg.subject() {
        sink.push(Segment::text(subject_loc, s.to_string()));
    }
    walk_part(msg, 0, within, depth, sink, 0);
}

fn part_name(part: &MessagePart, index: usize) -> String {
    match part.attachment_name() {
        Some(n) if !n.trim().is_empty() => n.trim().replace('/', "_"),
        _ => format!("part{index}"),
    }
}

fn is_attachment(part: &MessagePart) -> bool {
    part.content_disposition()
        .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"))
        || part.attachment_name().is_some()
}

fn walk_part<'m>(
    msg: &Message<'m>,
    id: u32,
    within: Option<&Location>,
    depth: usize,
    sink: &mut Sink<'_, 'm>,
    nesting: usize,
) {
    let Some(part) = msg.parts.get(id as usize) else {
        return;
    };
    sink.budget.parts += 1;
    if let Some(why) = sink.budget.exhausted() {
        sink.not_read(within.cloned().unwrap_or(Location::Body), why);
        return;
    }
    if nesting > 64 {
        sink.not_read(
            within.cloned().unwrap_or(Location::Body),
            "MIME parts nested more than 64 deep".into(),
        );
        return;
    }
    let here = |name: &str| match within {
        Some(Location::Attachment(p)) => Location::Attachment(format!("{p}/{name}")),
        _ => Location::Attachment(name.to_string()),
    };
    let body_loc = within.cloned().unwrap_or(Location::Body);
    // A file name is read as text of its own: it is readable whatever the file holds.
    if let Some(name) = part.attachment_name().filter(|n| !n.trim().is_empty())
        && let Location::Attachment(path) = here(&part_name(part, id as usize))
    {
        sink.push(Segment::text(
            Location::AttachmentName(path),
            name.to_string(),
        ));
    }
    match &part.body {
        PartType::Multipart(children) => {
            if is_encrypted_multipart(part) {
                let loc = here(&part_name(part, id as usize));
                sink.encrypted.push((
                    loc,
                    "PGP/MIME encrypted message (multipart/encrypted)".into(),
                ));
                return;
            }
            for c in children {
                walk_part(msg, *c, within, depth, sink, nesting + 1);
            }
        }
        PartType::Text(t) => {
            if is_attachment(part) {
                let loc = here(&part_name(part, id as usize));
                match not_text(msg, part) {
                    Some(raw) => extract::attachment(&loc, &raw, depth, sink),
                    None => extract::attachment(&loc, t.as_bytes(), depth, sink),
                }
            } else {
                // Borrowed from the raw message when mail-parser did not decode it: no copy.
                sink.push_text(body_loc, t.clone());
            }
        }
        PartType::Html(h) => {
            if is_attachment(part)
                && let Some(raw) = not_text(msg, part)
            {
                let loc = here(&part_name(part, id as usize));
                return extract::attachment(&loc, &raw, depth, sink);
            }
            let text = super::html::html_to_text(h);
            let loc = if is_attachment(part) {
                here(&part_name(part, id as usize))
            } else {
                body_loc
            };
            // Table cells read as tab-separated lines: rows for the same-row name rule.
            sink.push_text(loc, text);
        }
        PartType::Binary(b) | PartType::InlineBinary(b) => {
            let loc = here(&part_name(part, id as usize));
            if let Some(how) = smime_kind(part) {
                sink.encrypted.push((loc, how.into()));
                return;
            }
            extract::attachment(&loc, b, depth, sink);
        }
        PartType::Message(m) => {
            let name = match part.attachment_name() {
                Some(n) => n.replace('/', "_"),
                None => m
                    .subject()
                    .map(|s| {
                        format!(
                            "{}.eml",
                            s.chars().take(40).collect::<String>().replace('/', "_")
                        )
                    })
                    .unwrap_or_else(|| format!("message{id}.eml")),
            };
            let loc = here(&name);
            if depth + 1 > sink.budget.limits().max_depth {
                sink.not_read(loc, "attached messages nested too deep".into());
                return;
            }
            walk_message(m, Some(&loc), depth + 1, sink);
        }
    }
}

/// The bytes of a text/* attachment, transfer encoding undone, when they are not the text
/// its label says: the type comes from the bytes ("text/plain" on a zip or a workbook), and
/// UTF-16 (Excel's "Unicode Text") is decoded by the extractor, not as the declared or
/// guessed 8-bit charset. `None` when they are text, which mail-parser has already decoded
/// with the declared charset.
fn not_text<'a>(msg: &'a Message, part: &MessagePart) -> Option<std::borrow::Cow<'a, [u8]>> {
    use mail_parser::Encoding;
    use mail_parser::decoders::{base64::base64_decode, quoted_printable::quoted_printable_decode};
    use std::borrow::Cow;
    let raw = msg
        .raw_message()
        .get(part.offset_body as usize..part.offset_end as usize)?;
    let raw = match part.encoding {
        Encoding::None => Cow::Borrowed(raw),
        Encoding::Base64 => Cow::Owned(base64_decode(raw)?),
        Encoding::QuotedPrintable => Cow::Owned(quoted_printable_decode(raw)?),
    };
    let utf16 = crate::text::is_utf16(&raw);
    let text = matches!(
        extract::sniff(&raw),
        extract::Format::Text | extract::Format::Html | extract::Format::Rfc822
    );
    (utf16 || !text).then_some(raw)
}

fn is_encrypted_multipart(part: &MessagePart) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("encrypted"))
    })
}

fn smime_kind(part: &MessagePart) -> Option<&'static str> {
    let ct = part.content_type()?;
    let sub = ct.subtype()?.to_ascii_lowercase();
    if ct.ctype().eq_ignore_ascii_case("application")
        && (sub == "pkcs7-mime" || sub == "x-pkcs7-mime")
    {
        let st = ct.attribute("smime-type").unwrap_or("enveloped-data");
        if st.eq_ignore_ascii_case("enveloped-data")
            || st.eq_ignore_ascii_case("authEnveloped-data")
        {
            return Some("S/MIME encrypted (application/pkcs7-mime)");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::budget::Limits;

    fn walk_str(s: &str) -> Walked<'_> {
        let mut b = Budget::new(&Limits::default());
        walk(s.as_bytes(), &mut b)
    }

    #[test]
    fn subject_is_decoded_and_bodies_found() {
        let w = walk_str(
            "From: A <a@x.sch.uk>\r\nSubject: =?UTF-8?Q?Zo=C3=AB_O=E2=80=99Brien?=\r\nContent-Type: text/plain\r\n\r\nHello\r\n",
        );
        assert_eq!(w.segments[0].location, Location::Subject);
        assert_eq!(w.segments[0].text, "Zoë O’Brien");
        assert_eq!(w.segments[1].text.trim(), "Hello");
        assert_eq!(w.headers.from_address.as_deref(), Some("a@x.sch.uk"));
    }

    #[test]
    fn qp_soft_breaks_are_joined() {
        let w = walk_str(
            "Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nPlease see Oli=\r\nvia Smi=\r\nth today\r\n",
        );
        assert!(
            w.segments[1].text.contains("Olivia Smith"),
            "{:?}",
            w.segments[1].text
        );
    }

    #[test]
    fn empty_input_is_complete_and_empty() {
        let w = walk_str("");
        assert!(w.segments.is_empty() && w.not_scanned.is_empty());
    }

    #[test]
    fn deep_multipart_nesting_is_bounded() {
        let mut m = String::from("Subject: deep\r\n");
        for i in 0..50 {
            m.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
            ));
        }
        m.push_str("Content-Type: text/plain\r\n\r\nOlivia Smith\r\n");
        for i in (0..50).rev() {
            m.push_str(&format!("--b{i}--\r\n"));
        }
        let w = walk_str(&m);
        assert!(
            w.segments.iter().any(|s| s.text.contains("Olivia Smith")) || !w.not_scanned.is_empty()
        );
    }
}
