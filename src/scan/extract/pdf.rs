//! PDF (lopdf): the text of every page (FlateDecode and the other filters lopdf decodes,
//! ToUnicode maps, object streams, incremental updates), and the protection judged from the
//! `/Encrypt` dictionary: a PDF that needs a user password is encrypted; one with only an
//! owner (permissions) password opens without one, so it is read like any other.

use lopdf::{Document, LoadOptions};

use super::{Locked, Sink};
use crate::scan::{Location, Segment};

pub fn extract(location: &Location, bytes: &[u8], sink: &mut Sink) {
    let limits = sink.budget.limits().clone();
    let options = LoadOptions {
        max_decompressed_size: Some(limits.max_member_bytes),
        ..LoadOptions::default()
    };
    let doc = match Document::load_mem_with_options(bytes, options) {
        Ok(d) => d,
        Err(e) => {
            sink.not_read(location.clone(), format!("damaged PDF: {e}"));
            return;
        }
    };
    if doc.is_encrypted() && doc.authenticate_password("").is_err() {
        sink.encrypted
            .push((location.clone(), "PDF user password".into()));
        sink.lock(Locked::Pdf {
            location: location.clone(),
            bytes: bytes.to_vec(),
        });
        return;
    }
    if doc.objects.len() > limits.max_pdf_objects {
        sink.not_read(
            location.clone(),
            format!(
                "PDF with {} objects: more than the {} read",
                doc.objects.len(),
                limits.max_pdf_objects
            ),
        );
        return;
    }
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    if pages.is_empty() {
        sink.not_read(location.clone(), "PDF without a readable page tree".into());
        return;
    }
    for n in pages {
        if let Some(why) = sink.budget.exhausted() {
            sink.not_read(location.clone(), why);
            return;
        }
        match doc.extract_text_with_limit(&[n], limits.max_member_bytes) {
            Ok(t) => sink.push(Segment::text(location.clone(), t)),
            Err(e) => sink.not_read(location.clone(), format!("PDF page {n}: {e}")),
        }
    }
}

/// Which of `passwords` (if any) is the PDF's user password; the file is parsed once.
pub fn password_opens(bytes: &[u8], passwords: &[&str]) -> Option<usize> {
    let doc = Document::load_mem(bytes).ok()?;
    if !doc.is_encrypted() {
        return None;
    }
    passwords
        .iter()
        .position(|p| doc.authenticate_password(p).is_ok())
}
