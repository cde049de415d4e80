//! Notices through the real relay into the Maildir next hop: guidance to the sender of a
//! refused or held message (findings listed, names masked, the school's clause, the same
//! reference as the reply or the quarantine item), no loop, the rate limit, the DSL's
//! safeguarding alert, the deliberate-send override, the release notice; and snapshots of
//! the rendered templates (`UPDATE_SNAPSHOTS=1` rewrites them after a reviewed change).

mod common;

use common::*;
use hallpass::quarantine::{QuarantineStore, Query, Scope};
use lettre::AsyncTransport;

fn text_of(notice: &str) -> String {
    let m = mail_parser::MessageParser::default()
        .parse(notice.as_bytes())
        .expect("a notice parses");
    m.body_text(0).unwrap_or_default().into_owned()
}

fn html_of(notice: &str) -> String {
    let m = mail_parser::MessageParser::default()
        .parse(notice.as_bytes())
        .unwrap();
    m.body_html(0).unwrap_or_default().into_owned()
}

fn header<'a>(notice: &'a str, name: &str) -> Option<&'a str> {
    notice
        .split("\r\n\r\n")
        .next()?
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_message_gives_the_sender_guidance_with_masked_names() {
    let r = start(false, |_| {}).await;
    let err = client(r.addr)
        .send_raw(
            &envelope(STAFF, &[SUPPLIER]),
            b"From: luke.rich0@beaulieupark.example.sch.uk\r\nSubject: seats for Leah Walker\r\n\r\nPlease seat Leah Walker at the front.\r\n",
        )
        .await
        .unwrap_err()
        .to_string();
    let reference = err
        .split("Reference: ")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect::<String>();
    assert!(reference.starts_with("HP-"), "{err}");
    let n = notices(&r.maildir);
    assert_eq!(n.len(), 1, "{n:?}");
    let notice = &n[0];
    assert_eq!(header(notice, "Auto-Submitted"), Some("auto-replied"));
    assert_eq!(header(notice, "X-Hallpass-Notice"), Some("guidance"));
    assert!(
        notice.contains(&format!("Return-Path: <>")),
        "null envelope sender"
    );
    assert!(notice.contains(&format!("Delivered-To: {STAFF}")));
    let text = text_of(notice);
    assert!(
        text.contains("was NOT sent to: bookings@coach-hire.example.com"),
        "{text}"
    );
    assert!(
        text.contains("a pupil's full name in the subject"),
        "{text}"
    );
    assert!(text.contains("a pupil's full name in the body"), "{text}");
    assert!(text.contains("seats for L**** W****"), "{text}");
    assert!(
        !notice.contains("Leah") && !notice.contains("Walker"),
        "{notice}"
    );
    assert!(
        text.contains("Beaulieu Park acceptable use policy, section 5"),
        "{text}"
    );
    assert!(text.contains("password another way, for example by text message"));
    assert!(text.contains(&format!("Reference: {reference}")), "{text}");
    assert!(text.contains(&format!("/false-alarm/{reference}/")));
    let html = html_of(notice);
    assert!(html.contains("L**** W****") && html.contains("<strong>not</strong> sent"));
    assert!(
        mail(&r.maildir).is_empty(),
        "nothing but the notice was delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_message_notice_names_the_quarantine_item() {
    let r = start(false, |_| {}).await;
    let raw = std::fs::read("samples/messages/class-list-csv-to-partner.eml").unwrap();
    client(r.addr)
        .send_raw(&envelope(STAFF, &["mash@essex.gov.uk"]), &raw)
        .await
        .unwrap();
    let store = hallpass::quarantine::SqliteStore::open(&r.data_dir).unwrap();
    let page = store
        .query(&Query {
            per_page: 5,
            ..Query::default()
        })
        .unwrap();
    assert_eq!(page.total, 1);
    let reference = page.items[0].reference.clone();
    let n = notices(&r.maildir);
    assert_eq!(n.len(), 1);
    let text = text_of(&n[0]);
    assert!(
        text.contains("held for review by The Beaulieu Park School's data protection lead"),
        "{text}"
    );
    assert!(text.contains("attachment cohort.csv"), "{text}");
    assert!(text.contains(&format!("Reference: {reference}")), "{text}");
    assert!(text.contains("data about many pupils"), "{text}");
    assert!(!text.contains("Walker,Leah") && !text.contains("Leah"));
    // Release it: the sender hears, with the reviewer's note.
    let item = store.get(&reference, &Scope::default()).unwrap().unwrap();
    let notifier = common::config()
        .notifier("hallpass.test", &r.data_dir, Some(scanner()))
        .unwrap();
    let deliverer = hallpass::deliver::Deliverer::new(&hallpass::smtp::config::NextHop::Maildir(
        r.maildir.clone(),
    ))
    .unwrap();
    hallpass::review::actions::release(
        &store,
        &deliverer,
        Some(&notifier),
        &reference,
        &Scope::default(),
        "dpl (dpl)",
        &[],
        Some("Agreed with the LA; fine this once."),
    )
    .await
    .unwrap();
    let n = notices(&r.maildir);
    let released = n
        .iter()
        .find(|m| header(m, "X-Hallpass-Notice") == Some("review"))
        .expect("release notice");
    let text = text_of(released);
    assert!(text.contains(&format!(
        "\"{}\" (reference {reference})",
        item.held.subject
    )));
    assert!(
        text.contains("released by the data protection lead (dpl (dpl))"),
        "{text}"
    );
    assert!(text.contains("Agreed with the LA; fine this once."));
    assert_eq!(mail(&r.maildir).len(), 1, "the released copy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_digest_counts_what_waits() {
    let r = start(false, |_| {}).await;
    let raw = std::fs::read("samples/messages/class-list-csv-to-partner.eml").unwrap();
    client(r.addr)
        .send_raw(&envelope(STAFF, &["mash@essex.gov.uk"]), &raw)
        .await
        .unwrap();
    let _ = client(r.addr)
        .send_raw(&envelope(STAFF, &[SUPPLIER]), &msg("Leah Walker"))
        .await;
    let store = hallpass::quarantine::SqliteStore::open(&r.data_dir).unwrap();
    let notifier = common::config()
        .notifier("hallpass.test", &r.data_dir, None)
        .unwrap();
    let d = hallpass::notify::digest::digests(&notifier, &store, chrono::Utc::now()).unwrap();
    assert_eq!(d.len(), 1, "only the school with something to report");
    assert_eq!(d[0].to, "dpo@beaulieupark.example.sch.uk");
    let text = text_of(&String::from_utf8(d[0].message.clone()).unwrap());
    assert!(text.contains("Waiting for review: 1"), "{text}");
    assert!(
        text.contains("held: 1") && text.contains("refused: 1"),
        "{text}"
    );
    assert!(
        text.contains("bulk_pupil_data: 1") && text.contains("pupil_name: 2"),
        "{text}"
    );
    assert!(!text.contains("Leah"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_sent_back_into_the_relay_makes_no_new_notice() {
    let r = start(false, |_| {}).await;
    let _ = client(r.addr)
        .send_raw(
            &envelope(STAFF, &[SUPPLIER]),
            &msg("Please seat Leah Walker at the front."),
        )
        .await;
    let first = notices(&r.maildir);
    assert_eq!(first.len(), 1);
    // The notice comes back (a forward rule, a bounce) with its own headers — from the null
    // sender and from the staff address.
    let body = first[0]
        .split_once("X-Hallpass-Notice")
        .map(|(_, rest)| format!("X-Hallpass-Notice{rest}"))
        .unwrap();
    let back = format!("Auto-Submitted: auto-replied\r\n{body}");
    let null = lettre::address::Envelope::new(None, vec![SUPPLIER.parse().unwrap()]).unwrap();
    let _ = client(r.addr).send_raw(&null, back.as_bytes()).await;
    let _ = client(r.addr)
        .send_raw(&envelope(STAFF, &[SUPPLIER]), back.as_bytes())
        .await;
    // Mail from the system addresses never gets a notice either.
    let _ = client(r.addr)
        .send_raw(
            &envelope("MAILER-DAEMON@beaulieupark.example.sch.uk", &[SUPPLIER]),
            &msg("Leah Walker"),
        )
        .await;
    assert_eq!(notices(&r.maildir).len(), 1, "no notice about a notice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_holds() {
    let r = start(false, |_| {}).await;
    for i in 0..13 {
        let _ = client(r.addr)
            .send_raw(
                &envelope(STAFF, &[SUPPLIER]),
                &msg(&format!(
                    "Attempt {i}: please seat Leah Walker at the front."
                )),
            )
            .await
            .unwrap_err();
    }
    assert_eq!(notices(&r.maildir).len(), 10, "rate_limit_per_hour = 10");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_account_to_a_pupil_alerts_the_dsl() {
    let r = start(false, |_| {}).await;
    let raw = std::fs::read("samples/messages/personal-account-to-pupil.eml").unwrap();
    let env = hallpass::scan::mime::envelope_from_headers(&raw);
    let _ = client(r.addr)
        .send_raw(
            &envelope(
                &env.mail_from,
                &env.rcpt_to.iter().map(String::as_str).collect::<Vec<_>>(),
            ),
            &raw,
        )
        .await;
    let n = notices(&r.maildir);
    let alerts: Vec<&String> = n
        .iter()
        .filter(|m| header(m, "X-Hallpass-Notice") == Some("dsl-alert"))
        .collect();
    assert_eq!(alerts.len(), 1, "{n:?}");
    assert!(alerts[0].contains("Delivered-To: dsl@beaulieupark.example.sch.uk"));
    let text = text_of(alerts[0]);
    assert!(
        text.contains("staff writing to a pupil from a personal account"),
        "{text}"
    );
    assert!(text.contains(&env.mail_from), "{text}");
    assert!(text.contains("No message content is included"));
    assert!(!text.contains("homework is on the website"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliberate_send_is_delivered_without_the_tag_and_the_dpl_is_told() {
    let r = start(false, |_| {}).await;
    let bos_staff = "callum.watson0@boswells.example.sch.uk";
    // A pupil of Boswells, by name, to an outside address: refused without the tag.
    let pupil = "Chloé Richards"; // the first pupil of samples/boswells-ctf.xml
    let raw = format!(
        "From: {bos_staff}\r\nSubject: Work experience [dlp-override: employer needs the name] placement\r\n\r\n{pupil} starts on Monday.\r\n"
    );
    client(r.addr)
        .send_raw(&envelope(bos_staff, &[SUPPLIER]), raw.as_bytes())
        .await
        .expect("delivered as a deliberate send");
    let delivered = mail(&r.maildir);
    assert_eq!(delivered.len(), 1);
    assert!(
        delivered[0].contains("\r\nSubject: Work experience placement\r\n"),
        "{}",
        delivered[0]
    );
    assert!(!delivered[0].contains("dlp-override"));
    assert!(
        delivered[0].contains(&format!("{pupil} starts on Monday.")),
        "body unchanged"
    );
    let n = notices(&r.maildir);
    let told = n
        .iter()
        .find(|m| header(m, "X-Hallpass-Notice") == Some("override"))
        .expect("the data lead is told");
    assert!(told.contains("Delivered-To: dpo@boswells.example.sch.uk"));
    let text = text_of(told);
    assert!(
        text.contains("employer needs the name") && text.contains(bos_staff),
        "{text}"
    );
    // Not for a school that does not allow it (bps), and never for bulk data.
    let err = client(r.addr)
        .send_raw(
            &envelope(STAFF, &[SUPPLIER]),
            b"From: x\r\nSubject: seats [dlp-override: trust me]\r\n\r\nPlease seat Leah Walker at the front.\r\n",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("550"), "{err}");
    let class_list =
        String::from_utf8(std::fs::read("samples/messages/class-list-csv-to-partner.eml").unwrap())
            .unwrap()
            .replace(
                "Subject: Cohort list",
                "Subject: Cohort list [dlp-override: they asked]",
            )
            .replace("luke.rich0@beaulieupark", "callum.watson0@boswells");
    client(r.addr)
        .send_raw(
            &envelope(bos_staff, &["mash@essex.gov.uk"]),
            class_list.as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(
        mail(&r.maildir).len(),
        1,
        "the bulk list was held, not delivered"
    );
}

/// Compares with `tests/snapshots/NAME`, or writes it when UPDATE_SNAPSHOTS is set.
fn snapshot(name: &str, got: &str) {
    let path = std::path::Path::new("tests/snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all("tests/snapshots").unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} missing: run with UPDATE_SNAPSHOTS=1 and review it",
            path.display()
        )
    });
    assert_eq!(
        got, want,
        "{name} changed: review the wording, then UPDATE_SNAPSHOTS=1"
    );
}

#[test]
fn rendered_templates_match_their_snapshots() {
    use hallpass::notify::{Facts, Outcome};
    use hallpass::scan::{Finding, FindingKind};
    let tmp = tempfile::tempdir().unwrap();
    let n = common::config()
        .notifier("hallpass.test", tmp.path(), Some(scanner()))
        .unwrap();
    let findings = vec![
        Finding {
            kind: FindingKind::PupilName,
            location: "attachment:Year9.xlsx".into(),
            count: 28,
            evidence: "O**** S****, T**** C****".into(),
        },
        Finding {
            kind: FindingKind::Upn,
            location: "attachment:Year9.xlsx".into(),
            count: 28,
            evidence: "A************".into(),
        },
        Finding {
            kind: FindingKind::BulkPupilData,
            location: "message".into(),
            count: 28,
            evidence: "28 pupils".into(),
        },
    ];
    let facts = Facts {
        reference: "HP-SNAPSHOT0001",
        sender: STAFF,
        subject_masked: "Year 9 list".into(),
        findings: &findings,
    };
    let stable = |s: String| {
        let token = n.false_alarm_token("HP-SNAPSHOT0001");
        s.replace(&token, "TOKEN")
    };
    for (outcome, name) in [(Outcome::Held, "held"), (Outcome::Refused, "refused")] {
        let notice = n
            .guidance(&facts, outcome, &["someone@gmail.com".to_string()])
            .unwrap();
        let raw = String::from_utf8(notice.message).unwrap();
        snapshot(&format!("guidance-{name}.txt"), &stable(text_of(&raw)));
        snapshot(&format!("guidance-{name}.html"), &stable(html_of(&raw)));
    }
}
