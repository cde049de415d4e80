//! Text in pictures, the way the product runs: `hallpass scan --json` (the binary) on
//! messages carrying the pictures of tests/fixtures/ocr/ (made by make-ocr-fixtures.py:
//! screenshots at two scalings and in four formats, a skewed and speckled copier scan, a
//! phone photo, a bilevel multi-page TIFF, an image-only PDF, a docx with a pasted
//! screenshot, a logo, a photo, and hostile files), and `hallpass serve` refusing a
//! screenshot of a class list over SMTP while a signature logo goes through. Needs Debian's
//! tesseract-ocr, tesseract-ocr-eng and poppler-utils (.ci/run installs them).

mod common;

use std::path::Path;
use std::process::Command;

const SUPPLIER: &str = "bookings@coach-hire.example.com";
const STAFF: &str = "luke.rich0@beaulieupark.example.sch.uk";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new("tests/fixtures/ocr").join(name)).unwrap()
}

/// A message from a member of staff with `name` attached (base64, declared as
/// application/octet-stream: the type comes from the bytes).
fn message_with(name: &str, bytes: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: {STAFF}\r\nTo: {SUPPLIER}\r\nSubject: the list\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain\r\n\r\nPlease see the attached.\r\n--b\r\n\
         Content-Type: application/octet-stream; name=\"{name}\"\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

/// `hallpass scan --json` on a message to an outside supplier with `name` attached.
fn scan(name: &str, config: &Path) -> serde_json::Value {
    let tmp = tempfile::tempdir().unwrap();
    let eml = tmp.path().join("m.eml");
    std::fs::write(&eml, message_with(name, &fixture(name))).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args([
            "scan", "--json", "--from", STAFF, "--to", SUPPLIER, "--config",
        ])
        .arg(config)
        .arg(&eml)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sample_config() -> &'static Path {
    Path::new("samples/hallpass.toml")
}

/// The finding kinds of a report, with the count of distinct pupils named in the picture.
fn kinds(r: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_string())
        .collect();
    k.sort();
    k.dedup();
    k
}

fn bulk_pupils(r: &serde_json::Value) -> u64 {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "bulk_pupil_data")
        .map_or(0, |f| f["count"].as_u64().unwrap())
}

#[test]
fn class_lists_in_pictures_are_class_lists() {
    // Every way an office makes a picture of the same 12-pupil register.
    for name in [
        "class-list-screenshot.png",
        "class-list-screenshot-125.png",
        "class-list-screenshot.gif",
        "class-list-screenshot.bmp",
        "class-list-screenshot.webp",
        "class-list-scan.jpg",
        "class-list-phone-photo.jpg",
        "class-list-scan.tif",
        "class-list-scan.pdf",
        "trip-note-with-screenshot.docx",
    ] {
        let r = scan(name, sample_config());
        assert_eq!(r["action"], "reject", "{name}: {r:#}");
        assert_eq!(r["complete"], true, "{name}: {r:#}");
        let k = kinds(&r);
        for want in ["pupil_name", "upn", "bulk_pupil_data"] {
            assert!(k.iter().any(|x| x == want), "{name}: no {want} in {r:#}");
        }
        // Rows stay rows: most of the register is counted, whatever the picture.
        assert!(bulk_pupils(&r) >= 10, "{name}: {r:#}");
        // Located as text read from the picture.
        let at = r["findings"][0]["location"].as_str().unwrap();
        assert!(at.contains("(image text)"), "{name}: {at}");
    }
    // The copier's PDF: each page that had no text layer, by page.
    let r = scan("class-list-scan.pdf", sample_config());
    let pages: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["location"].as_str().unwrap())
        .collect();
    assert!(
        pages.contains(&"attachment:class-list-scan.pdf page 2 (image text)"),
        "{pages:?}"
    );
}

#[test]
fn pictures_without_pupil_data_are_allowed() {
    for name in ["school-logo.png", "seat-photo.jpg"] {
        let r = scan(name, sample_config());
        assert_eq!(r["action"], "allow", "{name}: {r:#}");
        assert_eq!(r["complete"], true, "{name}: {r:#}");
    }
}

