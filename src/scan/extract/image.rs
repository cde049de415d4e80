//! Pictures (PNG, JPEG, GIF, BMP, WebP, TIFF with its pages; HEIC is named but not decoded):
//! their text read by OCR ([`crate::scan::ocr`]) and scanned like any other text, at
//! `attachment:NAME (image text)` (`… page N (image text)` for a TIFF's pages), tab-separated
//! lines as table rows. A picture too small to hold text is listed and is no reason to hold
//! mail; one that could not be read makes the scan incomplete.

use super::sink::Sink;
use crate::scan::ocr::{self, NoText};
use crate::scan::segment::Location;

pub fn extract(location: &Location, bytes: &[u8], kind: &'static str, sink: &mut Sink) {
    let settings = sink.budget.limits().ocr.clone();
    let deadline = sink.budget.ocr_deadline();
    match ocr::image(bytes, kind, &settings, deadline) {
        Ok(pages) => {
            for (page, text) in pages {
                let at = match page {
                    Some(n) => format!(" page {n} (image text)"),
                    None => " (image text)".to_string(),
                };
                sink.push_text(image_text(location, &at), text);
            }
        }
        Err(NoText::TooSmall(why)) => sink.listed(location.clone(), why),
        Err(NoText::NotRead(why)) => sink.not_read(location.clone(), why),
    }
}

/// Where text read from a picture at `location` is reported: the same place, marked
/// `suffix` (" (image text)", " page 3 (image text)").
pub fn image_text(location: &Location, suffix: &str) -> Location {
    match location {
        Location::Attachment(p) => Location::Attachment(format!("{p}{suffix}")),
        other => Location::Attachment(format!("{other}{suffix}")),
    }
}
