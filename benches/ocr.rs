//! Text in pictures (issue "OCR"): one A4 page scanned at 300 dpi (2480×3508, a register's
//! rows from the copier-scan fixture tiled down the page), a 1280×800 screenshot (the MIS
//! screenshot fixture on a desktop-sized canvas), each read by OCR from PNG bytes without the
//! cache; and a message whose signature carries the school logo, scanned end to end with the
//! logo already read once (the cache), beside the same message without the logo.
//!
//! Run: `cargo bench --bench ocr` (needs Debian's tesseract-ocr and tesseract-ocr-eng).
//! Tesseract runs with one thread (OMP_THREAD_LIMIT=1), so each figure is one core's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use criterion::{Criterion, criterion_group, criterion_main};
use hallpass::config::Config;
use hallpass::directory::Directory;
use hallpass::scan::ocr::{self, Settings};
use hallpass::scan::{Envelope, Scanner};

fn png(img: &image::DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn fixture(name: &str) -> image::DynamicImage {
    image::open(format!("tests/fixtures/ocr/{name}")).unwrap()
}

/// An A4 page at 300 dpi: the scanned register tiled down a white page.
fn a4_page() -> Vec<u8> {
    let scan = fixture("class-list-scan.jpg").to_luma8();
    let mut page = image::GrayImage::from_pixel(2480, 3508, image::Luma([255]));
    let mut y = 150i64;
    while y + i64::from(scan.height()) < 3400 {
        image::imageops::overlay(&mut page, &scan, 200, y);
        y += i64::from(scan.height()) + 60;
    }
    png(&image::DynamicImage::ImageLuma8(page))
}

/// A 1280×800 screenshot: the MIS window on a grey desktop.
fn screenshot() -> Vec<u8> {
    let shot = fixture("class-list-screenshot.png").to_rgb8();
    let mut desk = image::RgbImage::from_pixel(1280, 800, image::Rgb([200, 205, 210]));
    image::imageops::overlay(&mut desk, &shot, 40, 40);
    image::imageops::overlay(&mut desk, &shot, 640, 260);
    png(&image::DynamicImage::ImageRgb8(desk))
}

fn scanner() -> Scanner {
    let config = Config::load(std::path::Path::new("samples/hallpass.toml")).unwrap();
    let dir = Directory::load(&config.site).unwrap();
    Scanner::new(config.site.clone(), &config.scan, Arc::new(dir)).unwrap()
}

fn message(logo: Option<&[u8]>) -> Vec<u8> {
    let mut m = String::from(
        "From: rosie.griffiths1@beaulieupark.example.sch.uk\r\nTo: orders@stationery.example.com\r\n\
         Subject: Order\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nCould you quote for 40 boxes of A4 paper?\r\n\r\n\
         Rosie Griffiths\r\nThe Beaulieu Park School\r\n",
    );
    if let Some(l) = logo {
        let b64 = base64::engine::general_purpose::STANDARD.encode(l);
        m.push_str("--b\r\nContent-Type: image/png\r\nContent-ID: <logo>\r\nContent-Transfer-Encoding: base64\r\n\r\n");
        for c in b64.as_bytes().chunks(76) {
            m.push_str(std::str::from_utf8(c).unwrap());
            m.push_str("\r\n");
        }
    }
    m.push_str("--b--\r\n");
    m.into_bytes()
}

fn bench(c: &mut Criterion) {
    let s = Settings::default();
    let far = || Instant::now() + Duration::from_secs(600);
    let mut g = c.benchmark_group("ocr");
    g.sample_size(10);
    let a4 = a4_page();
    let text = ocr::read_image(&a4, "PNG", &s, far()).unwrap();
    assert!(
        text[0].1.contains("Walker") || text[0].1.contains("Wood"),
        "{text:?}"
    );
    g.bench_function("a4_300dpi_page", |b| {
        b.iter(|| ocr::read_image(&a4, "PNG", &s, far()).unwrap())
    });
    let shot = screenshot();
    g.bench_function("screenshot_1280x800", |b| {
        b.iter(|| ocr::read_image(&shot, "PNG", &s, far()).unwrap())
    });
    g.finish();

    let scanner = scanner();
    let env = Envelope {
        mail_from: "rosie.griffiths1@beaulieupark.example.sch.uk".into(),
        rcpt_to: vec!["orders@stationery.example.com".into()],
    };
    let logo = std::fs::read("tests/fixtures/ocr/school-logo.png").unwrap();
    let with_logo = message(Some(&logo));
    let without = message(None);
    let now = chrono::Utc::now();
    let first = Instant::now();
    let r = scanner.scan(&with_logo, &env, now);
    eprintln!(
        "logo message, first scan (logo read by OCR): {:?}",
        first.elapsed()
    );
    assert!(r.complete(), "{r:?}");
    let mut g = c.benchmark_group("logo_in_signature");
    g.bench_function("message_with_logo_cached", |b| {
        b.iter(|| scanner.scan(&with_logo, &env, now))
    });
    g.bench_function("same_message_without_logo", |b| {
        b.iter(|| scanner.scan(&without, &env, now))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
