//! The review page over real HTTP on loopback (ureq as the client, the real store, a
//! Maildir next hop): sessions on every route, roles, CSRF, hostile ids and content,
//! throttling, and a release that is delivered exactly once.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use hallpass::quarantine::{HeldItem, QuarantineStore, Role, SqliteStore, User};
use hallpass::review::{App, auth};
use hallpass::scan::{Finding, FindingKind};

struct Site {
    base: String,
    store: Arc<SqliteStore>,
    outbox: PathBuf,
    _tmp: tempfile::TempDir,
    _stop: tokio::sync::watch::Sender<bool>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .max_redirects_will_error(false)
        .http_status_as_error(false)
        .build()
        .into()
}

fn held(reference: &str, school: &str, safeguarding: bool, subject: &str) -> HeldItem {
    HeldItem {
        reference: reference.into(),
        received: Utc::now(),
        school: school.into(),
        sender: format!("teacher@{school}.example.sch.uk"),
        recipients: vec!["parent@gmail.com".into(), "second@gmail.com".into()],
        held_recipients: vec!["parent@gmail.com".into(), "second@gmail.com".into()],
        subject: subject.into(),
        findings: vec![Finding {
            kind: if safeguarding {
                FindingKind::PersonalAccountToPupil
            } else {
                FindingKind::PupilName
            },
            location: "body".into(),
            count: 1,
            evidence: "L*** W*****".into(),
        }],
        reasons: vec!["pupil data to personal webmail".into()],
        safeguarding,
    }
}

const HOSTILE: &str = "From: teacher@bps.example.sch.uk\r\nTo: parent@gmail.com\r\nSubject: <script>alert(1)</script>\r\nContent-Type: text/html\r\n\r\n<html><body><img src=\"http://192.0.2.1/pixel.png\"><script>document.title='pwned'</script><p>Leah Walker did well</p></body></html>\r\n";

fn site() -> Site {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&tmp.path().join("var")).unwrap());
    let outbox = tmp.path().join("outbox");
    let scanner = Arc::new(
        hallpass::config::Config::load(std::path::Path::new("samples/hallpass.toml"))
            .unwrap()
            .scanner()
            .unwrap(),
    );
    for (name, role, school) in [
        ("trustdpl", Role::Dpl, None),
        ("bosdpl", Role::Dpl, Some("bos")),
        ("dsl", Role::Dsl, None),
    ] {
        store
            .put_user(&User {
                name: name.into(),
                password_hash: auth::hash_password("a long enough password").unwrap(),
                role,
                school: school.map(String::from),
            })
            .unwrap();
    }
    store
        .hold(
            &held("HP-BPS1", "bps", false, "Report <b>Leah Walker</b>"),
            HOSTILE.as_bytes(),
        )
        .unwrap();
    store
        .hold(
            &held("HP-SAFE1", "bps", true, "Weekend plans"),
            b"Subject: Weekend plans\r\n\r\nsee you\r\n",
        )
        .unwrap();
    let config =
        hallpass::config::Config::load(std::path::Path::new("samples/hallpass.toml")).unwrap();
    let notifier = config
        .notifier(
            "hallpass.test",
            &tmp.path().join("var"),
            Some(scanner.clone()),
        )
        .unwrap();
    let app = Arc::new(App {
        store: store.clone(),
        deliverer: hallpass::deliver::Deliverer::new(&hallpass::smtp::config::NextHop::Maildir(
            outbox.clone(),
        ))
        .unwrap(),
        site: config.site.clone(),
        review: config.review.clone(),
        scanner: Some(scanner),
        notifier: Some(Arc::new(notifier)),
        throttle: Default::default(),
    });
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(l.local_addr().unwrap()).unwrap();
            hallpass::review::serve(app, l, rx).await.unwrap();
        });
    });
    let addr = addr_rx.recv().unwrap();
    Site {
        base: format!("http://{addr}"),
        store,
        outbox,
        _tmp: tmp,
        _stop: tx,
    }
}

