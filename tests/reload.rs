//! Reload (SIGHUP) with the real binary under load: a steady stream of messages keeps
//! getting 250 and arriving while the relay reloads, a broken roster keeps the old state, and
//! a pupil added to the roster by the "nightly export" is recognised after the reload.

mod common;

use std::path::Path;
use std::process::{Child, Command};

use common::serve;

use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

fn hup(child: &Child) {
    let ok = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

async fn send(port: u16, to: &str, body: &str) -> Result<(), lettre::transport::smtp::Error> {
    let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .build();
    let env = lettre::address::Envelope::new(
        Some("luke.rich0@beaulieupark.example.sch.uk".parse().unwrap()),
        vec![to.parse().unwrap()],
    )
    .unwrap();
    let raw =
        format!("From: luke.rich0@beaulieupark.example.sch.uk\r\nSubject: trip\r\n\r\n{body}\r\n");
    t.send_raw(&env, raw.as_bytes()).await.map(|_| ())
}

/// Waits (polling the log, up to 60 s) until the relay has logged `needle` `n` times.
fn wait_log(log: &Path, needle: &str, n: usize) {
    for _ in 0..600 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.matches(needle).count() >= n {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!(
        "never logged {needle:?} {n} time(s):\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_drops_nothing_and_takes_the_new_roster() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let tmp = tempfile::tempdir().unwrap();
    let roster = tmp.path().join("bps-pupils.csv");
    std::fs::copy(samples.join("bps-pupils.csv"), &roster).unwrap();
    // Port 0 everywhere: the kernel chooses, the relay logs what it bound.
    let config = std::fs::read_to_string(samples.join("hallpass.toml"))
        .unwrap()
        .replace(
            "roster = \"bps-pupils.csv\"",
            &format!("roster = \"{}\"", roster.display()),
        )
        .replace(
            "roster = \"boswells",
            &format!("roster = \"{}/boswells", samples.display()),
        )
        .replace("staff = \"", &format!("staff = \"{}/", samples.display()))
        .replace("127.0.0.1:10025", "127.0.0.1:0")
        .replace("127.0.0.1:8025", "127.0.0.1:0")
        .replace("127.0.0.1:9325", "127.0.0.1:0");
    let path = tmp.path().join("hallpass.toml");
    std::fs::write(&path, config).unwrap();
    let log = tmp.path().join("serve.log");
    let relay = serve::start(&path, &log);
    let port = relay.smtp();
    // The new pupil is not known yet: delivered.
    let newcomer = "Zebedee Quarrington-Vale";
    send(
        port,
        "bookings@coach-hire.example.com",
        &format!("{newcomer} needs a seat."),
    )
    .await
    .expect("an unknown name is not pupil data");

    // Load: 4 senders × 40 messages, while the relay reloads (once with a broken roster).
    let load = tokio::spawn(async move {
        let mut tasks = Vec::new();
        for s in 0..4 {
            tasks.push(tokio::spawn(async move {
                let mut ok = 0;
                for i in 0..40 {
                    send(
                        port,
                        "bookings@coach-hire.example.com",
                        &format!("coach {s}-{i} leaves at 8:30"),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("message {s}-{i} refused during reload: {e}"));
                    ok += 1;
                }
                ok
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    });
    let good = std::fs::read(&roster).unwrap();
    std::fs::write(&roster, b"this is not a roster\n").unwrap();
    hup(&relay.child);
    wait_log(&log, "reload failed", 1);
    // The nightly export lands (written aside and renamed in, as docs/operations.md says).
    let mut with_newcomer = good.clone();
    with_newcomer.extend_from_slice(
        b"A881401199999,,009999,Quarrington-Vale,Zebedee,,,,01/02/2013,8,8B,M,,,,\r\n",
    );
    let staged = tmp.path().join("bps-pupils.csv.new");
    std::fs::write(&staged, &with_newcomer).unwrap();
    std::fs::rename(&staged, &roster).unwrap();
    hup(&relay.child);
    wait_log(&log, "reloaded", 1);
    hup(&relay.child);
    wait_log(&log, "reloaded", 2);
    let sent = load.await.unwrap();
    assert_eq!(sent, 160);
    // Every acknowledged message arrived (plus the first one).
    let arrived = std::fs::read_dir(tmp.path().join("var/outbox/new"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|m| m.contains("leaves at 8:30"))
        .count();
    assert_eq!(arrived, 160);
    // The new roster is in force: the newcomer's full name is now refused.
    let err = send(
        port,
        "bookings@coach-hire.example.com",
        &format!("{newcomer} needs a seat."),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("550"), "{err}");
    // And a pupil of the old roster still is (nothing was lost in the swap).
    let err = send(
        port,
        "bookings@coach-hire.example.com",
        "Leah Walker needs a seat.",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("550"), "{err}");
}
