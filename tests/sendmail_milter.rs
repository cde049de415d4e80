//! Milter mode end to end with a real Sendmail (Debian's `sendmail-bin` 8.17, unpacked by
//! `.ci/run`; see tests/common/sendmail.rs), configured with the `INPUT_MAIL_FILTER` line of
//! docs/sendmail.md: Sendmail's daemon calls Hallpass's milter, then relays to a recording
//! sink. Clean mail arrives with X-Hallpass-Result; a pupil's name to an outside address is
//! refused with Hallpass's guidance; a class list to a partner is held in Hallpass's
//! quarantine; a mixed message reaches the colleague only; with `hold = "mta"` held mail
//! waits in Sendmail's own quarantine; and with Hallpass down, `F=T` makes Sendmail answer
//! 4xx — deferred, never passed unscanned.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use common::milter_mta::milter_outcomes;
use common::postfix::*;
use common::sendmail::{Sendmail, documented_milter_line, root};
use common::serve;

const STAFF: &str = "luke.rich0@beaulieupark.example.sch.uk";
const SUPPLIER: &str = "bookings@coach-hire.example.com";
const PARTNER: &str = "mash@essex.gov.uk";

/// Hallpass's milter (`hold` as given) and a private Sendmail calling it as documented,
/// relaying to a recording sink: (Hallpass, Sendmail, Sendmail's port, what reached the sink).
async fn hallpass_and_sendmail(
    root: &Path,
    tmp: &Path,
    hold: &str,
) -> (serve::Served, Sendmail, u16, Arc<Mutex<Vec<Got>>>) {
    let smtpd = free_port();
    let (sink_port, got) = recording_sink().await;
    let hallpass = serve::with_milter(tmp, sink_port, hold);
    let milter = documented_milter_line(hallpass.milter());
    let sendmail = tokio::task::block_in_place(|| {
        Sendmail::start(root, &tmp.join("sendmail"), smtpd, sink_port, &milter)
    });
    (hallpass, sendmail, smtpd, got)
}

fn msg(subject: &str, body: &str) -> Vec<u8> {
    format!("From: {STAFF}\r\nTo: someone\r\nSubject: {subject}\r\n\r\n{body}\r\n").into_bytes()
}

fn class_list() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("samples/messages/class-list-csv-to-partner.eml"),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendmail_with_the_hallpass_milter() {
    let Some(root) = root() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (hallpass, _sendmail, smtpd, got) =
        hallpass_and_sendmail(&root, tmp.path(), "hallpass").await;

    milter_outcomes(smtpd, &got, &tmp.path().join("hallpass/hallpass.toml")).await;
    drop(hallpass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendmail_quarantines_with_hold_mta_and_defers_when_hallpass_is_down() {
    let Some(root) = root() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (hallpass, sendmail, smtpd, got) = hallpass_and_sendmail(&root, tmp.path(), "mta").await;

    send(smtpd, STAFF, &[PARTNER], &class_list())
        .await
        .expect("accepted into Sendmail's quarantine");
    // In Sendmail's quarantine (`mailq -qQ`), with Hallpass's reason (a readiness poll).
    let mut held = String::new();
    for _ in 0..600 {
        held = tokio::task::block_in_place(|| sendmail.queue(true));
        if held.contains(PARTNER) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(held.contains(PARTNER), "{held}");
    assert!(held.contains("QUARANTINE: Hallpass HP-"), "{held}");
    assert!(
        !got.lock()
            .unwrap()
            .iter()
            .any(|g| g.rcpts.iter().any(|r| r == PARTNER)),
        "nothing delivered while quarantined"
    );

    // Hallpass stopped: Sendmail (F=T) defers with 4xx; nothing passes unscanned.
    drop(hallpass);
    let err = send(smtpd, STAFF, &[SUPPLIER], &msg("later", "See you at 3."))
        .await
        .unwrap_err();
    assert!(err.contains("451"), "{err}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !got.lock()
            .unwrap()
            .iter()
            .any(|g| g.data.contains("See you at 3.")),
        "not delivered unscanned"
    );
}
