//! Attachments through the real scanner: every format has a positive (pupil found), a
//! negative, an encrypted and (where it applies) a password-in-body case; hostile archives
//! and PDFs are bounded. Fixtures are made by tests/fixtures/make-fixtures.sh with the real
//! tools (qpdf, zip, 7z, msoffcrypto-tool, openpyxl…) and committed.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use base64::Engine;
use hallpass::policy::{Action, decide};
use hallpass::scan::{Envelope, Report, Scanner};

fn policy() -> hallpass::policy::Policy {
    hallpass::config::Config::load(std::path::Path::new("samples/hallpass.toml"))
        .unwrap()
        .policy()
}

fn scanner() -> &'static Scanner {
    static S: OnceLock<Scanner> = OnceLock::new();
    S.get_or_init(|| {
        hallpass::config::Config::load(std::path::Path::new("samples/hallpass.toml"))
            .unwrap()
            .scanner()
            .unwrap()
    })
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("tests/fixtures/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A message from a member of staff to an outside address with one attachment.
fn message(body: &str, filename_header: &str, ctype: &str, data: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let wrapped: Vec<String> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    format!(
        "From: Luke Rich <luke.rich0@beaulieupark.example.sch.uk>\r\nTo: bookings@coach-hire.example.com\r\n\
         Subject: files\r\nDate: Wed, 25 Nov 2026 10:15:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\
         --b\r\nContent-Type: {ctype}\r\nContent-Disposition: attachment; {filename_header}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        wrapped.join("\r\n")
    )
    .into_bytes()
}

fn scan_file(name: &str, body: &str) -> (Report, Action) {
    scan_raw(&message(
        body,
        &format!("filename=\"{name}\""),
        "application/octet-stream",
        &fixture(name),
    ))
}

fn scan_raw(raw: &[u8]) -> (Report, Action) {
    let s = scanner();
    let env = Envelope {
        mail_from: "luke.rich0@beaulieupark.example.sch.uk".into(),
        rcpt_to: vec!["bookings@coach-hire.example.com".into()],
    };
    let r = s.scan(raw, &env, "2026-11-25T10:00:00Z".parse().unwrap());
    let d = decide(&policy(), &s.classifier, &r, &env);
    (r, d.action)
}

fn kinds(r: &Report) -> BTreeSet<&'static str> {
    r.kinds().into_iter().map(|k| k.as_str()).collect()
}

