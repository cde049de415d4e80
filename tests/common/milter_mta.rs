//! What every MTA calling Hallpass's milter must show, end to end (tests/postfix_milter.rs,
//! tests/sendmail_milter.rs): clean mail delivered with X-Hallpass-Result; a pupil's full
//! name to an outside address refused with the guidance; a class list to a partner accepted
//! and held in Hallpass's quarantine, not delivered; a message to a colleague and an outside
//! address delivered to the colleague only.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use super::postfix::{Got, arrives, send};

/// Sends the four messages through the MTA listening on `smtpd` (the sink recording into
/// `got`; Hallpass running with the config `hallpass_config`) and checks each outcome.
pub async fn milter_outcomes(smtpd: u16, got: &Arc<Mutex<Vec<Got>>>, hallpass_config: &Path) {
    let staff = "luke.rich0@beaulieupark.example.sch.uk";
    let colleague = "rosie.griffiths1@beaulieupark.example.sch.uk";
    let supplier = "bookings@coach-hire.example.com";
    let msg = |subject: &str, body: &str| {
        format!("From: {staff}\r\nTo: someone\r\nSubject: {subject}\r\n\r\n{body}\r\n").into_bytes()
    };

    // Clean: delivered, with the result header.
    send(
        smtpd,
        staff,
        &[supplier],
        &msg("coach", "The coach leaves at 8:30."),
    )
    .await
    .expect("accepted");
    let g = arrives(got, |g| g.data.contains("The coach leaves at 8:30.")).await;
    assert_eq!(g.rcpts, [supplier]);
    assert!(
        g.data
            .contains("X-Hallpass-Result: action=allow; findings=none; ref=HP-"),
        "{}",
        g.data
    );

    // A pupil's full name to an outside address: the MTA refuses it with the guidance.
    let err = send(
        smtpd,
        staff,
        &[supplier],
        &msg("seats", "Please seat Leah Walker at the front."),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("550") && err.contains("a pupil's full name in the body"),
        "{err}"
    );
    assert!(err.contains("Reference: HP-"), "{err}");

    // A class list to a partner: accepted by the MTA, held by Hallpass, not delivered.
    let class_list = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("samples/messages/class-list-csv-to-partner.eml"),
    )
    .unwrap();
    send(smtpd, staff, &["mash@essex.gov.uk"], &class_list)
        .await
        .expect("accepted and held");
    // The sender's notice (sent after the hold) is the sign the milter is done with it.
    let notice = arrives(got, |g| {
        g.data.contains("X-Hallpass-Notice: guidance") && g.data.contains("held")
    })
    .await;
    assert_eq!(notice.rcpts, [staff]);
    assert!(
        !got.lock()
            .unwrap()
            .iter()
            .any(|g| g.data.contains("cohort.csv") && !g.data.contains("X-Hallpass-Notice")),
        "the class list never left"
    );
    let list = Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args(["quarantine", "list", "--config"])
        .arg(hallpass_config)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(
        listed.contains("held") && listed.contains("bulk_pupil_data"),
        "{listed}"
    );

    // Mixed: the colleague gets it; the outside recipient was removed (SMFIR_DELRCPT).
    send(
        smtpd,
        staff,
        &[colleague, supplier],
        &msg("seating", "Isaac Barker needs a seat near a teacher."),
    )
    .await
    .expect("accepted for the colleague");
    let g = arrives(got, |g| g.data.contains("Isaac Barker needs a seat")).await;
    assert_eq!(g.rcpts, [colleague]);
    assert!(g.data.contains("X-Hallpass-Result: action="));
}
