//! The durability promise with the real binary: whatever the relay acknowledged with 250 is
//! on disk, even when the process is killed with SIGKILL right after the reply.

mod common;

use std::path::Path;

use common::serve::{self, Served};

use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

fn start(dir: &Path) -> (Served, u16) {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let config = std::fs::read_to_string(samples.join("hallpass.toml"))
        .unwrap()
        .replace("roster = \"", &format!("roster = \"{}/", samples.display()))
        .replace("staff = \"", &format!("staff = \"{}/", samples.display()))
        .replace("127.0.0.1:10025", "127.0.0.1:0")
        .replace("127.0.0.1:8025", "127.0.0.1:0")
        .replace("127.0.0.1:9325", "127.0.0.1:0");
    let path = dir.join("hallpass.toml");
    std::fs::write(&path, config).unwrap();
    let served = serve::start(&path, &dir.join("serve.log"));
    let port = served.smtp();
    (served, port)
}

async fn send(port: u16, to: &str, raw: &[u8]) -> Result<(), lettre::transport::smtp::Error> {
    let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .build();
    let env = lettre::address::Envelope::new(
        Some("luke.rich0@beaulieupark.example.sch.uk".parse().unwrap()),
        vec![to.parse().unwrap()],
    )
    .unwrap();
    t.send_raw(&env, raw).await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_mail_survives_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut relay, port) = start(tmp.path());
    // Held: a class list to a partner.
    let held = std::fs::read("samples/messages/class-list-csv-to-partner.eml").unwrap();
    send(port, "mash@essex.gov.uk", &held)
        .await
        .expect("250 for the held message");
    relay.child.kill().unwrap();
    relay.child.wait().unwrap();
    use hallpass::quarantine::{QuarantineStore, Query, Scope};
    let var = tmp.path().join("var");
    let store = hallpass::quarantine::SqliteStore::open(&var).unwrap();
    let page = store
        .query(&Query {
            per_page: 10,
            ..Query::default()
        })
        .unwrap();
    assert_eq!(page.total, 1, "held item in the store after SIGKILL");
    let reference = &page.items[0].reference;
    let stored = store
        .message(reference)
        .unwrap()
        .expect("held message kept");
    // lettre frames the data with one more CRLF before the final dot (see tests/relay.rs).
    let mut framed = held.clone();
    framed.extend_from_slice(b"\r\n");
    assert!(
        stored.ends_with(&framed),
        "held copy differs from what was sent"
    );
    let item = store.get(reference, &Scope::default()).unwrap().unwrap();
    assert_eq!(item.held.held_recipients, ["mash@essex.gov.uk"]);
    // Encrypted at rest: neither the subject, the body, the attachment (pupil names in its
    // base64) nor the recipient is in clear in any file of the store (db, WAL, key).
    let subject = item.held.subject.clone();
    assert!(!subject.is_empty());
    for e in std::fs::read_dir(&var).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            for needle in [
                subject.as_bytes(),
                b"As requested" as &[u8],
                b"U3VybmFtZSxGb3JlbmFtZSxET0IsVVBO",
                b"mash@essex",
            ] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{} holds {:?} in clear",
                    p.display(),
                    String::from_utf8_lossy(needle)
                );
            }
        }
    }

    // Delivered: a clean message into the Maildir.
    let (mut relay, port) = start(tmp.path());
    send(
        port,
        "bookings@coach-hire.example.com",
        b"Subject: coach\r\n\r\nThe coach leaves at 8:30.\r\n",
    )
    .await
    .expect("250");
    relay.child.kill().unwrap();
    relay.child.wait().unwrap();
    let new = tmp.path().join("var/outbox/new");
    let delivered: Vec<String> = std::fs::read_dir(&new)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    // The clean message, and the guidance notice about the held one.
    assert_eq!(
        delivered
            .iter()
            .filter(|m| m.contains("The coach leaves at 8:30."))
            .count(),
        1
    );
    assert_eq!(
        delivered
            .iter()
            .filter(|m| m.contains("X-Hallpass-Notice: guidance"))
            .count(),
        1
    );
}
