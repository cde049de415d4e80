//! Milter mode end to end with a real Postfix (Debian's `postfix`, started by the test on
//! loopback ports from its own config directory): Postfix's smtpd calls Hallpass's milter,
//! then relays to a recording SMTP sink. A clean message arrives with X-Hallpass-Result; a
//! pupil's name to an outside address is refused by Postfix with Hallpass's guidance; a class
//! list to a partner is held in Hallpass's quarantine and not delivered; a mixed message
//! reaches the colleague only.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16) {
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
struct Got {
    rcpts: Vec<String>,
    data: String,
}

/// The next hop: accepts everything and records it.
async fn sink(listener: tokio::net::TcpListener, got: Arc<Mutex<Vec<Got>>>) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        let got = got.clone();
        tokio::spawn(async move {
            let (r, mut w) = sock.into_split();
            let mut lines = BufReader::new(r).lines();
            let _ = w.write_all(b"220 sink ESMTP\r\n").await;
            let mut rcpts = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                let upper = line.to_ascii_uppercase();
                let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                    b"250 sink\r\n"
                } else if upper.starts_with("MAIL") {
                    rcpts.clear();
                    b"250 ok\r\n"
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
                        data.push_str(&l);
                        data.push_str("\r\n");
                    }
                    got.lock().unwrap().push(Got {
                        rcpts: rcpts.clone(),
                        data,
                    });
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

struct Postfix {
    conf: PathBuf,
    child: Child,
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

fn postfix(dir: &Path, smtpd: u16, milter: u16, sink: u16) -> Postfix {
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
smtpd_milters = inet:127.0.0.1:{milter}
milter_default_action = tempfail
smtp_tls_security_level = none
smtpd_tls_security_level = none
alias_maps =
alias_database =
maillog_file = /dev/stdout
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
    std::fs::write(conf.join("master.cf"), master + "\n").unwrap();
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

async fn send(port: u16, from: &str, to: &[&str], raw: &[u8]) -> Result<(), String> {
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
async fn arrives(got: &Arc<Mutex<Vec<Got>>>, pred: impl Fn(&Got) -> bool) -> Got {
    for _ in 0..600 {
        if let Some(g) = got.lock().unwrap().iter().find(|g| pred(g)) {
            return g.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never arrived; the sink has: {:#?}", got.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_with_the_hallpass_milter() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let samples = root.join("samples");
    let tmp = tempfile::tempdir().unwrap();
    let (smtpd, milter, sink_port) = (free_port(), free_port(), free_port());
    let got = Arc::new(Mutex::new(Vec::new()));
    let l = tokio::net::TcpListener::bind(("127.0.0.1", sink_port))
        .await
        .unwrap();
    tokio::spawn(sink(l, got.clone()));

    // Hallpass: the milter listener, notices through the sink; no review page or metrics.
    let config = std::fs::read_to_string(samples.join("hallpass.toml"))
        .unwrap()
        .replace("roster = \"", &format!("roster = \"{}/", samples.display()))
        .replace("staff = \"", &format!("staff = \"{}/", samples.display()))
        .replace("127.0.0.1:10025", &format!("127.0.0.1:{}", free_port()))
        .replace("listen = \"127.0.0.1:8025\"", "listen = \"\"")
        .replace("listen = \"127.0.0.1:9325\"", "listen = \"\"")
        .replace(
            "next_hop = \"maildir:./var/outbox\"",
            &format!("next_hop = \"smtp://127.0.0.1:{sink_port}\""),
        )
        + &format!("\n[milter]\nlisten = \"127.0.0.1:{milter}\"\nhold = \"hallpass\"\n");
    let hp = tmp.path().join("hallpass");
    std::fs::create_dir_all(&hp).unwrap();
    std::fs::write(hp.join("hallpass.toml"), config).unwrap();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args(["serve", "--config"])
        .arg(hp.join("hallpass.toml"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(tmp.path().join("hallpass.log")).unwrap())
        .spawn()
        .unwrap();
    wait_port(milter);
    let _postfix = postfix(&tmp.path().join("postfix"), smtpd, milter, sink_port);

    let staff = "luke.rich0@beaulieupark.example.sch.uk";
    let colleague = "rosie.griffiths1@beaulieupark.example.sch.uk";
    let supplier = "bookings@coach-hire.example.com";
    let msg = |subject: &str, body: &str| {
        format!("From: {staff}\r\nTo: someone\r\nSubject: {subject}\r\n\r\n{body}\r\n").into_bytes()
    };

    // Clean: delivered, with the result header.
    send(
        smtpd,
        staff,
        &[supplier],
        &msg("coach", "The coach leaves at 8:30."),
    )
    .await
    .expect("accepted");
    let g = arrives(&got, |g| g.data.contains("The coach leaves at 8:30.")).await;
    assert_eq!(g.rcpts, [supplier]);
    assert!(
        g.data
            .contains("X-Hallpass-Result: action=allow; findings=none; ref=HP-"),
        "{}",
        g.data
    );

    // A pupil's full name to an outside address: Postfix refuses it with the guidance.
    let err = send(
        smtpd,
        staff,
        &[supplier],
        &msg("seats", "Please seat Leah Walker at the front."),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("550") && err.contains("a pupil's full name in the body"),
        "{err}"
    );
    assert!(err.contains("Reference: HP-"), "{err}");

    // A class list to a partner: accepted by Postfix, held by Hallpass, not delivered.
    let class_list = std::fs::read(samples.join("messages/class-list-csv-to-partner.eml")).unwrap();
    send(smtpd, staff, &["mash@essex.gov.uk"], &class_list)
        .await
        .expect("accepted and held");
    // The sender's notice (sent after the hold) is the sign the milter is done with it.
    let notice = arrives(&got, |g| {
        g.data.contains("X-Hallpass-Notice: guidance") && g.data.contains("held")
    })
    .await;
    assert_eq!(notice.rcpts, [staff]);
    assert!(
        !got.lock()
            .unwrap()
            .iter()
            .any(|g| g.data.contains("cohort.csv") && !g.data.contains("X-Hallpass-Notice"))
    );
    let list = Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args(["quarantine", "list", "--config"])
        .arg(hp.join("hallpass.toml"))
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(
        listed.contains("held") && listed.contains("bulk_pupil_data"),
        "{listed}"
    );

    // Mixed: the colleague gets it; the outside recipient was removed (SMFIR_DELRCPT).
    send(
        smtpd,
        staff,
        &[colleague, supplier],
        &msg("seating", "Isaac Barker needs a seat near a teacher."),
    )
    .await
    .expect("accepted for the colleague");
    let g = arrives(&got, |g| g.data.contains("Isaac Barker needs a seat")).await;
    assert_eq!(g.rcpts, [colleague]);
    assert!(g.data.contains("X-Hallpass-Result: action="));

    let _ = serve.kill();
    let _ = serve.wait();
}
