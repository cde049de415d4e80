//! `[relay]`: the SMTP/LMTP listener, who may relay, the next hop, the state directory and the
//! limits that keep a slow or hostile client from holding resources. Public keys: `listen`,
//! `allowed_clients`, `next_hop`, `data_dir`, `max_message_size`; the limits have defaults.
//! TLS: `tls_cert`/`tls_key` offer STARTTLS to clients (`require_tls` makes it mandatory);
//! `next_hop_tls` is the STARTTLS policy towards the next hop in Postfix's words
//! (`none`, `may`, `encrypt`, `verify`), `smtps://` is TLS from the first byte, and
//! `next_hop_ca`/`next_hop_tls_name` say what certificate `verify` accepts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

/// The next hop's types belong to `deliver`, which uses them; `[relay] next_hop` is parsed
/// here into them.
pub use crate::deliver::{HopTls, NextHop, TlsLevel};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// "127.0.0.1:10025" for SMTP, "lmtp:127.0.0.1:10024" for LMTP.
    #[serde(default = "default_listen")]
    pub listen: Vec<String>,
    #[serde(default = "default_allowed")]
    pub allowed_clients: Vec<String>,
    /// "smtp://host:port" or "maildir:PATH".
    #[serde(default = "default_next_hop")]
    pub next_hop: String,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// "50MB", "512KB", "1GB" (powers of 1024) or bytes.
    #[serde(default = "default_size")]
    pub max_message_size: String,
    /// The school's own MTA (Postfix in front, the content filter's reinjection, Exchange
    /// Online's connector addresses): served from a pool of its own, never capped per client,
    /// so no other client can take its slots. Must also be in `allowed_clients`.
    #[serde(default)]
    pub trusted_clients: Vec<String>,
    /// Connections open at once from clients that are not trusted (trusted clients have a
    /// pool of the same size of their own).
    #[serde(default = "default_connections")]
    pub max_connections: usize,
    /// Connections open at once from one address that is not trusted.
    #[serde(default = "default_per_client")]
    pub max_connections_per_client: usize,
    #[serde(default = "default_recipients")]
    pub max_recipients: usize,
    /// Seconds to wait for a command.
    #[serde(default = "default_command_timeout")]
    pub command_timeout: u64,
    /// Seconds a whole session may last (a trickle of commands cannot keep a slot forever);
    /// a message's data already under way is given its `data_timeout`.
    #[serde(default = "default_session_timeout")]
    pub session_timeout: u64,
    /// Seconds to wait for the message data.
    #[serde(default = "default_data_timeout")]
    pub data_timeout: u64,
    /// Seconds a scan may take before the fail mode decides.
    #[serde(default = "default_scan_timeout")]
    pub scan_timeout: u64,
    /// Host name in the greeting and the Received header.
    #[serde(default = "default_hostname")]
    pub hostname: String,
    /// PEM certificate chain and private key: STARTTLS is offered when both are set.
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    /// Refuse MAIL until the client has started TLS (530 5.7.0).
    #[serde(default)]
    pub require_tls: bool,
    /// STARTTLS towards an `smtp://` next hop: "none", "may" (default: encrypt when offered,
    /// certificate not checked), "encrypt" (TLS required, not checked), "verify" (TLS required,
    /// certificate checked against the system roots and `next_hop_ca`). For `smtps://` the
    /// default is "verify"; "may" and "encrypt" there mean unchecked.
    pub next_hop_tls: Option<String>,
    /// Extra CA certificates (PEM) trusted for the next hop.
    pub next_hop_ca: Option<String>,
    /// The name the next hop's certificate must carry (default: the host of `next_hop`).
    pub next_hop_tls_name: Option<String>,
}

fn default_listen() -> Vec<String> {
    vec!["127.0.0.1:10025".into()]
}
fn default_allowed() -> Vec<String> {
    vec!["127.0.0.0/8".into(), "::1/128".into()]
}
fn default_next_hop() -> String {
    "maildir:./var/outbox".into()
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("./var")
}
fn default_size() -> String {
    "50MB".into()
}
fn default_connections() -> usize {
    200
}
fn default_per_client() -> usize {
    20
}
fn default_recipients() -> usize {
    500
}
fn default_command_timeout() -> u64 {
    300
}
fn default_session_timeout() -> u64 {
    1800
}
fn default_data_timeout() -> u64 {
    600
}
fn default_scan_timeout() -> u64 {
    30
}
fn default_hostname() -> String {
    "hallpass.localdomain".into()
}

