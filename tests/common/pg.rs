//! The shared PostgreSQL test server (`HALLPASS_TEST_POSTGRES`, set by `.ci/run`): each
//! test gets a fresh schema of its own. Required under CI, skipped with a note elsewhere.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A fresh schema of its own on the test server, as a `postgres_url`; `None` outside CI
/// without a server.
pub fn database(tag: &str) -> Option<String> {
    let base = match std::env::var("HALLPASS_TEST_POSTGRES") {
        Ok(b) => b,
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI must run the PostgreSQL tests: set HALLPASS_TEST_POSTGRES")
        }
        Err(_) => {
            eprintln!("HALLPASS_TEST_POSTGRES not set: serve on PostgreSQL not tested here");
            return None;
        }
    };
    let schema = format!("serve_{}_{tag}", std::process::id());
    let mut c = postgres::Client::connect(&base, postgres::NoTls).expect("test server");
    c.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ))
    .unwrap();
    Some(format!("{base} options='-c search_path={schema}'"))
}

/// The sample config under `dir` on the database `url`: SMTP, the review page and the
/// metrics on ports the kernel picks; `more` replacements after those.
pub fn serve_config(dir: &Path, url: &str, more: &[(&str, String)]) -> PathBuf {
    let mut replace = vec![
        (
            "listen = [\"127.0.0.1:10025\"]",
            "listen = [\"127.0.0.1:0\"]".to_string(),
        ),
        (
            "[review]\nlisten = \"\"",
            "[review]\nlisten = \"127.0.0.1:0\"".into(),
        ),
        (
            "[metrics]\nlisten = \"\"",
            "[metrics]\nlisten = \"127.0.0.1:0\"".into(),
        ),
        (
            "[quarantine]\n",
            format!("[quarantine]\nbackend = \"postgres\"\npostgres_url = \"{url}\"\n"),
        ),
    ];
    replace.extend(more.iter().cloned());
    super::postfix::sample_config(dir, &replace)
}
