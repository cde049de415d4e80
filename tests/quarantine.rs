//! The quarantine store, the same tests on both backends: a real SQLite file, and a real
//! PostgreSQL server when `HALLPASS_TEST_POSTGRES` names one (`.ci/run` starts Debian's
//! `postgresql` and sets it; under CI it is required). Claims, retention, scopes, queue
//! filters, hostile ids, and several handles (as several relays would have) on one store.

use std::path::Path;

use chrono::{Duration, Utc};
use hallpass::quarantine::{
    HeldItem, PgStore, QuarantineStore, Query, Role, Scope, SqliteStore, Status, User,
};
use hallpass::scan::{Finding, FindingKind};

/// Opens another handle on the same store (a new connection).
type Opener = Box<dyn Fn() -> Box<dyn QuarantineStore> + Sync>;

/// One opener per backend, each on a fresh, empty store under `dir`.
fn backends(dir: &Path) -> Vec<(&'static str, Opener)> {
    let d = dir.to_path_buf();
    let mut out: Vec<(&'static str, Opener)> = vec![(
        "sqlite",
        Box::new(move || Box::new(SqliteStore::open(&d).unwrap()) as Box<dyn QuarantineStore>),
    )];
    match std::env::var("HALLPASS_TEST_POSTGRES") {
        Ok(base) => {
            // A schema of its own per test, so tests running at once never meet.
            let schema = format!(
                "t_{}_{}",
                std::process::id(),
                dir.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .to_lowercase()
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "")
            );
            let mut c = postgres::Client::connect(&base, postgres::NoTls)
                .expect("HALLPASS_TEST_POSTGRES connects");
            c.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .unwrap();
            let url = format!("{base} options='-c search_path={schema}'");
            let d = dir.join("pg");
            out.push((
                "postgres",
                Box::new(move || {
                    Box::new(PgStore::open(&url, &d).unwrap()) as Box<dyn QuarantineStore>
                }),
            ));
        }
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI must run the PostgreSQL tests: set HALLPASS_TEST_POSTGRES")
        }
        Err(_) => eprintln!("HALLPASS_TEST_POSTGRES not set: PostgreSQL backend not tested here"),
    }
    out
}

fn item(reference: &str, school: &str, days_ago: i64, safeguarding: bool) -> HeldItem {
    HeldItem {
        reference: reference.into(),
        received: Utc::now() - Duration::days(days_ago),
        school: school.into(),
        sender: format!("teacher@{school}.example.sch.uk"),
        recipients: vec!["someone@gmail.com".into()],
        held_recipients: vec!["someone@gmail.com".into()],
        subject: format!("Report for Olivia Smith {reference}"),
        findings: vec![Finding {
            kind: if safeguarding {
                FindingKind::PersonalAccountToPupil
            } else {
                FindingKind::PupilName
            },
            location: "subject".into(),
            count: 1,
            evidence: "O**** S****".into(),
        }],
        reasons: vec!["pupil data to personal webmail".into()],
        safeguarding,
    }
}

#[test]
fn exactly_one_of_two_concurrent_releases_wins() {
    let dir = tempfile::tempdir().unwrap();
    for (name, open) in backends(dir.path()) {
        eprintln!("backend {name}");
        concurrent_releases(&open);
    }
}

