//! Attachment speed (issue "attachments"): a 1 MB xlsx class list, a 1 MB MIS export (twenty
//! columns, typed dates and numbers), a 1 MB text PDF and a 5 MB zip of mixed documents, each
//! as the attachment of a message scanned end to end; MB/s and time per file. Inputs are generated here (rust_xlsxwriter, lopdf, zip), no network.
//!
//! Run: `cargo bench --bench attachments`.

use std::io::Write;
use std::sync::Arc;

use base64::Engine;
use chrono::Datelike;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hallpass::config::Config;
use hallpass::directory::Directory;
use hallpass::scan::{Envelope, Scanner};
use hallpass::synth::Rng;
use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};

fn scanner() -> Scanner {
    let config = Config::load(std::path::Path::new("samples/hallpass.toml")).unwrap();
    let dir = Directory::load(&config.site).unwrap();
    Scanner::new(config.site.clone(), &config.scan, Arc::new(dir)).unwrap()
}

/// Pupils of the sample roster (surname, forename, DOB, UPN).
fn roster_rows() -> Vec<[String; 4]> {
    let text = std::fs::read_to_string("samples/bps-pupils.csv").unwrap();
    let mut rdr = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    rdr.records()
        .map(|r| {
            let r = r.unwrap();
            [r[3].into(), r[4].into(), r[8].into(), r[0].into()]
        })
        .collect()
}

/// A one-sheet workbook of about `target` bytes: a header row, then one row per pupil drawn
/// from the sample roster, written by `row` (the worksheet, the row number, the pupil, the
/// random source) until the saved workbook is big enough.
fn workbook(
    target: usize,
    header: &[&str],
    seed: u64,
    mut row: impl FnMut(&mut rust_xlsxwriter::Worksheet, u32, &[String; 4], &mut Rng),
) -> Vec<u8> {
    let rows = roster_rows();
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in header.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    let mut rng = Rng::new(seed);
    let mut r = 1u32;
    loop {
        let p = &rows[rng.below(rows.len())];
        row(wb.worksheet_from_index(0).unwrap(), r, p, &mut rng);
        r += 1;
        if r % 1000 == 0 {
            let b = wb.save_to_buffer().unwrap();
            if b.len() >= target {
                return b;
            }
        }
    }
}

/// A class list: surname, forename, DOB and UPN as text, reg group, a note.
fn xlsx(target: usize) -> Vec<u8> {
    let header = ["Surname", "Forename", "DOB", "UPN", "Reg", "Notes"];
    workbook(target, &header, 3, |ws, r, p, rng| {
        for (c, v) in p.iter().enumerate() {
            ws.write_string(r, c as u16, v).unwrap();
        }
        ws.write_string(
            r,
            4,
            format!("{}{}", 7 + rng.below(5), ["A", "B", "C"][rng.below(3)]),
        )
        .unwrap();
        ws.write_string(
            r,
            5,
            format!("homework {} merits {}", rng.below(20), rng.below(50)),
        )
        .unwrap();
    })
}

/// An MIS "student list" export: twenty columns per pupil (identifiers, names, a DOB date
/// cell, year and reg, Adno, address, contact name, phone and email, SEN/FSM/EAL flags,
/// ethnicity, attendance), numbers and dates as typed cells, about `target` bytes.
fn mis_export(target: usize) -> Vec<u8> {
    let date = rust_xlsxwriter::Format::new().set_num_format("dd/mm/yyyy");
    let header = [
        "UPN",
        "Legal Surname",
        "Legal Forename",
        "Preferred Forename",
        "DOB",
        "Gender",
        "Year",
        "Reg",
        "Adno",
        "Address 1",
        "Town",
        "Postcode",
        "Primary Contact",
        "Contact Phone",
        "Contact Email",
        "SEN Status",
        "FSM",
        "EAL",
        "Ethnicity",
        "Attendance %",
    ];
    workbook(target, &header, 5, |ws, r, p, rng| {
        let dob = chrono::NaiveDate::parse_from_str(&p[2], "%d/%m/%Y")
            .or_else(|_| chrono::NaiveDate::parse_from_str(&p[2], "%Y-%m-%d"))
            .unwrap();
        let dob = rust_xlsxwriter::ExcelDateTime::from_ymd(
            dob.year() as u16,
            dob.month() as u8,
            dob.day() as u8,
        )
        .unwrap();
        ws.write_string(r, 0, &p[3]).unwrap();
        ws.write_string(r, 1, &p[0]).unwrap();
        ws.write_string(r, 2, &p[1]).unwrap();
        ws.write_string(r, 3, &p[1]).unwrap();
        ws.write_datetime_with_format(r, 4, &dob, &date).unwrap();
        ws.write_string(r, 5, ["M", "F"][rng.below(2)]).unwrap();
        ws.write_number(r, 6, (7 + rng.below(5)) as f64).unwrap();
        ws.write_string(
            r,
            7,
            format!("{}{}", 7 + rng.below(5), ["A", "B", "C"][rng.below(3)]),
        )
        .unwrap();
        ws.write_number(r, 8, (1000 + rng.below(9000)) as f64)
            .unwrap();
        let street = ["High Street", "Church Lane", "Station Road", "Park Avenue"][rng.below(4)];
        ws.write_string(r, 9, format!("{} {street}", 1 + rng.below(200)))
            .unwrap();
        ws.write_string(r, 10, "Beaulieu").unwrap();
        ws.write_string(
            r,
            11,
            format!("SO{} {}AB", 10 + rng.below(90), 1 + rng.below(9)),
        )
        .unwrap();
        ws.write_string(r, 12, format!("Mrs {}", p[0])).unwrap();
        ws.write_string(r, 13, format!("07700 9{:05}", rng.below(100_000)))
            .unwrap();
        ws.write_string(r, 14, format!("parent{r}@example.com"))
            .unwrap();
        ws.write_string(r, 15, ["", "K", "E"][rng.below(3)])
            .unwrap();
        ws.write_boolean(r, 16, rng.below(5) == 0).unwrap();
        ws.write_string(r, 17, ["", "EAL"][rng.below(2)]).unwrap();
        ws.write_string(r, 18, ["WBRI", "WOTH", "ABAN", "BAFR"][rng.below(4)])
            .unwrap();
        ws.write_number(r, 19, 80.0 + rng.below(200) as f64 / 10.0)
            .unwrap();
    })
}

