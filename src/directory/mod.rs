//! The school directory: every school of the trust, its pupils (names, identifiers, dates of
//! birth, their own and their contacts' addresses) and its staff, indexed for the scanner.
//!
//! This module owns the in-memory model and its lookups; `roster_csv`, `ctf` and `staff` read
//! the MIS exports into it. The directory is personal data: nothing here prints it, and
//! `Display`-like helpers only ever return masked names.

mod ctf;
pub mod headers;
mod intern;
mod records;
mod roster_csv;
mod staff;

use std::hash::BuildHasher;
use std::path::Path;

use chrono::NaiveDate;
use rustc_hash::FxHashSet;

pub use intern::{Interner, MultiMap, SortedMultiMap};
pub use records::{
    DirectoryError, PupilRecord, RowIssue, SchoolStats, StaffRecord, decode_text, parse_dob,
    parse_uln, parse_upn,
};

use crate::settings::Site;
use crate::text::{mask_name, name_key};

/// Index of a pupil in [`Directory::pupils`].
pub type PupilId = u32;
/// Index of a member of staff in [`Directory::staff`].
pub type StaffId = u32;

/// Marks "no string" in the compact records.
pub const NONE: u32 = u32::MAX;

/// Marks "no admission number".
pub const NO_ADNO: u64 = u64::MAX;

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
    /// Admission number key (see [`adno_key`]) or [`NO_ADNO`].
    pub adno: u64,
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

impl Owner {
    /// Packs an owner into a `u32`: kind in the top 3 bits, index below.
    fn pack(self) -> u32 {
        let (kind, id) = match self {
            Owner::Pupil(i) => (0, i),
            Owner::PupilPersonal(i) => (1, i),
            Owner::Contact(i) => (2, i),
            Owner::Staff(i) => (3, i),
            Owner::StaffPersonal(i) => (4, i),
        };
        debug_assert!(id < 1 << 29);
        (kind << 29) | id
    }

    fn unpack(v: u32) -> Owner {
        let id = v & ((1 << 29) - 1);
        match v >> 29 {
            0 => Owner::Pupil(id),
            1 => Owner::PupilPersonal(id),
            2 => Owner::Contact(id),
            3 => Owner::Staff(id),
            _ => Owner::StaffPersonal(id),
        }
    }
}

/// An admission number's comparison form.
pub enum AdnoKey<'a> {
    None,
    /// All digits: the number (so "001234" = "1234").
    Number(u64),
    /// Anything else, trimmed, leading zeros dropped.
    Text(&'a str),
}

pub fn adno_key(s: &str) -> AdnoKey<'_> {
    let t = s.trim().trim_start_matches('0');
    if t.is_empty() {
        return AdnoKey::None;
    }
    if t.len() <= 18 && t.bytes().all(|b| b.is_ascii_digit()) {
        return AdnoKey::Number(t.parse().expect("digits"));
    }
    AdnoKey::Text(t)
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
    /// Names as written → key id: a roster repeats the same few thousand names.
    written_ids: rustc_hash::FxHashMap<Box<str>, u32>,
    /// (forename key, surname key) → pupils, over legal and preferred combinations.
    pairs: MultiMap<u64>,
    /// Forename keys of pupils (what the name detector looks for first).
    forenames: FxHashSet<u32>,
    /// UPN (keyed hash) → pupils; ULN → pupils.
    upns: SortedMultiMap<u64>,
    ulns: SortedMultiMap<u64>,
    /// Admission number key → pupils.
    adnos: SortedMultiMap<u64>,
    /// Admission numbers that are not plain digits, by key.
    adno_text: Interner,
    /// Address → owners, keyed by a per-process keyed (SipHash) hash of the normalised
    /// address: no address strings are kept, and collisions cannot be crafted from outside.
    /// (The same hasher keys UPNs.)
    addresses: SortedMultiMap<u64>,
    address_hasher: std::hash::RandomState,
    /// (forename key, surname key) of staff.
    staff_names: FxHashSet<u64>,
    pub stats: Vec<SchoolStats>,
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
    Some(if a.is_ascii() {
        a.to_ascii_lowercase()
    } else {
        a.to_lowercase()
    })
}

