//! The review page in a real browser, end to end: `hallpass serve` (the real binary, relay
//! and review page), a reviewer added with `hallpass user add`, two messages held through
//! real SMTP, then `tests/browser/review.mjs` drives Debian's headless Chromium with
//! playwright-core: sign in, filter, open, release, and a hostile HTML message that must
//! stay inert. The released copy must arrive in the Maildir next hop. Screenshots are kept
//! in `target/browser-artifacts/`. Needs `chromium` and `npm ci` in tests/browser (`.ci/run`
//! installs both).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

mod common;

use common::serve;

fn send(port: u16, from: &str, to: &str, raw: &[u8]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use lettre::AsyncTransport;
        let t =
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("127.0.0.1")
                .port(port)
                .build();
        let env =
            lettre::address::Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()])
                .unwrap();
        t.send_raw(&env, raw).await.expect("250 for a held message");
    });
}

#[test]
fn review_page_in_chromium_sign_in_filter_open_release() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let samples = root.join("samples");
    let tmp = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(samples.join("hallpass.toml"))
        .unwrap()
        .replace("roster = \"", &format!("roster = \"{}/", samples.display()))
        .replace("staff = \"", &format!("staff = \"{}/", samples.display()))
        .replace("127.0.0.1:10025", "127.0.0.1:0")
        .replace("127.0.0.1:8025", "127.0.0.1:0")
        .replace("127.0.0.1:9325", "127.0.0.1:0");
    let path = tmp.path().join("hallpass.toml");
    std::fs::write(&path, config).unwrap();
    let bin = env!("CARGO_BIN_EXE_hallpass");
    let password = "review page test password";
    let mut add = Command::new(bin)
        .args(["user", "add", "--config"])
        .arg(&path)
        .args(["dpl", "--role", "dpl", "--password-stdin"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    assert!(add.wait().unwrap().success());
    let server = serve::start(&path, &tmp.path().join("serve.log"));
    let (smtp, web) = (server.smtp(), server.review());

    let staff = "luke.rich0@beaulieupark.example.sch.uk";
    let class_list = std::fs::read("samples/messages/class-list-csv-to-partner.eml").unwrap();
    send(smtp, staff, "mash@essex.gov.uk", &class_list);
    let hostile = String::from_utf8(class_list.clone())
        .unwrap()
        .replace("Subject: Cohort list", "Subject: <script>alert(3)</script> Hostile cohort")
        .replace(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nAs requested, the cohort list.",
            "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n<html><head><script>window.hallpassPwned=1;document.title='pwned';alert('x')</script><link rel=stylesheet href=\"http://192.0.2.1/x.css\"></head><body><img src=\"http://192.0.2.1/pixel.png\"><p onmouseover=\"alert(2)\">As requested, the cohort list.</p><iframe src=\"http://192.0.2.1/\"></iframe></body></html>",
        );
    assert!(hostile.contains("<img src") && hostile.contains("Hostile cohort"));
    send(smtp, staff, "mash@essex.gov.uk", hostile.as_bytes());

    let shots = root.join("target/browser-artifacts");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .arg("review.mjs")
        .current_dir(root.join("tests/browser"))
        .env("BASE", format!("http://127.0.0.1:{web}"))
        .env("REVIEW_USER", "dpl")
        .env("REVIEW_PASS", password)
        .env("SHOTS", &shots)
        .env("CLEAN_SUBJECT", "Cohort list")
        .env("HOSTILE_SUBJECT", "Hostile cohort")
        .output()
        .expect("node runs (install Node.js; run npm ci in tests/browser)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference = stdout
        .lines()
        .find_map(|l| l.strip_prefix("released "))
        .expect("the script names the item it released")
        .trim()
        .to_string();
    assert!(reference.starts_with("HP-"));
    // The released copy is at the next hop, once, saying who released it.
    let new = tmp.path().join("var/outbox/new");
    let (notices, delivered): (Vec<String>, Vec<String>) = std::fs::read_dir(&new)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .partition(|m| m.contains("\r\nX-Hallpass-Notice: "));
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    // Two "held" notices to the sender, and one saying the class list was released.
    assert_eq!(
        notices
            .iter()
            .filter(|m| m.contains("X-Hallpass-Notice: guidance"))
            .count(),
        2
    );
    assert!(
        notices
            .iter()
            .any(|m| m.contains("X-Hallpass-Notice: review")
                && m.contains(&format!(
                    "Released by the data protection lead ({reference})"
                )))
    );
    assert!(delivered[0].contains(&format!("X-Hallpass-Released-By: dpl (dpl); {reference};")));
    assert!(delivered[0].contains("Subject: Cohort list"));
    assert!(delivered[0].contains("Delivered-To: mash@essex.gov.uk"));
    for shot in [
        "01-signin.png",
        "03-queue.png",
        "04-hostile-item.png",
        "06-released.png",
    ] {
        assert!(shots.join(shot).exists(), "{shot}");
    }
}
