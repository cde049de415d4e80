//! The relay test harness shared by tests/relay.rs and tests/notices.rs: a relay on a free
//! loopback port with a Maildir next hop in a temporary directory, lettre as the client, and
//! readers for what reached the Maildir (mail, and Hallpass's own notices apart).
#![allow(dead_code)]

pub mod milter_mta;
pub mod pg;
pub mod postfix;
pub mod sendmail;
pub mod serve;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use hallpass::config::Config;
use hallpass::scan::Scanner;
use hallpass::smtp::Server;
use hallpass::smtp::config::{Listen, NextHop, Relay};
use lettre::{AsyncSmtpTransport, Tokio1Executor};

/// samples/hallpass.toml, loaded once.
pub fn config() -> &'static Config {
    static C: OnceLock<Config> = OnceLock::new();
    C.get_or_init(|| Config::load(Path::new("samples/hallpass.toml")).unwrap())
}

pub fn scanner() -> Arc<Scanner> {
    static S: OnceLock<Arc<Scanner>> = OnceLock::new();
    S.get_or_init(|| Arc::new(config().scanner().unwrap()))
        .clone()
}

/// The policy of samples/hallpass.toml.
pub fn policy() -> hallpass::policy::Policy {
    config().policy()
}

/// What `serve` runs with for samples/hallpass.toml (the shared scanner), notices kept in
/// `relay`'s data directory.
pub fn in_force(relay: &Relay) -> hallpass::dispatch::InForce {
    let notifier = config()
        .notifier(&relay.hostname, &relay.data_dir, Some(scanner()))
        .unwrap();
    hallpass::dispatch::InForce {
        scanner: scanner(),
        policy: Arc::new(policy()),
        notifier: Some(Arc::new(notifier)),
    }
}

/// A relay server as `serve` builds it, over samples/hallpass.toml's quarantine in `relay`'s
/// data directory.
pub fn server(relay: Relay) -> Server {
    std::fs::create_dir_all(&relay.data_dir).unwrap();
    let store = hallpass::quarantine::open(&config().quarantine, &relay.data_dir).unwrap();
    Server::new(relay.clone(), in_force(&relay), store).unwrap()
}

pub struct Relayed {
    pub addr: std::net::SocketAddr,
    pub maildir: PathBuf,
    pub data_dir: PathBuf,
    pub _tmp: tempfile::TempDir,
    pub stop: tokio::sync::watch::Sender<bool>,
    pub serving: tokio::task::JoinHandle<()>,
}

pub async fn start(lmtp: bool, tweak: impl FnOnce(&mut Relay)) -> Relayed {
    let tmp = tempfile::tempdir().unwrap();
    let maildir = tmp.path().join("outbox");
    let data_dir = tmp.path().join("var");
    let mut relay = config().relay.resolve(Path::new(".")).unwrap();
    relay.listen = vec![Listen {
        lmtp,
        addr: "127.0.0.1:0".parse().unwrap(),
    }];
    relay.next_hop = NextHop::Maildir(maildir.clone());
    relay.data_dir = data_dir.clone();
    tweak(&mut relay);
    let server = Arc::new(server(relay));
    let listeners = server.bind().await.unwrap();
    let addr = listeners[0].0.local_addr().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let serving = tokio::spawn(server.serve(listeners, rx));
    Relayed {
        addr,
        maildir,
        data_dir,
        _tmp: tmp,
        stop: tx,
        serving,
    }
}

pub fn client(addr: std::net::SocketAddr) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .build()
}

pub fn envelope(from: &str, to: &[&str]) -> lettre::address::Envelope {
    lettre::address::Envelope::new(
        Some(from.parse().unwrap()),
        to.iter().map(|t| t.parse().unwrap()).collect(),
    )
    .unwrap()
}

pub fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub const STAFF: &str = "luke.rich0@beaulieupark.example.sch.uk";
pub const COLLEAGUE: &str = "rosie.griffiths1@beaulieupark.example.sch.uk";
pub const SUPPLIER: &str = "bookings@coach-hire.example.com";

pub fn msg(body: &str) -> Vec<u8> {
    format!("From: {STAFF}\r\nTo: someone\r\nSubject: trip\r\nDate: Wed, 25 Nov 2026 10:15:00 +0000\r\n\r\n{body}\r\n").into_bytes()
}

/// A notice Hallpass wrote itself (not a message it relayed, which has X-Hallpass-Result).
fn is_own_notice(m: &str) -> bool {
    let head = m.split("\r\n\r\n").next().unwrap_or("");
    head.contains("\r\nX-Hallpass-Notice: ") && !head.contains("\r\nX-Hallpass-Result: ")
}

/// What reached the Maildir, Hallpass's own notices left out.
pub fn mail(maildir: &Path) -> Vec<String> {
    files(&maildir.join("new"))
        .into_iter()
        .filter(|m| !is_own_notice(m))
        .collect()
}

/// Hallpass's own notices in the Maildir.
pub fn notices(maildir: &Path) -> Vec<String> {
    files(&maildir.join("new"))
        .into_iter()
        .filter(|m| is_own_notice(m))
        .collect()
}
