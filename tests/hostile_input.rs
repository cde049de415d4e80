//! Bad input never panics or hangs, the readable parts are still scanned, and what could not
//! be read is listed (so the fail mode decides). Property tests feed random and mutated
//! messages through the real scanner built on the sample configuration.

use std::sync::OnceLock;

use hallpass::policy::{Action, decide};
use hallpass::scan::{Envelope, Report, Scanner};
use proptest::prelude::*;

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

fn now() -> chrono::DateTime<chrono::Utc> {
    "2026-11-25T10:00:00Z".parse().unwrap()
}

fn envelope() -> Envelope {
    Envelope {
        mail_from: "luke.rich0@beaulieupark.example.sch.uk".into(),
        rcpt_to: vec!["bookings@coach-hire.example.com".into()],
    }
}

fn scan(raw: &[u8]) -> (Report, Action) {
    let s = scanner();
    let r = s.scan(raw, &envelope(), now());
    let d = decide(&policy(), &s.classifier, &r, &envelope());
    (r, d.action)
}

const LEAK: &str = "From: luke.rich0@beaulieupark.example.sch.uk\r\nTo: bookings@coach-hire.example.com\r\nSubject: seats\r\nContent-Type: text/plain\r\n\r\nPlease seat Leah Walker at the front.\r\n";

#[test]
fn empty_message_is_clean_and_complete() {
    let (r, a) = scan(b"");
    assert!(r.complete());
    assert_eq!(a, Action::Allow);
}

/// Invisible characters (zero-width space and joiners, soft hyphen, word joiner, BOM, bidi
/// marks) inside or between a name's words, as text pasted from web pages and PDFs carries
/// them, hide nothing: in the body, the subject, HTML entities, and a table's cells (where
/// the same-row rule and the date of birth beside a name still hold).
/// A plain-text UTF-8 message from staff to a supplier saying "Please seat {who} at the
/// front."; whether it names a pupil, and its action.
fn seat(who: &str) -> (bool, Action) {
    let m = format!(
        "From: luke.rich0@beaulieupark.example.sch.uk\r\nTo: bookings@coach-hire.example.com\r\nSubject: seats\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease seat {who} at the front.\r\n"
    );
    let (r, a) = scan(m.as_bytes());
    (r.kinds().iter().any(|k| k.as_str() == "pupil_name"), a)
}

#[test]
fn invisible_characters_do_not_hide_a_name() {
    let head =
        "From: luke.rich0@beaulieupark.example.sch.uk\r\nTo: bookings@coach-hire.example.com\r\n";
    for body in [
        "Le\u{200B}ah Wal\u{200B}ker",
        "Leah Wal\u{AD}ker",
        "L\u{200D}eah\u{200E} W\u{2060}alker",
        "\u{FEFF}Leah \u{202A}Walker\u{202C}",
        "Leah\u{200B} \u{200C}Walker",
    ] {
        assert_eq!(seat(body), (true, Action::Reject), "{body:?}");
        let m = format!(
            "{head}Subject: =?utf-8?Q?{}?=\r\nContent-Type: text/plain\r\n\r\nSeats.\r\n",
            body.bytes()
                .map(|b| format!("={b:02X}"))
                .collect::<String>()
        );
        let (r, a) = scan(m.as_bytes());
        assert!(r.name_in_subject, "subject {body:?}");
        assert_eq!(a, Action::Reject, "subject {body:?}");
    }
    let m = format!(
        "{head}Subject: seats\r\nContent-Type: text/html\r\n\r\n<p>Please seat Le&#8203;ah Wal&shy;ker at the front.</p>\r\n"
    );
    let (r, a) = scan(m.as_bytes());
    assert!(r.kinds().iter().any(|k| k.as_str() == "pupil_name"));
    assert_eq!(a, Action::Reject);
    // A list: forename and surname in separate cells, invisible characters in the cells; the
    // date of birth counts beside the name in its row.
    let csv = "Surname,Forename,Born\r\nWal\u{200B}ker,\u{FEFF}Leah,\u{200E}25/11/2010\r\nWood\u{AD},Gr\u{200B}ace,12/03/2013\r\n";
    let m = format!(
        "{head}Subject: list\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nList.\r\n--b\r\nContent-Type: text/csv; charset=utf-8\r\nContent-Disposition: attachment; filename=\"list.csv\"\r\n\r\n{csv}--b--\r\n"
    );
    let (r, a) = scan(m.as_bytes());
    let kinds: Vec<&str> = r.kinds().iter().map(|k| k.as_str()).collect();
    assert!(kinds.contains(&"pupil_name"), "{kinds:?}");
    assert!(kinds.contains(&"date_of_birth"), "{kinds:?}");
    assert_eq!(a, Action::Reject);
}