fn concurrent_releases(open: &Opener) {
    let a = open();
    a.hold(
        &item("HP-RACE1", "bps", 0, false),
        b"Subject: x\r\n\r\nbody\r\n",
    )
    .unwrap();
    // Two handles on one file, as two relays or the CLI beside the relay would have.
    for round in 0..20 {
        let reference = format!("HP-RACE{round}X");
        a.hold(&item(&reference, "bps", 0, false), b"m").unwrap();
        let wins: usize = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|i| {
                    let reference = reference.clone();
                    s.spawn(move || {
                        let b = open();
                        b.claim(&reference, &format!("reviewer{i}")).unwrap() as usize
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 1, "round {round}");
        assert!(!a.claim(&reference, "late").unwrap());
        assert!(
            a.finish(
                &reference,
                &[Status::Releasing],
                Status::Released,
                "r",
                None,
                ""
            )
            .unwrap()
        );
        // Finishing twice does not happen either.
        assert!(
            !a.finish(
                &reference,
                &[Status::Releasing],
                Status::Released,
                "r",
                None,
                ""
            )
            .unwrap()
        );
        assert!(
            a.message(&reference).unwrap().is_none(),
            "released: metadata only"
        );
    }
}

#[test]
fn retention_expires_old_held_items_and_keeps_metadata() {
    let dir = tempfile::tempdir().unwrap();
    for (name, open) in backends(dir.path()) {
        eprintln!("backend {name}");
        retention_expires_old_held_items_and_keeps_metadata_on(&*open());
    }
}

fn retention_expires_old_held_items_and_keeps_metadata_on(s: &dyn QuarantineStore) {
    s.hold(&item("HP-OLD", "bps", 31, false), b"old").unwrap();
    s.hold(&item("HP-NEW", "bps", 2, false), b"new").unwrap();
    assert_eq!(s.purge(Utc::now(), 30).unwrap(), 1);
    let old = s.get("HP-OLD", &Scope::default()).unwrap().unwrap();
    assert_eq!(old.status, Status::Expired);
    assert!(!old.has_message && s.message("HP-OLD").unwrap().is_none());
    assert_eq!(old.held.subject, "Report for Olivia Smith HP-OLD");
    assert_eq!(s.message("HP-NEW").unwrap().unwrap(), b"new");
    let log = s.audit_log(0, 0).unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "expired" && e.reference == "HP-OLD" && e.actor == "retention")
    );
    assert_eq!(s.purge(Utc::now(), 30).unwrap(), 0);
}

#[test]
fn scopes_filters_and_paging() {
    let dir = tempfile::tempdir().unwrap();
    for (name, open) in backends(dir.path()) {
        eprintln!("backend {name}");
        scopes_filters_and_paging_on(&*open());
    }
}

fn scopes_filters_and_paging_on(s: &dyn QuarantineStore) {
    for i in 0..30 {
        let school = if i % 3 == 0 { "bos" } else { "bps" };
        s.hold(&item(&format!("HP-Q{i:02}"), school, i, i % 5 == 0), b"m")
            .unwrap();
    }
    let dsl = User {
        name: "dsl".into(),
        password_hash: String::new(),
        role: Role::Dsl,
        school: None,
    };
    let page = s
        .query(&Query {
            scope: dsl.scope(),
            per_page: 100,
            ..Query::default()
        })
        .unwrap();
    assert_eq!(page.total, 6);
    assert!(page.items.iter().all(|i| i.safeguarding));
    let bos_dpl = Scope {
        school: Some("bos".into()),
        safeguarding_only: false,
    };
    assert!(s.get("HP-Q01", &bos_dpl).unwrap().is_none(), "other school");
    assert!(s.get("HP-Q03", &bos_dpl).unwrap().is_some());
    let page = s
        .query(&Query {
            scope: Scope::default(),
            school: Some("bps".into()),
            sender: Some("TEACHER@bps".into()),
            kind: Some("pupil_name".into()),
            per_page: 7,
            page: 1,
            ..Query::default()
        })
        .unwrap();
    // bps: i%3 != 0 → 20 items, minus safeguarding ones (i%5==0 and i%3!=0: 5,10,20,25) = 16.
    assert_eq!(page.total, 16);
    assert_eq!(page.items.len(), 7);
    assert!(
        page.items
            .windows(2)
            .all(|w| w[0].received >= w[1].received)
    );
    assert!(page.items[0].subject.starts_with("Report for Olivia Smith"));
    // LIKE wildcards typed by a user are literal.
    let page = s
        .query(&Query {
            sender: Some("%".into()),
            per_page: 10,
            ..Query::default()
        })
        .unwrap();
    assert_eq!(page.total, 0);
    let held = page
        .by_status
        .iter()
        .find(|(st, _)| *st == Status::Held)
        .unwrap()
        .1;
    assert_eq!(held, 30);
}

#[test]
fn hostile_references_never_reach_the_database() {
    let dir = tempfile::tempdir().unwrap();
    for (name, open) in backends(dir.path()) {
        eprintln!("backend {name}");
        hostile_references_never_reach_the_database_on(&*open());
    }
}

