//! Detection as staff really write (family name first, short forms, text hidden in
//! documents, the wrong parent at a partner domain; places, headings and names in the
//! conversation that are not pupils) through `hallpass serve`, the real binary: sample
//! messages sent over SMTP, refused or delivered as `samples/` expects. (The milter half is
//! in tests/postfix_milter.rs; every sample through `hallpass scan` in tests/samples.rs.)

mod common;

use common::postfix::{arrives, sample_message as sample, send};

/// Samples the relay must refuse.
const REFUSED: &[&str] = &[
    "name-family-first-to-tutor",
    "name-short-form-supplier",
    "attach-docx-tracked-deletion-external",
    "attach-pdf-word-by-word-external",
    "contact-at-nhs-wrong-child",
    "place-name-with-pupil-context-external",
];

/// Samples the relay must deliver.
const DELIVERED: &[&str] = &[
    "clean-place-bus-stop-external",
    "clean-heading-title-case-external",
    "clean-quoted-writer-shares-a-pupil-name",
    "clean-colleague-named-as-staff",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_refuses_names_as_staff_write_them_and_passes_names_that_are_not_pupils() {
    let tmp = tempfile::tempdir().unwrap();
    let (served, got) = common::serve::with_sink(tmp.path(), "").await;
    let port = served.smtp();
    for name in REFUSED {
        let (raw, from, to) = sample(name);
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        let refused = send(port, &from, &to, &raw)
            .await
            .expect_err(&format!("{name} was accepted"));
        assert!(refused.contains("5.7.1"), "{name}: {refused}");
    }
    for name in DELIVERED {
        let (raw, from, to) = sample(name);
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        send(port, &from, &to, &raw)
            .await
            .unwrap_or_else(|e| panic!("{name} refused: {e}"));
        let id = format!("<{name}@hallpass.samples>");
        let g = arrives(&got, |g| g.data.contains(&id)).await;
        assert_eq!(g.rcpts, to, "{name}");
    }
    let delivered = got.lock().unwrap();
    for name in REFUSED {
        let id = format!("<{name}@hallpass.samples>");
        assert!(
            !delivered.iter().any(|g| g.data.contains(&id)),
            "{name} reached its recipient"
        );
    }
}
