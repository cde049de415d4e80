//! Sign-in for the review page: argon2id password hashes, random session tokens (only their
//! SHA-256 is stored), a CSRF token per session checked on every form, a double-submit
//! token on the sign-in form itself, and throttling of failed sign-ins per account and per
//! client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sha2::{Digest, Sha256};

pub const SESSION_COOKIE: &str = "hallpass_session";
pub const SIGNIN_COOKIE: &str = "hallpass_signin";

pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the account does not exist, so the time taken does not
/// tell which accounts exist.
pub fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password("not a real password").unwrap_or_default())
}

/// 32 random bytes, URL-safe base64.
pub fn token() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the OS random source works");
    B64.encode(b)
}

pub fn token_hash(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two secrets in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A cookie's value from a `Cookie:` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

pub fn set_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Failed sign-ins: after `LIMIT` failures within `WINDOW` for one account or one client
/// address, further attempts are refused until the window has passed.
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

const LIMIT: u32 = 5;
const WINDOW: Duration = Duration::from_secs(15 * 60);

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            failures: Mutex::new(HashMap::new()),
        }
    }
}

impl Throttle {
    fn keys(user: &str, ip: IpAddr) -> [String; 2] {
        [format!("u:{}", user.to_lowercase()), format!("ip:{ip}")]
    }

    /// Seconds to wait, when blocked.
    pub fn blocked(&self, user: &str, ip: IpAddr) -> Option<u64> {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        f.retain(|_, (_, t)| now.duration_since(*t) < WINDOW);
        Self::keys(user, ip)
            .iter()
            .filter_map(|k| f.get(k))
            .filter(|(n, _)| *n >= LIMIT)
            .map(|(_, t)| (WINDOW - now.duration_since(*t)).as_secs() + 1)
            .max()
    }

    pub fn failed(&self, user: &str, ip: IpAddr) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if f.len() > 100_000 {
            f.clear();
        }
        for k in Self::keys(user, ip) {
            let e = f.entry(k).or_insert((0, Instant::now()));
            e.0 += 1;
        }
    }

    pub fn succeeded(&self, user: &str, ip: IpAddr) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        f.remove(&format!("u:{}", user.to_lowercase()));
        let _ = ip;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_tokens_cookies() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsE", &h));
        assert!(!verify_password("x", "not a hash"));
        let t = token();
        assert_eq!(t.len(), 43);
        assert_ne!(t, token());
        assert_eq!(token_hash(&t).len(), 64);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
        assert_eq!(
            cookie("a=1; hallpass_session=xyz; b=2", SESSION_COOKIE),
            Some("xyz")
        );
        assert_eq!(cookie("hallpass_sessionx=1", SESSION_COOKIE), None);
        let c = set_cookie(SESSION_COOKIE, "v", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
    }

    #[test]
    fn throttle_blocks_after_five_failures() {
        let t = Throttle::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..4 {
            t.failed("dpl", ip);
        }
        assert!(t.blocked("dpl", ip).is_none());
        t.failed("dpl", ip);
        assert!(t.blocked("dpl", ip).is_some());
        // Another account from the same address is blocked too (address limit).
        assert!(t.blocked("other", ip).is_some());
        assert!(t.blocked("other", "10.0.0.1".parse().unwrap()).is_none());
    }
}
