//! The pupil roster from a MIS CSV export (SIMS, Arbor, Bromcom, iSAMS report exports).
//!
//! Headers are matched through `headers`; only name columns are required. A bad field is
//! reported with its file and line and the row is kept without it. The text arrives already
//! decoded (see `decode_text`); delimiters comma, tab or semicolon are recognised from the
//! header line.

use std::path::Path;

use super::headers::{Field, field_for};
use super::records::{
    DirectoryError, PupilRecord, RowIssue, SchoolStats, parse_dob, parse_uln, parse_upn,
};

/// A CSV reader over an export, its header row, and the field each header maps to.
pub(super) fn open_csv<'t>(
    path: &Path,
    text: &'t str,
) -> Result<(csv::Reader<&'t [u8]>, csv::StringRecord, Vec<Option<Field>>), DirectoryError> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(sniff_delimiter(text))
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| DirectoryError::Format {
            path: path.to_path_buf(),
            message: format!("cannot read the header row: {e}"),
        })?
        .clone();
    let columns = headers.iter().map(field_for).collect();
    Ok((rdr, headers, columns))
}

/// The delimiter of a delimited text file, judged from its first line.
pub fn sniff_delimiter(text: &str) -> u8 {
    let first = text.lines().next().unwrap_or("");
    let count = |c| first.matches(c).count();
    let (comma, tab, semi) = (count(','), count('\t'), count(';'));
    if tab > comma && tab >= semi {
        b'\t'
    } else if semi > comma {
        b';'
    } else {
        b','
    }
}

pub(super) fn read_roster_csv(
    path: &Path,
    text: &str,
    stats: &mut SchoolStats,
    sink: &mut dyn FnMut(PupilRecord),
) -> Result<(), DirectoryError> {
    let (mut rdr, headers, columns) = open_csv(path, text)?;
    let has = |f: Field| columns.contains(&Some(f));
    let has_names = ((has(Field::LegalForename) || has(Field::PreferredForename))
        && (has(Field::LegalSurname) || has(Field::PreferredSurname)))
        || has(Field::FullName)
        || has(Field::SurnameForename);
    if !has_names {
        let found: Vec<&str> = headers.iter().collect();
        return Err(DirectoryError::Format {
            path: path.to_path_buf(),
            message: format!(
                "no pupil name columns (need a forename and a surname column, e.g. \
                 'Legal Forename' and 'Legal Surname'); headers found: {}",
                if found.is_empty() {
                    "(none)".to_string()
                } else {
                    found.join(", ")
                }
            ),
        });
    }

    let mut record = csv::StringRecord::new();
    let mut lines = LineCounter::new(text);
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(DirectoryError::Line {
                    path: path.to_path_buf(),
                    line,
                    message: format!("cannot read CSV: {e}"),
                });
            }
        }
        let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let mut issue = |message: String| {
            stats.issues.push(RowIssue {
                file: path.to_path_buf(),
                line,
                message,
            })
        };
        let mut r = PupilRecord {
            line,
            ..Default::default()
        };
        for (value, field) in record.iter().zip(&columns) {
            let Some(field) = field else { continue };
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let set = |slot: &mut String| {
                if slot.is_empty() {
                    *slot = value.to_string();
                }
            };
            match field {
                Field::LegalForename => set(&mut r.legal_forename),
                Field::LegalSurname => set(&mut r.legal_surname),
                Field::PreferredForename => set(&mut r.preferred_forename),
                Field::PreferredSurname => set(&mut r.preferred_surname),
                Field::MiddleNames => set(&mut r.middle_names),
                Field::FullName | Field::SurnameForename => {
                    if r.legal_forename.is_empty() || r.legal_surname.is_empty() {
                        let (f, s) = split_full_name(value, *field == Field::SurnameForename);
                        if r.legal_forename.is_empty() {
                            r.legal_forename = f;
                        }
                        if r.legal_surname.is_empty() {
                            r.legal_surname = s;
                        }
                    }
                }
                Field::AdmissionNumber => set(&mut r.adno),
                Field::DateOfBirth => match parse_dob(value) {
                    Some(d) => r.dob = Some(d),
                    None => issue(format!(
                        "date of birth {value:?} is not a date (expected 2013-03-12 or 12/03/2013); kept without it"
                    )),
                },
                Field::Upn => match parse_upn(value) {
                    Ok(u) => r.upn = u,
                    Err(m) => issue(m),
                },
                Field::FormerUpn => {}
                Field::Uln => match parse_uln(value) {
                    Ok(u) => r.uln = u,
                    Err(m) => issue(m),
                },
                Field::PupilEmail | Field::StaffEmail => r.pupil_email.extend(addresses(value)),
                Field::PupilPersonalEmail => r.personal_email.extend(addresses(value)),
                Field::ContactEmail | Field::StaffPersonalEmail => {
                    r.contact_email.extend(addresses(value))
                }
                Field::YearGroup | Field::RegGroup | Field::Title => {}
            }
        }
        if r.legal_forename.is_empty() && !r.preferred_forename.is_empty() {
            r.legal_forename = std::mem::take(&mut r.preferred_forename);
        }
        if r.legal_surname.is_empty() && !r.preferred_surname.is_empty() {
            r.legal_surname = std::mem::take(&mut r.preferred_surname);
        }
        if r.legal_forename.is_empty() || r.legal_surname.is_empty() {
            issue("row has no forename or no surname; skipped".to_string());
            stats.rows_skipped += 1;
            continue;
        }
        sink(r);
    }
    Ok(())
}

