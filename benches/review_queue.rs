//! The review page's queue with a full store: fills a quarantine with N held items
//! (default 100,000; `HALLPASS_BENCH_ITEMS` to change), serves the review page on loopback
//! and times whole HTTP requests for the queue page (default view, filters, sort, a deep
//! page) and an item page, reporting p50/p95/max per query. Target: p95 < 200 ms.
//!
//! Run: `cargo bench --bench review_queue`

use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, Utc};
use hallpass::quarantine::{HeldItem, QuarantineStore, Role, SqliteStore, User};
use hallpass::review::{App, auth};
use hallpass::scan::{Finding, FindingKind};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // `cargo test --all-targets` runs this without --bench: a quick smoke run then.
    let full = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("HALLPASS_BENCH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 100_000 } else { 1_000 });
    let reps = if full { 100 } else { 3 };
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(tmp.path()).unwrap());
    let kinds = FindingKind::ALL;
    let t = Instant::now();
    let body = vec![b'x'; 2048];
    for chunk in 0..n.div_ceil(10_000) {
        let items: Vec<(HeldItem, Vec<u8>)> = (chunk * 10_000..((chunk + 1) * 10_000).min(n))
            .map(|i| {
                let k1 = kinds[i % kinds.len()];
                let k2 = kinds[(i / 7) % kinds.len()];
                (
                    HeldItem {
                        reference: format!("HP-B{i:08}"),
                        received: Utc::now() - Duration::seconds((i * 37) as i64 % (60 * 86_400)),
                        school: if i % 3 == 0 { "bos" } else { "bps" }.into(),
                        sender: format!("teacher{}@school{}.example.sch.uk", i % 400, i % 3),
                        recipients: vec![format!("someone{i}@gmail.com")],
                        held_recipients: vec![format!("someone{i}@gmail.com")],
                        subject: format!("Year 9 report {i}"),
                        findings: [k1, k2]
                            .iter()
                            .map(|k| Finding {
                                kind: *k,
                                location: "body".into(),
                                count: 1,
                                evidence: "O**** S****".into(),
                            })
                            .collect(),
                        reasons: vec!["pupil data to personal webmail".into()],
                        safeguarding: i % 10 == 0,
                    },
                    body.clone(),
                )
            })
            .collect();
        store.import(&items).unwrap();
    }
    eprintln!("filled {n} items in {:.1} s", t.elapsed().as_secs_f64());
    store
        .put_user(&User {
            name: "dpl".into(),
            password_hash: auth::hash_password("bench password 123").unwrap(),
            role: Role::Dpl,
            school: None,
        })
        .unwrap();
    let config =
        hallpass::config::Config::load(std::path::Path::new("samples/hallpass.toml")).unwrap();
    let scanner = Arc::new(config.scanner().unwrap());
    let app = Arc::new(App {
        store: store.clone(),
        deliverer: hallpass::deliver::Deliverer::new(&hallpass::smtp::config::NextHop::Maildir(
            tmp.path().join("outbox"),
        ))
        .unwrap(),
        site: config.site.clone(),
        review: config.review.clone(),
        scanner: Some(scanner),
        notifier: None,
        throttle: Default::default(),
    });
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let (tx_addr, rx_addr) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx_addr.send(l.local_addr().unwrap()).unwrap();
                hallpass::review::serve(app, l, rx).await.unwrap();
            })
    });
    let base = format!("http://{}", rx_addr.recv().unwrap());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .max_redirects_will_error(false)
        .http_status_as_error(false)
        .build()
        .into();
    // Sign in like a browser: the form's token, then the session cookie.
    let mut res = agent.get(format!("{base}/signin")).call().unwrap();
    let signin = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    let _ = res.body_mut().read_to_string();
    let res = agent
        .post(format!("{base}/signin"))
        .header("Cookie", format!("{}={signin}", auth::SIGNIN_COOKIE))
        .send_form([
            ("signin", signin.as_str()),
            ("username", "dpl"),
            ("password", "bench password 123"),
        ])
        .unwrap();
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with(auth::SESSION_COOKIE))
        .expect("signed in");
    println!(
        "review queue with {n} items (p50 / p95 / max of {reps} requests, whole HTTP request):"
    );
    for (label, path) in [
        ("queue, default (held, newest)", "/queue".to_string()),
        ("queue, kind filter", "/queue?kind=upn".into()),
        ("queue, sender filter", "/queue?sender=teacher17%40".into()),
        (
            "queue, school + dates + oldest",
            format!(
                "/queue?school=bos&since={}&until={}&sort=oldest",
                (Utc::now() - Duration::days(20)).format("%Y-%m-%d"),
                (Utc::now() - Duration::days(5)).format("%Y-%m-%d")
            ),
        ),
        ("queue, page 1000", "/queue?page=1000".into()),
        ("item page", format!("/item/HP-B{:08}", n / 2)),
        ("dashboard", "/".into()),
    ] {
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            let mut res = agent
                .get(format!("{base}{path}"))
                .header("Cookie", &cookie)
                .call()
                .unwrap();
            let body = res.body_mut().read_to_string().unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(res.status(), 200, "{path}: {body}");
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let at = |q: f64| times[((reps as f64 * q).ceil() as usize).clamp(1, reps) - 1];
        println!(
            "  {label:34} {:7.1} ms {:7.1} ms {:7.1} ms",
            at(0.5),
            at(0.95),
            at(1.0)
        );
    }
}