fn pdf(target_text: usize) -> Vec<u8> {
    let rows = roster_rows();
    let mut rng = Rng::new(4);
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(
        dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica" },
    );
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut kids = Vec::new();
    let mut written = 0;
    while written < target_text {
        let mut ops = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 10.into()]),
            Operation::new("TL", vec![12.into()]),
            Operation::new("Td", vec![50.into(), 800.into()]),
        ];
        for _ in 0..60 {
            let p = &rows[rng.below(rows.len())];
            let line = format!(
                "{} {} tutor group report: progress good, homework {} of 20 handed in",
                p[1],
                p[0],
                rng.below(21)
            );
            written += line.len();
            ops.push(Operation::new("Tj", vec![Object::string_literal(line)]));
            ops.push(Operation::new("T*", vec![]));
        }
        ops.push(Operation::new("ET", vec![]));
        let content = Content { operations: ops };
        let mut stream = Stream::new(dictionary! {}, content.encode().unwrap());
        let _ = stream.compress();
        let content_id = doc.add_object(stream);
        kids.push(doc.add_object(dictionary! { "Type" => "Page", "Parent" => pages_id, "Contents" => content_id, "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()] }).into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(pages_id, Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count, "Resources" => resources_id }));
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

fn zip_of(files: &[(&str, &[u8])], target: usize) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let mut i = 0;
        let mut total = 0;
        while total < target {
            let (name, data) = files[i % files.len()];
            z.start_file(format!("{i}-{name}"), opts).unwrap();
            z.write_all(data).unwrap();
            total += data.len();
            i += 1;
        }
        z.finish().unwrap();
    }
    buf.into_inner()
}

fn message(name: &str, data: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: luke.rich0@beaulieupark.example.sch.uk\r\nTo: bookings@coach-hire.example.com\r\nSubject: files\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nAttached.\r\n\
         --b\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

fn bench(c: &mut Criterion) {
    let s = scanner();
    let env = Envelope {
        mail_from: "luke.rich0@beaulieupark.example.sch.uk".into(),
        rcpt_to: vec!["bookings@coach-hire.example.com".into()],
    };
    let now = "2026-11-25T10:00:00Z".parse().unwrap();
    let x = xlsx(1 << 20);
    let mis = mis_export(1 << 20);
    let p = pdf(1 << 20);
    let docx = std::fs::read("tests/fixtures/pastoral-note.docx").unwrap();
    let csv = std::fs::read("samples/bps-pupils.csv").unwrap();
    let z = zip_of(
        &[
            ("list.xlsx", &x),
            ("report.pdf", &p),
            ("note.docx", &docx),
            ("pupils.csv", &csv),
        ],
        5 << 20,
    );
    let mut g = c.benchmark_group("attachments");
    g.sample_size(10);
    for (name, data) in [
        ("class-list-1mb.xlsx", &x),
        ("mis-export-1mb.xlsx", &mis),
        ("report-1mb.pdf", &p),
        ("mixed-5mb.zip", &z),
    ] {
        let msg = message(name, data);
        let r = s.scan(&msg, &env, now);
        assert!(r.complete(), "{name}: {:?}", r.not_scanned);
        assert!(
            r.kinds().iter().any(|k| k.as_str() == "pupil_name"),
            "{name}"
        );
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function(name, |b| b.iter(|| s.scan(&msg, &env, now)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