/// 1-based line numbers of byte offsets, counted forward incrementally (csv-core's own line
/// count lags by one on CRLF files).
pub struct LineCounter<'a> {
    text: &'a [u8],
    pos: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    pub fn new(text: &'a str) -> Self {
        LineCounter {
            text: text.as_bytes(),
            pos: 0,
            line: 1,
        }
    }

    /// The line of the record starting at `byte` (offsets must not go backwards).
    pub fn line_at(&mut self, byte: u64) -> u64 {
        let mut byte = (byte as usize).min(self.text.len());
        // A record offset may point at the LF of the previous line's CRLF.
        while byte < self.text.len() && matches!(self.text[byte], b'\r' | b'\n') {
            byte += 1;
        }
        self.line_of(byte as u64)
    }

    /// The line holding byte `byte` (offsets must not go backwards).
    pub fn line_of(&mut self, byte: u64) -> u64 {
        let byte = (byte as usize).min(self.text.len());
        if byte > self.pos {
            self.line += memchr::memchr_iter(b'\n', &self.text[self.pos..byte]).count() as u64;
            self.pos = byte;
        }
        self.line
    }
}

/// The addresses in a cell: separated by `;` or `,` or spaces.
pub fn addresses(cell: &str) -> impl Iterator<Item = String> + '_ {
    cell.split([';', ',', ' '])
        .map(str::trim)
        .filter(|a| a.contains('@'))
        .map(str::to_string)
}

