//! The school directory: every school of the trust, its pupils (names, identifiers, dates of
//! birth, their own and their contacts' addresses) and its staff, indexed for the scanner.
//!
//! This module owns the in-memory model and its lookups; `roster_csv`, `ctf` and `staff` read
//! the MIS exports into it. The directory is personal data: nothing here prints it, and
//! `Display`-like helpers only ever return masked names.

mod ctf;
pub mod headers;
mod intern;
mod roster_csv;
mod staff;

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rustc_hash::FxHashSet;

pub use intern::{Interner, MultiMap};

use crate::config::Config;
use crate::text::{mask_name, name_key};

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

/// Index of a pupil in [`Directory::pupils`].
pub type PupilId = u32;
/// Index of a member of staff in [`Directory::staff`].
pub type StaffId = u32;

/// Marks "no string" in the compact records.
pub const NONE: u32 = u32::MAX;

/// One pupil, compactly: names are ids of folded keys in [`Directory::keys`].
#[derive(Debug, Clone)]
pub struct Pupil {
    pub school: u16,
    pub legal_forename: u32,
    pub legal_surname: u32,
    pub preferred_forename: u32,
    pub preferred_surname: u32,
    /// Folded middle names, space separated (key id) or [`NONE`].
    pub middle_names: u32,
    pub dob: Option<NaiveDate>,
    pub upn: Option<[u8; 13]>,
    pub uln: Option<u64>,
    /// Admission number without leading zeros (key id) or [`NONE`].
    pub adno: u32,
    /// Source line in the roster file (for `roster show`).
    pub line: u32,
}

/// One member of staff.
#[derive(Debug, Clone)]
pub struct Staff {
    pub school: u16,
    pub forename: u32,
    pub surname: u32,
}

/// Who an email address belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A pupil's school address.
    Pupil(PupilId),
    /// A pupil's personal address (known to the school).
    PupilPersonal(PupilId),
    /// A parent or carer listed as a contact of this pupil.
    Contact(PupilId),
    /// A member of staff's school address.
    Staff(StaffId),
    /// A personal address of a member of staff (known to the school).
    StaffPersonal(StaffId),
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

/// The whole trust's directory.
#[derive(Default)]
pub struct Directory {
    pub pupils: Vec<Pupil>,
    pub staff: Vec<Staff>,
    /// Folded name keys ("obrien smith"), admission numbers, addresses.
    pub keys: Interner,
    /// Names as written in the MIS (for `--unmasked` and masking), by key id.
    display: rustc_hash::FxHashMap<u32, u32>,
    display_names: Interner,
    /// (forename key, surname key) → pupils, over legal and preferred combinations.
    pairs: MultiMap<u64>,
    /// Forename keys of pupils (what the name detector looks for first).
    forenames: FxHashSet<u32>,
    /// Surname keys of pupils.
    surnames: FxHashSet<u32>,
    /// Admission number key → pupils.
    adnos: MultiMap<u32>,
    /// Address key → owners.
    addresses: MultiMap<u32>,
    owners: Vec<Owner>,
    owner_ids: rustc_hash::FxHashMap<Owner, u32>,
    /// (forename key, surname key) of staff.
    staff_names: FxHashSet<u64>,
    pub stats: Vec<SchoolStats>,
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

pub fn pair_key(forename: u32, surname: u32) -> u64 {
    ((forename as u64) << 32) | surname as u64
}

/// Lower-cases an address and trims angle brackets and spaces; `None` if it has no `@`.
pub fn normalise_address(a: &str) -> Option<String> {
    let a = a
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    let (local, domain) = a.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() || domain.contains(char::is_whitespace) {
        return None;
    }
    Some(a.to_lowercase())
}

impl Directory {
    /// Loads every school's roster and staff file named in the config.
    pub fn load(config: &Config) -> Result<Directory, DirectoryError> {
        let mut dir = Directory::default();
        for (i, school) in config.schools.iter().enumerate() {
            let mut stats = SchoolStats::default();
            let roster = config.resolve(&school.roster);
            let records = read_roster(&roster, &mut stats)?;
            for r in records {
                dir.add_pupil(i as u16, r);
                stats.pupils += 1;
            }
            if let Some(staff) = &school.staff {
                let path = config.resolve(staff);
                for s in staff::read_staff(&path, &mut stats)? {
                    dir.add_staff(i as u16, s);
                    stats.staff += 1;
                }
            }
            dir.stats.push(stats);
        }
        let contacts: Vec<usize> = (0..config.schools.len())
            .map(|i| dir.count_contacts(i as u16))
            .collect();
        for (s, c) in dir.stats.iter_mut().zip(contacts) {
            s.contacts = c;
        }
        dir.shrink();
        Ok(dir)
    }

