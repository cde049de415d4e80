//! `[review]`: where the data lead's review page listens, the address links in notices
//! point at, and how long a sign-in lasts.

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
    /// Where links in notices and digests point: `public_url`, else the listener; `None`
    /// when the review page is off (`listen = ""` and no `public_url`), so no link is made.
    pub fn base_url(&self) -> Option<String> {
        match &self.public_url {
            Some(u) => Some(u.trim_end_matches('/').to_string()),
            None if self.listen.trim().is_empty() => None,
            None => Some(format!("http://{}", self.listen)),
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