impl Directory {
    /// Loads every school's roster and staff file named in the config.
    pub fn load(site: &Site) -> Result<Directory, DirectoryError> {
        let mut dir = Directory::default();
        for (i, school) in site.schools.iter().enumerate() {
            let mut stats = SchoolStats::default();
            let roster = site.resolve(&school.roster);
            if let Ok(m) = std::fs::metadata(&roster) {
                // A roster row is rarely shorter than 100 bytes.
                dir.reserve_pupils((m.len() / 100).min(5_000_000) as usize);
            }
            // Parse on one thread and index on this one: the two halves take similar time.
            std::thread::scope(|scope| {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<PupilRecord>>(16);
                let stats = &mut stats;
                let reader = scope.spawn(move || {
                    let mut batch = Vec::with_capacity(1024);
                    let r = read_roster(&roster, stats, &mut |p| {
                        batch.push(p);
                        if batch.len() == 1024 {
                            let _ =
                                tx.send(std::mem::replace(&mut batch, Vec::with_capacity(1024)));
                        }
                    });
                    let _ = tx.send(batch);
                    r
                });
                for batch in rx {
                    for p in batch {
                        dir.add_pupil(i as u16, p);
                    }
                }
                reader.join().expect("roster reader thread")
            })?;
            stats.pupils = dir.pupils.iter().filter(|p| p.school == i as u16).count();
            if let Some(staff) = &school.staff {
                let path = site.resolve(staff);
                for s in staff::read_staff(&path, &mut stats)? {
                    dir.add_staff(i as u16, s);
                    stats.staff += 1;
                }
            }
            dir.stats.push(stats);
        }
        dir.finish();
        for i in 0..dir.stats.len() {
            dir.stats[i].contacts = dir.count_contacts(i as u16);
        }
        Ok(dir)
    }

    /// Completes the indexes after the last record; lookups need it.
    pub fn finish(&mut self) {
        self.pupils.shrink_to_fit();
        self.keys.shrink_to_fit();
        self.display_names.shrink_to_fit();
        self.written_ids = Default::default();
        self.pairs.shrink_to_fit();
        self.adnos.finish();
        self.upns.finish();
        self.ulns.finish();
        self.addresses.finish();
    }

    fn name(&mut self, written: &str) -> u32 {
        if written.is_empty() {
            return NONE;
        }
        if let Some(id) = self.written_ids.get(written) {
            return *id;
        }
        let id = self.name_uncached(written);
        self.written_ids.insert(written.into(), id);
        id
    }

