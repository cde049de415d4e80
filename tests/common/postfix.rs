//! A private Postfix for end-to-end tests (Debian's `postfix`, started from its own config
//! directory on loopback ports, nothing chrooted) and a recording SMTP sink as its relay
//! host; lettre as the client.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_port(port: u16) {
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("port {port} never listened");
}

/// A message the sink accepted: envelope recipients and data.
#[derive(Clone, Debug)]
pub struct Got {
    /// The envelope sender (MAIL FROM, without the angle brackets).
    pub from: String,
    pub rcpts: Vec<String>,
    pub data: String,
}

/// The next hop: accepts everything and records it. It reads lines as Postfix's smtpd does
/// (a bare LF ends a line too), so it is the next hop an SMTP smuggling attack aims at.
pub async fn sink(listener: tokio::net::TcpListener, got: Arc<Mutex<Vec<Got>>>) {
    chaos_sink(
        listener,
        got,
        Arc::new(std::sync::atomic::AtomicU32::new(0)),
    )
    .await
}

/// A recording sink on a loopback port the kernel picks: (its port, what it received).
pub async fn recording_sink() -> (u16, Arc<Mutex<Vec<Got>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(sink(l, got.clone()));
    (port, got)
}

/// A sink that, while `chaos` (0-100) is above zero, answers 451 to that percentage of
/// transactions or drops the connection after the data (before its reply — so the sender
/// retries what it already received: a duplicate, never a loss).
pub async fn chaos_sink(
    listener: tokio::net::TcpListener,
    got: Arc<Mutex<Vec<Got>>>,
    chaos: Arc<std::sync::atomic::AtomicU32>,
) {
    let seed = std::sync::atomic::AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let seed = Arc::new(seed);
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        let got = got.clone();
        let chaos = chaos.clone();
        let seed = seed.clone();
        tokio::spawn(async move {
            // xorshift, deterministic from one seed: no dependency.
            let unlucky = || {
                let c = chaos.load(std::sync::atomic::Ordering::Relaxed);
                let mut x = seed.load(std::sync::atomic::Ordering::Relaxed);
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                seed.store(x, std::sync::atomic::Ordering::Relaxed);
                c > 0 && ((x % 100) as u32) < c
            };
            let (r, mut w) = sock.into_split();
            let mut lines = BufReader::new(r).lines();
            let _ = w.write_all(b"220 sink ESMTP\r\n").await;
            let mut rcpts = Vec::new();
            let mut from = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                let upper = line.to_ascii_uppercase();
                let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                    b"250 sink\r\n"
                } else if upper.starts_with("MAIL") {
                    rcpts.clear();
                    from = line
                        .get(10..)
                        .unwrap_or("")
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string();
                    if unlucky() {
                        b"451 4.3.0 sink busy, try later\r\n"
                    } else {
                        b"250 ok\r\n"
                    }
                } else if upper.starts_with("RCPT") {
                    rcpts.push(
                        line[8..]
                            .trim()
                            .trim_start_matches('<')
                            .trim_end_matches('>')
                            .to_string(),
                    );
                    b"250 ok\r\n"
                } else if upper.starts_with("DATA") {
                    let _ = w.write_all(b"354 go\r\n").await;
                    let mut data = String::new();
                    while let Ok(Some(l)) = lines.next_line().await {
                        if l == "." {
                            break;
                        }
                        // Dot-unstuffed, as an SMTP server stores it.
                        data.push_str(l.strip_prefix('.').unwrap_or(&l));
                        data.push_str("\r\n");
                    }
                    got.lock().unwrap().push(Got {
                        from: from.clone(),
                        rcpts: rcpts.clone(),
                        data,
                    });
                    if unlucky() {
                        return; // dropped before the reply
                    }
                    b"250 queued\r\n"
                } else if upper.starts_with("QUIT") {
                    let _ = w.write_all(b"221 bye\r\n").await;
                    return;
                } else {
                    b"250 ok\r\n"
                };
                let _ = w.write_all(reply).await;
            }
        });
    }
}

pub struct Postfix {
    conf: PathBuf,
    child: Child,
}

impl Postfix {
    /// Its configuration directory (for `postqueue -c`, `postsuper -c`).
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// `postqueue -f`: deliver deferred mail now, as an operator does once a content filter
    /// is back. (Postfix retries on its own too, but its queue manager has been seen to
    /// leave a deferred message for minutes, past a test's patience.)
    pub fn flush(&self) {
        let _ = Command::new("postqueue")
            .arg("-c")
            .arg(&self.conf)
            .arg("-f")
            .status();
    }
}

/// A message of `samples/messages/` (by name, without `.eml`) with the envelope its headers
/// imply: bytes, sender, recipients.
pub fn sample_message(name: &str) -> (Vec<u8>, String, Vec<String>) {
    let raw = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("samples/messages/{name}.eml")),
    )
    .unwrap();
    let env = hallpass::scan::mime::envelope_from_headers(&raw);
    (raw, env.mail_from, env.rcpt_to)
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(&self.conf)
            .arg("stop")
            .output();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a private Postfix from `dir` (smtpd on `smtpd`, relaying to `sink`) with the
