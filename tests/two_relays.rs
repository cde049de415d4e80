//! Two `hallpass serve` processes on one real PostgreSQL, as a trust runs them for
//! resilience: each node has its own data directory (the same key files copied in, as
//! docs/operations.md says), both deliver to one next hop. What one node held, the other
//! lists, releases (delivered once) and audits; a reviewer signed in on one node is signed in
//! on the other; the daily digest goes out once with both up; and with one node killed
//! (SIGKILL) under load, every message either node accepted with 250 is delivered or held.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::pg::{database, serve_config};
use common::postfix::{Got, recording_sink, send};
use common::serve::Served;

const PASSWORD: &str = "a long enough password";
const STAFF: &str = "luke.rich0@beaulieupark.example.sch.uk";
const PARTNER: &str = "mash@essex.gov.uk";

/// One node's config under `dir`: SMTP and the review page on ports the kernel picks, the
/// shared database, the shared next hop, the digest at `digest_time`.
fn node_config(dir: &Path, url: &str, next_hop: u16, digest_time: &str) -> PathBuf {
    serve_config(
        dir,
        url,
        &[
            (
                "next_hop = \"maildir:./var/outbox\"",
                format!("next_hop = \"smtp://127.0.0.1:{next_hop}\""),
            ),
            (
                "digest_time = \"07:30\"",
                format!("digest_time = \"{digest_time}\""),
            ),
        ],
    )
}

/// Starts node A, then node B with A's key files (the at-rest key and the key that signs
/// "false alarm" links) copied into its data directory.
fn two_nodes(tmp: &Path, url: &str, next_hop: u16, digest_time: &str) -> [(Served, PathBuf); 2] {
    let (a_dir, b_dir) = (tmp.join("a"), tmp.join("b"));
    let a_cfg = node_config(&a_dir, url, next_hop, digest_time);
    let b_cfg = node_config(&b_dir, url, next_hop, digest_time);
    let a = common::serve::start(&a_cfg, &a_dir.join("hallpass.log"));
    std::fs::create_dir_all(b_dir.join("var")).unwrap();
    for key in ["quarantine.key", "feedback.key"] {
        std::fs::copy(a_dir.join("var").join(key), b_dir.join("var").join(key)).unwrap();
    }
    let b = common::serve::start(&b_cfg, &b_dir.join("hallpass.log"));
    [(a, a_cfg), (b, b_cfg)]
}

