//! The next hop: hands a message copy on and says whether it was accepted, so the relay can
//! answer 250 only after it was. SMTP through lettre's connection (reused from a small pool of
//! our own, with TCP_NODELAY; STARTTLS per `next_hop_tls`, or `smtps://` TLS from the first
//! byte, both rustls), or a local Maildir (the embedded default: write to tmp/, fsync, rename
//! into new/, fsync the directory). It never decides anything about the content.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use lettre::address::Envelope as LEnvelope;
use std::sync::Mutex;

use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;

/// Where delivered mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextHop {
    Smtp {
        host: String,
        port: u16,
        tls: HopTls,
    },
    Maildir(PathBuf),
}

impl NextHop {
    /// A plain `smtp://host:port` next hop with the default TLS policy ("may").
    pub fn smtp(host: &str, port: u16) -> NextHop {
        NextHop::Smtp {
            host: host.into(),
            port,
            tls: HopTls {
                implicit: false,
                level: TlsLevel::May,
                ca: None,
                name: host.into(),
            },
        }
    }
}

/// TLS towards an SMTP next hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopTls {
    /// `smtps://`: TLS from the first byte (RFC 8314); otherwise STARTTLS per `level`.
    pub implicit: bool,
    pub level: TlsLevel,
    pub ca: Option<PathBuf>,
    /// The name checked in the certificate.
    pub name: String,
}

/// Postfix's `smtp_tls_security_level` words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsLevel {
    None,
    May,
    Encrypt,
    Verify,
}

impl std::str::FromStr for TlsLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "none" => TlsLevel::None,
            "may" => TlsLevel::May,
            "encrypt" => TlsLevel::Encrypt,
            "verify" | "secure" => TlsLevel::Verify,
            _ => {
                return Err(format!(
                    "[relay] next_hop_tls: {s:?} must be \"none\", \"may\", \"encrypt\" or \"verify\""
                ));
            }
        })
    }
}

/// Why a copy was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// Try again later (next hop down, 4xx): the relay answers 451.
    Transient(String),
    /// Refused for good (5xx): the relay passes it back.
    Permanent { code: u16, text: String },
}

impl std::fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliveryError::Transient(t) => write!(f, "temporary failure: {t}"),
            DeliveryError::Permanent { code, text } => write!(f, "{code} {text}"),
        }
    }
}

pub enum Deliverer {
    Smtp(SmtpHop),
    Maildir(PathBuf),
}

/// An SMTP next hop with a small pool of open connections. lettre speaks the protocol;
/// the TCP connection is ours so that it has TCP_NODELAY (lettre writes the data and the
/// final "." separately, and with Nagle's algorithm that costs a delayed ACK — ~40 ms —
/// per message).
pub struct SmtpHop {
    host: String,
    port: u16,
    hello: ClientId,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    tls: HopTls,
    /// Built once from `tls` (None when the level is "none").
    params: Option<TlsParameters>,
}

/// lettre's TLS settings for a next hop: the system roots plus `next_hop_ca`; names and
/// certificates checked only at level "verify" (Postfix's "may" and "encrypt" do not check).
fn tls_parameters(tls: &HopTls) -> std::io::Result<Option<TlsParameters>> {
    if tls.level == TlsLevel::None && !tls.implicit {
        return Ok(None);
    }
    let mut b = TlsParameters::builder(tls.name.clone());
    if let Some(ca) = &tls.ca {
        let pem = std::fs::read(ca)?;
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            std::io::Error::other(format!("[relay] next_hop_ca {}: {e}", ca.display()))
        })?;
        b = b.add_root_certificate(cert);
    }
    let check = tls.level == TlsLevel::Verify;
    b = b
        .dangerous_accept_invalid_certs(!check)
        .dangerous_accept_invalid_hostnames(!check);
    b.build_rustls()
        .map(Some)
        .map_err(|e| std::io::Error::other(format!("[relay] next hop TLS: {e}")))
}

