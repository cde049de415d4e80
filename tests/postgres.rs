//! `hallpass serve` on the shared PostgreSQL quarantine, the real binary against a real
//! server (`HALLPASS_TEST_POSTGRES`, set by `.ci/run`; required under CI, skipped with a
//! note elsewhere). It used to panic at start ("Cannot start a runtime from within a
//! runtime": the blocking client connected inside tokio). Now: the relay holds a class list
//! in PostgreSQL, `/readyz` and `/metrics` see it, the review page answers, `hallpass
//! quarantine list` (another process) lists it; with the database unreachable, `serve` stops
//! at start with a clear error, never a panic.

mod common;

use std::time::Duration;

use common::pg::{database, serve_config};
use common::postfix::send;

/// GET on loopback (any status is an answer, not an error).
fn get(port: u16, path: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut res = agent
        .get(format!("http://127.0.0.1:{port}{path}"))
        .call()
        .unwrap();
    (
        res.status().as_u16(),
        res.body_mut().read_to_string().unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_on_postgresql_and_holds_there() {
    // (The test's own blocking client must not run on a runtime thread either.)
    let Some(url) = tokio::task::block_in_place(|| database("holds")) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let path = serve_config(tmp.path(), &url, &[]);
    let served = tokio::task::block_in_place(|| {
        common::serve::start(&path, &tmp.path().join("hallpass.log"))
    });
    let class_list = std::fs::read("samples/messages/class-list-csv-to-partner.eml").unwrap();
    send(
        served.smtp(),
        "luke.rich0@beaulieupark.example.sch.uk",
        &["mash@essex.gov.uk"],
        &class_list,
    )
    .await
    .expect("held: 250");
    let (status, body) = get(served.metrics(), "/readyz");
    assert_eq!(status, 200, "{body}");
    let (_, metrics) = get(served.metrics(), "/metrics");
    assert!(
        metrics.lines().any(|l| l == "hallpass_quarantine_held 1"),
        "{metrics}"
    );
    // The review page reads PostgreSQL from its async handlers: a failed sign-in looks the
    // account up and writes the audit row there.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = format!("http://127.0.0.1:{}", served.review());
    let (cookie, token) = common::serve::signin_form(&agent, &base);
    let refused = agent
        .post(format!("{base}/signin"))
        .header("Cookie", &cookie)
        .send_form([
            ("signin", token.as_str()),
            ("username", "dpl"),
            ("password", "not the password"),
        ])
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    // Another process on the same database sees the item.
    let list = std::process::Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args(["quarantine", "list", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let listed = String::from_utf8_lossy(&list.stdout);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.contains("HP-"), "{listed}");
}

#[test]
fn serve_with_the_database_down_stops_with_a_clear_error() {
    if database("down").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Nothing listens on port 1.
    let path = serve_config(
        tmp.path(),
        "host=127.0.0.1 port=1 user=hallpass password=x dbname=hallpass connect_timeout=5",
        &[],
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("postgresql"), "{err}");
    assert!(
        err.contains("onnection refused"),
        "the cause is shown: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// A TCP relay to the test server that the test can cut (every connection closed, new ones
/// refused) and mend (listening again on the same port): a database that goes away and
/// comes back, without stopping the shared test server.
struct Cable {
    port: u16,
    target: String,
    cut: Option<tokio::task::JoinHandle<()>>,
}

impl Cable {
    async fn new(target: String) -> Cable {
        let mut c = Cable {
            port: 0,
            target,
            cut: None,
        };
        c.mend().await;
        c
    }

    /// Listens (again) and relays every connection to the target.
    async fn mend(&mut self) {
        let l = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.port = l.local_addr().unwrap().port();
        let target = self.target.clone();
        self.cut = Some(tokio::spawn(async move {
            let mut links = tokio::task::JoinSet::new();
            loop {
                let Ok((mut a, _)) = l.accept().await else {
                    return;
                };
                let target = target.clone();
                links.spawn(async move {
                    if let Ok(mut b) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                    }
                });
            }
            // Dropping the task (abort) drops the listener and every link in `links`.
        }));
    }

    /// Closes every relayed connection and stops listening.
    async fn cut(&mut self) {
        if let Some(t) = self.cut.take() {
            t.abort();
            let _ = t.await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_hold_while_postgresql_is_away_gets_451_and_holds_once_it_is_back() {
    let Some(url) = tokio::task::block_in_place(|| database("away")) else {
        return;
    };
    // The test server's host and port, and the URL without them, to go through the cable.
    let field = |k: &str| {
        url.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{k}=")))
            .map(str::to_string)
    };
    let host = field("host").unwrap_or("127.0.0.1".into());
    let port = field("port").unwrap_or("5432".into());
    let mut cable = Cable::new(format!("{host}:{port}")).await;
    let rest: Vec<&str> = url
        .split(' ')
        .filter(|w| !w.starts_with("host=") && !w.starts_with("port="))
        .collect();
    let through = format!("host=127.0.0.1 port={} {}", cable.port, rest.join(" "));
    let tmp = tempfile::tempdir().unwrap();
    let path = serve_config(tmp.path(), &through, &[]);
    let served = tokio::task::block_in_place(|| {
        common::serve::start(&path, &tmp.path().join("hallpass.log"))
    });
    let class_list = std::fs::read("samples/messages/class-list-csv-to-partner.eml").unwrap();
    let hold = || {
        send(
            served.smtp(),
            "luke.rich0@beaulieupark.example.sch.uk",
            &["mash@essex.gov.uk"],
            &class_list,
        )
    };
    cable.cut().await;
    let refused = hold().await.expect_err("no 250 while the database is away");
    assert!(
        refused.contains("451") || refused.contains("4.3.0"),
        "{refused}"
    );
    // The load balancer or monitoring sees it too: not ready while the store is away.
    let (status, body) = tokio::task::block_in_place(|| get(served.metrics(), "/readyz"));
    assert_eq!(status, 503, "{body}");
    cable.mend().await;
    hold().await.expect("held once the database is back");
    let (status, body) = tokio::task::block_in_place(|| get(served.metrics(), "/readyz"));
    assert_eq!(status, 200, "{body}");
    let list = std::process::Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args(["quarantine", "list", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert_eq!(listed.lines().count(), 1, "held exactly once: {listed}");
}