fn set(k: &[&'static str]) -> BTreeSet<&'static str> {
    k.iter().copied().collect()
}

fn evidence(r: &Report, kind: &str) -> String {
    r.findings()
        .iter()
        .filter(|f| f.kind.as_str() == kind)
        .map(|f| format!("{} {}", f.location, f.evidence))
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn xlsx_class_list_positive_and_negative() {
    let (r, a) = scan_file("class-list.xlsx", "List attached.");
    assert_eq!(
        kinds(&r),
        set(&[
            "pupil_name",
            "date_of_birth",
            "upn",
            "bulk_pupil_data",
            "unencrypted_personal_attachment",
            "special_category"
        ])
    );
    assert!(r.has_at(
        hallpass::scan::FindingKind::PupilName,
        &hallpass::scan::Location::Attachment("class-list.xlsx".into())
    ));
    assert_eq!(a, Action::Reject);
    let (r, a) = scan_file("stationery.xlsx", "Order attached.");
    assert!(
        kinds(&r).is_empty() && r.complete(),
        "{:?} {:?}",
        kinds(&r),
        r.not_scanned
    );
    assert_eq!(a, Action::Allow);
}

#[test]
fn docx_body_and_table_rows() {
    let (r, a) = scan_file("pastoral-note.docx", "Note attached.");
    assert_eq!(
        kinds(&r),
        set(&["pupil_name", "unencrypted_personal_attachment"])
    );
    assert_eq!(
        r.distinct_persons(),
        2,
        "Tom Clark in a paragraph, Freya Rogers across a table row"
    );
    assert_eq!(a, Action::Reject);
    let (r, a) = scan_file("pta-minutes.docx", "Minutes.");
    assert!(kinds(&r).is_empty() && r.complete());
    assert_eq!(a, Action::Allow);
}

#[test]
fn pptx_slides_and_notes() {
    let (r, _) = scan_file("awards.pptx", "Slides.");
    assert_eq!(
        kinds(&r),
        set(&[
            "pupil_name",
            "special_category",
            "unencrypted_personal_attachment"
        ])
    );
}

/// Word, PowerPoint and Excel 97-2003 files (saved by LibreOffice from the OOXML fixtures):
/// the same findings as their modern twins.
#[test]
fn legacy_doc_ppt_and_xls() {
    let (r, a) = scan_file("pastoral-note.doc", "Note attached.");
    assert_eq!(
        kinds(&r),
        set(&["pupil_name", "unencrypted_personal_attachment"])
    );
    assert_eq!(
        r.distinct_persons(),
        2,
        "Tom Clark in a paragraph, Freya Rogers across a table row"
    );
    assert!(r.complete(), "{:?}", r.not_scanned);
    assert_eq!(a, Action::Reject);
    // An empty middle cell does not split Freya Rogers' row (before: only Harry Fisher).
    let (r, _) = scan_file("seating-gaps.doc", "Seating attached.");
    assert_eq!(r.distinct_persons(), 2, "{:?}", r.findings());
    let (r, a) = scan_file("pta-minutes.doc", "Minutes.");
    assert!(kinds(&r).is_empty() && r.complete(), "{:?}", r.not_scanned);
    assert_eq!(a, Action::Allow);

    let (r, a) = scan_file("awards.ppt", "Slides.");
    assert_eq!(
        kinds(&r),
        set(&[
            "pupil_name",
            "special_category",
            "unencrypted_personal_attachment"
        ])
    );
    assert!(r.complete(), "{:?}", r.not_scanned);
    assert_eq!(a, Action::Reject);

    let (r, _) = scan_file("class-list.xls", "List attached.");
    assert!(
        set(&["pupil_name", "upn", "date_of_birth", "bulk_pupil_data"]).is_subset(&kinds(&r)),
        "{:?}",
        kinds(&r)
    );
    assert_eq!(r.distinct_persons(), 6);
}

/// An Outlook .msg ([MS-OXMSG] compound file) written with the cfb crate: subject and body
/// as Unicode property streams, attachments in `__attach_version1.0_#` storages.
fn outlook_msg(subject: &str, body: &str, attachments: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let mut cf =
        cfb::CompoundFile::create_with_version(cfb::Version::V3, std::io::Cursor::new(Vec::new()))
            .unwrap();
    let put = |cf: &mut cfb::CompoundFile<std::io::Cursor<Vec<u8>>>, path: &str, data: &[u8]| {
        cf.create_stream(path).unwrap().write_all(data).unwrap();
    };
    put(&mut cf, "/__properties_version1.0", &[0u8; 32]);
    put(&mut cf, "/__substg1.0_0037001F", &utf16(subject));
    put(&mut cf, "/__substg1.0_1000001F", &utf16(body));
    for (i, (name, data)) in attachments.iter().enumerate() {
        let dir = format!("/__attach_version1.0_#{i:08X}");
        cf.create_storage(&dir).unwrap();
        put(
            &mut cf,
            &format!("{dir}/__properties_version1.0"),
            &[0u8; 8],
        );
        put(
            &mut cf,
            &format!("{dir}/__substg1.0_3707001F"),
            &utf16(name),
        );
        put(&mut cf, &format!("{dir}/__substg1.0_37010102"), data);
    }
    cf.flush().unwrap();
    cf.into_inner().into_inner()
}

#[test]
fn outlook_msg_subject_body_and_attachments() {
    let scan_msg = |msg: Vec<u8>| {
        scan_raw(&message(
            "Forwarding this.",
            "filename=\"FW: trip.msg\"",
            "application/vnd.ms-outlook",
            &msg,
        ))
    };
    // In the body of the attached message.
    let (r, a) = scan_msg(outlook_msg(
        "Trip",
        "Hi, Leah Walker will need a seat at the front.",
        &[],
    ));
    assert!(
        kinds(&r).contains("pupil_name"),
        "{:?} {:?}",
        kinds(&r),
        r.not_scanned
    );
    assert!(r.complete(), "{:?}", r.not_scanned);
    assert_eq!(a, Action::Reject);
    // In a spreadsheet attached to the attached message.
    let (r, a) = scan_msg(outlook_msg(
        "List",
        "List attached.",
        &[("8A.xlsx", &fixture("class-list.xlsx"))],
    ));
    assert!(
        evidence(&r, "unencrypted_personal_attachment").contains("FW: trip.msg/8A.xlsx"),
        "{}",
        evidence(&r, "unencrypted_personal_attachment")
    );
    assert_eq!(a, Action::Reject);
    // Nothing about pupils: read completely, allowed.
    let (r, a) = scan_msg(outlook_msg(
        "Minutes",
        "Minutes attached.",
        &[("minutes.docx", &fixture("pta-minutes.docx"))],
    ));
    assert!(
        kinds(&r).is_empty() && r.complete(),
        "{:?} {:?}",
        kinds(&r),
        r.not_scanned
    );
    assert_eq!(a, Action::Allow);
    // A damaged one is listed, never passed as clean.
    let mut bad = outlook_msg("x", "Leah Walker", &[]);
    for b in bad.iter_mut().skip(512).step_by(7) {
        *b ^= 0x5a;
    }
    let (r, _) = scan_msg(bad);
    assert!(!r.complete() || kinds(&r).contains("pupil_name"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    /// A mutated Outlook message: never a panic out of the scan; read or listed.
    #[test]
    fn mutated_outlook_msg_never_panics(
        edits in proptest::collection::vec((0usize..1 << 20, proptest::prelude::any::<u8>()), 1..24),
    ) {
        let mut b = outlook_msg("Trip", "Leah Walker", &[("l.csv", b"Surname,Forename\nClark,Tom\n")]);
        for (pos, byte) in edits {
            let n = b.len();
            b[pos % n] = byte;
        }
        let (r, a) = scan_raw(&message("fw", "filename=x.msg", "application/octet-stream", &b));
        // What could not be read is never passed: to an outside address it is held at least.
        proptest::prop_assert!(r.complete() || a >= Action::Quarantine, "{:?} {:?}", a, r.not_scanned);
    }
}

/// Files about a child are often named surname first ("Walker_Leah_report.docx"): found in
/// the file name, and masked wherever the location is shown. A link with the name
/// percent-encoded is read decoded.
#[test]
fn surname_first_file_names_and_encoded_links() {
    for name in [
        "Walker_Leah_report.pdf",
        "Walker Leah EHCP.pdf",
        "LeahWalker EHCP.pdf",
        "WalkerLeah_IEP.pdf",
    ] {
        let (r, a) = scan_raw(&message(
            "Report attached.",
            &format!("filename=\"{name}\""),
            "application/pdf",
            &fixture("menu.pdf"),
        ));
        assert!(kinds(&r).contains("pupil_name"), "{name}: {:?}", kinds(&r));
        let shown = format!("{:?} {:?}", r.findings(), r.not_scanned);
        assert!(
            !shown.contains("Walker") && !shown.contains("Leah"),
            "{shown}"
        );
        assert_eq!(a, Action::Reject);
    }
    for clean in ["Trip list.pdf", "TripList.pdf", "PowerPointSlides.pptx"] {
        let (r, _) = scan_raw(&message(
            "Trip list.",
            &format!("filename=\"{clean}\""),
            "application/pdf",
            &fixture("menu.pdf"),
        ));
        assert!(kinds(&r).is_empty(), "{clean}: {:?}", kinds(&r));
    }
    let (r, a) = scan_raw(&message(
        "The notes are at https://bps.sharepoint.com/sites/SEN/Leah%20Walker%20notes.docx",
        "filename=menu.pdf",
        "application/pdf",
        &fixture("menu.pdf"),
    ));
    assert!(kinds(&r).contains("pupil_name"), "{:?}", kinds(&r));
    assert_eq!(a, Action::Reject);
}

/// A writer holding every member of the zip `bytes`, to add more to.
fn copy_zip(bytes: &[u8]) -> zip::ZipWriter<std::io::Cursor<Vec<u8>>> {
    use std::io::{Read, Write};
    let mut src = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..src.len() {
        let mut f = src.by_index(i).unwrap();
        let name = f.name().unwrap().to_string();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(&data).unwrap();
    }
    out
}

/// A docx whose text is an altChunk (an HTML part a generator pasted in whole).
#[test]
fn docx_alt_chunk_is_read() {
    use std::io::Write;
    let mut out = copy_zip(&fixture("pta-minutes.docx"));
    out.start_file("word/afchunk.htm", zip::write::SimpleFileOptions::default())
        .unwrap();
    out.write_all(b"<html><body><p>Report for Leah Walker, Year 11</p></body></html>")
        .unwrap();
    let docx = out.finish().unwrap().into_inner();
    let (r, a) = scan_raw(&message(
        "Report.",
        "filename=report.docx",
        "application/octet-stream",
        &docx,
    ));
    assert!(kinds(&r).contains("pupil_name"), "{:?}", kinds(&r));
    assert_eq!(a, Action::Reject);
}

/// Two pupils sharing a surname, written once: both are named.
#[test]
fn siblings_sharing_a_surname_are_two_pupils() {
    let (r, a) = scan_raw(
        b"Subject: Thursday\r\n\r\nTheodore and Leah Walker will both join the Thursday group.\r\n",
    );
    assert_eq!(r.distinct_persons(), 2, "{:?}", r.findings());
    assert_eq!(a, Action::Reject);
}

/// A sheet named after a pupil, with nothing personal in its cells.
#[test]
fn sheet_names_are_read() {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet().set_name("Leah Walker").unwrap();
    ws.write_string(0, 0, "Item").unwrap();
    ws.write_string(1, 0, "Laptop").unwrap();
    let (r, a) = scan_raw(&message(
        "Costs.",
        "filename=costs.xlsx",
        "application/octet-stream",
        &wb.save_to_buffer().unwrap(),
    ));
    assert!(kinds(&r).contains("pupil_name"), "{:?}", kinds(&r));
    assert_eq!(a, Action::Reject);
}

/// Names only in a chart (its cached categories, and the workbook embedded for it).
#[test]
fn chart_categories_and_embedded_workbook() {
    let (r, a) = scan_file("reading-ages-chart.pptx", "Slides.");
    assert!(kinds(&r).contains("pupil_name"), "{:?}", kinds(&r));
    assert_eq!(r.distinct_persons(), 3);
    let locs = evidence(&r, "unencrypted_personal_attachment");
    assert!(
        locs.contains("attachment:reading-ages-chart.pptx/ppt/embeddings/"),
        "{locs}"
    );
    assert_eq!(a, Action::Reject);
    // The same deck saved by LibreOffice as odp: the chart is an embedded object.
    let (r, a) = scan_file("reading-ages-chart.odp", "Slides.");
    assert_eq!(r.distinct_persons(), 3, "{:?}", kinds(&r));
    assert_eq!(a, Action::Reject);
}

#[test]
fn opendocument_text_and_sheet() {
    let (r, _) = scan_file("list.ods", "List.");
    assert!(
        kinds(&r).is_superset(&set(&[
            "pupil_name",
            "upn",
            "unencrypted_personal_attachment"
        ])),
        "{:?}",
        kinds(&r)
    );
    let (r, _) = scan_file("letter.odt", "Letter.");
    assert_eq!(
        kinds(&r),
        set(&["pupil_name", "unencrypted_personal_attachment"])
    );
}

#[test]
fn pdf_text_owner_password_and_user_password() {
    let (r, a) = scan_file("report.pdf", "Report.");
    assert_eq!(
        kinds(&r),
        set(&["pupil_name", "unencrypted_personal_attachment"])
    );
    assert_eq!(a, Action::Reject);
    let (r, _) = scan_file("menu.pdf", "Menu.");
    assert!(kinds(&r).is_empty() && r.complete());
    // Only a permissions password: it opens without one, so it is read, not "protected".
    let (r, a) = scan_file("report-owner-only.pdf", "Report.");
    assert_eq!(
        kinds(&r),
        set(&["pupil_name", "unencrypted_personal_attachment"])
    );
    assert_eq!(a, Action::Reject);
    // A user password: protected, contents not pupil data for the table.
    let (r, a) = scan_file(
        "report-user-password.pdf",
        "Report attached; password sent by text.",
    );
    assert_eq!(kinds(&r), set(&["encrypted_attachment"]));
    assert_eq!(a, Action::Allow);
    let (r, a) = scan_file(
        "report-user-password.pdf",
        "Report attached. The password is Kestrel99",
    );
    assert_eq!(
        kinds(&r),
        set(&["encrypted_attachment", "password_in_body"])
    );
    assert_eq!(a, Action::Reject);
}

/// A spreadsheet saved as PDF (by LibreOffice): each cell is a line of its own, so surname and
/// forename only stand in neighbouring cells. Nothing else in it is pupil data.
#[test]
fn pdf_table_saved_from_a_spreadsheet() {
    let (r, a) = scan_file("seating-plan.pdf", "Seating plan attached.");
    assert!(kinds(&r).contains("pupil_name"), "{:?}", kinds(&r));
    assert!(r.distinct_persons() >= 6, "{}", r.distinct_persons());
    assert_eq!(a, Action::Reject);
    let (r, _) = scan_file("menu.pdf", "Menu.");
    assert!(kinds(&r).is_empty(), "{:?}", kinds(&r));
}

/// A table printed to PDF by Chromium: its kerning moves inside words ("W", move, "alker")
/// must not split them, and each cell is a text object of its own.
#[test]
fn pdf_printed_by_chromium() {
    let (r, a) = scan_file("trip-table-chromium.pdf", "Trip list.");
    assert_eq!(
        kinds(&r),
        set(&[
            "pupil_name",
            "date_of_birth",
            "unencrypted_personal_attachment"
        ]),
        "{}",
        evidence(&r, "pupil_name")
    );
    assert!(
        evidence(&r, "pupil_name").contains("L**** W****, G**** W****"),
        "{}",
        evidence(&r, "pupil_name")
    );
    assert_eq!(a, Action::Reject);
}

/// A filled-in form: the child's name and date of birth are only field values; printed
/// flat (qpdf --flatten-annotations), they are only in form XObjects the page draws.
#[test]
fn pdf_form_field_values() {
    for form in ["referral-form.pdf", "referral-form-flattened.pdf"] {
        let (r, a) = scan_file(form, "Form attached.");
        assert!(
            set(&[
                "pupil_name",
                "date_of_birth",
                "unencrypted_personal_attachment"
            ])
            .is_subset(&kinds(&r)),
            "{form}: {:?}",
            kinds(&r)
        );
        assert!(r.complete(), "{form}");
        assert_eq!(a, Action::Reject, "{form}");
    }
}

#[test]
fn rtf_letter() {
    let (r, _) = scan_file("letter.rtf", "Letter.");
    assert_eq!(
        kinds(&r),
        set(&["pupil_name", "unencrypted_personal_attachment"])
    );
}

#[test]
fn zip_encryption_judged_per_entry_and_password_tried() {
    let (r, a) = scan_file(
        "trip-zipcrypto.zip",
        "Trip list attached, password to follow by text.",
    );
    assert_eq!(kinds(&r), set(&["encrypted_attachment"]));
    assert!(
        evidence(&r, "encrypted_attachment").contains("ZipCrypto"),
        "{}",
        evidence(&r, "encrypted_attachment")
    );
    assert_eq!(a, Action::Allow);
    let (r, a) = scan_file(
        "trip-zipcrypto.zip",
        "Trip list attached, password: Tr1p2026",
    );
    assert_eq!(
        kinds(&r),
        set(&["encrypted_attachment", "password_in_body"])
    );
    assert_eq!(a, Action::Reject);
    // A wrong password in the body is not the password.
    let (r, _) = scan_file(
        "trip-zipcrypto.zip",
        "Trip list attached, password: Kestrel99",
    );
    assert_eq!(kinds(&r), set(&["encrypted_attachment"]));
    let (r, a) = scan_file("trip-aes.zip", "The password is Tr1p2026");
    assert!(
        evidence(&r, "encrypted_attachment").contains("AES-256"),
        "{}",
        evidence(&r, "encrypted_attachment")
    );
    assert_eq!(
        kinds(&r),
        set(&["encrypted_attachment", "password_in_body"])
    );
    assert_eq!(a, Action::Reject);
    let (r, _) = scan_file("trip-mixed.zip", "Two files.");
    assert_eq!(kinds(&r), set(&["encrypted_attachment"]));
    assert!(r.complete(), "{:?}", r.not_scanned);
    assert!(evidence(&r, "encrypted_attachment").contains("trip-mixed.zip/trip-list.csv"));
}

#[test]
fn nested_archives_give_nested_locations() {
    let (r, a) = scan_file("outer.zip", "Files.");
    assert!(kinds(&r).is_superset(&set(&[
        "pupil_name",
        "upn",
        "date_of_birth",
        "bulk_pupil_data",
        "unencrypted_personal_attachment"
    ])));
    let locs = evidence(&r, "unencrypted_personal_attachment");
    assert!(
        locs.contains("attachment:outer.zip/trip-plain.zip/trip-list.csv"),
        "{locs}"
    );
    assert!(
        locs.contains("attachment:outer.zip/trip-plain.zip/pastoral-note.docx"),
        "{locs}"
    );
    assert_eq!(a, Action::Reject);
}

#[test]
fn encrypted_office_7z_and_stated_password() {
    let (r, a) = scan_file("class-list-encrypted.xlsx", "List attached.");
    assert_eq!(kinds(&r), set(&["encrypted_attachment"]));
    assert!(evidence(&r, "encrypted_attachment").contains("agile"));
    assert_eq!(a, Action::Allow);
    let (r, a) = scan_file(
        "class-list-encrypted.xlsx",
        "List attached, password: Sunflower22",
    );
    assert_eq!(
        kinds(&r),
        set(&["encrypted_attachment", "password_in_body"])
    );
    assert_eq!(a, Action::Reject);
    // A looser phrasing is not enough on its own, but the password is tried against the
    // file's agile-encryption verifier: certain, with the file named.
    let (r, a) = scan_file(
        "class-list-encrypted.xlsx",
        "List attached. pw Sunflower22 (as usual)",
    );
    assert!(
        evidence(&r, "password_in_body").contains("opens attachment:"),
        "{}",
        evidence(&r, "password_in_body")
    );
    assert_eq!(a, Action::Reject);
    // A wrong candidate opens nothing and is not stated: no finding.
    let (r, a) = scan_file("class-list-encrypted.xlsx", "List attached. pw Sunflower23");
    assert_eq!(kinds(&r), set(&["encrypted_attachment"]));
    assert_eq!(a, Action::Allow);
    let (r, _) = scan_file("trip-headers-encrypted.7z", "List attached.");
    assert_eq!(kinds(&r), set(&["encrypted_attachment"]));
}

#[test]
fn the_type_comes_from_the_bytes_and_names_are_decoded() {
    let raw = message(
        "photo",
        "filename=\"holiday.jpg\"",
        "image/jpeg",
        &fixture("class-list.xlsx"),
    );
    let (r, a) = scan_raw(&raw);
    assert!(kinds(&r).contains("pupil_name"));
    assert_eq!(a, Action::Reject);
    let raw = message(
        "list",
        "filename*=UTF-8''Ann%C3%A9e%208A.xlsx",
        "application/vnd.ms-excel",
        &fixture("class-list.xlsx"),
    );
    let (r, _) = scan_raw(&raw);
    assert!(
        evidence(&r, "unencrypted_personal_attachment").contains("attachment:Année 8A.xlsx"),
        "{}",
        evidence(&r, "unencrypted_personal_attachment")
    );
    // A text label on a workbook or an archive: the bytes are read as what they are, not as
    // text in the label's charset (which mangles them into an unreadable file).
    for ctype in ["text/plain", "text/csv; charset=us-ascii", "text/html"] {
        let raw = message(
            "list",
            "filename=\"list.csv\"",
            ctype,
            &fixture("class-list.xlsx"),
        );
        let (r, a) = scan_raw(&raw);
        assert!(r.complete(), "{ctype}: {:?}", r.not_scanned);
        assert!(kinds(&r).contains("pupil_name"), "{ctype}");
        assert_eq!(a, Action::Reject, "{ctype}");
    }
}

/// Excel's "Unicode Text" export: UTF-16 little-endian with a BOM, tab-separated; some
/// tools write it without the BOM, or big-endian. Read as text and as a table, whatever the
/// label says.
#[test]
fn utf16_text_exports_are_read() {
    let rows = "Surname\tForename\tReg\r\nWood\tGrace\t8A\r\nYoung\tWilliam\t8B\r\n";
    let le: Vec<u8> = rows.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let be: Vec<u8> = rows.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let with_bom = [&[0xFF, 0xFE][..], &le].concat();
    for (what, bytes) in [("BOM", &with_bom), ("no BOM", &le), ("big-endian", &be)] {
        for ctype in ["text/plain", "application/octet-stream"] {
            let raw = message("List.", "filename=\"pupils.txt\"", ctype, bytes);
            let (r, a) = scan_raw(&raw);
            assert!(r.complete(), "{what} {ctype}: {:?}", r.not_scanned);
            assert_eq!(
                kinds(&r),
                set(&["pupil_name", "unencrypted_personal_attachment"]),
                "{what} {ctype}"
            );
            assert_eq!(a, Action::Reject, "{what} {ctype}");
        }
    }
    // Binary data whose 16-bit units are small numbers is not taken for text.
    let counters: Vec<u8> = (1u16..2000)
        .map(|i| i % 31 + 1)
        .flat_map(u16::to_le_bytes)
        .collect();
    assert!(hallpass::text::utf16_unmarked(&counters).is_none());
}

#[test]
fn hostile_archives_are_bounded_and_never_clean() {
    let t = std::time::Instant::now();
    for name in ["bomb.zip", "many.zip", "nested-deep.zip"] {
        let (r, a) = scan_file(name, "files");
        assert!(
            !r.complete(),
            "{name}: limits must leave the scan incomplete"
        );
        assert_eq!(a, Action::Quarantine, "{name}");
    }
    // Generous bound: a runaway would take minutes; this guards against hangs, not speed.
    assert!(t.elapsed().as_secs() < 120);
    let (r, _) = scan_file("slip.zip", "files");
    let locs = evidence(&r, "unencrypted_personal_attachment");
    assert!(
        locs.contains("attachment:slip.zip/etc/cron.d/list.csv") && !locs.contains(".."),
        "{locs}"
    );
}

#[test]
fn a_pdf_page_tree_loop_does_not_hang_or_crash() {
    let (r, a) = scan_file("loop.pdf", "report");
    // Nothing readable, nothing found; a page tree lopdf cannot walk is listed, not passed.
    assert!(kinds(&r).is_empty());
    assert!(!r.complete(), "{:?}", r.not_scanned);
    assert_eq!(a, Action::Quarantine);
}

#[test]
fn require_aes_holds_zipcrypto() {
    let s = scanner();
    let mut policy = policy();
    policy.table.require_aes = true;
    let env = Envelope {
        mail_from: "luke.rich0@beaulieupark.example.sch.uk".into(),
        rcpt_to: vec!["bookings@coach-hire.example.com".into()],
    };
    let raw = message(
        "password by text",
        "filename=\"t.zip\"",
        "application/zip",
        &fixture("trip-zipcrypto.zip"),
    );
    let r = s.scan(&raw, &env, "2026-11-25T10:00:00Z".parse().unwrap());
    assert_eq!(
        decide(&policy, &s.classifier, &r, &env).action,
        Action::Quarantine
    );
    let raw = message(
        "password by text",
        "filename=\"t.zip\"",
        "application/zip",
        &fixture("trip-aes.zip"),
    );
    let r = s.scan(&raw, &env, "2026-11-25T10:00:00Z".parse().unwrap());
    assert_eq!(
        decide(&policy, &s.classifier, &r, &env).action,
        Action::Allow
    );
}

#[test]
fn two_concatenated_zips_hide_nothing() {
    // A ZIP reader sees the last central directory; the first archive's members must not
    // pass as clean.
    let mut data = fixture("trip-plain.zip");
    data.extend_from_slice(&fixture("trip-mixed.zip"));
    let raw = message("files", "filename=\"files.zip\"", "application/zip", &data);
    let (r, a) = scan_raw(&raw);
    assert!(
        kinds(&r).contains("pupil_name") || !r.complete(),
        "{:?} {:?}",
        kinds(&r),
        r.not_scanned
    );
    assert!(a >= Action::Quarantine, "{a:?}");
}

/// A zbsm.zip-style bomb: many central-directory entries that all point at the same
/// compressed run (overlapping entries), each one under the compression-ratio limit, so only
/// the per-message unpacked budget can stop it.
fn overlapping_entries_zip(entries: usize) -> Vec<u8> {
    use std::io::Write;
    // 2 MB of letter soup: compresses about 2:1, far under the ratio limit.
    let mut x: u32 = 7;
    let text: Vec<u8> = (0..2 << 20)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            b"abcdefghij klmnop\n"[(x >> 16) as usize % 18]
        })
        .collect();
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        z.start_file("a000.txt", opts).unwrap();
        z.write_all(&text).unwrap();
        z.finish().unwrap();
    }
    let zip = buf.into_inner();
    let find = |sig: &[u8; 4]| zip.windows(4).rposition(|w| w == sig).unwrap();
    let cd = find(b"PK\x01\x02");
    let eocd = find(b"PK\x05\x06");
    let name_len = u16::from_le_bytes([zip[cd + 28], zip[cd + 29]]) as usize;
    let extra_len = u16::from_le_bytes([zip[cd + 30], zip[cd + 31]]) as usize;
    let comment_len = u16::from_le_bytes([zip[cd + 32], zip[cd + 33]]) as usize;
    let record = &zip[cd..cd + 46 + name_len + extra_len + comment_len];
    let mut out = zip[..cd].to_vec();
    let cd_start = out.len() as u32;
    for i in 0..entries {
        let mut r = record.to_vec();
        r[46..46 + 8].copy_from_slice(format!("a{i:03}.txt").as_bytes());
        out.extend_from_slice(&r);
    }
    let cd_size = out.len() as u32 - cd_start;
    let mut end = zip[eocd..eocd + 22].to_vec();
    end[8..10].copy_from_slice(&(entries as u16).to_le_bytes());
    end[10..12].copy_from_slice(&(entries as u16).to_le_bytes());
    end[12..16].copy_from_slice(&cd_size.to_le_bytes());
    end[16..20].copy_from_slice(&cd_start.to_le_bytes());
    out.extend_from_slice(&end);
    out
}

#[test]
fn overlapping_entry_zip_bomb_is_bounded_and_never_clean() {
    let bomb = overlapping_entries_zip(600);
    // It really is one: every entry reads back the whole 2 MB run (1.2 GB in all).
    let mut a = zip::ZipArchive::new(std::io::Cursor::new(&bomb)).unwrap();
    assert_eq!(a.len(), 600);
    assert_eq!(a.by_index(599).unwrap().size(), 2 << 20);
    let raw = message("files", "filename=\"all.zip\"", "application/zip", &bomb);
    let (r, action) = scan_raw(&raw);
    assert!(
        !r.complete(),
        "the unpacked budget must leave it incomplete"
    );
    // A budget stops it (text extracted or bytes unpacked per message), inside the archive.
    assert!(
        r.not_scanned
            .iter()
            .any(|n| n.location.starts_with("attachment:all.zip/") && n.why.contains("more than")),
        "{:?}",
        r.not_scanned
    );
    assert_eq!(action, Action::Quarantine);
}

#[test]
fn file_names_are_read_even_inside_encrypted_archives_and_shown_masked() {
    use std::io::Write;
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .with_aes_encryption(zip::AesMode::Aes256, "kept-apart-9");
        z.start_file("reviews/Leah Walker annual review.docx", opts)
            .unwrap();
        z.write_all(b"not really a docx").unwrap();
        z.start_file("reviews/timetable.docx", opts).unwrap();
        z.write_all(b"not really a docx").unwrap();
        z.finish().unwrap();
    }
    let raw = message(
        "Reviews attached; the password comes by text.",
        "filename=\"reviews.zip\"",
        "application/zip",
        &buf.into_inner(),
    );
    let (r, action) = scan_raw(&raw);
    assert_eq!(
        kinds(&r),
        set(&["encrypted_attachment", "pupil_name"]),
        "{:?}",
        r.findings()
    );
    let shown = format!("{:?} {:?}", r.findings(), r.not_scanned);
    assert!(
        shown.contains("attachment-name:reviews.zip/reviews/L**** W**** annual review.docx"),
        "{shown}"
    );
    assert!(
        !shown.contains("Leah") && !shown.contains("Walker"),
        "{shown}"
    );
    // Readable pupil data to an outside address.
    assert_eq!(action, Action::Reject);
}

#[test]
fn mask_names_masks_every_pupil_name_and_nothing_else() {
    let s = scanner();
    assert_eq!(
        s.mask_names("Leah Walker EHCP evidence.zip"),
        "L**** W**** EHCP evidence.zip"
    );
    assert_eq!(s.mask_names("timetable 2026.xlsx"), "timetable 2026.xlsx");
}

/// A one-sheet workbook with no pupil data is clean; the same workbook with `parts` added
/// (hidden parts Excel keeps) is pupil data, and an external send of it is refused.
fn xlsx_part_holds_pupil_data(body: &str, parts: &[(&str, &[u8])]) {
    use std::io::Write;
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "Year 9 totals").unwrap();
    ws.write_number(0, 1, 42).unwrap();
    let plain = wb.save_to_buffer().unwrap();
    let mut out = copy_zip(&plain);
    for (name, xml) in parts {
        out.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(xml).unwrap();
    }
    let with_parts = out.finish().unwrap().into_inner();
    let scan = |x: &[u8]| {
        scan_raw(&message(
            body,
            "filename=totals.xlsx",
            "application/octet-stream",
            x,
        ))
    };
    let (r, _) = scan(&plain);
    assert!(!kinds(&r).contains("pupil_name"), "{:?}", kinds(&r));
    let (r, a) = scan(&with_parts);
    assert!(kinds(&r).contains("pupil_name"), "{:?}", kinds(&r));
    assert_eq!(a, Action::Reject);
}

