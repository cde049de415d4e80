//! Attachment extractors: bytes in, text [`Segment`]s (with table structure where the format
//! has it) out, or a `not_scanned` entry saying why not.
//!
//! The type always comes from the bytes ([`sniff`]), never from the file name or declared
//! MIME type, so a renamed file hides nothing. Each format is an [`Extractor`]; what no
//! extractor can read (a 7-Zip archive, an unknown binary, a picture past the OCR limits) is
//! listed as not scanned and the fail mode decides — never reported as clean. Pictures are
//! read by OCR ([`crate::scan::ocr`]).

mod archive;
mod cfb;
mod image;
mod legacy;
mod office;
mod office_crypto;
mod outlook;
mod pdf;
mod pdf_text;
mod pivot;
mod sheetml;
mod sheets;
mod text;

pub use archive::password_opens as zip_password_opens;
pub use office_crypto::Verifier as OfficeVerifier;
pub use pdf::password_opens as pdf_password_opens;

use super::report::NotScanned;
use super::{Budget, Location, Segment};
use std::borrow::Cow;

/// What the bytes of an attachment are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Html,
    Rfc822,
    Image(&'static str),
    Pdf,
    Zip,
    /// OLE/CFB compound file (legacy Office, encrypted OOXML).
    Cfb,
    SevenZip,
    Rtf,
    Binary,
}

/// Judges a format from the first bytes.
pub fn sniff(b: &[u8]) -> Format {
    let starts = |p: &[u8]| b.starts_with(p);
    if starts(b"%PDF-") || b.windows(5).take(1024).any(|w| w == b"%PDF-") {
        return Format::Pdf;
    }
    if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK\x07\x08") {
        return Format::Zip;
    }
    if starts(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Format::Cfb;
    }
    if starts(b"7z\xBC\xAF\x27\x1C") {
        return Format::SevenZip;
    }
    if starts(b"\x89PNG") {
        return Format::Image("PNG");
    }
    if starts(&[0xFF, 0xD8, 0xFF]) {
        return Format::Image("JPEG");
    }
    if starts(b"II*\0") || starts(b"MM\0*") {
        return Format::Image("TIFF");
    }
    if starts(b"GIF8") {
        return Format::Image("GIF");
    }
    if starts(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        return Format::Image("WebP");
    }
    if starts(b"BM") && b.len() > 14 && !text::looks_like_text(b) {
        return Format::Image("BMP");
    }
    if b.get(4..12) == Some(b"ftypheic")
        || b.get(4..12) == Some(b"ftypheix")
        || b.get(4..12) == Some(b"ftypmif1")
    {
        return Format::Image("HEIC");
    }
    if starts(b"{\\rtf") {
        return Format::Rtf;
    }
    if !text::looks_like_text(b) {
        return Format::Binary;
    }
    let head = String::from_utf8_lossy(&b[..b.len().min(2048)]).to_ascii_lowercase();
    let head_t = head.trim_start();
    if head_t.starts_with("<!doctype html") || head_t.starts_with("<html") || head.contains("<body")
    {
        return Format::Html;
    }
    if text::looks_like_rfc822(&head) {
        return Format::Rfc822;
    }
    Format::Text
}

/// An encrypted file kept for the password test (`password_in_body`).
#[derive(Debug, Clone)]
pub enum Locked {
    Zip {
        location: Location,
        bytes: Vec<u8>,
        entries: Vec<usize>,
    },
    Pdf {
        location: Location,
        bytes: Vec<u8>,
    },
    /// An encrypted Office Open XML file: only its password verifier is kept.
    Office {
        location: Location,
        verifier: OfficeVerifier,
    },
}

impl Locked {
    pub fn size(&self) -> usize {
        match self {
            Locked::Zip { bytes, .. } | Locked::Pdf { bytes, .. } => bytes.len(),
            Locked::Office { .. } => 0,
        }
    }

    pub fn location(&self) -> &Location {
        match self {
            Locked::Zip { location, .. }
            | Locked::Pdf { location, .. }
            | Locked::Office { location, .. } => location,
        }
    }
}

/// Where extractors put what they read.
pub struct Sink<'a, 'm> {
    pub segments: &'a mut Vec<Segment<'m>>,
    pub not_scanned: &'a mut Vec<NotScanned>,
    pub encrypted: &'a mut Vec<(Location, String)>,
    pub locked: &'a mut Vec<Locked>,
    pub budget: &'a mut Budget,
}