/// Text extracted from a PDF often keeps the font's ligatures ("So\u{FB01}a", U+FB01), and
/// text typed with an East Asian input method full-width letters: they fold to the letters.
#[test]
fn ligatures_and_full_width_letters_do_not_hide_a_name() {
    for name in [
        "So\u{FB01}a Page",
        "PAGE, So\u{FB01}a",
        "Ｌｅａｈ Ｗａｌｋｅｒ",
    ] {
        assert_eq!(seat(name), (true, Action::Reject), "{name}");
    }
}

#[test]
fn a_two_megabyte_line_still_finds_the_name() {
    let mut m = String::from("Subject: long\r\nContent-Type: text/plain\r\n\r\n");
    m.push_str(&"x".repeat(1 << 20));
    m.push_str(" Leah Walker ");
    m.push_str(&"y ".repeat(1 << 19));
    let (r, a) = scan(m.as_bytes());
    assert!(r.kinds().iter().any(|k| k.as_str() == "pupil_name"));
    assert_eq!(a, Action::Reject);
}

#[test]
fn a_long_body_read_in_blocks_misses_nothing_at_a_block_edge() {
    // Free text over 260 KiB is scanned in 256 KiB blocks that overlap by 4 KiB: a name, its
    // date of birth (counted only beside the name) and an identifier written across where a
    // block starts are still found.
    let filler = "the class will meet in the hall after lunch on Friday. ";
    for edge in [256 << 10, 512 << 10] {
        for shift in [-40i64, -23, -11, -5, 0, 3, 9, 17] {
            let at = (edge as i64 + shift) as usize;
            let mut body = filler.repeat(at / filler.len() + 1);
            body.truncate(at);
            body.push_str(" Leah Walker 25/11/2010 M881401193754 ");
            while body.len() < (700 << 10) {
                body.push_str(filler);
            }
            let m =
                format!("Subject: notes\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}");
            let (r, a) = scan(m.as_bytes());
            let kinds: Vec<&str> = r.kinds().iter().map(|k| k.as_str()).collect();
            for k in ["pupil_name", "date_of_birth", "upn"] {
                assert!(
                    kinds.contains(&k),
                    "{k} missing at {edge}{shift:+}: {kinds:?}"
                );
            }
            assert_eq!(a, Action::Reject);
            assert_eq!(r.distinct_persons(), 1, "one pupil, seen by two blocks");
        }
    }
}

