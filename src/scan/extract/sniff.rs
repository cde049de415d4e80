//! What an attachment is, judged from its bytes alone ([`sniff`]): never from its file name
//! or declared MIME type, so a renamed file hides nothing. A leaf of `extract`: it imports
//! no other extractor.

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
    if starts(b"BM") && b.len() > 14 && !looks_like_text(b) {
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
    if !looks_like_text(b) {
        return Format::Binary;
    }
    let head = String::from_utf8_lossy(&b[..b.len().min(2048)]).to_ascii_lowercase();
    let head_t = head.trim_start();
    if head_t.starts_with("<!doctype html") || head_t.starts_with("<html") || head.contains("<body")
    {
        return Format::Html;
    }
    if looks_like_rfc822(&head) {
        return Format::Rfc822;
    }
    Format::Text
}

/// Bytes that read as text: no NULs and few control characters in the first 8 KiB
/// (UTF-16 counts as text, with a BOM or without).
pub fn looks_like_text(b: &[u8]) -> bool {
    if crate::text::is_utf16(b) {
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