    fn shrink(&mut self) {
        self.pupils.shrink_to_fit();
        self.keys.shrink_to_fit();
        self.display_names.shrink_to_fit();
        self.pairs.shrink_to_fit();
        self.adnos.shrink_to_fit();
        self.addresses.shrink_to_fit();
        self.owners.shrink_to_fit();
        self.owner_ids = Default::default();
    }

    fn name(&mut self, written: &str) -> u32 {
        let key = name_key(written);
        if key.is_empty() {
            return NONE;
        }
        let id = self.keys.intern(&key);
        if !self.display.contains_key(&id) {
            let d = self.display_names.intern(written.trim());
            self.display.insert(id, d);
        }
        id
    }

    fn owner(&mut self, o: Owner) -> u32 {
        let next = self.owners.len() as u32;
        *self.owner_ids.entry(o).or_insert_with(|| {
            self.owners.push(o);
            next
        })
    }

    fn add_address(&mut self, address: &str, o: Owner) {
        if let Some(a) = normalise_address(address) {
            let k = self.keys.intern(&a);
            let oid = self.owner(o);
            self.addresses.insert(k, oid);
        }
    }

    /// Adds one pupil record to the indexes.
    pub fn add_pupil(&mut self, school: u16, r: PupilRecord) -> PupilId {
        let id = self.pupils.len() as PupilId;
        let legal_forename = self.name(&r.legal_forename);
        let legal_surname = self.name(&r.legal_surname);
        let preferred_forename = self.name(&r.preferred_forename);
        let preferred_surname = self.name(&r.preferred_surname);
        let middle = name_key(&r.middle_names);
        let middle_names = if middle.is_empty() {
            NONE
        } else {
            self.keys.intern(&middle)
        };
        let adno_t = r.adno.trim().trim_start_matches('0');
        let adno = if adno_t.is_empty() {
            NONE
        } else {
            let k = self.keys.intern(adno_t);
            self.adnos.insert(k, id);
            k
        };
        for f in [legal_forename, preferred_forename] {
            if f == NONE {
                continue;
            }
            self.forenames.insert(f);
            for s in [legal_surname, preferred_surname] {
                if s != NONE {
                    self.pairs.insert(pair_key(f, s), id);
                }
            }
        }
        for s in [legal_surname, preferred_surname] {
            if s != NONE {
                self.surnames.insert(s);
            }
        }
        for a in &r.pupil_email {
            self.add_address(a, Owner::Pupil(id));
        }
        for a in &r.personal_email {
            self.add_address(a, Owner::PupilPersonal(id));
        }
        for a in &r.contact_email {
            self.add_address(a, Owner::Contact(id));
        }
        self.pupils.push(Pupil {
            school,
            legal_forename,
            legal_surname,
            preferred_forename,
            preferred_surname,
            middle_names,
            dob: r.dob,
            upn: r.upn,
            uln: r.uln,
            adno,
            line: r.line.min(u32::MAX as u64) as u32,
        });
        id
    }

    /// Adds one member of staff.
    pub fn add_staff(&mut self, school: u16, s: StaffRecord) -> StaffId {
        let id = self.staff.len() as StaffId;
        let forename = self.name(&s.forename);
        let surname = self.name(&s.surname);
        if forename != NONE && surname != NONE {
            self.staff_names.insert(pair_key(forename, surname));
        }
        self.add_address(&s.email, Owner::Staff(id));
        for p in &s.personal_email {
            self.add_address(p, Owner::StaffPersonal(id));
        }
        self.staff.push(Staff {
            school,
            forename,
            surname,
        });
        id
    }

    fn count_contacts(&self, school: u16) -> usize {
        let mut seen = FxHashSet::default();
        for (k, _) in self.addresses.iter() {
            for o in self.addresses.get(k) {
                if let Owner::Contact(p) = self.owners[*o as usize]
                    && self.pupils[p as usize].school == school
                {
                    seen.insert(*k);
                }
            }
        }
        seen.len()
    }

    // ---- lookups for the scanner and the policy ----

    /// The key id of a folded name, if any pupil or member of staff has it.
    pub fn key_id(&self, key: &str) -> Option<u32> {
        self.keys.get(key)
    }

    pub fn is_forename(&self, key: u32) -> bool {
        self.forenames.contains(&key)
    }

    pub fn is_surname(&self, key: u32) -> bool {
        self.surnames.contains(&key)
    }

    /// All pupil forename keys (folded), for building the name detector's automaton.
    pub fn forename_keys(&self) -> impl Iterator<Item = &str> {
        self.forenames.iter().map(|id| self.keys.resolve(*id))
    }

    /// Pupils with this forename and surname (legal or preferred).
    pub fn pupils_named(&self, forename: u32, surname: u32) -> &[PupilId] {
        self.pairs.get(&pair_key(forename, surname))
    }

    /// Pupils with this admission number (leading zeros ignored).
    pub fn pupils_with_adno(&self, adno: &str) -> &[PupilId] {
        match self.keys.get(adno.trim_start_matches('0')) {
            Some(k) => self.adnos.get(&k),
            None => &[],
        }
    }

