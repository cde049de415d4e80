//! The relay behind a real Postfix as its after-queue content filter (the set-up of
//! docs/postfix.md): Postfix on loopback hands each queued message to Hallpass over LMTP
//! (`content_filter = lmtp:[127.0.0.1]:PORT`), Hallpass hands what may go to Postfix's
//! reinjection smtpd, which relays to a recording sink. A clean message is delivered; a
//! pupil's name to an outside address bounces to the sender with Hallpass's text; a class
//! list is held in the quarantine; with Hallpass stopped nothing is lost — Postfix defers and
//! delivers once it is back.

mod common;

use std::path::Path;
use std::process::Command;

use common::postfix::*;
use common::serve;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_content_filter_through_hallpass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let samples = root.join("samples");
    let tmp = tempfile::tempdir().unwrap();
    let (smtpd, reinject, lmtp) = (free_port(), free_port(), free_port());
    let (sink_port, got) = recording_sink().await;

    let config_path = sample_config(
        &tmp.path().join("hallpass"),
        &[
            (
                "listen = [\"127.0.0.1:10025\"]",
                format!("listen = [\"lmtp:127.0.0.1:{lmtp}\"]"),
            ),
            (
                "next_hop = \"maildir:./var/outbox\"",
                format!("next_hop = \"smtp://127.0.0.1:{reinject}\""),
            ),
        ],
    );
    let log = tmp.path().join("hallpass.log");
    let mut hallpass = serve::start(&config_path, &log);
    let postfix = content_filter_postfix(
        &tmp.path().join("postfix"),
        smtpd,
        sink_port,
        lmtp,
        reinject,
    );

    let staff = "luke.rich0@beaulieupark.example.sch.uk";
    let supplier = "bookings@coach-hire.example.com";
    let msg = |subject: &str, body: &str| {
        format!("From: {staff}\r\nTo: someone\r\nSubject: {subject}\r\n\r\n{body}\r\n").into_bytes()
    };

    // Clean: through Postfix, Hallpass and the reinjection port to the sink.
    send(
        smtpd,
        staff,
        &[supplier],
        &msg("coach", "The coach leaves at 8:30."),
    )
    .await
    .unwrap();
    let g = arrives(&got, |g| g.data.contains("The coach leaves at 8:30.")).await;
    assert_eq!(g.rcpts, [supplier]);
    assert!(
        g.data.contains("X-Hallpass-Result: action=allow"),
        "{}",
        g.data
    );
    assert!(g.data.contains("(Hallpass) with LMTP"), "{}", g.data);

    // A pupil's name to an outside address: Postfix accepted it; Hallpass refuses it over
    // LMTP; Postfix bounces it to the sender with Hallpass's text.
    send(
        smtpd,
        staff,
        &[supplier],
        &msg("seats", "Please seat Leah Walker at the front."),
    )
    .await
    .unwrap();
    let bounce = arrives(&got, |g| {
        g.rcpts == [staff] && g.data.contains("MAILER-DAEMON") && g.data.contains("Reference: HP-")
    })
    .await;
    assert!(
        bounce.data.contains("a pupil's full name in the body"),
        "{}",
        bounce.data
    );
    assert!(
        !got.lock()
            .unwrap()
            .iter()
            .any(|g| g.rcpts == [supplier] && g.data.contains("Leah Walker"))
    );

    // A class list to a partner: held in the quarantine, the sender told.
    let class_list = std::fs::read(samples.join("messages/class-list-csv-to-partner.eml")).unwrap();
    send(smtpd, staff, &["mash@essex.gov.uk"], &class_list)
        .await
        .unwrap();
    arrives(&got, |g| {
        g.data.contains("X-Hallpass-Notice: guidance") && g.data.contains("held for review")
    })
    .await;
    let list = Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args(["quarantine", "list", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert_eq!(listed.lines().count(), 1, "{listed}");

    // Hallpass down: Postfix keeps the message and delivers it once Hallpass is back.
    let _ = hallpass.child.kill();
    let _ = hallpass.child.wait();
    send(
        smtpd,
        staff,
        &[supplier],
        &msg("minibus", "The minibus leaves at 9:15."),
    )
    .await
    .expect("Postfix queues it while the filter is down");
    // Give Postfix a first, failing try (it logs the deferral), then bring Hallpass back.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(
        !got.lock()
            .unwrap()
            .iter()
            .any(|g| g.data.contains("The minibus leaves"))
    );
    hallpass = serve::start(&config_path, &log);
    // The filter is back: Postfix delivers what it kept (asked at once, as an operator would).
    postfix.flush();
    let g = arrives(&got, |g| g.data.contains("The minibus leaves at 9:15.")).await;
    assert_eq!(g.rcpts, [supplier]);
    assert_eq!(
        got.lock()
            .unwrap()
            .iter()
            .filter(|g| g.data.contains("The minibus leaves"))
            .count(),
        1,
        "delivered once"
    );
    drop(hallpass);
}
