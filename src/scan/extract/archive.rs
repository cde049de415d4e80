//! The ZIP container reader (zip crate), the bottom of the chain container → parts → text:
//! which kind of ZIP this is (a plain archive, Office Open XML, OpenDocument), how each entry
//! is protected, and members read within the limits. It reads no format itself: `extract`
//! unpacks plain archives (members read as attachments of their own) and hands documents to
//! `office`, which reads their parts with `sheets`, `pivot` and `sheetml`.
//!
//! Encryption is judged per entry (ZipCrypto — weak — or WinZip AES). Hostile archives are
//! normal input: member count, depth, unpacked bytes and compression ratio are bounded, and
//! the actual bytes read are counted (declared sizes can lie); what is not read is listed.

use std::io::{Cursor, Read};

use zip::HasZipMetadata;

use super::sink::Sink;

pub type Archive<'a> = zip::ZipArchive<Cursor<&'a [u8]>>;

/// What kind of ZIP this is, from its member names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZipKind {
    Ooxml,
    OpenDocument,
    Archive,
}

pub fn zip_kind(names: &[String]) -> ZipKind {
    if names.iter().any(|n| n == "[Content_Types].xml") {
        ZipKind::Ooxml
    } else if names.iter().any(|n| n == "mimetype")
        && names
            .iter()
            .any(|n| n == "content.xml" || n == "META-INF/manifest.xml")
    {
        ZipKind::OpenDocument
    } else {
        ZipKind::Archive
    }
}

/// How a ZIP entry is protected.
pub fn entry_protection(archive: &mut zip::ZipArchive<Cursor<&[u8]>>, i: usize) -> Option<String> {
    let f = archive.by_index_raw(i).ok()?;
    if !f.encrypted() {
        return None;
    }
    Some(match f.get_metadata().aes_settings() {
        Some((mode, _)) => format!("{} ZIP encryption", aes_name(mode)),
        None => "ZipCrypto ZIP encryption (weak: breakable without the password)".to_string(),
    })
}

fn aes_name(mode: zip::AesMode) -> &'static str {
    match mode {
        zip::AesMode::Aes128 => "AES-128",
        zip::AesMode::Aes192 => "AES-192",
        zip::AesMode::Aes256 => "AES-256",
    }
}

/// Reads one member, bounded by the budget and the compression ratio.
pub fn read_member(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    i: usize,
    sink: &mut Sink,
) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    unpack_member(archive, i, sink, Some(&mut buf))?;
    Ok(buf)
}

/// Unpacks one member into `out` (or nowhere when only its real size is checked), bounded by
/// the budget and the compression ratio; its unpacked size.
pub fn unpack_member(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    i: usize,
    sink: &mut Sink,
    out: Option<&mut Vec<u8>>,
) -> Result<u64, String> {
    let mut f = archive
        .by_index(i)
        .map_err(|e| format!("cannot open member: {e}"))?;
    let limits = sink.budget.limits().clone();
    let left = limits
        .max_unpacked_bytes
        .saturating_sub(sink.budget.unpacked_bytes);
    let ratio_cap = (f.compressed_size().max(1)).saturating_mul(limits.max_ratio);
    let cap = (left as u64)
        .min(ratio_cap.max(64 * 1024))
        .min(limits.max_member_bytes as u64);
    // The header's size (which may lie) only sizes the buffer, within the cap.
    let declared = f.size().min(cap);
    let mut member = (&mut f).take(cap + 1);
    let n = match out {
        Some(buf) => {
            buf.reserve(usize::try_from(declared).unwrap_or(0));
            member.read_to_end(buf).map(|n| n as u64)
        }
        None => std::io::copy(&mut member, &mut std::io::sink()),
    }
    .map_err(|e| format!("cannot read member: {e}"))?;
    sink.budget.unpacked_bytes += n as usize;
    if n > cap {
        return Err(if cap == ratio_cap.max(64 * 1024) {
            format!(
                "compression ratio over {}:1 (a ZIP bomb?)",
                limits.max_ratio
            )
        } else {
            "unpacked size over the limit".to_string()
        });
    }
    Ok(n)
}

/// Whether `password` opens the locked ZIP entries: a wrong ZipCrypto password is caught by
/// its check byte or the CRC, a wrong AES one by its verifier or the HMAC.
pub fn password_opens(bytes: &[u8], entries: &[usize], password: &str, max_bytes: u64) -> bool {
    let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(bytes)) else {
        return false;
    };
    for &i in entries.iter().take(3) {
        let Ok(f) = archive.by_index_decrypt(i, password.as_bytes()) else {
            return false;
        };
        let mut sink = std::io::sink();
        if std::io::copy(&mut f.take(max_bytes), &mut sink).is_err() {
            return false;
        }
    }
    !entries.is_empty()
}
