//! The scanner's result: findings (kind, location, count, masked evidence), what could not be
//! read, and the pupils the message names (for the policy's contact and bulk rules).
//!
//! Evidence is always masked; the report never carries a pupil's name or identifier in full.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::{FxHashMap, FxHashSet};

use serde::{Deserialize, Serialize};

use super::segment::Location;
use crate::directory::PupilId;

/// The public vocabulary of findings (DESIGN.md); names are stable in JSON, headers, metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    PupilName,
    Upn,
    Uln,
    AdmissionNumber,
    DateOfBirth,
    SpecialCategory,
    NhsNumber,
    NiNumber,
    PasswordInBody,
    UnencryptedPersonalAttachment,
    EncryptedAttachment,
    PersonalAccountToPupil,
    SchoolAccountToPupilPersonal,
    OutOfHoursPupilContact,
    PersonalCloudLink,
    BulkPupilData,
}

impl FindingKind {
    pub const ALL: [FindingKind; 16] = [
        FindingKind::PupilName,
        FindingKind::Upn,
        FindingKind::Uln,
        FindingKind::AdmissionNumber,
        FindingKind::DateOfBirth,
        FindingKind::SpecialCategory,
        FindingKind::NhsNumber,
        FindingKind::NiNumber,
        FindingKind::PasswordInBody,
        FindingKind::UnencryptedPersonalAttachment,
        FindingKind::EncryptedAttachment,
        FindingKind::PersonalAccountToPupil,
        FindingKind::SchoolAccountToPupilPersonal,
        FindingKind::OutOfHoursPupilContact,
        FindingKind::PersonalCloudLink,
        FindingKind::BulkPupilData,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::PupilName => "pupil_name",
            FindingKind::Upn => "upn",
            FindingKind::Uln => "uln",
            FindingKind::AdmissionNumber => "admission_number",
            FindingKind::DateOfBirth => "date_of_birth",
            FindingKind::SpecialCategory => "special_category",
            FindingKind::NhsNumber => "nhs_number",
            FindingKind::NiNumber => "ni_number",
            FindingKind::PasswordInBody => "password_in_body",
            FindingKind::UnencryptedPersonalAttachment => "unencrypted_personal_attachment",
            FindingKind::EncryptedAttachment => "encrypted_attachment",
            FindingKind::PersonalAccountToPupil => "personal_account_to_pupil",
            FindingKind::SchoolAccountToPupilPersonal => "school_account_to_pupil_personal",
            FindingKind::OutOfHoursPupilContact => "out_of_hours_pupil_contact",
            FindingKind::PersonalCloudLink => "personal_cloud_link",
            FindingKind::BulkPupilData => "bulk_pupil_data",
        }
    }

    /// What the kind is in plain words, for guidance and notices ("a pupil's full name").
    pub fn plain(self) -> &'static str {
        match self {
            FindingKind::PupilName => "a pupil's full name",
            FindingKind::Upn => "a UPN",
            FindingKind::Uln => "a ULN",
            FindingKind::AdmissionNumber => "an admission number",
            FindingKind::DateOfBirth => "a date of birth",
            FindingKind::SpecialCategory => {
                "special-category information (SEN, medical, safeguarding…)"
            }
            FindingKind::NhsNumber => "an NHS number",
            FindingKind::NiNumber => "a National Insurance number",
            FindingKind::PasswordInBody => "the password of the encrypted attachment",
            FindingKind::UnencryptedPersonalAttachment => {
                "an unencrypted attachment with pupil data"
            }
            FindingKind::EncryptedAttachment => "an encrypted attachment",
            FindingKind::PersonalAccountToPupil => {
                "staff writing to a pupil from a personal account"
            }
            FindingKind::SchoolAccountToPupilPersonal => {
                "staff writing to a pupil's personal address"
            }
            FindingKind::OutOfHoursPupilContact => "staff writing to a pupil outside school hours",
            FindingKind::PersonalCloudLink => "a personal cloud-storage link",
            FindingKind::BulkPupilData => "data about many pupils",
        }
    }

    /// Kinds that are pupil data for the policy table (special_category only with a pupil).
    pub fn is_pupil_identifying(self) -> bool {
        matches!(
            self,
            FindingKind::PupilName
                | FindingKind::Upn
                | FindingKind::Uln
                | FindingKind::AdmissionNumber
                | FindingKind::DateOfBirth
                | FindingKind::NhsNumber
                | FindingKind::NiNumber
        )
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The distinct kinds of `findings`, by name, sorted.
pub fn kind_names(findings: &[Finding]) -> Vec<String> {
    let mut k: Vec<String> = findings
        .iter()
        .map(|f| f.kind.as_str().to_string())
        .collect();
    k.sort();
    k.dedup();
    k
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    pub location: String,
    pub count: usize,
    /// Masked examples ("O**** S****", "B************").
    pub evidence: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NotScanned {
    pub location: String,
    pub why: String,
    /// False for parts that are listed but are no reason to hold mail (images).
    #[serde(skip)]
    pub incomplete: bool,
}

/// One distinct piece of evidence, to count each person or value once per location.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EvidenceKey {
    Person(u64),
    Value(String),
    /// A pupil identified by a number of this kind (persons only).
    Id(FindingKind, String),
    /// A date (days from the common era).
    Date(i32),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_and_an_identifier_of_one_pupil_count_once() {
        let mut r = Report::default();
        r.persons.insert(EvidenceKey::Person(1), vec![10]);
        r.persons
            .insert(EvidenceKey::Value("upn:X".into()), vec![10]);
        r.persons.insert(EvidenceKey::Person(2), vec![11, 12]);
        r.persons
            .insert(EvidenceKey::Value("uln:Y".into()), vec![12]);
        r.persons.insert(EvidenceKey::Value("upn:Z".into()), vec![]);
        assert_eq!(r.distinct_persons(), 3);
    }
}

#[derive(Debug, Default)]
struct Bucket {
    /// Only counted: a hash set (a sheet adds tens of thousands).
    keys: FxHashSet<EvidenceKey>,
    masked: Vec<String>,
    count: Option<usize>,
}

/// The result of scanning one message.
#[derive(Debug, Default)]
pub struct Report {
    /// Per kind, per location (two levels, so recording a finding clones no location).
    buckets: BTreeMap<FindingKind, BTreeMap<Location, Bucket>>,
    pub not_scanned: Vec<NotScanned>,
    /// Each distinct named person (forename+surname, or a pupil found by identifier) with the
    /// pupils it may be.
    pub persons: FxHashMap<EvidenceKey, Vec<PupilId>>,
    /// A pupil's full name in the Subject.
    pub name_in_subject: bool,
    /// Pupil data found per location (for unencrypted_personal_attachment).
    pub pupil_data_locations: BTreeSet<Location>,
    /// An attachment is protected only by ZipCrypto.
    pub weak_encryption: bool,
    /// Pupil names inside attachment names ("Leah Walker EHCP.zip") and their masked forms:
    /// applied to every location the report shows, so names never leave it unmasked.
    pub location_masks: Vec<(String, String)>,
    /// Candidate pupil names that did not count, with why: (location, masked name, reason).
    pub discounted: BTreeSet<(String, String, &'static str)>,
}

impl Report {
    /// Records a candidate pupil name that did not count, and why (at most 100 are kept).
    pub fn discount(&mut self, location: &Location, masked: String, why: &'static str) {
        if self.discounted.len() < 100 {
            self.discounted.insert((location.to_string(), masked, why));
        }
    }

    /// Records one occurrence of a finding.
    pub fn add(
        &mut self,
        kind: FindingKind,
        location: &Location,
        key: EvidenceKey,
        masked: impl FnOnce() -> String,
    ) {
        let per_kind = self.buckets.entry(kind).or_default();
        let b = match per_kind.get_mut(location) {
            Some(b) => b,
            None => per_kind.entry(location.clone()).or_default(),
        };
        if b.keys.insert(key) && b.masked.len() < 3 {
            let m = masked();
            if !b.masked.contains(&m) {
                b.masked.push(m);
            }
        }
    }

    /// Drops every finding of a kind.
    pub fn remove_kind(&mut self, kind: FindingKind) {
        self.buckets.remove(&kind);
    }

    /// Overrides the count of one finding (for message-wide counts such as bulk).
    pub fn set_count(&mut self, kind: FindingKind, location: &Location, count: usize) {
        if let Some(b) = self
            .buckets
            .get_mut(&kind)
            .and_then(|per_kind| per_kind.get_mut(location))
        {
            b.count = Some(count);
        }
    }

    pub fn add_not_scanned(&mut self, n: NotScanned) {
        if !self.not_scanned.contains(&n) {
            self.not_scanned.push(n);
        }
    }

    /// Whether every part that matters was read.
    pub fn complete(&self) -> bool {
        !self.not_scanned.iter().any(|n| n.incomplete)
    }

    pub fn has_at(&self, kind: FindingKind, location: &Location) -> bool {
        self.buckets
            .get(&kind)
            .is_some_and(|per_kind| per_kind.contains_key(location))
    }

    pub fn kinds(&self) -> BTreeSet<FindingKind> {
        self.buckets.keys().copied().collect()
    }

    pub fn locations_of(&self, kind: FindingKind) -> Vec<Location> {
        self.buckets
            .get(&kind)
            .map(|per_kind| per_kind.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// A location as shown: pupil names in it masked.
    pub fn mask_location(&self, mut loc: String) -> String {
        for (name, masked) in &self.location_masks {
            if loc.contains(name.as_str()) {
                loc = loc.replace(name.as_str(), masked);
            }
        }
        loc
    }

    /// Every attachment path the report knows (to look for names in them).
    pub fn attachment_paths(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .buckets
            .values()
            .flat_map(|per_kind| per_kind.keys())
            .filter_map(|l| match l {
                Location::Attachment(p) | Location::AttachmentName(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        out.extend(self.not_scanned.iter().map(|n| n.location.clone()));
        out.sort();
        out.dedup();
        out
    }

    /// The findings, one per kind and location.
    pub fn findings(&self) -> Vec<Finding> {
        self.buckets
            .iter()
            .flat_map(|(kind, per_kind)| per_kind.iter().map(move |(loc, b)| (kind, loc, b)))
            .map(|(kind, loc, b)| Finding {
                kind: *kind,
                location: self.mask_location(loc.to_string()),
                count: b.count.unwrap_or(b.keys.len()),
                evidence: b.masked.join(", "),
            })
            .collect()
    }

    /// Distinct pupils the message is about. A name and an identifier of the same pupil count
    /// once (their candidate pupils overlap); a person not in the directory counts alone.
    pub fn distinct_persons(&self) -> usize {
        let mut parent: Vec<usize> = Vec::new();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        let mut group_of: std::collections::HashMap<PupilId, usize> = Default::default();
        let mut alone = 0;
        for pupils in self.persons.values() {
            if pupils.is_empty() {
                alone += 1;
                continue;
            }
            let g = parent.len();
            parent.push(g);
            for p in pupils {
                match group_of.get(p) {
                    Some(&other) => {
                        let (a, b) = (root(&mut parent, other), root(&mut parent, g));
                        parent[a] = b;
                    }
                    None => {
                        group_of.insert(*p, g);
                    }
                }
            }
        }
        let roots: BTreeSet<usize> = (0..parent.len()).map(|i| root(&mut parent, i)).collect();
        roots.len() + alone
    }
}
