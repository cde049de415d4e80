//! What a reader of an MIS export produces, before it is indexed: the pupil and staff
//! records, the per-school counts with the row problems found, the error for a file that
//! cannot be used; and the field parsers the readers share (text decoding, dates of birth,
//! UPN, ULN). A leaf of `directory`: the CSV, CTF and staff readers sit above it, the
//! directory above them.

use std::fmt;
use std::path::PathBuf;

use chrono::NaiveDate;

/// A problem with one row or field of an MIS export: the row is kept without that field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowIssue {
    pub file: PathBuf,
    pub line: u64,
    pub message: String,
}

impl fmt::Display for RowIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// A file that cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: u64,
        message: String,
    },
}

/// Per-school counts for `check-config` and `roster show`.
#[derive(Debug, Clone, Default)]
pub struct SchoolStats {
    pub pupils: usize,
    pub staff: usize,
    pub contacts: usize,
    pub rows_skipped: usize,
    pub issues: Vec<RowIssue>,
}

/// A pupil as read from an export, before it is indexed.
#[derive(Debug, Default, Clone)]
pub struct PupilRecord {
    pub legal_forename: String,
    pub legal_surname: String,
    pub preferred_forename: String,
    pub preferred_surname: String,
    pub middle_names: String,
    pub dob: Option<NaiveDate>,
    pub upn: Option<[u8; 13]>,
    pub uln: Option<u64>,
    pub adno: String,
    pub pupil_email: Vec<String>,
    pub personal_email: Vec<String>,
    pub contact_email: Vec<String>,
    pub line: u64,
}

/// A member of staff as read from the staff file.
#[derive(Debug, Default, Clone)]
pub struct StaffRecord {
    pub forename: String,
    pub surname: String,
    pub email: String,
    pub personal_email: Vec<String>,
}

/// Decodes an export: UTF-8 (BOM or not), UTF-16 (BOM or not), else Windows-1252.
pub fn decode_text(bytes: Vec<u8>) -> String {
    if let Some((enc, bom)) = encoding_rs::Encoding::for_bom(&bytes) {
        if enc == encoding_rs::UTF_8 && std::str::from_utf8(&bytes[bom..]).is_ok() {
            let mut bytes = bytes;
            bytes.drain(..bom);
            return String::from_utf8(bytes).expect("checked above");
        }
        let (text, _) = enc.decode_without_bom_handling(&bytes[bom..]);
        return text.into_owned();
    }
    if let Some(enc) = crate::text::utf16_unmarked(&bytes) {
        return enc.decode_without_bom_handling(&bytes).0.into_owned();
    }
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(e.as_bytes())
            .0
            .into_owned(),
    }
}

/// Parses a date of birth in the forms MIS exports use: 2013-03-12, 12/03/2013, 12-03-2013,
/// 12.03.2013, and a leading date of a date-time ("2013-03-12T00:00:00").
pub fn parse_dob(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if let Some(d) = parse_dob_fast(s.as_bytes()) {
        return Some(d);
    }
    let s = s.split(['T', ' ']).next().unwrap_or(s);
    for f in ["%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, f)
            && (1900..=2100).contains(&chrono::Datelike::year(&d))
        {
            return Some(d);
        }
    }
    None
}

/// dd/mm/yyyy and yyyy-mm-dd without a format parser (the common case in big rosters).
fn parse_dob_fast(b: &[u8]) -> Option<NaiveDate> {
    let num = |x: &[u8]| -> Option<u32> {
        x.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32)
        })
    };
    let (y, m, d) = match b {
        [d1, d2, b'/', m1, m2, b'/', y @ ..] if y.len() == 4 => {
            (num(y)?, num(&[*m1, *m2])?, num(&[*d1, *d2])?)
        }
        [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] => (
            num(&[*y1, *y2, *y3, *y4])?,
            num(&[*m1, *m2])?,
            num(&[*d1, *d2])?,
        ),
        _ => return None,
    };
    if !(1900..=2100).contains(&y) {
        return None;
    }
    NaiveDate::from_ymd_opt(y as i32, m, d)
}

/// Validates and packs a UPN field; `Err` with a message when it fails its check.
pub fn parse_upn(s: &str) -> Result<Option<[u8; 13]>, String> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    match crate::identifiers::normalise(s) {
        Some(n) if crate::identifiers::upn_valid_normalised(n.as_bytes()) => {
            let mut out = [0u8; 13];
            out.copy_from_slice(n.as_bytes());
            Ok(Some(out))
        }
        _ => Err(format!(
            "UPN {:?} fails its check letter; kept without it",
            crate::text::mask_id(s.trim())
        )),
    }
}

/// Validates a ULN field.
pub fn parse_uln(s: &str) -> Result<Option<u64>, String> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    match crate::identifiers::normalise(s) {
        Some(n) if crate::identifiers::uln_valid_normalised(n.as_bytes()) => Ok(n.parse().ok()),
        _ => Err(format!(
            "ULN {:?} fails its check digit; kept without it",
            crate::text::mask_id(s.trim())
        )),
    }
}
