//! ZIP containers (zip crate): plain archives (members recursed, nested archives too), and the
//! ZIP-based document formats, handed to `office`: Office Open XML (docx, xlsx, pptx) and
//! OpenDocument (odt, ods, odp).
//!
//! Encryption is judged per entry (ZipCrypto — weak — or WinZip AES). Hostile archives are
//! normal input: member count, depth, unpacked bytes and compression ratio are bounded, and
//! the actual bytes read are counted (declared sizes can lie); what is not read is listed.

use std::io::{Cursor, Read};

use zip::HasZipMetadata;

use super::{Extractor, Locked, Sink, office};
use crate::scan::Location;

pub struct Zip;

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

impl Extractor for Zip {
    fn extract(&self, location: &Location, bytes: &[u8], depth: usize, sink: &mut Sink) {
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
                self.extract(&loc, prefix, depth + 1, sink);
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
        match zip_kind(&names) {
            ZipKind::Ooxml => return office::ooxml(location, &mut archive, &names, depth, sink),
            ZipKind::OpenDocument => {
                return office::odf(location, &mut archive, &names, depth, sink);
            }
            ZipKind::Archive => {}
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
            let member = super::member_location(location, name);
            // Member names are not encrypted, even in an encrypted archive.
            sink.push_name(&member, name);
            if let Some(how) = entry_protection(&mut archive, i) {
                sink.encrypted.push((member, how));
                locked_entries.push(i);
                continue;
            }
            if let Some(why) = sink.budget.exhausted() {
                sink.not_read(member, why);
                break;
            }
            match read_member(&mut archive, i, sink) {
                Ok(data) => super::attachment(&member, &data, depth + 1, sink),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_slip_names_are_tamed() {
        let z = Location::Attachment("z.zip".into());
        let at = |n: &str| super::super::member_location(&z, n).to_string();
        assert_eq!(at("../../etc/passwd"), "attachment:z.zip/etc/passwd");
        assert_eq!(at("/abs/x.csv"), "attachment:z.zip/abs/x.csv");
        assert_eq!(at("a\\..\\b.txt"), "attachment:z.zip/a/b.txt");
    }
}