    fn name_uncached(&mut self, written: &str) -> u32 {
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

    fn add_address(&mut self, address: &str, o: Owner) {
        if let Some(a) = normalise_address(address) {
            let k = self.address_hasher.hash_one(a.as_str());
            self.addresses.push(k, o.pack());
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
        let adno = match adno_key(&r.adno) {
            AdnoKey::None => NO_ADNO,
            AdnoKey::Number(n) => n,
            AdnoKey::Text(t) => (1 << 63) | self.adno_text.intern(t) as u64,
        };
        if adno != NO_ADNO {
            self.adnos.push(adno, id);
        }
        if let Some(u) = &r.upn {
            self.upns.push(self.address_hasher.hash_one(u), id);
        }
        if let Some(u) = r.uln {
            self.ulns.push(u, id);
        }
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

    /// Reserves room for about `n` more pupils (a roster's size is known from its file).
    pub fn reserve_pupils(&mut self, n: usize) {
        self.pupils.reserve(n);
        self.pairs.reserve(n * 5 / 4);
        self.adnos.reserve(n);
        self.addresses.reserve(n * 3);
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

    // ---- lookups for the scanner and the policy ----

    /// The key id of a folded name, if any pupil or member of staff has it.
    pub fn key_id(&self, key: &str) -> Option<u32> {
        self.keys.get(key)
    }

    pub fn is_forename(&self, key: u32) -> bool {
        self.forenames.contains(&key)
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
    pub fn pupils_with_adno(&self, adno: &str) -> Vec<PupilId> {
        let key = match adno_key(adno) {
            AdnoKey::None => return Vec::new(),
            AdnoKey::Number(n) => n,
            AdnoKey::Text(t) => match self.adno_text.get(t) {
                Some(id) => (1 << 63) | id as u64,
                None => return Vec::new(),
            },
        };
        self.adnos.get(&key).collect()
    }

    /// Pupils with this UPN (any case or spacing).
    pub fn pupils_with_upn(&self, upn: &str) -> Vec<PupilId> {
        // Already in canonical form (as the scanner's values are): no copy to normalise.
        let canonical = upn.len() == 13
            && upn
                .bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
        let n = if canonical {
            std::borrow::Cow::Borrowed(upn)
        } else {
            match crate::identifiers::normalise(upn) {
                Some(n) if n.len() == 13 => std::borrow::Cow::Owned(n),
                _ => return Vec::new(),
            }
        };
        let mut b = [0u8; 13];
        b.copy_from_slice(n.as_bytes());
        self.upns.get(&self.address_hasher.hash_one(b)).collect()
    }

    /// Pupils with this ULN.
    pub fn pupils_with_uln(&self, uln: &str) -> Vec<PupilId> {
        match crate::identifiers::normalise(uln).and_then(|n| n.parse::<u64>().ok()) {
            Some(n) => self.ulns.get(&n).collect(),
            None => Vec::new(),
        }
    }

    /// The admission number as text (leading zeros dropped).
    pub fn adno_written(&self, key: u64) -> String {
        match key {
            NO_ADNO => String::new(),
            k if k & (1 << 63) != 0 => self.adno_text.resolve((k & !(1 << 63)) as u32).into(),
            k => k.to_string(),
        }
    }

    /// Distinct contact addresses of a school's pupils.
    fn count_contacts(&self, school: u16) -> usize {
        let mut n = 0;
        let mut last = None;
        for (k, o) in self.addresses.iter() {
            if let Owner::Contact(p) = Owner::unpack(*o)
                && self.pupils[p as usize].school == school
                && last != Some(*k)
            {
                n += 1;
                last = Some(*k);
            }
        }
        n
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

    /// Whether forename and surname key ids are a member of staff's name.
    pub fn is_staff_pair(&self, forename: u32, surname: u32) -> bool {
        self.staff_names.contains(&pair_key(forename, surname))
    }

    /// Who owns an address (any case, with or without angle brackets).
    pub fn owners_of(&self, address: &str) -> Vec<Owner> {
        let Some(a) = normalise_address(address) else {
            return Vec::new();
        };
        let k = self.address_hasher.hash_one(a.as_str());
        self.addresses.get(&k).map(Owner::unpack).collect()
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

/// Reads a roster: a DfE CTF (XML) or a MIS CSV export, judged from the content. Each pupil
/// is handed to `sink` as it is read, so a large roster is never held twice.
pub fn read_roster(
    path: &Path,
    stats: &mut SchoolStats,
    sink: &mut dyn FnMut(PupilRecord),
) -> Result<(), DirectoryError> {
    let bytes = std::fs::read(path).map_err(|source| DirectoryError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = decode_text(bytes);
    if text.trim_start().starts_with('<') {
        ctf::read_ctf(path, &text, stats, sink)
    } else {
        roster_csv::read_roster_csv(path, &text, stats, sink)
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
        assert_eq!(decode_text(b"\xef\xbb\xbfZo\xc3\xab".to_vec()), "Zoë");
        assert_eq!(decode_text(b"Zo\xeb".to_vec()), "Zoë");
        assert_eq!(decode_text(b"\xff\xfeZ\x00o\x00".to_vec()), "Zo");
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
        d.finish();
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
