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

/// The address of the browser: the connection's own, or — when the connection comes from
/// this host (nginx in front, docs/quarantine.md) — the last address nginx added to
/// `X-Forwarded-For` (or its `X-Real-IP`). Only a loopback peer is believed.
pub fn client_address(peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
    if !peer.is_loopback() {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .or_else(|| headers.get("x-real-ip").and_then(|v| v.to_str().ok()));
    forwarded
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or(peer)
}

/// Failed sign-ins, throttled per account *and* client address, with backoff: after
/// `PAIR_FREE` failures for one account from one address, that pair waits `FIRST_WAIT`,
/// doubling with each further failure up to `MAX_WAIT`; an address failing for any accounts
/// `CLIENT_FREE` times is slowed the same way. Nothing is keyed on the account alone, so
/// someone guessing from one address never locks the data lead out from another.
pub struct Throttle {
    failures: Mutex<HashMap<Key, Failures>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, IpAddr),
    Client(IpAddr),
}

struct Failures {
    count: u32,
    last: Instant,
}

const PAIR_FREE: u32 = 5;
const CLIENT_FREE: u32 = 20;
const FIRST_WAIT: Duration = Duration::from_secs(30);
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// A key with no failure for this long is forgotten.
const FORGET: Duration = Duration::from_secs(60 * 60);

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            failures: Mutex::new(HashMap::new()),
        }
    }
}

impl Failures {
    /// How long after the last failure the next attempt must wait (none while under `free`).
    fn wait(&self, free: u32) -> Option<Duration> {
        let over = self.count.checked_sub(free)?;
        Some((FIRST_WAIT * 2u32.pow(over.min(10))).min(MAX_WAIT))
    }
}

impl Throttle {
    fn keys(user: &str, ip: IpAddr) -> [(Key, u32); 2] {
        [
            (Key::Pair(user.to_lowercase(), ip), PAIR_FREE),
            (Key::Client(ip), CLIENT_FREE),
        ]
    }

    /// Seconds to wait, when this account from this address must wait.
    pub fn blocked(&self, user: &str, ip: IpAddr) -> Option<u64> {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        f.retain(|_, e| now.duration_since(e.last) < FORGET);
        Self::keys(user, ip)
            .iter()
            .filter_map(|(k, free)| {
                let e = f.get(k)?;
                let until = e.last + e.wait(*free)?;
                (until > now).then(|| (until - now).as_secs() + 1)
            })
            .max()
    }

    /// Counts a failure; `Some(seconds)` when it starts (or lengthens) a wait, for the audit.
    pub fn failed(&self, user: &str, ip: IpAddr) -> Option<u64> {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if f.len() > 100_000 {
            f.clear();
        }
        let now = Instant::now();
        Self::keys(user, ip)
            .into_iter()
            .filter_map(|(k, free)| {
                let e = f.entry(k).or_insert(Failures {
                    count: 0,
                    last: now,
                });
                e.count += 1;
                e.last = now;
                e.wait(free).map(|w| w.as_secs())
            })
            .max()
    }

    /// A good password: this account's failures from this address are forgotten.
    pub fn succeeded(&self, user: &str, ip: IpAddr) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        f.remove(&Key::Pair(user.to_lowercase(), ip));
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
    fn throttle_is_per_account_and_address_with_backoff() {
        let t = Throttle::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..4 {
            assert_eq!(t.failed("dpl", ip), None);
        }
        assert!(t.blocked("dpl", ip).is_none());
        assert_eq!(t.failed("dpl", ip), Some(30));
        assert!(t.blocked("dpl", ip).is_some());
        // The same account from another address, and another account from this one, are
        // not held up by these failures.
        assert!(t.blocked("dpl", other).is_none());
        assert!(t.blocked("other", ip).is_none());
        // Each further failure doubles the wait, up to 15 minutes.
        assert_eq!(t.failed("dpl", ip), Some(60));
        assert_eq!(t.failed("dpl", ip), Some(120));
        for _ in 0..10 {
            t.failed("dpl", ip);
        }
        assert!(t.blocked("dpl", ip).unwrap() <= 15 * 60 + 1);
        assert_eq!(t.failed("dpl", ip), Some(15 * 60));
        // Behind nginx on this host: the browser's address from its header.
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7".parse().unwrap(),
        );
        assert_eq!(
            client_address(ip, &h),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_address(other, &h), other);
        // One address failing for many accounts is slowed too.
        for i in 0..19 {
            t.failed(&format!("user{i}"), other);
        }
        assert!(t.blocked("someone", other).is_none());
        t.failed("user19", other);
        assert!(t.blocked("someone", other).is_some());
    }
}
