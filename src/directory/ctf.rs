//! The pupil roster from a DfE Common Transfer File (CTF, or an ATF), read with quick-xml.
//!
//! Matches local element names and ignores namespaces (DfE's own files differ by version).
//! Reads per `Pupil`: UPN, UniqueLearnerNumber, Surname, Forename, DOB,
//! BasicDetails/{PreferredSurname, PreferredForename, MiddleNames}, the pupil's Email, and
//! every Contacts/Contact's Email. Everything else in the file is passed over.

use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::Event;

use super::records::{
    DirectoryError, PupilRecord, RowIssue, SchoolStats, parse_dob, parse_uln, parse_upn,
};

pub(super) fn read_ctf(
    path: &Path,
    text: &str,
    stats: &mut SchoolStats,
    sink: &mut dyn FnMut(PupilRecord),
) -> Result<(), DirectoryError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut lines = super::roster_csv::LineCounter::new(text);
    let mut stack: Vec<String> = Vec::new();
    let mut pupil_depth: Option<usize> = None;
    let mut current = PupilRecord::default();
    let mut value = String::new();
    let mut saw_root = false;
    loop {
        let ev = reader.read_event().map_err(|e| DirectoryError::Line {
            path: path.to_path_buf(),
            line: super::roster_csv::LineCounter::new(text).line_of(reader.error_position()),
            message: format!("not well-formed XML: {e}"),
        })?;
        let pos = reader.buffer_position();
        match ev {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_string();
                if !saw_root {
                    saw_root = true;
                    if name != "CTfile" && name != "ATfile" {
                        return Err(DirectoryError::Format {
                            path: path.to_path_buf(),
                            message: format!(
                                "an XML roster must be a DfE Common Transfer File (root <CTfile>), found <{name}>"
                            ),
                        });
                    }
                }
                if name == "Pupil" && pupil_depth.is_none() {
                    pupil_depth = Some(stack.len());
                    current = PupilRecord {
                        line: lines.line_of(pos),
                        ..Default::default()
                    };
                }
                stack.push(name);
                value.clear();
            }
            Event::Empty(_) => {}
            Event::Text(t) => {
                value.push_str(&t.xml_content(quick_xml::XmlVersion::Implicit1_0));
            }
            Event::CData(t) => value.push_str(&t.into_inner()),
            Event::GeneralRef(r) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    value.push(c);
                } else if let Some(s) =
                    quick_xml::escape::resolve_predefined_entity(&r.clone().into_inner())
                {
                    value.push_str(s);
                }
            }
            Event::End(_) => {
                if let Some(d) = pupil_depth {
                    let rel: Vec<&str> = stack[d + 1..].iter().map(String::as_str).collect();
                    let v = value.trim();
                    let line = lines.line_of(pos);
                    let mut issue = |message: String| {
                        stats.issues.push(RowIssue {
                            file: path.to_path_buf(),
                            line,
                            message,
                        })
                    };
                    if !v.is_empty() {
                        match rel.as_slice() {
                            ["UPN"] => match parse_upn(v) {
                                Ok(u) => current.upn = u,
                                Err(m) => issue(m),
                            },
                            ["UniqueLearnerNumber"] => match parse_uln(v) {
                                Ok(u) => current.uln = u,
                                Err(m) => issue(m),
                            },
                            ["Surname"] => current.legal_surname = v.into(),
                            ["Forename"] => current.legal_forename = v.into(),
                            ["DOB"] => match parse_dob(v) {
                                Some(d) => current.dob = Some(d),
                                None => issue(format!(
                                    "DOB {v:?} is not a date (expected YYYY-MM-DD); kept without it"
                                )),
                            },
                            ["BasicDetails", "PreferredSurname"] => {
                                current.preferred_surname = v.into()
                            }
                            ["BasicDetails", "PreferredForename"] => {
                                current.preferred_forename = v.into()
                            }
                            ["BasicDetails", "MiddleNames"] => current.middle_names = v.into(),
                            ["Contacts", "Contact", rest @ ..]
                                if rest.iter().any(|e| e.starts_with("Email"))
                                    && v.contains('@') =>
                            {
                                current.contact_email.push(v.into())
                            }
                            [first, ..] if first.starts_with("Email") && v.contains('@') => {
                                current.pupil_email.push(v.into())
                            }
                            _ => {}
                        }
                    }
                    if stack.len() == d + 1 {
                        // </Pupil>
                        pupil_depth = None;
                        let r = std::mem::take(&mut current);
                        if r.legal_forename.is_empty() || r.legal_surname.is_empty() {
                            stats.issues.push(RowIssue {
                                file: path.to_path_buf(),
                                line: r.line,
                                message: "Pupil has no Forename or no Surname; skipped".into(),
                            });
                            stats.rows_skipped += 1;
                        } else {
                            sink(r);
                        }
                    }
                }
                stack.pop();
                value.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTF: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<CTfile xmlns="http://www.dcsf.gov.uk/schemas/cbds">
  <Header><DocumentName>Common Transfer File</DocumentName></Header>
  <CTFpupilData>
    <Pupil>
      <UPN>B201439623222</UPN>
      <UniqueLearnerNumber>9276308686</UniqueLearnerNumber>
      <Surname>O&apos;Brien-Smith</Surname>
      <Forename>Zo&#235;</Forename>
      <DOB>2013-03-12</DOB>
      <Sex>F</Sex>
      <BasicDetails><PreferredForename>Zoe</PreferredForename><MiddleNames>Anne</MiddleNames></BasicDetails>
      <Email><EmailType>H</EmailType><EmailAddress>zoe@example.org</EmailAddress></Email>
      <Contacts>
        <Contact><Forename>Mary</Forename><Surname>Smith</Surname><Email>mary@example.com</Email></Contact>
      </Contacts>
    </Pupil>
    <Pupil>
      <UPN>B201439623223</UPN>
      <Surname>Jones</Surname>
      <Forename>Noah</Forename>
      <DOB>12/13/2013</DOB>
    </Pupil>
  </CTFpupilData>
</CTfile>"#;

    #[test]
    fn reads_pupils_and_contacts() {
        let mut st = SchoolStats::default();
        let mut r = Vec::new();
        read_ctf(Path::new("x.xml"), CTF, &mut st, &mut |p| r.push(p)).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].legal_surname, "O'Brien-Smith");
        assert_eq!(r[0].legal_forename, "Zoë");
        assert_eq!(r[0].preferred_forename, "Zoe");
        assert_eq!(r[0].contact_email, ["mary@example.com"]);
        assert_eq!(r[0].pupil_email, ["zoe@example.org"]);
        assert!(r[0].upn.is_some() && r[0].uln.is_some() && r[0].dob.is_some());
        assert_eq!(r[0].line, 5);
        let msgs: Vec<String> = st.issues.iter().map(|i| i.to_string()).collect();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(msgs[0].starts_with("x.xml:19: UPN"), "{msgs:?}");
        assert!(
            msgs[1].starts_with("x.xml:22: DOB \"12/13/2013\""),
            "{msgs:?}"
        );
    }

    #[test]
    fn malformed_xml_is_located() {
        let mut st = SchoolStats::default();
        let bad = "<CTfile>\n<CTFpupilData>\n<Pupil><Surname>A</Forename></Pupil>\n</CTfile>";
        let e = read_ctf(Path::new("x.xml"), bad, &mut st, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.xml:3: not well-formed XML"), "{e}");
    }

    #[test]
    fn other_xml_is_refused() {
        let mut st = SchoolStats::default();
        let e = read_ctf(
            Path::new("x.xml"),
            "<html><body/></html>",
            &mut st,
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("root <CTfile>"), "{e}");
    }
}