/// Splits "Smith, Olivia" / "SMITH Olivia" / "Olivia Smith" into (forename, surname).
fn split_full_name(value: &str, surname_first: bool) -> (String, String) {
    if let Some((s, f)) = value.split_once(',') {
        return (f.trim().to_string(), s.trim().to_string());
    }
    let words: Vec<&str> = value.split_whitespace().collect();
    if words.len() < 2 {
        return (String::new(), String::new());
    }
    // An all-capitals leading word is the surname ("SMITH Olivia").
    let caps_first = words[0].chars().any(char::is_alphabetic)
        && words[0].chars().all(|c| !c.is_lowercase())
        && words[1..].iter().any(|w| w.chars().any(char::is_lowercase));
    if surname_first || caps_first {
        (words[1..].join(" "), words[0].to_string())
    } else {
        (
            words[..words.len() - 1].join(" "),
            words[words.len() - 1].to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Result<Vec<PupilRecord>, DirectoryError>, SchoolStats) {
        let mut stats = SchoolStats::default();
        let mut out = Vec::new();
        let r = read_roster_csv(Path::new("roster.csv"), text, &mut stats, &mut |p| {
            out.push(p)
        });
        (r.map(|()| out), stats)
    }

    #[test]
    fn sims_headers_and_quoting() {
        let text = "UPN,ULN,Adno,Legal Surname,Legal Forename,Preferred Surname,Preferred Forename,Middle Name(s),DOB,Year,Reg,Gender,Pupil Email,Pupil Personal Email,Primary Contact Email,Secondary Contact Email\r\n\
B201439623222,9276308686,001234,\"O'Brien-Smith\",Zoë,,Zoe,\"Anne, Marie\",12/03/2013,7,7A,F,zob@pupils.x.sch.uk,zoe@gmail.com,mum@example.com,dad@example.com\r\n\
,,2,\"Smith\nJones\",Olivia,,,,2013-01-02,7,7A,F,,,,\r\n";
        let (r, stats) = read(text);
        let r = r.unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].legal_surname, "O'Brien-Smith");
        assert_eq!(r[0].preferred_forename, "Zoe");
        assert_eq!(r[0].middle_names, "Anne, Marie");
        assert!(r[0].upn.is_some() && r[0].uln.is_some() && r[0].dob.is_some());
        assert_eq!(r[0].contact_email.len(), 2);
        assert_eq!(r[1].legal_surname, "Smith\nJones");
        assert_eq!((r[0].line, r[1].line), (2, 3));
        assert!(stats.issues.is_empty());
    }

    #[test]
    fn bad_fields_are_reported_with_line_and_row_kept() {
        let text = "Legal Forename,Legal Surname,UPN,DOB,ULN\nOlivia,Smith,B201439623223,31/02/2013,1788728386\nNoah,,,,\n";
        let (r, stats) = read(text);
        let r = r.unwrap();
        assert_eq!(r.len(), 1);
        assert!(r[0].upn.is_none() && r[0].dob.is_none() && r[0].uln.is_none());
        let msgs: Vec<String> = stats.issues.iter().map(|i| i.to_string()).collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert!(msgs[0].starts_with("roster.csv:2: UPN"), "{}", msgs[0]);
        assert!(
            msgs[1].starts_with("roster.csv:2: date of birth \"31/02/2013\""),
            "{}",
            msgs[1]
        );
        assert!(msgs[2].starts_with("roster.csv:2: ULN"), "{}", msgs[2]);
        assert!(
            msgs[3].starts_with("roster.csv:3: row has no forename or no surname"),
            "{}",
            msgs[3]
        );
        assert_eq!(stats.rows_skipped, 1);
    }

    #[test]
    fn no_name_columns_names_file_and_headers() {
        let (r, _) = read("UPN,DOB,Year\nB201439623222,12/03/2013,7\n");
        let e = r.unwrap_err().to_string();
        assert_eq!(
            e,
            "roster.csv: no pupil name columns (need a forename and a surname column, e.g. \
             'Legal Forename' and 'Legal Surname'); headers found: UPN, DOB, Year"
        );
    }

    #[test]
    fn arbor_and_bromcom_and_tabs() {
        let (r, _) =
            read("legalFirstName\tlegalLastName\tdateOfBirth\nAmelia\tJones\t2012-05-06\n");
        assert_eq!(r.unwrap()[0].legal_surname, "Jones");
        let (r, _) = read("Last Name,First Name,Admission Number,UPN\nHill,Rose,000321,\n");
        let r = r.unwrap();
        assert_eq!(
            (r[0].legal_forename.as_str(), r[0].adno.as_str()),
            ("Rose", "000321")
        );
        let (r, _) = read("Pupil Name;Year\nSMITH Olivia;7\nJack Brown;8\n");
        let r = r.unwrap();
        assert_eq!(
            (r[0].legal_forename.as_str(), r[0].legal_surname.as_str()),
            ("Olivia", "SMITH")
        );
        assert_eq!(
            (r[1].legal_forename.as_str(), r[1].legal_surname.as_str()),
            ("Jack", "Brown")
        );
    }
}