fn set_cookies(res: &ureq::http::Response<ureq::Body>) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn cookie_value(cookies: &[String], name: &str) -> Option<String> {
    cookies.iter().find_map(|c| {
        let first = c.split(';').next()?;
        let (k, v) = first.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// Signs in; returns (the Cookie header value, the CSRF token of the session).
fn sign_in(s: &Site, user: &str) -> (String, String) {
    let a = agent();
    let mut res = a.get(format!("{}/signin", s.base)).call().unwrap();
    let signin_cookie = cookie_value(&set_cookies(&res), auth::SIGNIN_COOKIE).unwrap();
    let body = res.body_mut().read_to_string().unwrap();
    let token = body
        .split("name=\"signin\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(token, signin_cookie);
    let res = a
        .post(format!("{}/signin", s.base))
        .header("Cookie", format!("{}={signin_cookie}", auth::SIGNIN_COOKIE))
        .send_form([
            ("signin", token.as_str()),
            ("username", user),
            ("password", "a long enough password"),
        ])
        .unwrap();
    assert_eq!(res.status(), 303);
    let cookies = set_cookies(&res);
    let session = cookies
        .iter()
        .find(|c| c.starts_with(auth::SESSION_COOKIE))
        .unwrap();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    let cookie = format!(
        "{}={}",
        auth::SESSION_COOKIE,
        cookie_value(&cookies, auth::SESSION_COOKIE).unwrap()
    );
    let mut res = a
        .get(format!("{}/queue", s.base))
        .header("Cookie", &cookie)
        .call()
        .unwrap();
    let body = res.body_mut().read_to_string().unwrap();
    let csrf = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    (cookie, csrf)
}

fn get(s: &Site, cookie: &str, path: &str) -> (u16, String) {
    let mut res = agent()
        .get(format!("{}{path}", s.base))
        .header("Cookie", cookie)
        .call()
        .unwrap();
    (
        res.status().as_u16(),
        res.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn post(s: &Site, cookie: &str, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let mut res = agent()
        .post(format!("{}{path}", s.base))
        .header("Cookie", cookie)
        .send_form(form.iter().copied())
        .unwrap();
    (
        res.status().as_u16(),
        res.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn maildir(s: &Site) -> Vec<String> {
    std::fs::read_dir(s.outbox.join("new"))
        .map(|d| {
            d.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// Released copies (Hallpass's notices to the sender left out).
fn outbox(s: &Site) -> Vec<String> {
    maildir(s)
        .into_iter()
        .filter(|m| !m.contains("\r\nX-Hallpass-Notice: "))
        .collect()
}

#[test]
fn every_route_but_sign_in_needs_a_session() {
    let s = site();
    for path in ["/", "/queue", "/item/HP-BPS1", "/audit", "/audit.csv"] {
        let (code, _) = get(&s, "", path);
        assert_eq!(code, 303, "GET {path}");
        let (code, _) = get(&s, "hallpass_session=forged-token", path);
        assert_eq!(code, 303, "GET {path} with a forged session");
    }
    for path in [
        "/item/HP-BPS1/release",
        "/item/HP-BPS1/delete",
        "/item/HP-BPS1/original",
        "/bulk",
        "/signout",
    ] {
        let (code, _) = post(&s, "", path, &[("csrf", "x")]);
        assert_eq!(code, 303, "POST {path}");
    }
    let (code, body) = get(&s, "", "/signin");
    assert_eq!(code, 200);
    assert!(body.contains("Sign in"));
    assert!(outbox(&s).is_empty());
}

#[test]
fn forms_without_a_valid_csrf_token_are_refused() {
    let s = site();
    let (cookie, csrf) = sign_in(&s, "trustdpl");
    for form in [vec![], vec![("csrf", "wrong")], vec![("csrf", "")]] {
        let mut f = form.clone();
        f.push(("rcpt", "parent@gmail.com"));
        let (code, _) = post(&s, &cookie, "/item/HP-BPS1/release", &f);
        assert_eq!(code, 403, "{form:?}");
        let (code, _) = post(&s, &cookie, "/item/HP-BPS1/delete", &form);
        assert_eq!(code, 403);
    }
    assert!(outbox(&s).is_empty());
    let item = s
        .store
        .get("HP-BPS1", &Default::default())
        .unwrap()
        .unwrap();
    assert_eq!(item.status.as_str(), "held");
    // The sign-in form itself needs its double-submit token.
    let res = agent()
        .post(format!("{}/signin", s.base))
        .send_form([
            ("signin", "made-up"),
            ("username", "trustdpl"),
            ("password", "a long enough password"),
        ])
        .unwrap();
    assert_eq!(res.status(), 403);
    // With the right token the action works.
    let (code, body) = post(
        &s,
        &cookie,
        "/item/HP-BPS1/false-positive",
        &[("csrf", &csrf)],
    );
    assert_eq!(code, 200, "{body}");
}

#[test]
fn roles_see_only_their_items() {
    let s = site();
    let (dsl, dsl_csrf) = sign_in(&s, "dsl");
    let (code, body) = get(&s, &dsl, "/queue");
    assert_eq!(code, 200);
    assert!(
        body.contains("HP-SAFE1") && !body.contains("HP-BPS1"),
        "{body}"
    );
    assert_eq!(get(&s, &dsl, "/item/HP-BPS1").0, 404);
    assert_eq!(get(&s, &dsl, "/item/HP-SAFE1").0, 200);
    assert_eq!(get(&s, &dsl, "/audit").0, 403);
    assert_eq!(get(&s, &dsl, "/audit.csv").0, 403);
    let (code, _) = post(
        &s,
        &dsl,
        "/item/HP-BPS1/release",
        &[("csrf", &dsl_csrf), ("rcpt", "parent@gmail.com")],
    );
    assert_eq!(code, 404, "a DSL cannot release a data-protection item");
    // A school DPL sees only their school.
    let (bos, _) = sign_in(&s, "bosdpl");
    let (_, body) = get(&s, &bos, "/queue");
    assert!(!body.contains("HP-BPS1") && !body.contains("HP-SAFE1"));
    assert_eq!(get(&s, &bos, "/item/HP-BPS1").0, 404);
    assert!(outbox(&s).is_empty());
}

#[test]
fn hostile_ids_and_content_are_inert() {
    let s = site();
    let (cookie, csrf) = sign_in(&s, "trustdpl");
    for id in [
        "..%2F..%2Fetc%2Fpasswd",
        "HP-BPS1'%20OR%20'1'%3D'1",
        "HP-BPS1%00",
        "%2e%2e",
        "HP-BPS1%2F..%2F..",
    ] {
        let (code, _) = get(&s, &cookie, &format!("/item/{id}"));
        assert_eq!(code, 404, "{id}");
        let (code, _) = post(
            &s,
            &cookie,
            &format!("/item/{id}/delete"),
            &[("csrf", &csrf)],
        );
        assert_eq!(code, 404, "{id}");
    }
    // Filters with SQL metacharacters are data.
    let (code, _) = get(&s, &cookie, "/queue?sender=%27%20OR%201%3D1--&kind=%25");
    assert_eq!(code, 200);
    let res = agent()
        .get(format!("{}/item/HP-BPS1", s.base))
        .header("Cookie", &cookie)
        .call()
        .unwrap();
    let csp = res
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"));
    let body = res.into_body().read_to_string().unwrap();
    assert!(!body.contains("<script"), "a script tag reached the page");
    assert!(!body.contains("<img"), "a remote image reached the page");
    // The subject is shown as text, escaped.
    assert!(
        body.contains("Report &#60;b&#62;Leah Walker&#60;/b&#62;"),
        "{body}"
    );
    assert!(body.contains("<mark>Leah Walker</mark>"), "{body}");
    assert!(
        s.store
            .get("HP-BPS1", &Default::default())
            .unwrap()
            .is_some()
    );
}

#[test]
fn release_is_delivered_once_and_audited() {
    let s = site();
    let (cookie, csrf) = sign_in(&s, "trustdpl");
    let (code, body) = post(
        &s,
        &cookie,
        "/item/HP-BPS1/release",
        &[("csrf", &csrf), ("rcpt", "parent@gmail.com")],
    );
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("released to parent@gmail.com"));
    let out = outbox(&s);
    assert_eq!(out.len(), 1);
    // The Maildir adds Return-Path and Delivered-To; then comes the released header.
    assert!(
        out[0].contains("\r\nX-Hallpass-Released-By: trustdpl (dpl); HP-BPS1;"),
        "{}",
        out[0]
    );
    assert!(out[0].contains("Leah Walker did well"));
    // The sender is told, with the subject's pupil name masked.
    let told: Vec<String> = maildir(&s)
        .into_iter()
        .filter(|m| m.contains("\r\nX-Hallpass-Notice: review"))
        .collect();
    assert_eq!(told.len(), 1);
    assert!(told[0].contains("Delivered-To: teacher@bps.example.sch.uk"));
    assert!(told[0].contains("Report <b>L**** W****</b>"), "{}", told[0]);
    assert!(!told[0].contains("Leah"), "{}", told[0]);
    // Again: refused, nothing more delivered.
    let (code, body) = post(
        &s,
        &cookie,
        "/item/HP-BPS1/release",
        &[("csrf", &csrf), ("rcpt", "parent@gmail.com")],
    );
    assert_eq!(code, 409, "{body}");
    assert_eq!(outbox(&s).len(), 1);
    // A recipient that was not held cannot be smuggled in.
    let (code, _) = post(
        &s,
        &cookie,
        "/item/HP-SAFE1/release",
        &[("csrf", &csrf), ("rcpt", "attacker@evil.example")],
    );
    assert_eq!(code, 409);
    assert_eq!(outbox(&s).len(), 1);
    let (code, csv) = get(&s, &cookie, "/audit.csv");
    assert_eq!(code, 200);
    assert!(
        csv.lines()
            .any(|l| l.contains("trustdpl (dpl),released,HP-BPS1")),
        "{csv}"
    );
    assert!(
        csv.lines()
            .any(|l| l.contains("trustdpl (dpl),signed_in,-")),
        "{csv}"
    );
    assert!(csv.starts_with("time_utc,actor,action,reference,detail"));
}

#[test]
fn failed_sign_ins_are_throttled() {
    let s = site();
    let a = agent();
    let mut last = 0;
    for _ in 0..7 {
        let mut res = a.get(format!("{}/signin", s.base)).call().unwrap();
        let c = cookie_value(&set_cookies(&res), auth::SIGNIN_COOKIE).unwrap();
        let _ = res.body_mut().read_to_string();
        let res = a
            .post(format!("{}/signin", s.base))
            .header("Cookie", format!("{}={c}", auth::SIGNIN_COOKIE))
            .send_form([
                ("signin", c.as_str()),
                ("username", "trustdpl"),
                ("password", "wrong"),
            ])
            .unwrap();
        last = res.status().as_u16();
    }
    assert_eq!(last, 429);
}

/// Signs in as `user` with `password` from the client address `source` (a raw HTTP POST
/// over a socket bound to it); the status code.
fn sign_in_from(s: &Site, source: &str, user: &str, password: &str) -> u16 {
    let mut res = agent().get(format!("{}/signin", s.base)).call().unwrap();
    let token = cookie_value(&set_cookies(&res), auth::SIGNIN_COOKIE).unwrap();
    let _ = res.body_mut().read_to_string();
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("signin", token.as_str()),
            ("username", user),
            ("password", password),
        ])
        .finish();
    let addr: std::net::SocketAddr = s.base.trim_start_matches("http://").parse().unwrap();
    let request = format!(
        "POST /signin HTTP/1.1\r\nHost: {addr}\r\nCookie: {}={token}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        auth::SIGNIN_COOKIE,
        body.len()
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let response = rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(format!("{source}:0").parse().unwrap()).unwrap();
        let mut stream = sock.connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    });
    response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"))
}

#[test]
fn wrong_passwords_from_one_address_do_not_lock_the_data_lead_out_of_another() {
    let s = site();
    let codes: Vec<u16> = (0..7)
        .map(|_| sign_in_from(&s, "127.0.0.2", "trustdpl", "wrong"))
        .collect();
    assert_eq!(codes, [401, 401, 401, 401, 401, 429, 429]);
    // Even the right password waits at the address that guessed...
    assert_eq!(
        sign_in_from(&s, "127.0.0.2", "trustdpl", "a long enough password"),
        429
    );
    // ...but not from the data lead's own address.
    assert_eq!(
        sign_in_from(&s, "127.0.0.3", "trustdpl", "a long enough password"),
        303
    );
    let (cookie, _) = sign_in(&s, "trustdpl");
    let (_, csv) = get(&s, &cookie, "/audit.csv");
    assert_eq!(
        csv.lines()
            .filter(|l| l.contains("sign_in_failed") && l.contains("127.0.0.2"))
            .count(),
        5,
        "{csv}"
    );
    assert!(
        csv.lines()
            .any(|l| l.contains("sign_in_throttled") && l.contains("next attempt in 30 s")),
        "{csv}"
    );
}

#[test]
fn the_false_alarm_link_records_the_senders_view_once() {
    let s = site();
    let notifier = hallpass::config::Config::load(std::path::Path::new("samples/hallpass.toml"))
        .unwrap()
        .notifier("hallpass.test", &s._tmp.path().join("var"), None)
        .unwrap();
    let url = notifier.false_alarm_url("HP-BPS1");
    let path = url
        .split_once("/false-alarm/")
        .map(|(_, p)| format!("/false-alarm/{p}"))
        .unwrap();
    // No session needed, but the token must match the reference.
    let (code, body) = get(&s, "", &path);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("Yes, this is a false alarm"));
    let forged = path.replace("HP-BPS1", "HP-SAFE1");
    assert_eq!(get(&s, "", &forged).0, 404);
    assert_eq!(post(&s, "", &forged, &[]).0, 404);
    assert_eq!(
        get(
            &s,
            "",
            "/false-alarm/HP-BPS1/00000000000000000000000000000000"
        )
        .0,
        404
    );
    for _ in 0..2 {
        let (code, body) = post(&s, "", &path, &[]);
        assert_eq!(code, 200, "{body}");
        assert!(body.contains("Thank you"));
    }
    let reports: Vec<_> = s
        .store
        .audit_of("HP-BPS1")
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "false_alarm_reported")
        .collect();
    assert_eq!(reports.len(), 1, "recorded once");
    let stats = s.store.stats(Utc::now(), &Default::default()).unwrap();
    assert!(
        stats
            .per_day
            .iter()
            .any(|(_, a, n)| a == "false_alarm" && *n == 1)
    );
    // The dashboard and the item's history show it.
    let (cookie, _) = sign_in(&s, "trustdpl");
    let (_, body) = get(&s, &cookie, "/");
    assert!(
        body.contains("<strong>1</strong> false alarms reported"),
        "{body}"
    );
    let (_, body) = get(&s, &cookie, "/item/HP-BPS1");
    assert!(body.contains("false_alarm_reported"));
}

#[test]
fn findings_in_an_attachment_named_after_a_pupil_show_beside_that_part() {
    let s = site();
    let raw = "From: teacher@bps.example.sch.uk\r\nTo: eps@psychology.example.co.uk\r\nSubject: review\r\n\
               MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
               Content-Type: text/plain\r\n\r\nAttached.\r\n--b\r\nContent-Type: text/plain; name=\"Leah Walker EHCP.txt\"\r\n\
               Content-Disposition: attachment; filename=\"Leah Walker EHCP.txt\"\r\n\r\nNotes for the review.\r\n--b--\r\n";
    // What the scanner stores: the location with the pupil's name masked.
    let r = hallpass::config::Config::load(std::path::Path::new("samples/hallpass.toml"))
        .unwrap()
        .scanner()
        .unwrap()
        .scan(
            raw.as_bytes(),
            &hallpass::scan::Envelope {
                mail_from: "teacher@bps.example.sch.uk".into(),
                rcpt_to: vec!["eps@psychology.example.co.uk".into()],
            },
            Utc::now(),
        );
    let findings = r.findings();
    assert!(
        findings
            .iter()
            .any(|f| f.location == "attachment-name:L**** W**** EHCP.txt"),
        "{findings:?}"
    );
    let mut item = held("HP-ATT1", "bps", false, "review");
    item.findings = findings;
    s.store.hold(&item, raw.as_bytes()).unwrap();
    let (cookie, _) = sign_in(&s, "trustdpl");
    let (code, body) = get(&s, &cookie, "/item/HP-ATT1");
    assert_eq!(code, 200, "{body}");
    // Beside the part (the findings table above shows kinds without a count sign).
    assert!(body.contains("pupil_name ×1"), "{body}");
}
