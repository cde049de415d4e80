//! `[review]` and `[quarantine]`: where the data lead's review page listens, the address
//! links in notices point at, how long a sign-in lasts, and how long held items are kept.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewConfig {
    /// "127.0.0.1:8025"; "" turns the review page off (the CLI still works).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The address reviewers use (behind nginx: "https://hallpass.trust.example.org"). It
    /// goes into links in notices; when it starts with https:// cookies are `Secure`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Hours a sign-in lasts.
    #[serde(default = "default_session_hours")]
    pub session_hours: u64,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig {
            listen: default_listen(),
            public_url: None,
            session_hours: default_session_hours(),
        }
    }
}

impl ReviewConfig {
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

fn default_listen() -> String {
    "127.0.0.1:8025".into()
}
fn default_session_hours() -> u64 {
    8
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineConfig {
    /// Days a held item waits for review before it expires and its message is purged.
    #[serde(default = "default_retention")]
    pub retention_days: u32,
}

impl Default for QuarantineConfig {
    fn default() -> Self {
        QuarantineConfig {
            retention_days: default_retention(),
        }
    }
}

fn default_retention() -> u32 {
    30
}
