//! `hallpass serve`, the real binary, in end-to-end tests: started with its stderr appended
//! to a log and ready once it logs "ready:" (every listener bound, signal handlers in
//! place). Its bound ports are read from that log, so a test's config can say port 0 and let
//! the kernel choose, instead of guessing a free port and racing for it. A relay that exits
//! or never gets ready fails the test with its log.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The line `hallpass serve` logs once it is ready.
const READY: &str = "ready: every listener bound";

/// `hallpass serve --config config`, its stderr appended to `log`; not waited for.
pub fn spawn(config: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::options()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        )
        .spawn()
        .unwrap()
}

/// A running `hallpass serve`, killed (SIGKILL) and reaped when dropped.
pub struct Served {
    pub child: Child,
    /// What this run logged up to "ready" (the log may hold earlier runs too).
    started: String,
}

/// Starts `hallpass serve` and waits (a readiness poll, up to 120 s) until it logs that it
/// is ready; panics with the log if it exits first or never gets there.
pub fn start(config: &Path, log: &Path) -> Served {
    let before = std::fs::metadata(log)
        .map(|m| m.len() as usize)
        .unwrap_or(0);
    let mut child = spawn(config, log);
    for _ in 0..1200 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let this_run = text.get(before..).unwrap_or("");
        if let Some(end) = this_run.find(READY) {
            return Served {
                child,
                started: this_run[..end].to_string(),
            };
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("hallpass serve exited ({status}) before it was ready; its log:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "hallpass serve not ready after 120 s; its log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

impl Served {
    /// The port of the listener whose start-up line contains `what`.
    pub fn port(&self, what: &str) -> u16 {
        let line = self
            .started
            .lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what:?} line in:\n{}", self.started));
        let addr = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("listen="))
            .unwrap_or_else(|| panic!("no listen= in {line:?}"));
        addr.rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {addr:?}"))
    }

    /// The SMTP (or LMTP) port.
    pub fn smtp(&self) -> u16 {
        self.port("hallpass relay listening")
    }

    pub fn review(&self) -> u16 {
        self.port("review page listening")
    }

    pub fn metrics(&self) -> u16 {
        self.port("metrics, /healthz")
    }

    pub fn milter(&self) -> u16 {
        self.port("milter listening")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `hallpass serve` on the sample config under `dir` (SMTP on a port of the kernel's choosing,
/// review page and metrics off) with a recording SMTP sink as its next hop and `relay_keys`
/// added to `[relay]`; what reaches the sink.
pub async fn with_sink(
    dir: &Path,
    relay_keys: &str,
) -> (
    Served,
    std::sync::Arc<std::sync::Mutex<Vec<super::postfix::Got>>>,
) {
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_port = l.local_addr().unwrap().port();
    tokio::spawn(super::postfix::sink(l, got.clone()));
    let config = super::postfix::sample_config(
        dir,
        &[
            (
                "listen = [\"127.0.0.1:10025\"]",
                "listen = [\"127.0.0.1:0\"]".into(),
            ),
            (
                "next_hop = \"maildir:./var/outbox\"",
                format!("next_hop = \"smtp://127.0.0.1:{sink_port}\""),
            ),
            ("[relay]\n", format!("[relay]\n{relay_keys}\n")),
        ],
    );
    let log = dir.join("hallpass.log");
    let served = tokio::task::block_in_place(|| start(&config, &log));
    (served, got)
}

/// The review page's sign-in form at `base`: (its sign-in cookie as a Cookie header, the
/// form's token). The token is the cookie's value (double-submit).
pub fn signin_form(agent: &ureq::Agent, base: &str) -> (String, String) {
    let form = agent.get(format!("{base}/signin")).call().unwrap();
    assert_eq!(form.status().as_u16(), 200);
    let cookie = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .next()
        .expect("a sign-in cookie");
    let token = cookie.split_once('=').unwrap().1.to_string();
    (cookie, token)
}

/// `hallpass serve` as a milter for an MTA under test: the sample config in `tmp/hallpass/`
/// (rosters from samples/), the milter on a port the kernel picks with `hold` as given,
/// notices to the next hop `smtp://127.0.0.1:next_hop`; no relay port worth knowing, no
/// review page or metrics. Logs to `tmp/hallpass.log`.
pub fn with_milter(tmp: &Path, next_hop: u16, hold: &str) -> Served {
    let path = super::postfix::sample_config(
        &tmp.join("hallpass"),
        &[
            ("127.0.0.1:10025", "127.0.0.1:0".to_string()),
            (
                "next_hop = \"maildir:./var/outbox\"",
                format!("next_hop = \"smtp://127.0.0.1:{next_hop}\""),
            ),
        ],
    );
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(&format!(
        "\n[milter]\nlisten = \"127.0.0.1:0\"\nhold = \"{hold}\"\n"
    ));
    std::fs::write(&path, config).unwrap();
    start(&path, &tmp.join("hallpass.log"))
}
