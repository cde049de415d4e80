//! `[relay]`: the SMTP/LMTP listener, who may relay, the next hop, the state directory and the
//! limits that keep a slow or hostile client from holding resources. Public keys: `listen`,
//! `allowed_clients`, `next_hop`, `data_dir`, `max_message_size`; the limits have defaults.

use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

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
    #[serde(default = "default_connections")]
    pub max_connections: usize,
    #[serde(default = "default_per_client")]
    pub max_connections_per_client: usize,
    #[serde(default = "default_recipients")]
    pub max_recipients: usize,
    /// Seconds to wait for a command.
    #[serde(default = "default_command_timeout")]
    pub command_timeout: u64,
    /// Seconds to wait for the message data.
    #[serde(default = "default_data_timeout")]
    pub data_timeout: u64,
    /// Seconds a scan may take before the fail mode decides.
    #[serde(default = "default_scan_timeout")]
    pub scan_timeout: u64,
    /// Host name in the greeting and the Received header.
    #[serde(default = "default_hostname")]
    pub hostname: String,
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
    50
}
fn default_recipients() -> usize {
    500
}
fn default_command_timeout() -> u64 {
    300
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

/// Where delivered mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextHop {
    Smtp { host: String, port: u16 },
    Maildir(PathBuf),
}

/// The relay settings after validation.
#[derive(Debug, Clone)]
pub struct Relay {
    pub listen: Vec<Listen>,
    pub allowed: Vec<IpNet>,
    pub next_hop: NextHop,
    pub data_dir: PathBuf,
    pub max_message_size: usize,
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    pub max_recipients: usize,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    pub scan_timeout: Duration,
    pub hostname: String,
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
        let mut allowed = Vec::new();
        for c in &self.allowed_clients {
            let net: IpNet = c
                .parse()
                .or_else(|_| c.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!("[relay] allowed_clients: {c:?} is not a CIDR such as \"127.0.0.0/8\"")
                })?;
            allowed.push(net);
        }
        let next_hop = if let Some(p) = self.next_hop.strip_prefix("maildir:") {
            NextHop::Maildir(resolve(base, p))
        } else if let Some(hp) = self.next_hop.strip_prefix("smtp://") {
            let (host, port) = hp
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.trim_matches(['[', ']']).to_string(), p.parse().ok()?)))
                .ok_or_else(|| format!("[relay] next_hop: {:?} needs host:port", self.next_hop))?;
            NextHop::Smtp { host, port }
        } else {
            return Err(format!(
                "[relay] next_hop: {:?} must be \"smtp://host:port\" or \"maildir:PATH\"",
                self.next_hop
            ));
        };
        Ok(Relay {
            listen,
            allowed,
            next_hop,
            data_dir: resolve(base, &self.data_dir.to_string_lossy()),
            max_message_size: parse_size(&self.max_message_size)
                .map_err(|e| format!("[relay] max_message_size: {e}"))?,
            max_connections: self.max_connections.max(1),
            max_connections_per_client: self.max_connections_per_client.max(1),
            max_recipients: self.max_recipients.max(1),
            command_timeout: Duration::from_secs(self.command_timeout.max(1)),
            data_timeout: Duration::from_secs(self.data_timeout.max(1)),
            scan_timeout: Duration::from_secs(self.scan_timeout.max(1)),
            hostname: self.hostname.clone(),
        })
    }
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
                port: 10026
            }
        );
        c.allowed_clients = vec!["10.0.0.0/33".into()];
        assert!(
            c.resolve(std::path::Path::new("."))
                .unwrap_err()
                .contains("allowed_clients")
        );
    }
}
