//! The staff file: `Title, Forename, Surname, Email, Personal Email` (personal addresses known
//! to the school, `;`-separated, optional). Headers are matched like the roster's.

use std::path::Path;

use super::headers::Field;
use super::records::{DirectoryError, RowIssue, SchoolStats, StaffRecord, decode_text};
use super::roster_csv::{LineCounter, addresses, open_csv};

pub(super) fn read_staff(
    path: &Path,
    stats: &mut SchoolStats,
) -> Result<Vec<StaffRecord>, DirectoryError> {
    let bytes = std::fs::read(path).map_err(|source| DirectoryError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_staff(path, &decode_text(bytes), stats)
}

pub(super) fn parse_staff(
    path: &Path,
    text: &str,
    stats: &mut SchoolStats,
) -> Result<Vec<StaffRecord>, DirectoryError> {
    let (mut rdr, headers, columns) = open_csv(path, text)?;
    let has = |f: Field| columns.contains(&Some(f));
    if !(has(Field::LegalForename) && has(Field::LegalSurname))
        || !(has(Field::PupilEmail) || has(Field::StaffEmail))
    {
        let found: Vec<&str> = headers.iter().collect();
        return Err(DirectoryError::Format {
            path: path.to_path_buf(),
            message: format!(
                "a staff file needs Forename, Surname and Email columns; headers found: {}",
                found.join(", ")
            ),
        });
    }
    let mut out = Vec::new();
    let mut lines = LineCounter::new(text);
    for row in rdr.records() {
        let row = row.map_err(|e| DirectoryError::Line {
            path: path.to_path_buf(),
            line: e.position().map_or(0, |p| p.line()),
            message: format!("cannot read CSV: {e}"),
        })?;
        let line = row.position().map_or(0, |p| lines.line_at(p.byte()));
        if row.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let mut s = StaffRecord::default();
        for (value, field) in row.iter().zip(&columns) {
            let value = value.trim();
            match field {
                Some(Field::LegalForename) if s.forename.is_empty() => s.forename = value.into(),
                Some(Field::LegalSurname) if s.surname.is_empty() => s.surname = value.into(),
                Some(Field::PupilEmail | Field::StaffEmail) if s.email.is_empty() => {
                    s.email = value.into()
                }
                Some(
                    Field::PupilPersonalEmail | Field::StaffPersonalEmail | Field::ContactEmail,
                ) => s.personal_email.extend(addresses(value)),
                _ => {}
            }
        }
        if s.email.is_empty() || !s.email.contains('@') {
            stats.issues.push(RowIssue {
                file: path.to_path_buf(),
                line,
                message: "staff row has no school email address; skipped".into(),
            });
            stats.rows_skipped += 1;
            continue;
        }
        out.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_file() {
        let mut st = SchoolStats::default();
        let text = "Title,Forename,Surname,Email,Personal Email\nMrs,Jane,Doe,j.doe@school.sch.uk,jane.doe@gmail.com; jd@outlook.com\nMr,No,Mail,,\n";
        let r = parse_staff(Path::new("staff.csv"), text, &mut st).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].personal_email,
            ["jane.doe@gmail.com", "jd@outlook.com"]
        );
        assert_eq!(
            st.issues[0].to_string(),
            "staff.csv:3: staff row has no school email address; skipped"
        );
    }

    #[test]
    fn staff_file_without_email_column() {
        let mut st = SchoolStats::default();
        let e =
            parse_staff(Path::new("staff.csv"), "Forename,Surname\nA,B\n", &mut st).unwrap_err();
        assert_eq!(
            e.to_string(),
            "staff.csv: a staff file needs Forename, Surname and Email columns; headers found: Forename, Surname"
        );
    }
}