impl Default for RelayConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

/// A listener: protocol and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub lmtp: bool,
    pub addr: std::net::SocketAddr,
}

/// The relay settings after validation.
#[derive(Debug, Clone)]
pub struct Relay {
    pub listen: Vec<Listen>,
    pub allowed: Vec<IpNet>,
    pub trusted: Vec<IpNet>,
    pub next_hop: NextHop,
    pub data_dir: PathBuf,
    pub max_message_size: usize,
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    pub max_recipients: usize,
    pub command_timeout: Duration,
    pub session_timeout: Duration,
    pub data_timeout: Duration,
    pub scan_timeout: Duration,
    pub hostname: String,
    /// The server side of STARTTLS, when `tls_cert` and `tls_key` are set, as loaded at
    /// start; a reload replaces it in [`crate::smtp::Server::tls`], which sessions use.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub require_tls: bool,
    /// `serve --no-scan` (benchmarks only): messages are handed on unscanned.
    pub no_scan: bool,
}

/// "50MB" → bytes.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim().to_ascii_uppercase();
    let (num, mult) = if let Some(n) = t.strip_suffix("GB") {
        (n, 1usize << 30)
    } else if let Some(n) = t.strip_suffix("MB") {
        (n, 1 << 20)
    } else if let Some(n) = t.strip_suffix("KB") {
        (n, 1 << 10)
    } else if let Some(n) = t.strip_suffix('B') {
        (n, 1)
    } else {
        (t.as_str(), 1)
    };
    num.trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{s:?} is not a size such as \"50MB\""))
}

impl RelayConfig {
    /// Validates and resolves paths against `base` (the config file's directory).
    pub fn resolve(&self, base: &std::path::Path) -> Result<Relay, String> {
        let mut listen = Vec::new();
        for l in &self.listen {
            let (lmtp, a) = match l.strip_prefix("lmtp:") {
                Some(a) => (true, a),
                None => (false, l.strip_prefix("smtp:").unwrap_or(l)),
            };
            let addr = a.parse().map_err(|_| {
                format!("[relay] listen: {l:?} is not an address such as \"127.0.0.1:10025\"")
            })?;
            listen.push(Listen { lmtp, addr });
        }
        let allowed = networks("allowed_clients", &self.allowed_clients)?;
        let trusted = networks("trusted_clients", &self.trusted_clients)?;
        let smtp = self
            .next_hop
            .strip_prefix("smtp://")
            .map(|hp| (false, hp))
            .or_else(|| self.next_hop.strip_prefix("smtps://").map(|hp| (true, hp)));
        let next_hop = if let Some(p) = self.next_hop.strip_prefix("maildir:") {
            NextHop::Maildir(resolve(base, p))
        } else if let Some((implicit, hp)) = smtp {
            let (host, port) = hp
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.trim_matches(['[', ']']).to_string(), p.parse().ok()?)))
                .ok_or_else(|| format!("[relay] next_hop: {:?} needs host:port", self.next_hop))?;
            let level = match &self.next_hop_tls {
                Some(l) => l.parse()?,
                None if implicit => TlsLevel::Verify,
                None => TlsLevel::May,
            };
            if implicit && level == TlsLevel::None {
                return Err(
                    "[relay] next_hop_tls: \"none\" cannot go with an smtps:// next hop".into(),
                );
            }
            let ca = self.next_hop_ca.as_deref().map(|p| resolve(base, p));
            if let Some(ca) = &ca {
                std::fs::read(ca)
                    .map_err(|e| format!("[relay] next_hop_ca: {}: {e}", ca.display()))?;
            }
            let tls = HopTls {
                implicit,
                level,
                ca,
                name: self
                    .next_hop_tls_name
                    .clone()
                    .unwrap_or_else(|| host.clone()),
            };
            NextHop::Smtp { host, port, tls }
        } else {
            return Err(format!(
                "[relay] next_hop: {:?} must be \"smtp://host:port\", \"smtps://host:port\" or \"maildir:PATH\"",
                self.next_hop
            ));
        };
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Some(server_tls(&resolve(base, c), &resolve(base, k))?),
            (None, None) => None,
            _ => {
                return Err("[relay] tls_cert and tls_key go together: set both or neither".into());
            }
        };
        if self.require_tls && tls.is_none() {
            return Err("[relay] require_tls needs tls_cert and tls_key".into());
        }
        Ok(Relay {
            listen,
            allowed,
            trusted,
            next_hop,
            data_dir: resolve(base, &self.data_dir.to_string_lossy()),
            max_message_size: parse_size(&self.max_message_size)
                .map_err(|e| format!("[relay] max_message_size: {e}"))?,
            max_connections: self.max_connections.max(1),
            max_connections_per_client: self.max_connections_per_client.max(1),
            max_recipients: self.max_recipients.max(1),
            command_timeout: Duration::from_secs(self.command_timeout.max(1)),
            session_timeout: Duration::from_secs(self.session_timeout.max(1)),
            data_timeout: Duration::from_secs(self.data_timeout.max(1)),
            scan_timeout: Duration::from_secs(self.scan_timeout.max(1)),
            hostname: self.hostname.clone(),
            tls,
            require_tls: self.require_tls,
            no_scan: false,
        })
    }
}