fn hallpass(args: &[&str], config: &Path, stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "hallpass {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// The value of the first `name="field" value="…"` in a page.
fn form_value(body: &str, field: &str) -> String {
    body.split(&format!("name=\"{field}\" value=\""))
        .nth(1)
        .unwrap_or_else(|| panic!("no {field} in {body}"))
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

/// Signs `user` in on the review page at `port`; (the session's Cookie header, its CSRF
/// token).
fn sign_in(port: u16, user: &str) -> (String, String) {
    let a = agent();
    let base = format!("http://127.0.0.1:{port}");
    let (cookie, token) = common::serve::signin_form(&a, &base);
    let res = a
        .post(format!("{base}/signin"))
        .header("Cookie", &cookie)
        .send_form([
            ("signin", token.as_str()),
            ("username", user),
            ("password", PASSWORD),
        ])
        .unwrap();
    assert_eq!(res.status().as_u16(), 303, "signed in");
    let session = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("hallpass_session="))
        .expect("a session cookie");
    let (status, queue) = get(port, &session, "/queue");
    assert_eq!(status, 200);
    let csrf = form_value(&queue, "csrf");
    (session, csrf)
}

fn get(port: u16, cookie: &str, path: &str) -> (u16, String) {
    let mut res = agent()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .header("Cookie", cookie)
        .call()
        .unwrap();
    (
        res.status().as_u16(),
        res.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn post(port: u16, cookie: &str, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let mut res = agent()
        .post(format!("http://127.0.0.1:{port}{path}"))
        .header("Cookie", cookie)
        .send_form(form.iter().copied())
        .unwrap();
    (
        res.status().as_u16(),
        res.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// The held items as `hallpass quarantine list --json` on `config` shows them:
/// (reference, subject).
fn listed(config: &Path) -> Vec<(String, String)> {
    hallpass(&["quarantine", "list", "--json"], config, None)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["reference"].as_str().unwrap().to_string(),
                v["subject"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn header_is(m: &Got, line: &str) -> bool {
    m.data.lines().any(|l| l.trim_end() == line)
}

fn class_list(subject: &str) -> Vec<u8> {
    std::fs::read_to_string("samples/messages/class-list-csv-to-partner.eml")
        .unwrap()
        .replacen("Subject: Cohort list", &format!("Subject: {subject}"), 1)
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_share_one_quarantine_review_page_and_digest() {
    let Some(url) = tokio::task::block_in_place(|| database("two")) else {
        return;
    };
    let (hop, got) = recording_sink().await;
    // The digest two minutes from now, trust time (at least a minute after both are up).
    let digest_time = (chrono::Utc::now().with_timezone(&chrono_tz::Europe::London)
        + chrono::Duration::minutes(2))
    .format("%H:%M")
    .to_string();
    let tmp = tempfile::tempdir().unwrap();
    let [(a, a_cfg), (b, b_cfg)] =
        tokio::task::block_in_place(|| two_nodes(tmp.path(), &url, hop, &digest_time));

    // A class list through each node: both held (250), in the one quarantine.
    for (node, subject) in [(&a, "Cohort list via A"), (&b, "Cohort list via B")] {
        send(node.smtp(), STAFF, &[PARTNER], &class_list(subject))
            .await
            .unwrap_or_else(|e| panic!("{subject}: held with 250: {e}"));
    }
    let on_b = tokio::task::block_in_place(|| listed(&b_cfg));
    assert_eq!(on_b.len(), 2, "{on_b:?}");
    let via_a = on_b
        .iter()
        .find(|(_, s)| s == "Cohort list via A")
        .expect("A's hold listed through B")
        .0
        .clone();
    assert_eq!(
        tokio::task::block_in_place(|| listed(&a_cfg)).len(),
        2,
        "and through A"
    );

    // A reviewer added with B's config signs in on B's page and releases what A held.
    tokio::task::block_in_place(|| {
        hallpass(
            &["user", "add", "dpl", "--role", "dpl", "--password-stdin"],
            &b_cfg,
            Some(&format!("{PASSWORD}\n")),
        );
        let (session, csrf) = sign_in(b.review(), "dpl");
        let (status, page) = get(b.review(), &session, &format!("/item/{via_a}"));
        assert_eq!(status, 200, "B shows A's item (sealed with the shared key)");
        assert!(page.contains("Cohort list via A"), "{page}");
        let (status, body) = post(
            b.review(),
            &session,
            &format!("/item/{via_a}/release"),
            &[("csrf", &csrf), ("rcpt", PARTNER)],
        );
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("released to"), "{body}");
        // The same session is good on A's page; releasing there again is refused.
        let (status, queue) = get(a.review(), &session, "/queue");
        assert_eq!(status, 200, "signed in on A with B's session: {queue}");
        let (_, again) = post(
            a.review(),
            &session,
            &format!("/item/{via_a}/release"),
            &[("csrf", &csrf), ("rcpt", PARTNER)],
        );
        assert!(!again.contains("released to"), "{again}");
        // A's audit log shows B's release.
        let (status, audit) = get(a.review(), &session, "/audit");
        assert_eq!(status, 200);
        assert!(
            audit.contains(&via_a) && audit.contains("release"),
            "{audit}"
        );
    });
    let released: Vec<String> = got
        .lock()
        .unwrap()
        .iter()
        .filter(|m| {
            m.data
                .lines()
                .any(|l| l.starts_with("X-Hallpass-Released-By:") && l.contains(&via_a))
        })
        .map(|m| m.rcpts.join(","))
        .collect();
    assert_eq!(released, vec![PARTNER.to_string()], "delivered once");

    // The digest: both nodes wake at digest_time; one sends, the other finds it claimed.
    let logs = [
        tmp.path().join("a").join("hallpass.log"),
        tmp.path().join("b").join("hallpass.log"),
    ];
    let outcome = |log: &Path| {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("daily digests sent") {
            Some("sent")
        } else if text.contains("daily digest already sent today") {
            Some("skipped")
        } else {
            None
        }
    };
    let mut seen = [None, None];
    for _ in 0..2400 {
        seen = [outcome(&logs[0]), outcome(&logs[1])];
        if seen.iter().all(Option::is_some) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut outcomes: Vec<&str> = seen
        .iter()
        .map(|o| o.unwrap_or_else(|| panic!("digest time {digest_time} passed: {seen:?}")))
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, ["sent", "skipped"]);
    // The sending node has handed every digest to the next hop before it logs "sent".
    let digests: Vec<Vec<String>> = got
        .lock()
        .unwrap()
        .iter()
        .filter(|m| header_is(m, "X-Hallpass-Notice: digest"))
        .map(|m| m.rcpts.clone())
        .collect();
    assert!(!digests.is_empty(), "a digest went out");
    let mut rcpts: Vec<String> = digests.concat();
    let n = rcpts.len();
    rcpts.sort();
    rcpts.dedup();
    assert_eq!(
        rcpts.len(),
        n,
        "each data lead gets one digest: {digests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_relay_killed_under_load_every_accepted_message_is_delivered_or_held() {
    let Some(url) = tokio::task::block_in_place(|| database("kill")) else {
        return;
    };
    let (hop, got) = recording_sink().await;
    let tmp = tempfile::tempdir().unwrap();
    let [(mut a, _), (b, b_cfg)] =
        tokio::task::block_in_place(|| two_nodes(tmp.path(), &url, hop, ""));
    let (a_port, b_port) = (a.smtp(), b.smtp());
    // Eight senders at once, alternating between the nodes; every fourth message is a class
    // list (held), the rest ordinary mail (delivered). Node A is killed part-way through.
    let mut tasks = tokio::task::JoinSet::new();
    let mut results = Vec::new();
    for i in 0..48usize {
        let (node, port) = if i % 2 == 0 {
            ("A", a_port)
        } else {
            ("B", b_port)
        };
        let subject = format!("Load {i:02}");
        let hold = i % 4 == 3;
        let raw = if hold {
            class_list(&subject)
        } else {
            format!(
                "From: {STAFF}\r\nTo: {PARTNER}\r\nSubject: {subject}\r\n\r\nThe coach leaves at 8:30.\r\n"
            )
            .into_bytes()
        };
        tasks.spawn(async move {
            let accepted = send(port, STAFF, &[PARTNER], &raw).await.is_ok();
            (subject, hold, node, accepted)
        });
        while tasks.len() >= 8 {
            results.push(tasks.join_next().await.unwrap().unwrap());
        }
        if i == 20 {
            a.child.kill().unwrap();
            a.child.wait().unwrap();
        }
    }
    while let Some(r) = tasks.join_next().await {
        results.push(r.unwrap());
    }
    let accepted: Vec<&(String, bool, &str, bool)> = results.iter().filter(|r| r.3).collect();
    assert!(
        accepted.iter().any(|r| r.2 == "A"),
        "A accepted some before it died"
    );
    assert!(
        results.iter().any(|r| r.2 == "A" && !r.3),
        "A refused some once killed (it died under load)"
    );
    assert!(accepted.iter().filter(|r| r.2 == "B").count() >= 20);
    // What B lists as held (A's holds included: the one database), what reached the next hop.
    let held: Vec<String> = tokio::task::block_in_place(|| listed(&b_cfg))
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    let delivered: Vec<String> = got
        .lock()
        .unwrap()
        .iter()
        .filter(|m| !m.data.contains("X-Hallpass-Notice:"))
        .filter_map(|m| {
            m.data
                .lines()
                .find_map(|l| l.trim_end().strip_prefix("Subject: ").map(str::to_string))
        })
        .collect();
    for (subject, hold, node, _) in &accepted {
        if *hold {
            assert_eq!(
                held.iter().filter(|s| *s == subject).count(),
                1,
                "{subject} (via {node}) accepted with 250: held once; held: {held:?}"
            );
        } else {
            assert!(
                delivered.contains(subject),
                "{subject} (via {node}) accepted with 250: delivered; delivered: {delivered:?}"
            );
        }
    }
    drop(b);
}

#[test]
fn two_relays_starting_together_on_a_new_database_both_come_up() {
    let Some(url) = database("together") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let configs: Vec<PathBuf> = ["a", "b"]
        .iter()
        .map(|n| node_config(&tmp.path().join(n), &url, 1, ""))
        .collect();
    // Both create the schema at once (each its own key here: only start-up is tested).
    let served: Vec<Served> = std::thread::scope(|s| {
        let starting: Vec<_> = configs
            .iter()
            .map(|c| {
                let log = c.with_file_name("hallpass.log");
                s.spawn(move || common::serve::start(c, &log))
            })
            .collect();
        starting.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(served.len(), 2, "both relays ready");
    let schema = url
        .split("search_path=")
        .nth(1)
        .unwrap()
        .trim_end_matches('\'')
        .to_string();
    let base = std::env::var("HALLPASS_TEST_POSTGRES").unwrap();
    let mut c = postgres::Client::connect(&base, postgres::NoTls).unwrap();
    let tables: i64 = c
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
            &[&schema],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        tables, 9,
        "items, messages, events, audit, users, sessions, daily_runs, key_use, retired_keys"
    );
}

/// Sends SIGHUP (reload) to a running relay and waits until its log says the key file was
/// read again.
fn reload(node: &Served, log: &Path) {
    let before = std::fs::read_to_string(log).unwrap_or_default().len();
    let ok = Command::new("kill")
        .args(["-HUP", &node.child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    for _ in 0..1200 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text[before..].contains("quarantine key file read again") {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "no reload in {}:\n{}",
        log.display(),
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_key_on_postgres_while_both_relays_run() {
    let Some(url) = tokio::task::block_in_place(|| database("rotate")) else {
        return;
    };
    let (hop, got) = recording_sink().await;
    let tmp = tempfile::tempdir().unwrap();
    let [(a, a_cfg), (b, b_cfg)] =
        tokio::task::block_in_place(|| two_nodes(tmp.path(), &url, hop, ""));
    let (a_dir, b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    let old_key = std::fs::read_to_string(a_dir.join("var/quarantine.key")).unwrap();
    for (node, subject) in [(&a, "Before via A"), (&b, "Before via B")] {
        send(node.smtp(), STAFF, &[PARTNER], &class_list(subject))
            .await
            .unwrap_or_else(|e| panic!("{subject}: {e}"));
    }

    // Started on A's machine while both relays run: both still seal with the old key, so
    // the old key stays and the rotation names them.
    let started =
        tokio::task::block_in_place(|| hallpass(&["quarantine", "rotate-key"], &a_cfg, None));
    assert!(started.contains("old keys kept"), "{started}");
    let waiting: Vec<&str> = started.lines().filter(|l| l.contains("(key k")).collect();
    assert_eq!(waiting.len(), 2, "{started}");
    for dir in [&a_dir, &b_dir] {
        let dir = dir.display().to_string();
        assert!(
            waiting.iter().any(|l| l.contains(&dir)),
            "{dir} named in {started}"
        );
    }
    // B still seals with the old key meanwhile: still held with 250.
    send(b.smtp(), STAFF, &[PARTNER], &class_list("During via B"))
        .await
        .expect("held with 250 mid-rotation");

    // The operator copies the new key file to B and reloads both; then finishes.
    std::fs::copy(
        a_dir.join("var/quarantine.key"),
        b_dir.join("var/quarantine.key"),
    )
    .unwrap();
    tokio::task::block_in_place(|| {
        reload(&a, &a_dir.join("hallpass.log"));
        reload(&b, &b_dir.join("hallpass.log"));
    });
    let finished = tokio::task::block_in_place(|| {
        hallpass(&["quarantine", "rotate-key", "--finish"], &a_cfg, None)
    });
    assert!(finished.contains("old keys removed"), "{finished}");
    let new_key = std::fs::read_to_string(a_dir.join("var/quarantine.key")).unwrap();
    assert_ne!(new_key, old_key);

    // Both nodes hold with the new key; every item opens through either node.
    for (node, subject) in [(&a, "After via A"), (&b, "After via B")] {
        send(node.smtp(), STAFF, &[PARTNER], &class_list(subject))
            .await
            .unwrap_or_else(|e| panic!("{subject}: {e}"));
    }
    let mut subjects: Vec<String> = tokio::task::block_in_place(|| listed(&b_cfg))
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "After via A",
            "After via B",
            "Before via A",
            "Before via B",
            "During via B"
        ]
    );
    // What B sealed with the old key mid-rotation is released through A, delivered.
    let during = tokio::task::block_in_place(|| listed(&a_cfg))
        .into_iter()
        .find(|(_, s)| s == "During via B")
        .unwrap()
        .0;
    tokio::task::block_in_place(|| {
        hallpass(
            &["quarantine", "release", &during, "--to", PARTNER],
            &a_cfg,
            None,
        )
    });
    assert!(
        got.lock()
            .unwrap()
            .iter()
            .any(|m| m.data.contains("Subject: During via B")),
        "released message delivered"
    );

    // A third relay set up with the old key file refuses to start, saying why.
    let c_dir = tmp.path().join("c");
    let c_cfg = node_config(&c_dir, &url, hop, "");
    std::fs::create_dir_all(c_dir.join("var")).unwrap();
    let c_key = c_dir.join("var/quarantine.key");
    std::fs::write(&c_key, &old_key).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&c_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let log = c_dir.join("hallpass.log");
    let mut c = common::serve::spawn(&c_cfg, &log);
    let status = tokio::task::block_in_place(|| c.wait()).unwrap();
    assert!(!status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("retired"), "{text}");
}
