//! OLE compound files (cfb crate): encrypted Office Open XML (an `EncryptionInfo` and an
//! `EncryptedPackage` stream: agile or standard encryption), legacy Excel (.xls, read by
//! calamine; its password flag), legacy Word (.doc: the FIB's fEncrypted flag) and
//! PowerPoint (.ppt: an `EncryptedSummary` stream), whose text [`super::legacy`] reads, and
//! Outlook messages (.msg, read by [`super::outlook`]). An encrypted OOXML file's password
//! verifier is kept for the password test.

use std::io::{Cursor, Read};

use super::sink::{Locked, Sink};
use super::{legacy, office_crypto::Verifier, outlook, sheets};
use crate::scan::segment::{Location, Segment};

/// At most this much of one stream is read (the text budget applies after).
const MAX_STREAM: u64 = 64 << 20;

fn read_stream(cf: &mut cfb::CompoundFile<Cursor<&[u8]>>, path: &str, max: u64) -> Option<Vec<u8>> {
    let mut s = cf.open_stream(path).ok()?;
    let mut buf = Vec::new();
    (&mut s).take(max).read_to_end(&mut buf).ok()?;
    Some(buf)
}

pub fn extract(location: &Location, bytes: &[u8], depth: usize, sink: &mut Sink) {
    let mut cf = match cfb::CompoundFile::open(Cursor::new(bytes)) {
        Ok(c) => c,
        Err(e) => {
            sink.not_read(location.clone(), format!("damaged OLE compound file: {e}"));
            return;
        }
    };
    if cf.exists("/EncryptionInfo") && cf.exists("/EncryptedPackage") {
        let how = match read_stream(&mut cf, "/EncryptionInfo", 8).as_deref() {
            Some([4, 0, 4, 0, ..]) => "Office agile encryption (AES)",
            Some([_, 0, 2, 0, ..]) => "Office standard encryption (AES-128)",
            Some([_, 0, 3, 0, ..]) => "Office extensible encryption",
            _ => "Office encryption",
        };
        sink.encrypted.push((location.clone(), how.into()));
        if let Some(verifier) = read_stream(&mut cf, "/EncryptionInfo", 64 << 10)
            .as_deref()
            .and_then(Verifier::parse)
        {
            sink.lock(Locked::Office {
                location: location.clone(),
                verifier,
            });
        }
        return;
    }
    if cf.exists("/Workbook") || cf.exists("/Book") {
        // calamine reports an encrypted workbook as an error; look for FILEPASS ourselves.
        let stream = if cf.exists("/Workbook") {
            "/Workbook"
        } else {
            "/Book"
        };
        let wb = read_stream(&mut cf, stream, MAX_STREAM).unwrap_or_default();
        if xls_has_filepass(&wb) {
            sink.encrypted.push((
                location.clone(),
                "legacy Excel password encryption (RC4)".into(),
            ));
            return;
        }
        sheets::xls(location, bytes, &sheets::xls_sheet_areas(&wb), sink);
        return;
    }
    if cf.exists("/WordDocument") {
        let word = read_stream(&mut cf, "/WordDocument", MAX_STREAM).unwrap_or_default();
        let flags = word.get(10..12).map(|f| u16::from_le_bytes([f[0], f[1]]));
        let Some(flags) = flags else {
            sink.not_read(location.clone(), "damaged Word document (no FIB)".into());
            return;
        };
        if flags & 0x0100 != 0 {
            sink.encrypted
                .push((location.clone(), "legacy Word password encryption".into()));
            return;
        }
        // fWhichTblStm: the piece table is in 1Table, else 0Table.
        let table_name = if flags & 0x0200 != 0 {
            "/1Table"
        } else {
            "/0Table"
        };
        let table = read_stream(&mut cf, table_name, MAX_STREAM).unwrap_or_default();
        match legacy::doc_text(&word, &table) {
            Ok((text, rows)) => {
                if !rows.is_empty() {
                    sink.push(Segment::table(location.clone(), rows));
                }
                sink.push(Segment::text(location.clone(), text));
            }
            Err(why) => sink.not_read(location.clone(), format!("legacy Word (.doc): {why}")),
        }
        return;
    }
    if cf.exists("/PowerPoint Document") {
        if cf.exists("/EncryptedSummary") {
            sink.encrypted.push((
                location.clone(),
                "legacy PowerPoint password encryption".into(),
            ));
            return;
        }
        match read_stream(&mut cf, "/PowerPoint Document", MAX_STREAM) {
            Some(stream) => sink.push(Segment::text(location.clone(), legacy::ppt_text(&stream))),
            None => sink.not_read(
                location.clone(),
                "legacy PowerPoint (.ppt): unreadable document stream".into(),
            ),
        }
        return;
    }
    if outlook::is_msg(&cf) {
        drop(cf);
        outlook::extract(location, bytes, depth, sink);
        return;
    }
    sink.not_read(location.clone(), "unrecognised OLE compound file".into());
}

/// A BIFF8 workbook stream whose first records include FILEPASS (0x002F): encrypted.
fn xls_has_filepass(wb: &[u8]) -> bool {
    let mut i = 0;
    for _ in 0..64 {
        if i + 4 > wb.len() {
            return false;
        }
        let id = u16::from_le_bytes([wb[i], wb[i + 1]]);
        let len = u16::from_le_bytes([wb[i + 2], wb[i + 3]]) as usize;
        if id == 0x002F {
            return true;
        }
        i += 4 + len;
    }
    false
}
