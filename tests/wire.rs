//! Wire hardening through `hallpass serve` (the real binary) over real TCP, with a recording
//! SMTP next hop that reads lines as Postfix's smtpd does (the server an SMTP smuggling
//! attack aims at): every published end-of-data variant, over DATA and BDAT, pipelined, step
//! by step and split into small writes, never yields a second transaction at the next hop;
//! random streams of CR, LF, dot, NUL and text neither; DATA framing (an empty message, the
//! first line unstuffed); recipients written with `%`, `!` or a source route; hundreds of
//! idle and trickling connections while the school's MTA and a normal client still get 250.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::postfix::Got;
use common::{COLLEAGUE, STAFF, SUPPLIER, serve};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Relay {
    _served: serve::Served,
    port: u16,
    got: Arc<Mutex<Vec<Got>>>,
    _tmp: tempfile::TempDir,
}

/// `hallpass serve` on the sample config with a recording sink as its next hop and
/// `relay_keys` added to `[relay]`.
async fn relay(relay_keys: &str) -> Relay {
    let tmp = tempfile::tempdir().unwrap();
    let (served, got) = serve::with_sink(tmp.path(), relay_keys).await;
    Relay {
        port: served.smtp(),
        _served: served,
        got,
        _tmp: tmp,
    }
}

/// A connection from `source` (any 127.0.0.0/8 address: Linux routes them all to loopback).
async fn connect_from(source: &str, port: u16) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let s = sock
        .connect(format!("127.0.0.1:{port}").parse().unwrap())
        .await
        .unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// A client's half of a conversation: replies read line by line.
struct Client {
    rd: BufReader<tokio::net::tcp::OwnedReadHalf>,
    wr: tokio::net::tcp::OwnedWriteHalf,
    /// Every reply line so far.
    lines: Vec<String>,
}

impl Client {
    async fn new(source: &str, port: u16) -> Client {
        let (rd, wr) = connect_from(source, port).await.into_split();
        let mut c = Client {
            rd: BufReader::new(rd),
            wr,
            lines: Vec::new(),
        };
        c.reply().await;
        c
    }

    /// The next whole reply (its last line), or `None` when the relay closed the connection.
    async fn reply(&mut self) -> Option<String> {
        loop {
            let mut line = String::new();
            // A hang guard only: a relay that stops answering fails the test.
            let n = tokio::time::timeout(Duration::from_secs(60), self.rd.read_line(&mut line))
                .await
                .expect("relay stopped answering")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            let line = line.trim_end().to_string();
            self.lines.push(line.clone());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some(line);
            }
        }
    }

    /// Sends `bytes` (errors ignored: the relay may have closed already).
    async fn send(&mut self, bytes: &[u8]) {
        let _ = self.wr.write_all(bytes).await;
    }

    /// Sends `bytes` in writes of `size` bytes.
    async fn send_split(&mut self, bytes: &[u8], size: usize) {
        for piece in bytes.chunks(size) {
            if self.wr.write_all(piece).await.is_err() {
                return;
            }
            let _ = self.wr.flush().await;
        }
    }

    /// Reads replies until the relay closes the connection.
    async fn until_closed(&mut self) {
        while self.reply().await.is_some() {}
    }

    async fn command(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await.unwrap_or_default()
    }
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    /// The whole conversation in one write.
    Pipelined,
    /// Each command after the reply to the one before, the data in one write.
    StepByStep,
    /// Step by step, the data in writes of two bytes.
    Split,
}

