use base64::Engine;
use hallpass::config::Config;
use hallpass::directory::Directory;
use hallpass::scan::{Envelope, Scanner};
use std::sync::Arc;
use std::time::Instant;
fn main() {
    let b = std::fs::read("/tmp/class-list-1mb.xlsx").unwrap();
    let config = Config::load(std::path::Path::new("samples/hallpass.toml")).unwrap();
    let dir = Directory::load(&config).unwrap();
    let s = Scanner::new(Arc::new(config), Arc::new(dir)).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&b);
    let msg = format!(
        "From: luke.rich0@beaulieupark.example.sch.uk\r\nTo: x@example.com\r\nSubject: list\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nList.\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=l.xlsx\r\n\r\n{b64}\r\n--b--\r\n"
    );
    let env = Envelope {
        mail_from: "luke.rich0@beaulieupark.example.sch.uk".into(),
        rcpt_to: vec!["x@example.com".into()],
    };
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(20);
    let now = chrono::Utc::now();
    let t = Instant::now();
    for _ in 0..n {
        let r = s.scan(msg.as_bytes(), &env, now);
        assert!(r.complete());
    }
    println!("{:?} per scan", t.elapsed() / n as u32);
}
