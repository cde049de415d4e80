//! Attachment extractors: bytes in, text [`Segment`](crate::scan::segment::Segment)s (with table structure where the format
//! has it) out, or a `not_scanned` entry saying why not.
//!
//! The type always comes from the bytes ([`sniff`]), never from the file name or declared
//! MIME type, so a renamed file hides nothing. Each format is an `Extractor`; what no
//! extractor can read (a 7-Zip archive, an unknown binary, a picture past the OCR limits) is
//! listed as not scanned and the fail mode decides — never reported as clean. Pictures are
//! read by OCR ([`crate::scan::ocr`]).
//!
//! The files form a one-way chain: `sniff` and `sink` are leaves; the container reader
//! (`archive`, ZIP) sits under the parts (`sheetml`, `sheets`, `pivot`), which sit under
//! the document text (`office`); `cfb` reads compound files with `legacy`, `sheets` and
//! `outlook`. This module is the top: it dispatches ([`attachment`]) and unpacks plain ZIP
//! archives. A container's members come back up through the sink's [`Opener`] (set by
//! `scan::mime`), never by an extractor importing this module.

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
mod sink;
mod sniff;
mod text;

pub use archive::password_opens as zip_password_opens;
pub use office_crypto::Verifier as OfficeVerifier;
pub use pdf::password_opens as pdf_password_opens;

pub use sink::{Locked, Open, Opener, Sink, member_location};
pub use sniff::{Format, sniff};

use std::io::Cursor;

use super::Location;
use sink::Extractor;

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
        Format::Zip => zip(location, bytes, depth, sink),
        Format::Cfb => cfb::extract(location, bytes, depth, sink),
        Format::SevenZip => seven_zip(location, bytes, sink),
        Format::Binary => sink.not_read(location.clone(), "unrecognised binary file".into()),
    }
}

/// A ZIP: a document in a ZIP container (OOXML, OpenDocument) goes to `office`; any other
/// archive is unpacked, each member read as an attachment of its own.
fn zip(location: &Location, bytes: &[u8], depth: usize, sink: &mut Sink) {
    let mut archive = match zip::ZipArchive::new(Cursor::new(bytes)) {
        Ok(a) => a,
        Err(e) => {
            sink.not_read(location.clone(), format!("damaged ZIP archive: {e}"));
            return;
        }
    };
    // Bytes before the archive (two ZIPs concatenated, a self-extractor): a reader sees
    // only the last central directory, so what comes first must be read on its own or
    // listed, never passed as clean.
    let offset = archive.offset() as usize;
    if offset > 0 {
        let prefix = &bytes[..offset.min(bytes.len())];
        let loc = Location::Attachment(format!(
            "{}(first {offset} bytes)",
            match location {
                Location::Attachment(p) => format!("{p}/"),
                _ => String::new(),
            }
        ));
        if prefix.starts_with(b"PK\x03\x04") && depth < sink.budget.limits().max_depth {
            zip(&loc, prefix, depth + 1, sink);
        } else {
            sink.not_read(loc, "data before the ZIP archive is not read".into());
        }
    }
    let names: Vec<String> = (0..archive.len().min(100_000))
        .map(|i| {
            archive
                .name_for_index(i)
                .and_then(Result::ok)
                .map(|n| n.into_owned())
                .unwrap_or_default()
        })
        .collect();
    match archive::zip_kind(&names) {
        archive::ZipKind::Ooxml => {
            return office::ooxml(location, &mut archive, &names, depth, sink);
        }
        archive::ZipKind::OpenDocument => {
            return office::odf(location, &mut archive, &names, depth, sink);
        }
        archive::ZipKind::Archive => {}
    }
    let limits = sink.budget.limits().clone();
    if depth + 1 > limits.max_depth {
        sink.not_read(location.clone(), "archives nested too deep".into());
        return;
    }
    if names.len() > limits.max_members {
        sink.not_read(
            location.clone(),
            format!(
                "{} members: more than the {} read",
                names.len(),
                limits.max_members
            ),
        );
    }
    let mut locked_entries = Vec::new();
    for (i, name) in names.iter().enumerate().take(limits.max_members) {
        if name.ends_with('/') {
            continue;
        }
        let member = member_location(location, name);
        // Member names are not encrypted, even in an encrypted archive.
        sink.push_name(&member, name);
        if let Some(how) = archive::entry_protection(&mut archive, i) {
            sink.encrypted.push((member, how));
            locked_entries.push(i);
            continue;
        }
        if let Some(why) = sink.budget.exhausted() {
            sink.not_read(member, why);
            break;
        }
        match archive::read_member(&mut archive, i, sink) {
            Ok(data) => attachment(&member, &data, depth + 1, sink),
            Err(why) => sink.not_read(member, why),
        }
    }
    if !locked_entries.is_empty() {
        sink.lock(Locked::Zip {
            location: location.clone(),
            bytes: bytes.to_vec(),
            entries: locked_entries,
        });
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