/// One attack: a first message whose data holds `ending` and then a whole second
/// transaction (a forged sender), over DATA or BDAT, sent in `mode`. Returns every reply.
async fn attack(port: u16, ending: &[u8], mode: Mode, bdat: bool) -> Vec<String> {
    let mut content = b"Subject: seats\r\n\r\nfirst".to_vec();
    content.extend_from_slice(ending);
    content.extend_from_slice(
        format!(
            "MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<{SUPPLIER}>\r\nDATA\r\nSubject: smuggled\r\n\r\nsecond\r\n.\r\n"
        )
        .as_bytes(),
    );
    let (verb, data) = if bdat {
        (format!("BDAT {} LAST", content.len()), content)
    } else {
        ("DATA".to_string(), content)
    };
    let head = [
        "EHLO client.example".to_string(),
        format!("MAIL FROM:<{STAFF}>"),
        format!("RCPT TO:<{SUPPLIER}>"),
    ];
    let mut c = Client::new("127.0.0.1", port).await;
    match mode {
        Mode::Pipelined => {
            let mut all = Vec::new();
            for h in &head {
                all.extend_from_slice(format!("{h}\r\n").as_bytes());
            }
            all.extend_from_slice(format!("{verb}\r\n").as_bytes());
            all.extend_from_slice(&data);
            all.extend_from_slice(b"QUIT\r\n");
            c.send(&all).await;
        }
        Mode::StepByStep | Mode::Split => {
            for h in &head {
                c.command(h).await;
            }
            if bdat {
                c.send(format!("{verb}\r\n").as_bytes()).await;
            } else {
                assert!(c.command(&verb).await.starts_with("354"));
            }
            match mode {
                Mode::Split => c.send_split(&data, 2).await,
                _ => c.send(&data).await,
            }
            c.send(b"QUIT\r\n").await;
        }
    }
    c.until_closed().await;
    c.lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_variants_never_give_a_second_transaction() {
    let r = relay("").await;
    // A true end followed by a NUL where the next command starts, besides the published ones.
    let endings = hallpass::smtp::data::SMUGGLING_ENDINGS
        .iter()
        .copied()
        .chain([&b"\r\n.\r\n\x00"[..]]);
    for ending in endings {
        for mode in [Mode::Pipelined, Mode::StepByStep, Mode::Split] {
            for bdat in [false, true] {
                let replies = attack(r.port, ending, mode, bdat).await;
                let what = format!("{ending:?} {mode:?} bdat={bdat}: {replies:#?}");
                if !bdat && ending == b"\r\n.\r\n\x00" {
                    // A true end, then a NUL where a command starts: the first message is
                    // delivered, and the NUL line is no command (500), so the forged
                    // transaction has no MAIL and gets no 354.
                    let count = |p: &str| replies.iter().filter(|l| l.starts_with(p)).count();
                    assert_eq!(count("250 2.0.0 Ok"), 1, "{what}");
                    assert_eq!(count("354"), 1, "{what}");
                    continue;
                }
                assert_eq!(
                    replies
                        .iter()
                        .filter(|l| l.starts_with("554 5.6.0"))
                        .count(),
                    1,
                    "{what}"
                );
                assert!(
                    !replies.iter().any(|l| l.starts_with("250 2.0.0 Ok")),
                    "{what}"
                );
                // After the refusal the connection is closed: no command was read after it.
                assert!(replies.last().unwrap().starts_with("554 5.6.0"), "{what}");
            }
        }
    }
    // The next hop never saw the forged sender, and saw nothing but the DATA messages of
    // the one ending that was a true end (each from the real sender, once per send).
    let got = r.got.lock().unwrap().clone();
    assert!(got.iter().all(|g| g.from == STAFF), "{got:#?}");
    assert!(got.iter().all(|g| !g.data.contains("smuggled")), "{got:#?}");
    assert_eq!(got.len(), 3, "{got:#?}");
}

/// Random mixes of CR, LF, dot, NUL, text and a whole forged transaction inside the data,
/// sent pipelined: at most one transaction reaches the next hop, always with the real
/// sender, and one exactly when the data had only CRLF line ends and no NUL. (proptest's
/// runner inside one test, so the relay it talks to is stopped at the end.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_streams_never_split_a_message() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let r = relay("").await;
    let piece = proptest::sample::select(vec![
        "\r",
        "\n",
        ".",
        "\0",
        "text",
        "\r\n",
        "\r\n.",
        "MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<x@attacker.example>\r\nDATA\r\n",
    ]);
    let strategy = proptest::collection::vec(piece, 0..24);
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let (port, got) = (r.port, r.got.clone());
    tokio::task::block_in_place(|| {
        runner
            .run(&strategy, |pieces| {
                let body: String = pieces.concat();
                // Only streams whose one true end is the last: a true end inside is the
                // client ending its own message, not smuggling.
                let stream = format!("Subject: r\r\n\r\n{body}\r\n.\r\n");
                let first_end = stream.find("\r\n.\r\n").map(|i| i + 5);
                prop_assume!(first_end == Some(stream.len()));
                let before = got.lock().unwrap().len();
                let lines = handle.block_on(async {
                    let mut c = Client::new("127.0.0.1", port).await;
                    let all = format!(
                        "EHLO x\r\nMAIL FROM:<{STAFF}>\r\nRCPT TO:<{COLLEAGUE}>\r\nDATA\r\n{stream}QUIT\r\n"
                    );
                    c.send(all.as_bytes()).await;
                    c.until_closed().await;
                    c.lines
                });
                let new = got.lock().unwrap()[before..].to_vec();
                let clean =
                    !body.contains('\0') && !body.replace("\r\n", "").contains(['\r', '\n']);
                prop_assert!(new.len() <= 1, "{body:?}: {new:#?}");
                prop_assert_eq!(new.len(), usize::from(clean), "{:?}: {:#?}", body, lines);
                prop_assert!(new.iter().all(|g| g.from == STAFF && g.rcpts == [COLLEAGUE]));
                Ok(())
            })
            .unwrap();
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_framing_empty_message_and_first_line_unstuffed() {
    let r = relay("").await;
    // `.` at once after the 354: an empty message, answered at once (not at data_timeout).
    let mut c = Client::new("127.0.0.1", r.port).await;
    c.command("EHLO x").await;
    c.command(&format!("MAIL FROM:<{STAFF}>")).await;
    c.command(&format!("RCPT TO:<{COLLEAGUE}>")).await;
    assert!(c.command("DATA").await.starts_with("354"));
    let reply = c.command(".").await;
    assert!(reply.starts_with("250 2.0.0"), "{:#?}", c.lines);
    // A first line sent dot-stuffed arrives with one dot, as every other line does.
    c.command(&format!("MAIL FROM:<{STAFF}>")).await;
    c.command(&format!("RCPT TO:<{COLLEAGUE}>")).await;
    assert!(c.command("DATA").await.starts_with("354"));
    c.send(b"..first: line\r\nSubject: dots\r\n\r\n..body\r\n...\r\n")
        .await;
    let reply = c.command(".").await;
    assert!(reply.starts_with("250 2.0.0"), "{:#?}", c.lines);
    assert_eq!(c.command("QUIT").await, "221 2.0.0 Bye");
    let got = r.got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(!got[0].data.contains("\r\n\r\n."), "{got:#?}");
    let d = &got[1].data;
    assert!(d.contains("\r\n.first: line\r\n"), "{d}");
    assert!(!d.contains("..first"), "{d}");
    assert!(d.ends_with("\r\n\r\n.body\r\n..\r\n"), "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routed_recipients_are_refused_or_classed_by_where_they_go() {
    let r = relay("").await;
    let school = "beaulieupark.example.sch.uk";
    let mut c = Client::new("127.0.0.1", r.port).await;
    c.command("EHLO x").await;
    c.command(&format!("MAIL FROM:<{STAFF}>")).await;
    for rcpt in [
        format!("user%outside.example@{school}"),
        format!("outside.example!user@{school}"),
        format!("\"user%outside.example\"@{school}"),
    ] {
        let reply = c.command(&format!("RCPT TO:<{rcpt}>")).await;
        assert!(reply.starts_with("553 5.1.3"), "{rcpt}: {reply}");
        assert!(reply.contains("user@domain"), "{reply}");
    }
    // A source route is dropped as RFC 5321 appendix C says: the recipient is where the
    // route ends, and a pupil's name and UPN to an outside address there is refused.
    let reply = c
        .command(&format!("RCPT TO:<@{school}:user@outside.example>"))
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    assert!(c.command("DATA").await.starts_with("354"));
    c.send(b"Subject: report\r\n\r\nLeah Walker, UPN A123456789012, is doing well.\r\n")
        .await;
    let reply = c.command(".").await;
    assert!(reply.starts_with("550 5.7.1"), "{:#?}", c.lines);
    // To a school address at the end of a route: delivered there, without the route.
    c.command(&format!("MAIL FROM:<{STAFF}>")).await;
    let reply = c
        .command(&format!("RCPT TO:<@outside.example:{COLLEAGUE}>"))
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    assert!(c.command("DATA").await.starts_with("354"));
    c.send(b"Subject: hello\r\n\r\nSee you at lunch.\r\n").await;
    assert!(c.command(".").await.starts_with("250 2.0.0"));
    // The sender's guidance notice: with the review page off (this config) it carries no
    // false-alarm link (there is no page to take it), never a link to "http:///".
    let notices: Vec<Got> = r
        .got
        .lock()
        .unwrap()
        .iter()
        .filter(|g| g.from.is_empty())
        .cloned()
        .collect();
    assert_eq!(notices.len(), 1, "{notices:#?}");
    assert!(notices[0].data.contains("was NOT sent"), "{notices:#?}");
    assert!(!notices[0].data.contains("false-alarm"), "{notices:#?}");
    assert!(!notices[0].data.contains("http:///"), "{notices:#?}");
    // What reached the next hop from the sender (the guidance notice aside).
    let got: Vec<Got> = r
        .got
        .lock()
        .unwrap()
        .iter()
        .filter(|g| g.from == STAFF)
        .cloned()
        .collect();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].rcpts, [COLLEAGUE]);
}

/// Sends one clean message from `source` and returns the final reply to its data.
async fn one_message(source: &str, port: u16) -> String {
    let mut c = Client::new(source, port).await;
    assert!(c.lines[0].starts_with("220"), "{source}: {:?}", c.lines);
    c.command("EHLO x").await;
    c.command(&format!("MAIL FROM:<{STAFF}>")).await;
    c.command(&format!("RCPT TO:<{COLLEAGUE}>")).await;
    c.command("DATA").await;
    c.send(b"Subject: lunch\r\n\r\nSee you at lunch.\r\n").await;
    let reply = c.command(".").await;
    c.command("QUIT").await;
    reply
}

/// The first reply line on a new connection from `source`.
async fn greeting(source: &str, port: u16) -> (TcpStream, String) {
    let mut s = connect_from(source, port).await;
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(60), s.read(&mut buf))
        .await
        .expect("no greeting")
        .unwrap_or(0);
    (s, String::from_utf8_lossy(&buf[..n]).trim_end().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_idle_and_trickling_connections_starve_nobody() {
    // The school's MTA at 127.0.0.1 is trusted; defaults otherwise (200 slots, 20 a client).
    let r = relay("trusted_clients = [\"127.0.0.1\"]").await;
    let mut held = Vec::new();
    let (mut open, mut refused) = (0, 0);
    // Four attacking addresses, 75 connections each: idle, or trickling a byte at a time.
    for i in 0..300 {
        let source = format!("127.0.0.{}", 2 + i % 4);
        let (mut s, hello) = greeting(&source, r.port).await;
        if hello.starts_with("220") {
            open += 1;
            if i % 2 == 0 {
                let _ = s.write_all(b"NO").await;
            }
            held.push(s);
        } else {
            assert!(hello.starts_with("421 4.7.0"), "{hello}");
            refused += 1;
        }
    }
    assert_eq!((open, refused), (80, 220));
    // A normal client from another address, and the school's MTA, still get their 250.
    assert!(
        one_message("127.0.0.9", r.port)
            .await
            .starts_with("250 2.0.0")
    );
    assert!(
        one_message("127.0.0.1", r.port)
            .await
            .starts_with("250 2.0.0")
    );
    // Many more addresses fill every shared slot: the school's MTA is still served.
    for i in 0..200 {
        let (s, hello) = greeting(&format!("127.0.1.{}", i / 10 + 1), r.port).await;
        if hello.starts_with("220") {
            held.push(s);
        }
    }
    let (_s, hello) = greeting("127.0.0.9", r.port).await;
    assert!(
        hello.starts_with("421 4.7.0"),
        "the shared pool is full: {hello}"
    );
    assert!(
        one_message("127.0.0.1", r.port)
            .await
            .starts_with("250 2.0.0")
    );
    assert_eq!(r.got.lock().unwrap().len(), 3);
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickle_does_not_extend_the_command_timeout() {
    let r = relay("command_timeout = 2").await;
    let mut c = Client::new("127.0.0.2", r.port).await;
    c.command("EHLO x").await;
    let Client { mut rd, mut wr, .. } = c;
    let reader = tokio::spawn(async move {
        let mut rest = String::new();
        let _ = rd.read_to_string(&mut rest).await;
        rest
    });
    // One byte of a command every 200 ms, never a whole line: the relay closes with 421
    // once the command has taken command_timeout, however recently a byte came.
    for _ in 0..300 {
        if reader.is_finished() || wr.write_all(b"N").await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(reader.is_finished(), "still open after 60 s of trickling");
    let rest = reader.await.unwrap();
    assert!(rest.starts_with("421 4.4.2"), "{rest:?}");
}
