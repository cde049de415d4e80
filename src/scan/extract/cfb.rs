//! OLE compound files (cfb crate): encrypted Office Open XML (an `EncryptionInfo` and an
//! `EncryptedPackage` stream: agile or standard encryption), legacy Excel (.xls, read by
//! calamine; its password flag), legacy Word (.doc: the FIB's fEncrypted flag) and
//! PowerPoint (.ppt: an `EncryptedSummary` stream). An encrypted OOXML file's password
//! verifier is kept for the password test. Legacy .doc/.ppt text is not read (no
//! well-kept crate): an unencrypted one is listed as not scanned, so the fail mode decides.

use std::io::{Cursor, Read};

use super::{Locked, Sink, office, office_crypto::Verifier};
use crate::scan::Location;

fn read_stream(cf: &mut cfb::CompoundFile<Cursor<&[u8]>>, path: &str, max: u64) -> Option<Vec<u8>> {
    let mut s = cf.open_stream(path).ok()?;
    let mut buf = Vec::new();
    (&mut s).take(max).read_to_end(&mut buf).ok()?;
    Some(buf)
}

pub fn extract(location: &Location, bytes: &[u8], sink: &mut Sink) {
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
        if let Some(wb) = read_stream(&mut cf, stream, 1 << 20)
            && xls_has_filepass(&wb)
        {
            sink.encrypted.push((
                location.clone(),
                "legacy Excel password encryption (RC4)".into(),
            ));
            return;
        }
        office::xls(location, bytes, sink);
        return;
    }
    if cf.exists("/WordDocument") {
        let fib = read_stream(&mut cf, "/WordDocument", 32).unwrap_or_default();
        let encrypted = fib.len() >= 12 && (u16::from_le_bytes([fib[10], fib[11]]) & 0x0100) != 0;
        if encrypted {
            sink.encrypted
                .push((location.clone(), "legacy Word password encryption".into()));
        } else {
            sink.not_read(
                location.clone(),
                "legacy Word (.doc) text is not read".into(),
            );
        }
        return;
    }
    if cf.exists("/PowerPoint Document") {
        if cf.exists("/EncryptedSummary") {
            sink.encrypted.push((
                location.clone(),
                "legacy PowerPoint password encryption".into(),
            ));
        } else {
            sink.not_read(
                location.clone(),
                "legacy PowerPoint (.ppt) text is not read".into(),
            );
        }
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