impl<'m> Sink<'_, 'm> {
    /// Adds a segment, counting it against the text budget.
    pub fn push(&mut self, seg: Segment<'m>) {
        self.budget.text_bytes += seg.text.len();
        if let Some(why) = self.budget.exhausted() {
            self.not_read(seg.location, why);
            return;
        }
        self.segments.push(seg);
    }

    /// Records a part that could not be read: the scan is incomplete.
    pub fn not_read(&mut self, location: Location, why: String) {
        self.not_scanned.push(NotScanned {
            location: location.to_string(),
            why,
            incomplete: true,
        });
    }

    /// Adds free text, and the table hidden in its tab-separated lines as rows
    /// ([`Segment::text_and_tab_rows`]).
    /// A text holding percent-encoded spaces (a link to "Leah%20Walker%20EHCP.docx") is also
    /// scanned decoded.
    pub fn push_text(&mut self, location: Location, text: impl Into<Cow<'m, str>>) {
        let text = text.into();
        // "%20", "%5F", "%2C" (any case): one pass for '%' finds them.
        let b = text.as_bytes();
        let encoded = memchr::memchr_iter(b'%', b).any(|i| {
            matches!(
                b.get(i + 1..i + 3),
                Some([b'2', b'0' | b'C' | b'c'] | [b'5', b'F' | b'f'])
            )
        });
        if encoded {
            // Only the encoded words (links, paths), one a line: not the whole text again.
            let decoded: Vec<String> = text
                .split_whitespace()
                .filter(|w| w.contains('%'))
                .map(|w| {
                    percent_encoding::percent_decode_str(w)
                        .decode_utf8_lossy()
                        .into_owned()
                })
                .collect();
            self.push(Segment::text(location.clone(), decoded.join("\n")));
        }
        for seg in Segment::text_and_tab_rows(location, text) {
            self.push(seg);
        }
    }

    /// Scans the file name of a member (of an archive, an Outlook message) as text: names
    /// are readable even when the contents are encrypted.
    pub fn push_name(&mut self, member: &Location, name: &str) {
        if let Location::Attachment(path) = member {
            let file = name.rsplit(['/', '\\']).next().unwrap_or(name);
            self.push(Segment::text(
                Location::AttachmentName(path.clone()),
                file.to_string(),
            ));
        }
    }

    /// Keeps an encrypted file for the password test (at most a few, 32 MB in all).
    pub fn lock(&mut self, l: Locked) {
        let held: usize = self.locked.iter().map(Locked::size).sum();
        if self.locked.len() < 8 && held + l.size() <= 32 << 20 {
            self.locked.push(l);
        }
    }

    /// Records a part that is listed but is no reason to hold mail (an image).
    pub fn listed(&mut self, location: Location, why: String) {
        self.not_scanned.push(NotScanned {
            location: location.to_string(),
            why,
            incomplete: false,
        });
    }
}

/// The location of a member of a container (archive entry, attachment of an Outlook
/// message): `attachment:outer.zip/inner.csv`. Names lose leading slashes and parent steps
/// ("zip-slip" names are only names here: nothing is written to disk).
pub fn member_location(parent: &Location, name: &str) -> Location {
    let safe = name
        .split(['/', '\\'])
        .filter(|p| !p.is_empty() && *p != ".." && *p != ".")
        .collect::<Vec<_>>()
        .join("/");
    Location::Attachment(format!(
        "{}/{}",
        match parent {
            Location::Attachment(p) => p.as_str(),
            _ => "",
        },
        safe
    ))
}

/// One attachment format.
pub trait Extractor: Sync {
    /// Reads `bytes` (already judged to be this extractor's format) at `location`.
    fn extract(&self, location: &Location, bytes: &[u8], depth: usize, sink: &mut Sink);
}

/// Reads an attachment of any format into the sink.
pub fn attachment(location: &Location, bytes: &[u8], depth: usize, sink: &mut Sink) {
    if let Some(why) = sink.budget.exhausted() {
        sink.not_read(location.clone(), why);
        return;
    }
    if bytes.is_empty() {
        return;
    }
    let format = sniff(bytes);
    match format {
        Format::Text => text::Delimited.extract(location, bytes, depth, sink),
        Format::Html => text::Html.extract(location, bytes, depth, sink),
        Format::Rtf => text::Rtf.extract(location, bytes, depth, sink),
        Format::Rfc822 => text::Rfc822.extract(location, bytes, depth, sink),
        Format::Image(kind) => image::extract(location, bytes, kind, sink),
        Format::Pdf => pdf::extract(location, bytes, sink),
        Format::Zip => archive::Zip.extract(location, bytes, depth, sink),
        Format::Cfb => cfb::extract(location, bytes, depth, sink),
        Format::SevenZip => seven_zip(location, bytes, sink),
        Format::Binary => sink.not_read(location.clone(), "unrecognised binary file".into()),
    }
}

/// 7-Zip: not unpacked. An archive whose headers are encrypted (no readable file list) is
/// reported as protected; any other is listed as not read, so the fail mode decides.
fn seven_zip(location: &Location, bytes: &[u8], sink: &mut Sink) {
    // The start header points at the next header; an encoded header (0x17) whose coder is
    // AES (06 F1 07 01) means the file names and contents are encrypted.
    let aes = bytes.windows(4).any(|w| w == [0x06, 0xF1, 0x07, 0x01]);
    if aes {
        sink.encrypted
            .push((location.clone(), "7-Zip AES-256 encryption".into()));
    } else {
        sink.not_read(
            location.clone(),
            "7-Zip archive: this format is not unpacked".into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_ignores_names() {
        assert_eq!(sniff(b"%PDF-1.7\n"), Format::Pdf);
        assert_eq!(sniff(b"PK\x03\x04rest"), Format::Zip);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n"), Format::Image("PNG"));
        assert_eq!(sniff(b"UPN,Forename\nB1,Olivia\n"), Format::Text);
        assert_eq!(sniff(b"<html><body>x</body></html>"), Format::Html);
        assert_eq!(
            sniff(b"From: a@b.c\r\nSubject: x\r\n\r\nbody"),
            Format::Rfc822
        );
        assert_eq!(sniff(b"{\\rtf1\\ansi x}"), Format::Rtf);
        assert_eq!(sniff(&[0u8, 1, 2, 3, 0, 0, 7, 8]), Format::Binary);
    }
}