fn hostile_references_never_reach_the_database_on(s: &dyn QuarantineStore) {
    s.hold(&item("HP-REAL", "bps", 0, false), b"m").unwrap();
    for bad in [
        "HP-REAL' OR '1'='1",
        "../../etc/passwd",
        "HP-REAL/../x",
        "HP-",
        "",
        "HP-REAL\0",
    ] {
        assert!(s.get(bad, &Scope::default()).unwrap().is_none(), "{bad:?}");
        assert!(s.message(bad).unwrap().is_none(), "{bad:?}");
        let mut i = item("HP-X", "bps", 0, false);
        i.reference = bad.into();
        assert!(s.hold(&i, b"m").is_err(), "{bad:?}");
    }
    // The table is intact.
    assert!(s.get("HP-REAL", &Scope::default()).unwrap().is_some());
}

#[test]
fn key_rotation_keeps_every_item_readable() {
    let dir = tempfile::tempdir().unwrap();
    for (name, open) in backends(dir.path()) {
        eprintln!("backend {name}");
        let key_file = match name {
            "sqlite" => dir.path().join("quarantine.key"),
            _ => dir.path().join("pg/quarantine.key"),
        };
        key_rotation_on(&open, &key_file);
    }
}

/// Rotation with a relay running: the old keys stay while a relay still seals with one,
/// what it holds meanwhile is resealed by `--finish`, and a relay with the retired key file
/// is refused (it must not seal what no other relay can open).
fn key_rotation_on(open: &Opener, key_file: &Path) {
    let s = open();
    s.hold(&item("HP-ROT1", "bps", 0, false), b"first").unwrap();
    s.finish(
        "HP-ROT1",
        &[Status::Held],
        Status::Deleted,
        "dpl",
        Some("note about Olivia"),
        "",
    )
    .unwrap();
    s.hold(&item("HP-ROT2", "bps", 0, false), b"second")
        .unwrap();
    // A running relay, opened before the rotation, reports its key.
    let relay = open();
    relay.key_in_use("relay-b:/var/lib/hallpass").unwrap();
    let before = std::fs::read_to_string(key_file).unwrap();

    let r = s.rotate_key(true).unwrap();
    assert_eq!(r.resealed, 2);
    assert!(r.retired.is_empty(), "{r:?}");
    assert_eq!(r.waiting.len(), 1, "{r:?}");
    assert_eq!(r.waiting[0].0, "relay-b:/var/lib/hallpass");
    let during = std::fs::read_to_string(key_file).unwrap();
    assert_eq!(
        during.lines().filter(|l| l.starts_with('k')).count(),
        2,
        "{during}"
    );
    // The relay still seals with the old key: allowed, and readable by the rotated handle.
    relay
        .hold(&item("HP-ROT3", "bps", 0, false), b"third")
        .unwrap();
    assert_eq!(s.message("HP-ROT3").unwrap().unwrap(), b"third");
    // The relay reads the resealed items (it reads the key file again for the new key).
    assert_eq!(relay.message("HP-ROT2").unwrap().unwrap(), b"second");
    // Not finished while the relay reports the old key.
    let again = s.rotate_key(false).unwrap();
    assert!(
        again.retired.is_empty() && again.waiting.len() == 1,
        "{again:?}"
    );

    relay.reload_keys().unwrap();
    relay.key_in_use("relay-b:/var/lib/hallpass").unwrap();
    let done = s.rotate_key(false).unwrap();
    assert!(done.waiting.is_empty(), "{done:?}");
    assert_eq!(done.retired.len(), 1, "{done:?}");
    let after = std::fs::read_to_string(key_file).unwrap();
    assert_eq!(
        after.lines().filter(|l| l.starts_with('k')).count(),
        1,
        "{after}"
    );
    assert_ne!(before, after);
    drop((s, relay));

    let s = open();
    assert_eq!(s.message("HP-ROT2").unwrap().unwrap(), b"second");
    assert_eq!(s.message("HP-ROT3").unwrap().unwrap(), b"third");
    let one = s.get("HP-ROT1", &Scope::default()).unwrap().unwrap();
    assert_eq!(one.note.as_deref(), Some("note about Olivia"));
    assert_eq!(one.status, Status::Deleted);
    drop(s);

    // A relay started with the old key file is refused, and holds nothing with it.
    std::fs::write(key_file, &before).unwrap();
    let stale = open();
    let e = stale.key_in_use("relay-c:/var/lib/hallpass").unwrap_err();
    assert!(e.to_string().contains("retired"), "{e}");
    assert!(
        stale
            .hold(&item("HP-ROT4", "bps", 0, false), b"fourth")
            .is_err()
    );
    assert!(stale.get("HP-ROT4", &Scope::default()).unwrap().is_none());
    std::fs::write(key_file, &after).unwrap();
}
