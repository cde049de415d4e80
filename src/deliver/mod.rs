//! The next hop: hands a message copy on and says whether it was accepted, so the relay can
//! answer 250 only after it was. SMTP through lettre (connections reused by its pool), or a
//! local Maildir (the embedded default: write to tmp/, fsync, rename into new/, fsync the
//! directory). It never decides anything about the content.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use lettre::address::Envelope as LEnvelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::smtp::config::NextHop;

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
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Maildir(PathBuf),
}

static SEQ: AtomicU64 = AtomicU64::new(0);

impl Deliverer {
    pub fn new(hop: &NextHop) -> std::io::Result<Deliverer> {
        Ok(match hop {
            NextHop::Smtp { host, port } => Deliverer::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
                    .port(*port)
                    .timeout(Some(std::time::Duration::from_secs(60)))
                    .build(),
            ),
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
                match t.send_raw(&env, body).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_permanent() => Err(DeliveryError::Permanent {
                        code: e.status().map(|c| u16::from(c)).unwrap_or(554),
                        text: e.to_string(),
                    }),
                    Err(e) => Err(DeliveryError::Transient(e.to_string())),
                }
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
