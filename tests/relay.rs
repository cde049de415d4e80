//! The relay over real SMTP and LMTP on loopback: lettre as the client for whole messages, a
//! raw TCP client for protocol edges (smuggling, LMTP replies, limits), a Maildir or a
//! closed port as the next hop.

mod common;

use common::*;
use hallpass::smtp::config::NextHop;
use lettre::AsyncTransport;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_mail_is_delivered_with_headers_and_body_unchanged() {
    let r = start(false, |_| {}).await;
    let body = "The coach leaves at 8:30.\r\n..A line starting with a dot.";
    client(r.addr)
        .send_raw(&envelope(STAFF, &[SUPPLIER]), &msg(body))
        .await
        .unwrap();
    let got = mail(&r.maildir);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with(&format!(
            "Return-Path: <{STAFF}>\r\nDelivered-To: {SUPPLIER}\r\nReceived: from "
        )),
        "{}",
        got[0]
    );
    assert!(got[0].contains("X-Hallpass-Result: action=allow; findings=none; ref=HP-"));
    // lettre ends the data with CRLF "." CRLF after the message, so what the relay received
    // (and hands on unchanged) is the message plus one CRLF.
    let sent = format!("{}\r\n", String::from_utf8(msg(body)).unwrap());
    assert!(
        got[0].ends_with(&sent),
        "body changed: {:?} vs {:?}",
        &got[0][got[0].len() - 60..],
        &sent[sent.len() - 60..]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaking_mail_is_refused_with_guidance() {
    let r = start(false, |_| {}).await;
    let err = client(r.addr)
        .send_raw(
            &envelope(STAFF, &[SUPPLIER]),
            &msg("Please seat Leah Walker at the front."),
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(err.is_permanent(), "{text}");
    assert!(
        text.contains("550")
            && text.contains("a pupil's full name in the body")
            && text.contains("Reference: HP-"),
        "{text}"
    );
    assert!(!text.contains("Leah") && !text.contains("Walker"));
    assert!(mail(&r.maildir).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_mail_is_stored_durably_before_the_250() {
    let r = start(false, |_| {}).await;
    let raw = std::fs::read("samples/messages/class-list-csv-to-partner.eml").unwrap();
    client(r.addr)
        .send_raw(&envelope(STAFF, &["mash@essex.gov.uk"]), &raw)
        .await
        .unwrap();
    let store = hallpass::quarantine::SqliteStore::open(&r.data_dir).unwrap();
    use hallpass::quarantine::{QuarantineStore, Query, Scope, Status};
    let page = store
        .query(&Query {
            per_page: 10,
            ..Query::default()
        })
        .unwrap();
    assert_eq!(page.total, 1);
    let s = &page.items[0];
    assert_eq!(s.status, Status::Held);
    assert_eq!(s.school, "bps");
    assert!(s.kinds.iter().any(|k| k == "bulk_pupil_data"), "{s:?}");
    let item = store.get(&s.reference, &Scope::default()).unwrap().unwrap();
    assert_eq!(item.held.held_recipients, ["mash@essex.gov.uk"]);
    let stored = store.message(&s.reference).unwrap().unwrap();
    // Hallpass's headers, then exactly what was sent (lettre's framing adds one CRLF).
    let mut framed = raw.clone();
    framed.extend_from_slice(b"\r\n");
    assert!(
        stored.ends_with(&framed),
        "held copy differs from what was sent"
    );
    assert!(stored.starts_with(b"Received: "));
    assert!(mail(&r.maildir).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_recipients_colleague_gets_it_sender_gets_a_dsn() {
    let r = start(false, |_| {}).await;
    client(r.addr)
        .send_raw(
            &envelope(STAFF, &[COLLEAGUE, SUPPLIER]),
            &msg("Isaac Barker needs a seat near a teacher."),
        )
        .await
        .unwrap();
    let got = mail(&r.maildir);
    assert_eq!(got.len(), 2, "{got:?}");
    let copy = got
        .iter()
        .find(|f| f.contains(&format!("Delivered-To: {COLLEAGUE}")))
        .expect("colleague copy");
    assert!(copy.contains("X-Hallpass-Result: action=tag; findings=pupil_name"));
    let dsn = got
        .iter()
        .find(|f| f.contains(&format!("Delivered-To: {STAFF}")))
        .expect("DSN to sender");
    assert!(
        dsn.contains("Return-Path: <>")
            && dsn.contains("multipart/report; report-type=delivery-status")
    );
    assert!(
        dsn.contains(&format!("Final-Recipient: rfc822; {SUPPLIER}"))
            && dsn.contains("Status: 5.7.1")
    );
    assert!(dsn.contains("Auto-Submitted: auto-replied"));
}

/// A raw client: sends `lines` as one write (pipelined) and reads `replies` final replies.
async fn raw(addr: std::net::SocketAddr, send: &[u8], replies: usize) -> Vec<String> {
    let sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (rd, mut wr) = sock.into_split();
    let mut rd = BufReader::new(rd);
    let mut out = Vec::new();
    let mut line = String::new();
    rd.read_line(&mut line).await.unwrap();
    out.push(line.trim_end().to_string());
    wr.write_all(send).await.unwrap();
    let mut finals = 0;
    while finals < replies {
        line.clear();
        // A hang guard only (a stuck relay fails the test instead of blocking the suite).
        let n = tokio::time::timeout(std::time::Duration::from_secs(60), rd.read_line(&mut line))
            .await
            .expect("relay stopped answering")
            .unwrap();
        if n == 0 {
            break;
        }
        if line.as_bytes().get(3) == Some(&b' ') {
            finals += 1;
        }
        out.push(line.trim_end().to_string());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_payloads_never_split_a_message() {
    let r = start(false, |_| {}).await;
    // The published shapes: <LF>.<LF>, <CR><LF>.<LF>, <LF>.<CR><LF> followed by a second
    // transaction inside the data. None may end the data; the bare LF refuses the message.
    for ending in ["\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r\n"] {
        let payload = format!(
            "EHLO x\r\nMAIL FROM:<{STAFF}>\r\nRCPT TO:<{SUPPLIER}>\r\nDATA\r\nSubject: a\r\n\r\nfirst{ending}MAIL FROM:<evil@example.com>\r\nRCPT TO:<{SUPPLIER}>\r\nDATA\r\nSubject: smuggled\r\n\r\nsecond\r\n.\r\nQUIT\r\n"
        );
        let replies = raw(r.addr, payload.as_bytes(), 6).await;
        let last_data = replies
            .iter()
            .filter(|l| l.starts_with("554 5.6.0") || l.starts_with("250 2.0.0"))
            .collect::<Vec<_>>();
        assert_eq!(last_data.len(), 1, "{ending:?}: {replies:?}");
        assert!(
            last_data[0].starts_with("554 5.6.0"),
            "{ending:?}: {replies:?}"
        );
    }
    assert!(mail(&r.maildir).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lmtp_gives_one_reply_per_recipient() {
    let r = start(true, |_| {}).await;
    let payload = format!(
        "LHLO x\r\nMAIL FROM:<{STAFF}>\r\nRCPT TO:<{COLLEAGUE}>\r\nRCPT TO:<{SUPPLIER}>\r\nRCPT TO:<mash@essex.gov.uk>\r\nDATA\r\nSubject: list\r\n\r\nAmy Holmes, Tom Clark, Freya Rogers, Harry Fisher, Evelyn Barnes and Kacper Gray are on the list.\r\n.\r\nQUIT\r\n"
    );
    let replies = raw(r.addr, payload.as_bytes(), 10).await;
    let after_data: Vec<&String> = replies
        .iter()
        .skip_while(|l| !l.starts_with("354"))
        .skip(1)
        .collect();
    assert!(
        after_data[0].starts_with("250 2.1.5 <rosie.griffiths1@"),
        "{replies:?}"
    );
    assert!(
        after_data.iter().any(|l| l.starts_with("550 5.7.1 ")),
        "{replies:?}"
    );
    assert!(
        after_data
            .iter()
            .any(|l| l.starts_with("250 2.7.0 <mash@essex.gov.uk> held")),
        "{replies:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_outside_allowed_clients_get_554() {
    let r = start(false, |relay| {
        relay.allowed = vec!["10.0.0.0/8".parse().unwrap()]
    })
    .await;
    let replies = raw(r.addr, b"", 0).await;
    assert!(replies[0].starts_with("554 5.7.1"), "{replies:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_hop_down_is_a_451_and_nothing_is_acknowledged() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let r = start(false, |relay| {
        relay.next_hop = NextHop::smtp("127.0.0.1", closed.port())
    })
    .await;
    let err = client(r.addr)
        .send_raw(&envelope(STAFF, &[SUPPLIER]), &msg("Clean note."))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("451"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_limit_is_enforced() {
    let r = start(false, |relay| relay.max_message_size = 1000).await;
    let replies = raw(
        r.addr,
        format!("EHLO x\r\nMAIL FROM:<{STAFF}> SIZE=5000\r\nQUIT\r\n").as_bytes(),
        3,
    )
    .await;
    assert!(
        replies.iter().any(|l| l.starts_with("552 5.3.4")),
        "{replies:?}"
    );
    let big = "x".repeat(2000);
    let payload = format!(
        "EHLO x\r\nMAIL FROM:<{STAFF}>\r\nRCPT TO:<{SUPPLIER}>\r\nDATA\r\nSubject: big\r\n\r\n{big}\r\n.\r\nQUIT\r\n"
    );
    let replies = raw(r.addr, payload.as_bytes(), 6).await;
    assert!(
        replies.iter().any(|l| l.starts_with("552 5.3.4")),
        "{replies:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_transaction_in_progress_and_refuses_new_work() {
    let r = start(false, |_| {}).await;
    // An idle session and one in the middle of DATA.
    let idle = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    let (idle_rd, _idle_wr) = idle.into_split();
    let mut idle_rd = BufReader::new(idle_rd);
    let mut line = String::new();
    idle_rd.read_line(&mut line).await.unwrap();
    let busy = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    let (rd, mut wr) = busy.into_split();
    let mut rd = BufReader::new(rd);
    rd.read_line(&mut line).await.unwrap();
    wr.write_all(format!("HELO x\r\nMAIL FROM:<{STAFF}>\r\nRCPT TO:<{SUPPLIER}>\r\nDATA\r\nSubject: a\r\n\r\nfirst half\r\n").as_bytes()).await.unwrap();
    let mut replies = Vec::new();
    while replies.len() < 4 {
        line.clear();
        rd.read_line(&mut line).await.unwrap();
        replies.push(line.clone());
    }
    assert!(replies[3].starts_with("354"), "{replies:?}");
    r.stop.send(true).unwrap();
    // The idle session is told at once.
    line.clear();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        idle_rd.read_line(&mut line),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(line.starts_with("421 4.3.2"), "{line}");
    // The transaction in progress completes and is acknowledged only once delivered.
    wr.write_all(b"second half\r\n.\r\n").await.unwrap();
    line.clear();
    tokio::time::timeout(std::time::Duration::from_secs(30), rd.read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    assert!(line.starts_with("250 2.0.0"), "{line}");
    assert_eq!(mail(&r.maildir).len(), 1);
    drop(wr);
    tokio::time::timeout(std::time::Duration::from_secs(30), r.serving)
        .await
        .expect("server stops")
        .unwrap();
    // No new connections once stopped.
    assert!(tokio::net::TcpStream::connect(r.addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunking_bdat_delivers_exactly_the_chunks() {
    let r = start(false, |_| {}).await;
    let head = format!(
        "From: {STAFF}\r\nTo: {SUPPLIER}\r\nSubject: trip\r\nDate: Wed, 25 Nov 2026 10:15:00 +0000\r\n\r\nCoach at 8:30.\r\n"
    );
    // A dot line and commands inside a chunk are data: BDAT has no end marker to smuggle.
    let tail = ".\r\nMAIL FROM:<x@evil.example>\r\nRCPT TO:<y@evil.example>\r\nThanks.\r\n";
    let send = format!(
        "EHLO client\r\nMAIL FROM:<{STAFF}>\r\nRCPT TO:<{SUPPLIER}>\r\nBDAT {}\r\n{head}BDAT {} LAST\r\n{tail}QUIT\r\n",
        head.len(),
        tail.len()
    );
    let replies = raw(r.addr, send.as_bytes(), 6).await;
    assert!(replies.iter().any(|l| l == "250-CHUNKING"), "{replies:?}");
    let finals: Vec<&String> = replies
        .iter()
        .skip(1)
        .filter(|l| l.as_bytes().get(3) == Some(&b' '))
        .collect();
    assert_eq!(finals.len(), 6, "{replies:?}");
    assert_eq!(
        finals[3].as_str(),
        format!("250 2.0.0 {} octets received", head.len())
    );
    assert!(finals[4].starts_with("250 "), "{replies:?}");
    assert!(finals[5].starts_with("221 "), "{replies:?}");
    let got = mail(&r.maildir);
    assert_eq!(got.len(), 1, "one message, not two");
    assert!(
        got[0].ends_with(&format!("{head}{tail}")),
        "{:?}",
        &got[0][got[0].len().saturating_sub(200)..]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunking_bdat_leak_is_refused_and_bdat_needs_a_transaction() {
    let r = start(false, |_| {}).await;
    let body = format!(
        "From: {STAFF}\r\nTo: {SUPPLIER}\r\nSubject: seats\r\n\r\nPlease seat Leah Walker at the front.\r\n"
    );
    // BDAT before MAIL: 503, and its bytes are skipped so the conversation stays in step.
    let send = format!(
        "EHLO client\r\nBDAT 5\r\nHELLOMAIL FROM:<{STAFF}>\r\nRCPT TO:<{SUPPLIER}>\r\nBDAT {} LAST\r\n{body}",
        body.len()
    );
    let replies = raw(r.addr, send.as_bytes(), 5).await;
    let finals: Vec<&String> = replies
        .iter()
        .skip(1)
        .filter(|l| l.as_bytes().get(3) == Some(&b' '))
        .collect();
    assert!(finals[1].starts_with("503 5.5.1"), "{replies:?}");
    assert!(finals[2].starts_with("250 "), "{replies:?}");
    assert!(finals[3].starts_with("250 "), "{replies:?}");
    assert!(finals[4].starts_with("550 5.7.1"), "{replies:?}");
    assert!(
        replies.iter().any(|l| l.contains("a pupil's full name")),
        "{replies:?}"
    );
    assert!(mail(&r.maildir).is_empty());
}