#[test]
fn hostile_pictures_are_bounded_and_incomplete() {
    for (name, why) in [
        ("bomb.png", "100000×100000 pixels"),
        ("truncated.png", "damaged PNG image"),
        ("many-pages.tif", "more than 30 pages"),
    ] {
        let started = std::time::Instant::now();
        let r = scan(name, sample_config());
        assert_eq!(r["complete"], false, "{name}: {r:#}");
        assert_eq!(r["action"], "quarantine", "{name}: {r:#}");
        let ns = r["not_scanned"].to_string();
        assert!(ns.contains(why), "{name}: {ns}");
        // A hang guard, not a speed test: the header checks refuse these before decoding.
        assert!(started.elapsed().as_secs() < 60, "{name}");
    }
}

/// A config that is the sample's with `extra` added under `[scan]`, beside the sample
/// rosters.
fn config_with_scan(dir: &Path, extra: &str) -> std::path::PathBuf {
    let mut c = std::fs::read_to_string("samples/hallpass.toml").unwrap();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    c = c
        .replace("roster = \"", &format!("roster = \"{}/", samples.display()))
        .replace("staff = \"", &format!("staff = \"{}/", samples.display()));
    c.push_str(&format!("\n[scan]\n{extra}\n"));
    let p = dir.join("hallpass.toml");
    std::fs::write(&p, c).unwrap();
    p
}

#[test]
fn ocr_off_or_missing_makes_pictures_incomplete_never_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let off = config_with_scan(tmp.path(), "ocr = false");
    let r = scan("class-list-screenshot.png", &off);
    assert_eq!(r["complete"], false, "{r:#}");
    assert_eq!(r["action"], "quarantine", "{r:#}");
    assert!(
        r["not_scanned"].to_string().contains("ocr = false"),
        "{r:#}"
    );
    // The image-only PDF: its pages are not read, and that is said.
    let r = scan("class-list-scan.pdf", &off);
    assert_eq!(r["complete"], false, "{r:#}");
    assert!(
        r["not_scanned"].to_string().contains("no text layer"),
        "{r:#}"
    );
    // Tesseract not installed: the same, with the reason.
    let tmp2 = tempfile::tempdir().unwrap();
    let missing = config_with_scan(tmp2.path(), "ocr_program = \"/nonexistent/tesseract\"");
    let r = scan("class-list-screenshot.png", &missing);
    assert_eq!(r["complete"], false, "{r:#}");
    assert!(
        r["not_scanned"]
            .to_string()
            .contains("could not be started"),
        "{r:#}"
    );
    // A tiny spacer or tracking pixel holds no text: listed, and no reason to hold mail.
    let tmp3 = tempfile::tempdir().unwrap();
    let eml = tmp3.path().join("m.eml");
    let mut px = Vec::new();
    image::DynamicImage::new_luma8(1, 1)
        .write_to(&mut std::io::Cursor::new(&mut px), image::ImageFormat::Png)
        .unwrap();
    std::fs::write(&eml, message_with("spacer.png", &px)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args([
            "scan", "--json", "--from", STAFF, "--to", SUPPLIER, "--config",
        ])
        .arg(sample_config())
        .arg(&eml)
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["action"], "allow", "{r:#}");
    assert_eq!(r["complete"], true, "{r:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_refuses_a_screenshot_of_a_class_list_and_passes_a_logo() {
    use common::postfix::arrives;
    let tmp = tempfile::tempdir().unwrap();
    let (served, got) = common::serve::with_sink(tmp.path(), "").await;
    let port = served.smtp();
    let send = |name: &str| {
        let raw = message_with(name, &fixture(name));
        async move { common::postfix::send(port, STAFF, &[SUPPLIER], &raw).await }
    };
    let refused = send("class-list-screenshot.png").await.unwrap_err();
    assert!(refused.contains("5.7.1"), "{refused}");
    send("school-logo.png")
        .await
        .expect("the logo goes through");
    let g = arrives(&got, |g| g.data.contains("school-logo.png")).await;
    assert_eq!(g.rcpts, [SUPPLIER]);
    assert!(
        !got.lock()
            .unwrap()
            .iter()
            .any(|g| g.rcpts == [SUPPLIER] && g.data.contains("class-list-screenshot")),
        "the class list reached the supplier"
    );
}