    /// Whether a forename + surname pair is a member of staff's name.
    pub fn is_staff_name(&self, forename: &str, surname: &str) -> bool {
        match (
            self.keys.get(&name_key(forename)),
            self.keys.get(&name_key(surname)),
        ) {
            (Some(f), Some(s)) => self.staff_names.contains(&pair_key(f, s)),
            _ => false,
        }
    }

    /// Who owns an address (any case, with or without angle brackets).
    pub fn owners_of(&self, address: &str) -> Vec<Owner> {
        let Some(a) = normalise_address(address) else {
            return Vec::new();
        };
        match self.keys.get(&a) {
            Some(k) => self
                .addresses
                .get(&k)
                .iter()
                .map(|o| self.owners[*o as usize])
                .collect(),
            None => Vec::new(),
        }
    }

    pub fn pupil(&self, id: PupilId) -> &Pupil {
        &self.pupils[id as usize]
    }

    /// The pupil's name as the MIS wrote it (legal forename, legal surname). Personal data.
    pub fn full_name_unmasked(&self, id: PupilId) -> String {
        let p = self.pupil(id);
        format!(
            "{} {}",
            self.written(p.legal_forename),
            self.written(p.legal_surname)
        )
    }

    /// The pupil's name masked: "O**** S****".
    pub fn masked_name(&self, id: PupilId) -> String {
        mask_name(&self.full_name_unmasked(id))
    }

    /// The written form of a name key.
    pub fn written(&self, key: u32) -> &str {
        if key == NONE {
            return "";
        }
        match self.display.get(&key) {
            Some(d) => self.display_names.resolve(*d),
            None => self.keys.resolve(key),
        }
    }

    pub fn resolve_key(&self, key: u32) -> &str {
        if key == NONE {
            ""
        } else {
            self.keys.resolve(key)
        }
    }

    pub fn staff_member(&self, id: StaffId) -> &Staff {
        &self.staff[id as usize]
    }
}

/// Reads a roster: a DfE CTF (XML) or a MIS CSV export, judged from the content.
pub fn read_roster(
    path: &Path,
    stats: &mut SchoolStats,
) -> Result<Vec<PupilRecord>, DirectoryError> {
    let bytes = std::fs::read(path).map_err(|source| DirectoryError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = decode_text(&bytes);
    if text.trim_start().starts_with('<') {
        ctf::read_ctf(path, &text, stats)
    } else {
        roster_csv::read_roster_csv(path, &text, stats)
    }
}

/// Decodes an export: UTF-8 (BOM or not), UTF-16 with a BOM, else Windows-1252.
pub fn decode_text(bytes: &[u8]) -> String {
    if let Some((enc, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, _) = enc.decode_without_bom_handling(&bytes[bom..]);
        return text.into_owned();
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}

/// Parses a date of birth in the forms MIS exports use: 2013-03-12, 12/03/2013, 12-03-2013,
/// 12.03.2013, and a leading date of a date-time ("2013-03-12T00:00:00").
pub fn parse_dob(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dob_forms() {
        let d = NaiveDate::from_ymd_opt(2013, 3, 12).unwrap();
        for s in [
            "2013-03-12",
            "12/03/2013",
            "12-03-2013",
            "12.03.2013",
            "2013-03-12T00:00:00",
        ] {
            assert_eq!(parse_dob(s), Some(d), "{s}");
        }
        assert_eq!(parse_dob("31/02/2013"), None);
        assert_eq!(parse_dob("12/03/13"), None);
        assert_eq!(parse_dob("soon"), None);
    }

    #[test]
    fn decoding() {
        assert_eq!(decode_text(b"\xef\xbb\xbfZo\xc3\xab"), "Zoë");
        assert_eq!(decode_text(b"Zo\xeb"), "Zoë");
        assert_eq!(decode_text(b"\xff\xfeZ\x00o\x00"), "Zo");
    }

    #[test]
    fn index_and_lookup() {
        let mut d = Directory::default();
        let id = d.add_pupil(
            0,
            PupilRecord {
                legal_forename: "Zoë".into(),
                legal_surname: "O’Brien-Smith".into(),
                preferred_forename: "Zoe".into(),
                adno: "001234".into(),
                contact_email: vec!["Mum@Example.com".into()],
                ..Default::default()
            },
        );
        let f = d.key_id("zoe").unwrap();
        let s = d.key_id("obrien smith").unwrap();
        assert_eq!(d.pupils_named(f, s), &[id]);
        assert_eq!(d.pupils_with_adno("1234"), &[id]);
        assert_eq!(d.pupils_with_adno("01234"), &[id]);
        assert_eq!(d.owners_of("<mum@example.COM>"), vec![Owner::Contact(id)]);
        assert_eq!(d.masked_name(id), "Z**** O**** S****");
        assert_eq!(d.full_name_unmasked(id), "Zoë O’Brien-Smith");
    }
}