/// `main.cf` lines in `extra` added and the `master.cf` services in `services` appended.
pub fn postfix(dir: &Path, smtpd: u16, sink: u16, extra: &str, services: &str) -> Postfix {
    use std::os::unix::fs::PermissionsExt;
    let conf = dir.join("conf");
    let data = dir.join("data");
    for d in [&conf, &data, &dir.join("queue")] {
        std::fs::create_dir_all(d).unwrap();
    }
    // Postfix's daemons run as the postfix user: they must reach these directories.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let chown = Command::new("chown")
        .arg("postfix")
        .arg(&data)
        .status()
        .unwrap();
    assert!(chown.success());
    let main = format!(
        "compatibility_level = 3.6
queue_directory = {q}
data_directory = {d}
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix-test.localdomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{sink}
smtpd_relay_restrictions = permit_mynetworks, reject
smtp_tls_security_level = none
smtpd_tls_security_level = none
alias_maps =
alias_database =
maillog_file = /dev/stdout
{extra}
",
        q = dir.join("queue").display(),
        d = data.display(),
    );
    std::fs::write(conf.join("main.cf"), main).unwrap();
    // Debian's master.cf with smtpd on our port and nothing chrooted.
    let master: String = std::fs::read_to_string("/etc/postfix/master.cf")
        .or_else(|_| std::fs::read_to_string("/usr/share/postfix/master.cf.dist"))
        .expect("postfix is installed")
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if l.starts_with("smtp ") && f.get(1) == Some(&"inet") {
                format!("127.0.0.1:{smtpd} inet n - n - - smtpd")
            } else if !l.starts_with('#') && !l.starts_with(' ') && f.len() >= 8 {
                let mut f: Vec<String> = f.iter().map(|s| s.to_string()).collect();
                f[4] = "n".into();
                f.join(" ")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(conf.join("master.cf"), master + "\n" + services).unwrap();
    let child = Command::new("postfix")
        .arg("-c")
        .arg(&conf)
        .arg("start-fg")
        .stdout(std::fs::File::create(dir.join("postfix.log")).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("postfix (Debian package) is installed");
    let p = Postfix { conf, child };
    wait_port(smtpd);
    p
}

pub async fn send(port: u16, from: &str, to: &[&str], raw: &[u8]) -> Result<(), String> {
    let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .timeout(Some(Duration::from_secs(60)))
        .build();
    let env = lettre::address::Envelope::new(
        Some(from.parse().unwrap()),
        to.iter().map(|a| a.parse().unwrap()).collect(),
    )
    .unwrap();
    t.send_raw(&env, raw)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Waits (up to 60 s) until the sink holds a message matching `pred`.
pub async fn arrives(got: &Arc<Mutex<Vec<Got>>>, pred: impl Fn(&Got) -> bool) -> Got {
    for _ in 0..600 {
        if let Some(g) = got.lock().unwrap().iter().find(|g| pred(g)) {
            return g.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never arrived; the sink has: {:#?}", got.lock().unwrap());
}

/// The sample config rewritten for a test under `dir`: rosters from samples/, the review
/// page and metrics off, each `(from, to)` replacement applied. Returns its path.
pub fn sample_config(dir: &Path, replace: &[(&str, String)]) -> PathBuf {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut config = std::fs::read_to_string(samples.join("hallpass.toml"))
        .unwrap()
        .replace("roster = \"", &format!("roster = \"{}/", samples.display()))
        .replace("staff = \"", &format!("staff = \"{}/", samples.display()))
        .replace("listen = \"127.0.0.1:8025\"", "listen = \"\"")
        .replace("listen = \"127.0.0.1:9325\"", "listen = \"\"");
    for (from, to) in replace {
        config = config.replace(from, to);
    }
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("hallpass.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Hallpass as Postfix's after-queue content filter (docs/postfix.md): Hallpass listens
/// for LMTP on `lmtp` and hands mail to Postfix's reinjection smtpd on `reinject`; Postfix
/// retries deferred mail every second or two.
pub fn content_filter_postfix(
    dir: &Path,
    smtpd: u16,
    sink: u16,
    lmtp: u16,
    reinject: u16,
) -> Postfix {
    postfix(
        dir,
        smtpd,
        sink,
        &format!(
            "content_filter = lmtp:[127.0.0.1]:{lmtp}\n\
             queue_run_delay = 1s\nminimal_backoff_time = 1s\nmaximal_backoff_time = 2s\n\
             lmtp_connect_timeout = 2s\nsmtp_connect_timeout = 2s\n"
        ),
        &format!(
            "127.0.0.1:{reinject} inet n - n - - smtpd\n  \
             -o content_filter=\n  \
             -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters\n  \
             -o smtpd_relay_restrictions=permit_mynetworks,reject\n  \
             -o mynetworks=127.0.0.0/8\n"
        ),
    )
}