#[test]
fn fifty_levels_of_nesting_do_not_hide_or_crash() {
    let mut m = String::from("Subject: deep\r\nMIME-Version: 1.0\r\n");
    for i in 0..50 {
        m.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    m.push_str("Content-Type: text/plain\r\n\r\nPlease seat Leah Walker at the front.\r\n");
    for i in (0..50).rev() {
        m.push_str(&format!("--b{i}--\r\n"));
    }
    let (r, a) = scan(m.as_bytes());
    // Either the name is found or the part is listed as not read; never delivered as clean.
    assert!(a >= Action::Quarantine, "{a:?} {:?}", r.not_scanned);
}

#[test]
fn fifty_nested_attached_messages_are_bounded() {
    let mut inner =
        String::from("Subject: core\r\nContent-Type: text/plain\r\n\r\nLeah Walker\r\n");
    for _ in 0..50 {
        inner = format!(
            "Subject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n{inner}"
        );
    }
    let (r, a) = scan(inner.as_bytes());
    assert!(a >= Action::Quarantine, "{a:?} {:?}", r.not_scanned);
}

#[test]
fn invalid_base64_and_unknown_charset_still_scan_the_rest() {
    let m = "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\nLeah Walker\r\n--z\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n%%%%not base64%%%%\r\n--z--\r\n";
    let (r, a) = scan(m.as_bytes());
    assert!(r.kinds().iter().any(|k| k.as_str() == "pupil_name"));
    assert_eq!(a, Action::Reject);
}

#[test]
fn unreadable_attachment_holds_external_mail() {
    let m = "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--z\r\nContent-Type: application/octet-stream; name=a.bin\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\r\n--z--\r\n";
    let (r, a) = scan(m.as_bytes());
    assert!(!r.complete());
    assert_eq!(a, Action::Quarantine);
}

#[test]
fn many_parts_hit_the_part_limit() {
    let mut m = String::from(
        "Subject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n",
    );
    for _ in 0..1500 {
        m.push_str("--z\r\nContent-Type: text/plain\r\n\r\nhello\r\n");
    }
    m.push_str("--z--\r\n");
    let (r, a) = scan(m.as_bytes());
    assert!(!r.complete(), "the part limit was not applied");
    assert_eq!(a, Action::Quarantine);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = scan(&bytes);
    }

    /// Mutating a leaking message (flipping, inserting, deleting bytes) never panics; when
    /// the name survives the mutation intact and the message still parses to it, it is found.
    #[test]
    fn mutated_messages_never_panic(edits in proptest::collection::vec((0usize..400, any::<u8>(), 0u8..3), 0..12)) {
        let mut b = LEAK.as_bytes().to_vec();
        for (pos, byte, op) in edits {
            let p = pos % (b.len() + 1);
            match op {
                0 if p < b.len() => b[p] = byte,
                1 => b.insert(p, byte),
                _ if p < b.len() => { b.remove(p); }
                _ => {}
            }
        }
        let _ = scan(&b);
    }
}

fn with_attachment(data: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    format!(
        "Subject: f\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
         Content-Type: application/octet-stream; name=f\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b--\r\n"
    )
    .into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Each extractor (xlsx, docx, pptx, ods, pdf, zip, encrypted Office, doc, ppt, xls) on
    /// mutated bytes:
    /// never a panic; a damaged file is listed, not passed.
    #[test]
    fn mutated_attachments_never_panic(
        which in 0usize..13,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..16),
    ) {
        let names = ["class-list.xlsx", "pastoral-note.docx", "awards.pptx", "list.ods", "report.pdf",
                     "trip-plain.zip", "class-list-encrypted.xlsx", "trip-aes.zip",
                     "pastoral-note.doc", "awards.ppt", "class-list.xls", "referral-form.pdf",
                     "seating-plan.pdf"];
        let mut b = std::fs::read(format!("tests/fixtures/{}", names[which])).unwrap();
        for (pos, byte) in edits {
            let p = pos % b.len();
            b[p] = byte;
        }
        let _ = scan(&with_attachment(&b));
    }
}