/// Idle connections kept open to the next hop.
const POOL: usize = 16;
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl SmtpHop {
    async fn connect(&self) -> Result<AsyncSmtpConnection, DeliveryError> {
        let transient = |e: String| DeliveryError::Transient(e);
        if self.tls.implicit {
            // smtps://: lettre opens the connection and starts TLS before the greeting.
            return tokio::time::timeout(
                TIMEOUT,
                AsyncSmtpConnection::connect_tokio1(
                    (self.host.as_str(), self.port),
                    Some(TIMEOUT),
                    &self.hello,
                    self.params.clone(),
                    None,
                ),
            )
            .await
            .map_err(|_| transient(format!("smtps to {}:{} timed out", self.host, self.port)))?
            .map_err(|e| transient(format!("smtps to {}:{}: {e}", self.host, self.port)));
        }
        let tcp = tokio::time::timeout(
            TIMEOUT,
            tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| transient(format!("connect to {}:{} timed out", self.host, self.port)))?
        .map_err(|e| transient(format!("connect to {}:{}: {e}", self.host, self.port)))?;
        let _ = tcp.set_nodelay(true);
        let mut conn = tokio::time::timeout(
            TIMEOUT,
            AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello),
        )
        .await
        .map_err(|_| transient("next hop greeting timed out".into()))?
        .map_err(|e| transient(e.to_string()))?;
        let Some(params) = &self.params else {
            return Ok(conn);
        };
        if !conn.can_starttls() {
            if self.tls.level == TlsLevel::May {
                return Ok(conn);
            }
            conn.abort().await;
            // A next hop that should offer TLS and does not: keep the message and retry.
            return Err(transient(format!(
                "next hop {}:{} does not offer STARTTLS (next_hop_tls = \"{}\")",
                self.host,
                self.port,
                if self.tls.level == TlsLevel::Verify {
                    "verify"
                } else {
                    "encrypt"
                }
            )));
        }
        tokio::time::timeout(TIMEOUT, conn.starttls(params.clone(), &self.hello))
            .await
            .map_err(|_| transient("next hop STARTTLS timed out".into()))?
            .map_err(|e| transient(format!("STARTTLS with {}:{}: {e}", self.host, self.port)))?;
        Ok(conn)
    }

    async fn send(&self, env: &LEnvelope, body: &[u8]) -> Result<(), DeliveryError> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        if let Some(conn) = pooled.filter(|c| !c.has_broken()) {
            match self.send_on(conn, env, body).await {
                // The next hop may have closed an idle connection: once more on a new one.
                Err(DeliveryError::Transient(_)) => {}
                done => return done,
            }
        }
        let conn = self.connect().await?;
        self.send_on(conn, env, body).await
    }

    async fn send_on(
        &self,
        mut conn: AsyncSmtpConnection,
        env: &LEnvelope,
        body: &[u8],
    ) -> Result<(), DeliveryError> {
        match tokio::time::timeout(TIMEOUT, conn.send(env, body)).await {
            Ok(Ok(_)) => {
                let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                if idle.len() < POOL {
                    idle.push(conn);
                }
                Ok(())
            }
            Ok(Err(e)) if e.is_permanent() => {
                // A 5xx ends the transaction, not the connection: RSET and keep it.
                if !conn.has_broken()
                    && conn
                        .command(lettre::transport::smtp::commands::Rset)
                        .await
                        .is_ok()
                {
                    let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                    if idle.len() < POOL {
                        idle.push(conn);
                    }
                }
                Err(DeliveryError::Permanent {
                    code: e.status().map(u16::from).unwrap_or(554),
                    text: e.to_string(),
                })
            }
            Ok(Err(e)) => Err(DeliveryError::Transient(e.to_string())),
            Err(_) => Err(DeliveryError::Transient("next hop timed out".into())),
        }
    }
}

static SEQ: AtomicU64 = AtomicU64::new(0);

impl Deliverer {
    pub fn new(hop: &NextHop) -> std::io::Result<Deliverer> {
        Ok(match hop {
            NextHop::Smtp { host, port, tls } => Deliverer::Smtp(SmtpHop {
                host: host.clone(),
                port: *port,
                hello: ClientId::default(),
                idle: Mutex::new(Vec::new()),
                params: tls_parameters(tls)?,
                tls: tls.clone(),
            }),
            NextHop::Maildir(p) => {
                for sub in ["tmp", "new", "cur"] {
                    std::fs::create_dir_all(p.join(sub))?;
                }
                Deliverer::Maildir(p.clone())
            }
        })
    }

    /// Delivers one copy to `rcpts` (all accepted or none).
    pub async fn deliver(
        &self,
        from: &str,
        rcpts: &[String],
        message: &[u8],
    ) -> Result<(), DeliveryError> {
        match self {
            Deliverer::Smtp(t) => {
                let from = if from.is_empty() {
                    None
                } else {
                    Some(from.parse().map_err(|e| DeliveryError::Permanent {
                        code: 553,
                        text: format!("sender address: {e}"),
                    })?)
                };
                let to = rcpts
                    .iter()
                    .map(|r| r.parse())
                    .collect::<Result<Vec<lettre::Address>, _>>()
                    .map_err(|e| DeliveryError::Permanent {
                        code: 553,
                        text: format!("recipient address: {e}"),
                    })?;
                let env = LEnvelope::new(from, to).map_err(|e| DeliveryError::Permanent {
                    code: 554,
                    text: e.to_string(),
                })?;
                // lettre ends the data with CRLF "." CRLF itself: hand it the message without
                // its final CRLF, so the next hop receives exactly what we received.
                let body = message.strip_suffix(b"\r\n").unwrap_or(message);
                t.send(&env, body).await
            }
            Deliverer::Maildir(dir) => {
                let dir = dir.clone();
                let rcpts = rcpts.to_vec();
                let from = from.to_string();
                let message = message.to_vec();
                tokio::task::spawn_blocking(move || {
                    for r in &rcpts {
                        maildir_write(&dir, &from, r, &message).map_err(|e| {
                            DeliveryError::Transient(format!("Maildir {}: {e}", dir.display()))
                        })?;
                    }
                    Ok(())
                })
                .await
                .map_err(|e| DeliveryError::Transient(e.to_string()))?
            }
        }
    }
}

/// Writes one message into a Maildir durably, with Return-Path and Delivered-To lines as a
/// local delivery agent would.
pub fn maildir_write(
    dir: &Path,
    from: &str,
    rcpt: &str,
    message: &[u8],
) -> std::io::Result<PathBuf> {
    let unique = format!(
        "{}.{}_{}.hallpass",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let tmp = dir.join("tmp").join(&unique);
    let new = dir.join("new").join(&unique);
    {
        let mut f = std::fs::File::create(&tmp)?;
        write!(f, "Return-Path: <{from}>\r\nDelivered-To: {rcpt}\r\n")?;
        f.write_all(message)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &new)?;
    std::fs::File::open(dir.join("new"))?.sync_all()?;
    Ok(new)
}