/// `[relay] key`'s list of networks ("127.0.0.0/8", or one address).
fn networks(key: &str, list: &[String]) -> Result<Vec<IpNet>, String> {
    list.iter()
        .map(|c| {
            c.parse()
                .or_else(|_| c.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("[relay] {key}: {c:?} is not a CIDR such as \"127.0.0.0/8\""))
        })
        .collect()
}

/// The server side of STARTTLS from a PEM certificate chain and key (TLS 1.2 and 1.3).
pub fn server_tls(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("[relay] tls_cert: {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "[relay] tls_cert: {}: no certificate in it",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("[relay] tls_key: {}: {e}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("[relay] TLS: {e}"))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("[relay] tls_cert/tls_key: {e}"))?;
    Ok(Arc::new(config))
}

fn resolve(base: &std::path::Path, p: &str) -> PathBuf {
    let p = PathBuf::from(p);
    if p.is_absolute() { p } else { base.join(p) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("50MB"), Ok(50 << 20));
        assert_eq!(parse_size("512kb"), Ok(512 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn resolve_defaults_and_errors() {
        let r = RelayConfig::default()
            .resolve(std::path::Path::new("/etc/hallpass"))
            .unwrap();
        assert_eq!(
            r.next_hop,
            NextHop::Maildir(PathBuf::from("/etc/hallpass/./var/outbox"))
        );
        assert!(!r.listen[0].lmtp);
        let mut c = RelayConfig::default();
        c.listen = vec!["lmtp:127.0.0.1:10024".into()];
        c.next_hop = "smtp://127.0.0.1:10026".into();
        let r = c.resolve(std::path::Path::new(".")).unwrap();
        assert!(r.listen[0].lmtp);
        assert_eq!(
            r.next_hop,
            NextHop::Smtp {
                host: "127.0.0.1".into(),
                port: 10026,
                tls: HopTls {
                    implicit: false,
                    level: TlsLevel::May,
                    ca: None,
                    name: "127.0.0.1".into()
                }
            }
        );
        c.next_hop = "smtps://[::1]:465".into();
        let r = c.resolve(std::path::Path::new(".")).unwrap();
        assert!(matches!(
            r.next_hop,
            NextHop::Smtp { ref host, port: 465, tls: HopTls { implicit: true, level: TlsLevel::Verify, .. } } if host == "::1"
        ));
        c.next_hop_tls = Some("none".into());
        assert!(
            c.resolve(std::path::Path::new("."))
                .unwrap_err()
                .contains("smtps")
        );
        c.next_hop_tls = Some("sometimes".into());
        assert!(
            c.resolve(std::path::Path::new("."))
                .unwrap_err()
                .contains("next_hop_tls")
        );
        c.next_hop_tls = None;
        c.next_hop = "smtp://127.0.0.1:10026".into();
        c.tls_cert = Some("/nonexistent/cert.pem".into());
        assert!(
            c.resolve(std::path::Path::new("."))
                .unwrap_err()
                .contains("tls_key")
        );
        c.tls_key = Some("/nonexistent/key.pem".into());
        assert!(
            c.resolve(std::path::Path::new("."))
                .unwrap_err()
                .contains("/nonexistent/cert.pem")
        );
        c.tls_cert = None;
        c.tls_key = None;
        c.require_tls = true;
        assert!(
            c.resolve(std::path::Path::new("."))
                .unwrap_err()
                .contains("require_tls")
        );
        c.require_tls = false;
        c.allowed_clients = vec!["10.0.0.0/33".into()];
        assert!(
            c.resolve(std::path::Path::new("."))
                .unwrap_err()
                .contains("allowed_clients")
        );
    }
}