/// One long shared string in thousands of cells would make far more text than the file
/// holds (an 80 MB sheet from a small xlsx): the cells are cut at the text budget as they are
/// read, not after the whole table was built, and what was cut is listed.
#[test]
fn a_shared_string_repeated_in_many_cells_is_cut_at_the_text_budget() {
    let long = format!("Leah Walker {}", "x".repeat(20_000));
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for r in 0..4_000 {
        ws.write_string(r, 0, &long).unwrap();
    }
    let xlsx = wb.save_to_buffer().unwrap();
    assert!(xlsx.len() < 200_000, "{}", xlsx.len());
    let (r, a) = scan(&with_attachment(&xlsx));
    assert!(
        r.not_scanned
            .iter()
            .any(|n| n.why.starts_with("sheet with more than")),
        "{:?}",
        r.not_scanned
    );
    assert!(r.kinds().iter().any(|k| k.as_str() == "pupil_name"));
    assert!(matches!(a, Action::Quarantine | Action::Reject), "{a:?}");
}

/// A cell far from the others must not make the spreadsheet reader lay out a grid of
/// billions of cells (calamine allocates the dense grid: this aborted the process on a
/// mutated .xls). The xlsx is read cell by cell; the .xls is measured first and listed.
#[test]
fn a_far_away_cell_does_not_exhaust_memory() {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "Leah").unwrap();
    ws.write_string(0, 1, "Walker").unwrap();
    ws.write_string(1_048_575, 16_383, "far away").unwrap();
    let (r, a) = scan(&with_attachment(&wb.save_to_buffer().unwrap()));
    assert!(r.complete(), "{:?}", r.not_scanned);
    assert!(r.kinds().iter().any(|k| k.as_str() == "pupil_name"));
    assert_eq!(a, Action::Reject);

    // The .xls fixture with one cell record moved to row 65535, column 65535.
    use std::io::{Read, Seek, SeekFrom, Write};
    let bytes = std::fs::read("tests/fixtures/class-list.xls").unwrap();
    let mut cf = cfb::CompoundFile::open(std::io::Cursor::new(bytes)).unwrap();
    let mut stream = Vec::new();
    cf.open_stream("/Workbook")
        .unwrap()
        .read_to_end(&mut stream)
        .unwrap();
    let mut i = 0;
    let at = loop {
        let id = u16::from_le_bytes([stream[i], stream[i + 1]]);
        let len = u16::from_le_bytes([stream[i + 2], stream[i + 3]]) as usize;
        if id == 0x00FD {
            break i + 4;
        }
        i += 4 + len;
    };
    let mut s = cf.open_stream("/Workbook").unwrap();
    s.seek(SeekFrom::Start(at as u64)).unwrap();
    s.write_all(&[0xFF, 0xFF, 0xFF, 0xFF]).unwrap();
    drop(s);
    cf.flush().unwrap();
    let xls = cf.into_inner().into_inner();
    let (r, a) = scan(&with_attachment(&xls));
    assert!(
        !r.complete(),
        "a sheet too large to lay out is listed as not read"
    );
    assert_eq!(a, Action::Quarantine);
}

#[test]
fn the_unmutated_leak_is_refused() {
    assert_eq!(scan(LEAK.as_bytes()).1, Action::Reject);
}

/// Hostile input for the name context rules (places, headings, the conversation): a body of
/// one 2 MB line holding thousands of pupil names and place-like words, and ten thousand
/// forged quoted-header lines, is scanned to the end and its names are found — the context
/// checks look only a bounded distance around each name.
#[test]
fn names_in_hostile_bulk_are_still_found() {
    let line = "Victoria Park Road Spring Fair Stalls Leah Walker the Chelsea Green stop ";
    let mut body = line.repeat(2_000_000 / line.len());
    for i in 0..10_000 {
        body.push_str(&format!("\r\nFrom: Person {i} <p{i}@x.example>"));
    }
    let raw = format!("Subject: x\r\nContent-Type: text/plain\r\n\r\n{body}\r\n");
    let (report, action) = scan(raw.as_bytes());
    assert!(report.complete());
    assert!(
        report
            .findings()
            .iter()
            .any(|f| f.kind == hallpass::scan::FindingKind::PupilName),
        "Leah Walker is still a pupil in all that"
    );
    assert_eq!(action, Action::Reject);
}