/// An xlsx's external link cache: the cells of the workbook its formulas referred to (an MIS
/// export), kept inside this one until the link is broken — pupil data even when no formula
/// is left on the sheet.
#[test]
fn xlsx_external_link_cache_is_read() {
    xlsx_part_holds_pupil_data(
        "Seats for the trip.",
        &[(
            "xl/externalLinks/externalLink1.xml",
            br#"<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><externalBook xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" r:id="rId1"><sheetNames><sheetName val="Pupils"/></sheetNames><sheetDataSet><sheetData sheetId="0"><row r="2"><cell r="A2" t="str"><v>Walker</v></cell><cell r="B2" t="str"><v>Leah</v></cell></row></sheetData></sheetDataSet></externalBook></externalLink>"#,
        )],
    );
}

/// A pivot-table summary keeps a copy of its source rows in the workbook's pivot cache: a
/// sheet of totals whose cache holds pupils' names is pupil data (even with the source sheet
/// deleted).
#[test]
fn xlsx_pivot_cache_rows_are_read() {
    xlsx_part_holds_pupil_data(
        "Merit totals attached.",
        &[
            (
                "xl/pivotCache/pivotCacheDefinition1.xml",
                br#"<pivotCacheDefinition><cacheFields count="3"><cacheField name="Forename"><sharedItems><s v="Leah"/><s v="Olivia"/></sharedItems></cacheField><cacheField name="Surname"><sharedItems/></cacheField><cacheField name="Merits"><sharedItems/></cacheField></cacheFields></pivotCacheDefinition>"#,
            ),
            (
                "xl/pivotCache/pivotCacheRecords1.xml",
                br#"<pivotCacheRecords count="2"><r><x v="0"/><s v="Walker"/><n v="12"/></r><r><x v="1"/><s v="Smith"/><n v="30"/></r></pivotCacheRecords>"#,
            ),
        ],
    );
}
