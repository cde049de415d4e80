//! MIS export headers: the header key normalisation and the mapping table from
//! `patterns/mis-headers.txt` (documented in docs/mis-exports.md).
//!
//! It maps one header cell to one roster field, or to nothing; it never reads rows.

use std::collections::HashMap;
use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;

/// A roster or staff column Hallpass understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Upn,
    FormerUpn,
    Uln,
    AdmissionNumber,
    LegalForename,
    PreferredForename,
    LegalSurname,
    PreferredSurname,
    MiddleNames,
    FullName,
    SurnameForename,
    DateOfBirth,
    YearGroup,
    RegGroup,
    PupilEmail,
    PupilPersonalEmail,
    ContactEmail,
    Title,
    StaffEmail,
    StaffPersonalEmail,
}

impl Field {
    fn from_name(s: &str) -> Option<Field> {
        Some(match s {
            "upn" => Field::Upn,
            "former_upn" => Field::FormerUpn,
            "uln" => Field::Uln,
            "admission_number" => Field::AdmissionNumber,
            "legal_forename" => Field::LegalForename,
            "preferred_forename" => Field::PreferredForename,
            "legal_surname" => Field::LegalSurname,
            "preferred_surname" => Field::PreferredSurname,
            "middle_names" => Field::MiddleNames,
            "full_name" => Field::FullName,
            "surname_forename" => Field::SurnameForename,
            "date_of_birth" => Field::DateOfBirth,
            "year_group" => Field::YearGroup,
            "reg_group" => Field::RegGroup,
            "pupil_email" => Field::PupilEmail,
            "pupil_personal_email" => Field::PupilPersonalEmail,
            "contact_email" => Field::ContactEmail,
            "title" => Field::Title,
            "staff_email" => Field::StaffEmail,
            "staff_personal_email" => Field::StaffPersonalEmail,
            _ => return None,
        })
    }
}

const TABLE: &str = include_str!("../../patterns/mis-headers.txt");

fn table() -> &'static HashMap<String, Field> {
    static T: OnceLock<HashMap<String, Field>> = OnceLock::new();
    T.get_or_init(|| {
        let mut m = HashMap::new();
        for line in TABLE.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (field, keys) = line
                .split_once(':')
                .expect("patterns/mis-headers.txt: field: keys");
            let field = Field::from_name(field.trim())
                .unwrap_or_else(|| panic!("patterns/mis-headers.txt: unknown field {field}"));
            for k in keys.split(',') {
                m.insert(header_key(k), field);
            }
        }
        m
    })
}

/// The header key: NFKC, camelCase split, lower case, non-alphanumerics to single spaces.
pub fn header_key(header: &str) -> String {
    let nfkc: String = header.nfkc().collect();
    let mut split = String::with_capacity(nfkc.len() + 4);
    let mut prev_lower = false;
    for c in nfkc.chars() {
        if c.is_uppercase() && prev_lower {
            split.push(' ');
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        split.push(c);
    }
    let lower = split.to_lowercase();
    let mut out = String::with_capacity(lower.len());
    let mut pending_space = false;
    for c in lower.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        } else {
            pending_space = true;
        }
    }
    out
}

/// The field a header names, if any.
pub fn field_for(header: &str) -> Option<Field> {
    let t = table();
    if let Some(f) = t.get(&header_key(header)) {
        return Some(*f);
    }
    // A flattened JSON path matches on its last segment.
    let last = header.rsplit('.').next()?;
    if last.len() < header.len() {
        return t.get(&header_key(last)).copied();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_normalisation() {
        assert_eq!(header_key("legalFirstName"), "legal first name");
        assert_eq!(header_key("NCyearActual"), "ncyear actual");
        assert_eq!(header_key("MisID"), "mis id");
        assert_eq!(header_key("Form/Tutor Group"), "form tutor group");
        assert_eq!(header_key("D.O.B."), "d o b");
        assert_eq!(header_key("KnownAsFirstName"), "known as first name");
        assert_eq!(header_key("LEGAL_SURNAME"), "legal surname");
        assert_eq!(header_key("Middle Name(s)"), "middle name s");
    }

    #[test]
    fn sims_arbor_bromcom_ctf_headers() {
        for (h, f) in [
            ("UPN", Field::Upn),
            ("DoB", Field::DateOfBirth),
            ("Pupil Surname", Field::LegalSurname),
            ("Student First Name", Field::LegalForename),
            ("Chosen Forename", Field::PreferredForename),
            ("Contact 1 Email Address", Field::ContactEmail),
            ("Adno", Field::AdmissionNumber),
            ("Legal Surname", Field::LegalSurname),
            ("Legal Forename", Field::LegalForename),
            ("Preferred Surname", Field::PreferredSurname),
            ("Preferred Forename", Field::PreferredForename),
            ("Middle Name(s)", Field::MiddleNames),
            ("DOB", Field::DateOfBirth),
            ("Year", Field::YearGroup),
            ("Reg", Field::RegGroup),
            ("Pupil Email", Field::PupilEmail),
            ("Pupil Personal Email", Field::PupilPersonalEmail),
            ("Primary Contact Email", Field::ContactEmail),
            ("Secondary Contact Email", Field::ContactEmail),
            ("legalFirstName", Field::LegalForename),
            ("preferredLastName", Field::PreferredSurname),
            ("dateOfBirth", Field::DateOfBirth),
            ("uniqueLearnerNumber", Field::Uln),
            ("Last Name", Field::LegalSurname),
            ("First Name", Field::LegalForename),
            ("Admission Number", Field::AdmissionNumber),
            ("Tutor Group", Field::RegGroup),
            ("education_details.data.upn", Field::Upn),
            ("Surname Forename", Field::SurnameForename),
        ] {
            assert_eq!(field_for(h), Some(f), "{h}");
        }
        assert_eq!(field_for("School Name"), None);
        assert_eq!(field_for("Ethnicity"), None);
    }
}
