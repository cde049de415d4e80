//! The durability promise with the real binary: whatever the relay acknowledged with 250 is
//! on disk, even when the process is killed with SIGKILL right after the reply.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(dir: &Path) -> (Killed, u16) {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let port = free_port();
    let config = std::fs::read_to_string(samples.join("hallpass.toml"))
        .unwrap()
        .replace("roster = \"", &format!("roster = \"{}/", samples.display()))
        .replace("staff = \"", &format!("staff = \"{}/", samples.display()))
        .replace("127.0.0.1:10025", &format!("127.0.0.1:{port}"));
    let path = dir.join("hallpass.toml");
    std::fs::write(&path, config).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Killed(child);
    // Wait until it listens (a readiness poll, not a timing assumption: up to 60 s).
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (child, port);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("hallpass serve did not start listening");
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
    let (mut child, port) = start(tmp.path());
    // Held: a class list to a partner.
    let held = std::fs::read("samples/messages/class-list-csv-to-partner.eml").unwrap();
    send(port, "mash@essex.gov.uk", &held)
        .await
        .expect("250 for the held message");
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let q = tmp.path().join("var/quarantine");
    let names: Vec<String> = std::fs::read_dir(&q)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let eml = names
        .iter()
        .find(|n| n.ends_with(".eml"))
        .expect("held message on disk");
    let json = names
        .iter()
        .find(|n| n.ends_with(".json"))
        .expect("held report on disk");
    let stored = std::fs::read(q.join(eml)).unwrap();
    // lettre frames the data with one more CRLF before the final dot (see tests/relay.rs).
    let mut framed = held.clone();
    framed.extend_from_slice(b"\r\n");
    assert!(
        stored.ends_with(&framed),
        "held copy differs from what was sent"
    );
    assert!(
        std::fs::read_to_string(q.join(json))
            .unwrap()
            .contains("mash@essex.gov.uk")
    );

    // Delivered: a clean message into the Maildir.
    let (mut child, port) = start(tmp.path());
    send(
        port,
        "bookings@coach-hire.example.com",
        b"Subject: coach\r\n\r\nThe coach leaves at 8:30.\r\n",
    )
    .await
    .expect("250");
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let new = tmp.path().join("var/outbox/new");
    let delivered: Vec<_> = std::fs::read_dir(&new).unwrap().collect();
    assert_eq!(delivered.len(), 1);
}
