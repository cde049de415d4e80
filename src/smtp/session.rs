//! One SMTP or LMTP conversation (RFC 5321, RFC 2033, RFC 3463 codes): command parsing by
//! smtp-proto's receivers, pipelined replies, STARTTLS (RFC 3207: the caller upgrades the
//! stream and the conversation starts again from EHLO), DATA with its size limit and the bare
//! CR/LF check, and the per-message outcome (one reply, or one per recipient for LMTP).

use std::sync::Arc;

use smtp_proto::request::receiver::RequestReceiver;
use smtp_proto::{Error as ProtoError, Request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::Server;
use super::data::{Data, DataReader, first_taint};
use crate::deliver::DeliveryError;
use crate::dispatch::outcome::{self, added_headers, guidance_lines, multiline, plan};
use crate::policy::Action;
use crate::scan::Envelope;

pub struct Session {
    server: Arc<Server>,
    peer: std::net::SocketAddr,
    lmtp: bool,
    helo: Option<String>,
    from: Option<String>,
    rcpts: Vec<String>,
    stop: watch::Receiver<bool>,
    /// What the notices of the last message need (sent once its reply is final).
    pending: Option<crate::dispatch::notices::Pending>,
    /// TLS is in force on this connection.
    tls: bool,
    /// The message so far of a BDAT transaction.
    chunks: Option<Chunks>,
    /// When the connection was accepted (`session_timeout` counts from here).
    started: tokio::time::Instant,
}

#[derive(Default)]
struct Chunks {
    message: Vec<u8>,
    too_big: bool,
}

enum Next {
    Continue,
    Data,
    Bdat { size: usize, last: bool },
    Quit,
    StartTls,
}

/// How a conversation on one stream ended.
pub enum Ended {
    Closed,
    /// The client asked for TLS and was told to go ahead: upgrade the stream and call
    /// [`Session::run_tls`] on it.
    StartTls,
}

/// Reads message data (DATA or a BDAT chunk) before `deadline`; `None` when the connection
/// ended or the deadline passed (then after a 421).
async fn read_data<S: AsyncRead + AsyncWrite + Unpin>(
    sock: &mut S,
    buf: &mut [u8],
    deadline: tokio::time::Instant,
) -> std::io::Result<Option<usize>> {
    match tokio::time::timeout_at(deadline, sock.read(buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => Ok(None),
        Ok(Ok(n)) => Ok(Some(n)),
        Err(_) => {
            sock.write_all(b"421 4.4.2 Hallpass: data timeout\r\n")
                .await?;
            Ok(None)
        }
    }
}

impl Session {
    pub fn new(
        server: Arc<Server>,
        peer: std::net::SocketAddr,
        lmtp: bool,
        stop: watch::Receiver<bool>,
    ) -> Session {
        Session {
            server,
            peer,
            lmtp,
            helo: None,
            from: None,
            rcpts: Vec::new(),
            stop,
            pending: None,
            tls: false,
            chunks: None,
            started: tokio::time::Instant::now(),
        }
    }

    /// The conversation from the greeting.
    pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        sock: &mut S,
    ) -> std::io::Result<Ended> {
        let relay = self.server.relay.clone();
        sock.write_all(format!("220 {} ESMTP Hallpass ready\r\n", relay.hostname).as_bytes())
            .await?;
        self.converse(sock).await
    }

    /// The conversation after the TLS handshake: no greeting, and nothing known from before
    /// (RFC 3207 4.2: the client says EHLO again).
    pub async fn run_tls<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        sock: &mut S,
    ) -> std::io::Result<Ended> {
        self.tls = true;
        self.helo = None;
        self.reset();
        self.converse(sock).await
    }

    async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        sock: &mut S,
    ) -> std::io::Result<Ended> {
        let relay = self.server.relay.clone();
        let mut receiver = RequestReceiver::default();
        let mut buf = vec![0u8; 16 * 1024];
        let mut pending: Vec<u8> = Vec::new();
        // After DATA, commands pipelined behind the message are already in `pending`.
        let mut need_read = true;
        // A command must arrive whole within `command_timeout` of the last one: bytes
        // trickled in do not extend it. The whole session ends at `session_timeout`.
        let mut command_deadline = tokio::time::Instant::now() + relay.command_timeout;
        let session_deadline = self.started + relay.session_timeout;
        loop {
            if *self.stop.borrow() && self.from.is_none() {
                sock.write_all(b"421 4.3.2 Hallpass shutting down\r\n")
                    .await?;
                return Ok(Ended::Closed);
            }
            if need_read {
                // Between transactions a shutdown ends the session at once; inside one, the
                // client may finish (bounded by the timeouts).
                let idle = self.from.is_none();
                let mut stop = self.stop.clone();
                let deadline = command_deadline.min(session_deadline);
                let read = tokio::time::timeout_at(deadline, sock.read(&mut buf));
                let n = tokio::select! {
                    r = read => match r {
                        Ok(Ok(0)) => return Ok(Ended::Closed),
                        Ok(Ok(n)) => n,
                        Ok(Err(e)) => return Err(e),
                        Err(_) => {
                            let why: &[u8] = if deadline == session_deadline {
                                b"421 4.4.2 Hallpass: session time limit reached, closing\r\n"
                            } else {
                                b"421 4.4.2 Hallpass: idle timeout\r\n"
                            };
                            sock.write_all(why).await?;
                            return Ok(Ended::Closed);
                        }
                    },
                    _ = async { drop(stop.wait_for(|s| *s).await) }, if idle => {
                        sock.write_all(b"421 4.3.2 Hallpass shutting down\r\n").await?;
                        return Ok(Ended::Closed);
                    }
                };
                pending.extend_from_slice(&buf[..n]);
            }
            need_read = true;
            let mut out = String::new();
            let mut iter = pending.iter();
            let mut next = Next::Continue;
            loop {
                match receiver.ingest(&mut iter) {
                    Ok(req) => {
                        let req = req.into_owned();
                        next = self.command(req, &mut out);
                        if !matches!(next, Next::Continue) {
                            break;
                        }
                    }
                    Err(ProtoError::NeedsMoreData { .. }) => break,
                    Err(ProtoError::ResponseTooLong) => out.push_str("500 5.5.2 Line too long\r\n"),
                    Err(ProtoError::UnknownCommand) => {
                        out.push_str("500 5.5.1 Command unrecognised\r\n")
                    }
                    Err(ProtoError::InvalidSenderAddress) => {
                        out.push_str("501 5.1.7 Bad sender address syntax\r\n")
                    }
                    Err(ProtoError::InvalidRecipientAddress) => {
                        out.push_str("501 5.1.3 Bad recipient address syntax\r\n")
                    }
                    Err(ProtoError::SyntaxError { syntax }) => {
                        out.push_str(&format!("501 5.5.4 Syntax: {syntax}\r\n"))
                    }
                    Err(ProtoError::InvalidParameter { param }) => {
                        out.push_str(&format!("501 5.5.4 Invalid parameter {param}\r\n"))
                    }
                    Err(ProtoError::UnsupportedParameter { .. }) => {
                        out.push_str("555 5.5.4 Unsupported parameter\r\n")
                    }
                    Err(_) => out.push_str("500 5.5.2 Syntax error\r\n"),
                }
            }
            let rest = iter.as_slice().to_vec();
            if !out.is_empty() || !matches!(next, Next::Continue) {
                // A whole command was read (every command gets a reply or starts data): the
                // next gets its full time. A partial line kept by the receiver does not.
                command_deadline = tokio::time::Instant::now() + relay.command_timeout;
            }
            pending = rest;
            if !out.is_empty() {
                sock.write_all(out.as_bytes()).await?;
                sock.flush().await?;
            }
            match next {
                Next::Quit => return Ok(Ended::Closed),
                Next::Data => {
                    let leftover = std::mem::take(&mut pending);
                    match self.data(sock, leftover).await? {
                        Some(rest) => {
                            need_read = rest.is_empty();
                            pending = rest;
                            command_deadline = tokio::time::Instant::now() + relay.command_timeout;
                        }
                        None => return Ok(Ended::Closed),
                    }
                }
                Next::Bdat { size, last } => {
                    let leftover = std::mem::take(&mut pending);
                    match self.bdat(sock, leftover, size, last).await? {
                        Some(rest) => {
                            need_read = rest.is_empty();
                            pending = rest;
                            command_deadline = tokio::time::Instant::now() + relay.command_timeout;
                        }
                        None => return Ok(Ended::Closed),
                    }
                }
                Next::StartTls => {
                    // Whatever was pipelined after STARTTLS came in the clear: drop it, so
                    // no command can be injected into the TLS session (CVE-2011-0411).
                    return Ok(Ended::StartTls);
                }
                Next::Continue => {}
            }
        }
    }

    fn command(&mut self, req: Request<String>, out: &mut String) -> Next {
        let server = self.server.clone();
        let relay = &server.relay;
        match req {
            Request::Ehlo { host } | Request::Lhlo { host } => {
                self.helo = Some(host);
                self.reset();
                let starttls = if server.tls().is_some() && !self.tls {
                    "250-STARTTLS\r\n"
                } else {
                    ""
                };
                out.push_str(&format!(
                    "250-{}\r\n250-PIPELINING\r\n250-SIZE {}\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n{starttls}250 ENHANCEDSTATUSCODES\r\n",
                    relay.hostname, relay.max_message_size
                ));
            }
            Request::Helo { host } => {
                self.helo = Some(host);
                self.reset();
                out.push_str(&format!("250 {}\r\n", relay.hostname));
            }
            Request::Mail { from } => {
                if self.helo.is_none() {
                    out.push_str("503 5.5.1 Say hello first\r\n");
                } else if self.from.is_some() {
                    out.push_str("503 5.5.1 Sender already given\r\n");
                } else if relay.require_tls && !self.tls {
                    out.push_str("530 5.7.0 Must issue a STARTTLS command first\r\n");
                } else if from.size > relay.max_message_size {
                    out.push_str("552 5.3.4 Message too big for this relay\r\n");
                } else {
                    self.from = Some(from.address);
                    out.push_str("250 2.1.0 Sender ok\r\n");
                }
            }
            Request::Rcpt { to } => {
                if self.from.is_none() {
                    out.push_str("503 5.5.1 Need MAIL first\r\n");
                } else if self.rcpts.len() >= relay.max_recipients {
                    out.push_str("452 4.5.3 Too many recipients\r\n");
                } else if !to.address.contains('@') {
                    out.push_str("501 5.1.3 Recipient needs a domain\r\n");
                } else if let Some(why) = crate::classes::routed_address(&to.address) {
                    out.push_str(&format!("553 5.1.3 {why}\r\n"));
                } else {
                    self.rcpts.push(to.address);
                    out.push_str("250 2.1.5 Recipient ok\r\n");
                }
            }
            Request::Data => {
                if self.chunks.is_some() {
                    out.push_str("503 5.5.1 DATA is not allowed after BDAT\r\n");
                } else if self.rcpts.is_empty() {
                    out.push_str("503 5.5.1 Need RCPT first\r\n");
                } else {
                    out.push_str("354 Start mail input; end with <CRLF>.<CRLF>\r\n");
                    return Next::Data;
                }
            }
            Request::Rset => {
                self.reset();
                out.push_str("250 2.0.0 Reset\r\n");
            }
            Request::Noop { .. } => out.push_str("250 2.0.0 Ok\r\n"),
            Request::Vrfy { .. } | Request::Expn { .. } => {
                out.push_str("502 5.5.1 VRFY and EXPN are disabled\r\n")
            }
            Request::StartTls => {
                if self.tls {
                    out.push_str("554 5.5.1 TLS is already in force\r\n");
                } else if server.tls().is_none() {
                    out.push_str("502 5.5.1 STARTTLS is not offered by this listener\r\n");
                } else if self.from.is_some() {
                    out.push_str("503 5.5.1 STARTTLS is not allowed inside a mail transaction\r\n");
                } else {
                    out.push_str("220 2.0.0 Ready to start TLS\r\n");
                    return Next::StartTls;
                }
            }
            Request::Quit => {
                out.push_str("221 2.0.0 Bye\r\n");
                return Next::Quit;
            }
            Request::Bdat {
                chunk_size,
                is_last,
            } => {
                return Next::Bdat {
                    size: chunk_size,
                    last: is_last,
                };
            }
            _ => out.push_str("502 5.5.1 Command not implemented\r\n"),
        }
        Next::Continue
    }

    fn reset(&mut self) {
        self.from = None;
        self.rcpts.clear();
        self.chunks = None;
    }

    /// Receives the message data; `None` when the connection ends.
    async fn data<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        sock: &mut S,
        leftover: Vec<u8>,
    ) -> std::io::Result<Option<Vec<u8>>> {
        let relay = self.server.relay.clone();
        let mut reader = DataReader::new(relay.max_message_size);
        let mut chunk = leftover;
        let mut buf = vec![0u8; 64 * 1024];
        let deadline = tokio::time::Instant::now() + relay.data_timeout;
        loop {
            if let Some(n) = reader.feed(&chunk) {
                let rest = chunk[n..].to_vec();
                return self.reply(sock, reader.finish(), rest).await;
            }
            let Some(n) = read_data(sock, &mut buf, deadline).await? else {
                return Ok(None);
            };
            chunk = buf[..n].to_vec();
        }
    }

    /// Sends the final reply for a message whose data has all arrived. A tainted message
    /// (bare CR, bare LF or NUL) ends the connection after its refusal: whatever the client
    /// sent after it is never read as a command. `None` when the connection is to close.
    async fn reply<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        sock: &mut S,
        data: Data,
        rest: Vec<u8>,
    ) -> std::io::Result<Option<Vec<u8>>> {
        let tainted = data.taint.is_some();
        let reply = self.finish(data).await;
        sock.write_all(reply.as_bytes()).await?;
        sock.flush().await?;
        if tainted {
            tracing::info!(peer = %self.peer, "message data held a bare CR, bare LF or NUL: refused, connection closed");
            return Ok(None);
        }
        Ok(Some(rest))
    }

    /// The end of a message (DATA's final dot, or BDAT LAST): the size and line-end checks,
    /// then scan and carry out; the transaction ends; the reply is returned.
    async fn finish(&mut self, data: Data) -> String {
        let reply = if let Some(t) = data.taint {
            format!(
                "554 5.6.0 Message refused: {} in the message data (only CRLF line ends are accepted; closing the connection)\r\n",
                t.describe()
            )
        } else if data.too_big {
            "552 5.3.4 Message exceeds the size limit\r\n".to_string()
        } else {
            self.deliver(data.message).await
        };
        self.reset();
        // Notices only once the outcome is final: never for a 4xx, which the
        // upstream MTA retries.
        if let Some(p) = self.pending.take()
            && !reply.lines().any(|l| l.starts_with('4'))
        {
            self.server.dispatch.send_notices(p).await;
        }
        reply
    }

    /// One BDAT chunk (RFC 3030): exactly `size` bytes follow the command, read whatever
    /// the state (so the conversation stays in step) and kept only within the size limit.
    /// `None` when the connection ends.
    async fn bdat<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        sock: &mut S,
        mut leftover: Vec<u8>,
        size: usize,
        last: bool,
    ) -> std::io::Result<Option<Vec<u8>>> {
        let relay = self.server.relay.clone();
        let ok = self.from.is_some() && !self.rcpts.is_empty();
        let state = self.chunks.get_or_insert_with(Default::default);
        let deadline = tokio::time::Instant::now() + relay.data_timeout;
        let mut left = size;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let take = left.min(leftover.len());
            if ok && !state.too_big {
                if state.message.len() + take > relay.max_message_size {
                    state.too_big = true;
                    state.message = Vec::new();
                } else {
                    state.message.extend_from_slice(&leftover[..take]);
                }
            }
            leftover.drain(..take);
            left -= take;
            if left == 0 {
                break;
            }
            let Some(n) = read_data(sock, &mut buf, deadline).await? else {
                return Ok(None);
            };
            leftover.extend_from_slice(&buf[..n]);
        }
        let reply = if !ok {
            self.chunks = None;
            "503 5.5.1 Need MAIL and RCPT before BDAT\r\n".to_string()
        } else if !last {
            format!("250 2.0.0 {size} octets received\r\n")
        } else {
            let state = self.chunks.take().unwrap_or_default();
            let data = Data {
                taint: first_taint(&state.message),
                message: state.message,
                too_big: state.too_big,
            };
            return self.reply(sock, data, leftover).await;
        };
        sock.write_all(reply.as_bytes()).await?;
        sock.flush().await?;
        Ok(Some(leftover))
    }

    /// Scans, decides and carries out; returns the reply (one, or one per recipient).
    async fn deliver(&mut self, message: Vec<u8>) -> String {
        let server = self.server.clone();
        let envelope = Envelope {
            mail_from: self.from.clone().unwrap_or_default(),
            rcpt_to: self.rcpts.clone(),
        };
        let j = server.dispatch.judge(envelope, message).await;
        let (reference, envelope, msg) = (&j.reference, &j.envelope, &j.msg);
        let (decision, findings) = (&j.decision, &j.findings);
        // One line per message: no names, no content.
        let classes: Vec<&str> = decision
            .recipients
            .iter()
            .map(|r| r.class.as_str())
            .collect();
        tracing::info!(
            reference = %reference,
            sender = %envelope.mail_from,
            recipients = envelope.rcpt_to.len(),
            classes = ?classes,
            action = j.action(),
            findings = ?j.kinds(),
            scan_ms = j.scan_time.as_millis() as u64,
            "message"
        );
        let received = format!(
            "Received: from {} ([{}])\r\n\tby {} (Hallpass) with {} id {};\r\n\t{}\r\n",
            self.helo.as_deref().unwrap_or("unknown"),
            self.peer.ip(),
            server.relay.hostname,
            // RFC 3848: ESMTPS / LMTPS when TLS was in force.
            match (self.lmtp, self.tls) {
                (true, false) => "LMTP",
                (true, true) => "LMTPS",
                (false, false) => "ESMTP",
                (false, true) => "ESMTPS",
            },
            reference,
            chrono::Utc::now().to_rfc2822()
        );
        if decision.tempfail {
            let r = format!(
                "451 4.7.0 Hallpass could not fully scan this message; try again later ({reference})\r\n"
            );
            return if self.lmtp {
                r.repeat(envelope.rcpt_to.len())
            } else {
                r
            };
        }
        let p = plan(decision);
        self.pending = Some(j.pending(&p));
        // Deliver the copy for recipients that may have it.
        let mut delivered: Result<(), DeliveryError> = Ok(());
        if !p.deliver.is_empty() {
            let action = p
                .deliver
                .iter()
                .map(|r| r.action)
                .max()
                .unwrap_or(Action::Allow);
            let mut copy = added_headers(&received, action, findings, reference).into_bytes();
            copy.extend_from_slice(msg);
            let rcpts: Vec<String> = p.deliver.iter().map(|r| r.address.clone()).collect();
            delivered = server
                .dispatch
                .deliverer
                .deliver(&envelope.mail_from, &rcpts, &copy)
                .await;
            if delivered.is_err() {
                crate::metrics::get().next_hop_errors.inc();
            }
        }
        // Hold the copy for recipients the data lead must see; record the decision.
        let held = server.dispatch.hold_and_record(&j, &received, &p).await;
        let refused: Vec<(crate::policy::RecipientDecision, Vec<String>)> = p
            .refuse
            .iter()
            .map(|r| ((*r).clone(), guidance_lines(r, &findings, &reference)))
            .collect();
        if self.lmtp {
            let mut out = String::new();
            for r in &decision.recipients {
                let line = match r.action {
                    Action::Reject => {
                        let lines = guidance_lines(r, &findings, &reference);
                        multiline(550, "5.7.1", &lines)
                    }
                    Action::Quarantine => match &held {
                        Ok(()) => format!(
                            "250 2.7.0 <{}> held for the data protection lead ({reference})\r\n",
                            r.address
                        ),
                        Err(e) => format!("451 4.3.0 <{}> could not be stored: {e}\r\n", r.address),
                    },
                    _ => match &delivered {
                        Ok(()) => format!("250 2.1.5 <{}> delivered ({reference})\r\n", r.address),
                        Err(DeliveryError::Transient(t)) => {
                            format!("451 4.4.1 <{}> next hop: {t}\r\n", r.address)
                        }
                        Err(DeliveryError::Permanent { code, text }) => {
                            format!("{code} 5.0.0 <{}> next hop: {text}\r\n", r.address)
                        }
                    },
                };
                out.push_str(&line);
            }
            return out;
        }
        // Plain SMTP: one reply for the whole message.
        if let Err(DeliveryError::Transient(t)) = &delivered {
            return format!("451 4.4.1 Hallpass: next hop unavailable, try again later ({t})\r\n");
        }
        if let Err(e) = &held {
            return format!("451 4.3.0 Hallpass: could not store the message for review ({e})\r\n");
        }
        if let Err(DeliveryError::Permanent { code, text }) = &delivered {
            let code = if (500..600).contains(code) {
                *code
            } else {
                554
            };
            return format!(
                "{code} 5.0.0 Next hop refused the message: {}\r\n",
                text.replace(['\r', '\n'], " ")
            );
        }
        if p.deliver.is_empty() && p.hold.is_empty() {
            // Every recipient refused: the upstream MTA bounces with this text.
            return multiline(550, "5.7.1", &refused[0].1);
        }
        if !refused.is_empty() {
            // Mixed: accepted, and the sender is told about the refused recipients by a DSN
            // handed to the next hop before the 250.
            if !envelope.mail_from.is_empty() {
                let headers_end = msg
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|p| p + 2)
                    .unwrap_or(msg.len().min(8192));
                let original = String::from_utf8_lossy(&msg[..headers_end.min(16 * 1024)]);
                let dsn = outcome::dsn(
                    &server.relay.hostname,
                    &envelope.mail_from,
                    &refused,
                    &original,
                    &reference,
                );
                if let Err(e) = server
                    .dispatch
                    .deliverer
                    .deliver("", std::slice::from_ref(&envelope.mail_from), &dsn)
                    .await
                {
                    return format!(
                        "451 4.4.1 Hallpass: could not send the refusal notice, try again later ({e})\r\n"
                    );
                }
            }
        }
        format!(
            "250 2.0.0 Ok: {} ({reference})\r\n",
            match (p.hold.is_empty(), refused.is_empty()) {
                (true, true) => "delivered",
                (false, _) => "accepted; some recipients held for review",
                (true, false) => "accepted; some recipients refused (the sender is notified)",
            }
        )
    }
}
