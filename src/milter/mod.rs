//! Milter mode (`[milter] listen`, started by `hallpass serve`): Postfix or Sendmail hands
//! each message to Hallpass over the milter protocol (indymilter); Hallpass collects the
//! envelope, headers and body, runs the same scan and policy as the relay at end of
//! message, and answers:
//!
//! - everything deliverable: accept, with `X-Hallpass-Result` added;
//! - every recipient refused: reject with the same multi-line guidance (SMFIR_REPLYCODE);
//! - some recipients refused or held, others not: those recipients are deleted from the
//!   message (SMFIR_DELRCPT) and the rest accepted — a milter decides per message, so this
//!   is how per-recipient decisions map; the sender gets the guidance notice for them;
//! - held recipients: with `hold = "hallpass"` (default) a copy is stored in Hallpass's
//!   quarantine first (durably, before the reply) and they are deleted from the message, or
//!   the whole message is discarded when nobody else remains; with `hold = "mta"` the whole
//!   message goes to the MTA's hold queue (SMFIR_QUARANTINE);
//! - a scan that cannot finish under `fail_mode = "tempfail"`, or a failed store: 451;
//! - a deliberate send (`[dlp-override: reason]` in the Subject, where the school allows
//!   it): honoured as by the relay — delivered, the tag taken out of the Subject
//!   (SMFIR_CHGHEADER), the data lead told.
//!
//! A thin protocol adapter: everything after the message is read is `dispatch`'s, shared
//! with the relay. Must not import `smtp`.

use std::ffi::CString;
use std::sync::Arc;

use bytes::Bytes;
use indymilter::{Actions, Callbacks, Context, ContextActions, EomContext, SetErrorReply, Status};
use serde::Deserialize;

use crate::dispatch::Dispatcher;
use crate::dispatch::outcome::{added_headers, guidance_lines, plan};
use crate::policy::Action;
use crate::scan::Envelope;

/// What the milter front end needs: the shared dispatcher and the limits it applies (taken
/// from `[relay]`, which says who the MTA is and how big a message may be).
pub struct Milter {
    pub dispatch: Arc<Dispatcher>,
    /// `[relay] allowed_clients`: only these may connect.
    pub allowed: Vec<ipnet::IpNet>,
    pub max_message_size: usize,
    pub max_connections: usize,
    pub hold: HoldIn,
}

/// `[milter]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MilterConfig {
    /// "127.0.0.1:10029"; absent or "" for no milter listener.
    #[serde(default)]
    pub listen: String,
    /// Where held mail goes: "hallpass" (the review page) or "mta" (the MTA's hold queue).
    #[serde(default)]
    pub hold: HoldIn,
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum HoldIn {
    #[default]
    Hallpass,
    Mta,
}

/// One message as the MTA hands it over.
#[derive(Default)]
pub struct Msg {
    from: String,
    rcpts: Vec<String>,
    raw: Vec<u8>,
    too_big: bool,
}

fn addr(arg: &CString) -> String {
    arg.to_string_lossy()
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

impl Msg {
    fn push(&mut self, bytes: &[u8], limit: usize) {
        if self.too_big || self.raw.len() + bytes.len() > limit {
            self.too_big = true;
            self.raw = Vec::new();
        } else {
            self.raw.extend_from_slice(bytes);
        }
    }
}

/// The raw value of the first Subject field of a message (unfolded lines kept as written).
fn raw_subject(msg: &[u8]) -> Option<String> {
    let end = memchr::memmem::find(msg, b"\r\n\r\n").unwrap_or(msg.len());
    let head = std::str::from_utf8(&msg[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let first = lines.find(|l| l.len() >= 8 && l[..8].eq_ignore_ascii_case("subject:"))?;
    let mut value = first[8..].trim_start().to_string();
    for l in lines.take_while(|l| l.starts_with([' ', '\t'])) {
        value.push_str("\r\n");
        value.push_str(l);
    }
    Some(value)
}

async fn eom(cx: &mut EomContext<Msg>, milter: Arc<Milter>) -> Status {
    let hold_in = milter.hold;
    let dispatch = &milter.dispatch;
    let Some(m) = cx.data.take() else {
        return Status::Continue;
    };
    if m.too_big {
        let _ = cx
            .reply
            .set_error_reply("552", Some("5.3.4"), ["Message exceeds the size limit"]);
        return Status::Reject;
    }
    let envelope = Envelope {
        mail_from: m.from,
        rcpt_to: m.rcpts,
    };
    let j = dispatch.judge(envelope, m.raw).await;
    let (reference, envelope) = (&j.reference, &j.envelope);
    let (decision, findings) = (&j.decision, &j.findings);
    // The MTA's queue id (macro `i`, sent by Postfix and Sendmail at end of message): what
    // `postqueue -p` and the MTA's log show, beside Hallpass's reference.
    let queue_id = cx
        .macros
        .get(c"i")
        .map(|i| i.to_string_lossy().into_owned())
        .unwrap_or_default();
    tracing::info!(reference = %reference, queue_id = %queue_id, sender = %envelope.mail_from, recipients = envelope.rcpt_to.len(), action = j.action(), findings = ?j.kinds(), scan_ms = j.scan_time.as_millis() as u64, deliberate = j.deliberate.is_some(), "message (milter)");
    if decision.tempfail {
        let _ = cx.reply.set_error_reply(
            "451",
            Some("4.7.0"),
            [format!(
                "Hallpass could not fully scan this message; try again later ({reference})"
            )],
        );
        return Status::Tempfail;
    }
    let p = plan(decision);
    let pending = j.pending(&p);
    let received = format!(
        "Received: by {} (Hallpass milter) id {reference};\r\n\t{}\r\n",
        dispatch.settings.hostname,
        chrono::Utc::now().to_rfc2822()
    );
    // Every recipient refused: the MTA answers the client with the guidance.
    if p.deliver.is_empty() && p.hold.is_empty() {
        let _ = dispatch.hold_and_record(&j, &received, &p).await;
        let lines = guidance_lines(p.refuse[0], findings, reference);
        let _ = cx.reply.set_error_reply("550", Some("5.7.1"), lines);
        dispatch.send_notices(pending).await;
        return Status::Reject;
    }
    if !p.hold.is_empty() && hold_in == HoldIn::Mta {
        let reason = format!("Hallpass {reference}: held for the data protection lead");
        if cx.actions.quarantine(reason).await.is_err() {
            return Status::Tempfail;
        }
    } else if dispatch.hold_and_record(&j, &received, &p).await.is_err() {
        let _ = cx.reply.set_error_reply(
            "451",
            Some("4.3.0"),
            [format!(
                "Hallpass could not store the message for review ({reference})"
            )],
        );
        return Status::Tempfail;
    }
    let outgoing = p
        .deliver
        .iter()
        .map(|r| r.action)
        .max()
        .unwrap_or(Action::Quarantine);
    let header = added_headers("", outgoing, findings, reference);
    let value = header
        .trim_end()
        .strip_prefix("X-Hallpass-Result: ")
        .unwrap_or("")
        .to_string();
    let status = if p.deliver.is_empty() && hold_in == HoldIn::Hallpass {
        // Nobody left to deliver to: the copy is in the quarantine.
        Status::Discard
    } else {
        let gone: Vec<&str> = if hold_in == HoldIn::Hallpass {
            p.hold
                .iter()
                .chain(&p.refuse)
                .map(|r| r.address.as_str())
                .collect()
        } else {
            p.refuse.iter().map(|r| r.address.as_str()).collect()
        };
        for r in gone {
            if cx.actions.delete_recipient(format!("<{r}>")).await.is_err() {
                return Status::Tempfail;
            }
        }
        if cx
            .actions
            .add_header("X-Hallpass-Result", value)
            .await
            .is_err()
        {
            return Status::Tempfail;
        }
        // A deliberate send goes on with its tag taken out of the Subject, as from the relay.
        if j.deliberate.is_some()
            && let Some(subject) = raw_subject(&j.msg)
            && cx
                .actions
                .change_header("Subject", 1, Some(subject))
                .await
                .is_err()
        {
            return Status::Tempfail;
        }
        Status::Accept
    };
    dispatch.send_notices(pending).await;
    status
}

fn callbacks(milter: Arc<Milter>) -> Callbacks<Msg> {
    let limit = milter.max_message_size;
    Callbacks::new()
        .on_mail(|cx: &mut Context<Msg>, args: Vec<CString>| {
            Box::pin(async move {
                cx.data = Some(Msg {
                    from: args.first().map(addr).unwrap_or_default(),
                    ..Msg::default()
                });
                Status::Continue
            })
        })
        .on_rcpt(|cx: &mut Context<Msg>, args: Vec<CString>| {
            Box::pin(async move {
                if let Some(a) = args.first() {
                    // `%`, `!` or a source route: refused for this recipient, as the relay
                    // does (the MTA may apply the percent hack after us).
                    if let Some(why) = crate::classes::routed_address(&a.to_string_lossy()) {
                        let _ = cx.reply.set_error_reply("553", Some("5.1.3"), [why]);
                        return Status::Reject;
                    }
                    if let Some(m) = cx.data.as_mut() {
                        m.rcpts.push(addr(a));
                    }
                }
                Status::Continue
            })
        })
        .on_header(
            move |cx: &mut Context<Msg>, name: CString, value: CString| {
                Box::pin(async move {
                    if let Some(m) = cx.data.as_mut() {
                        let v = value
                            .to_string_lossy()
                            .replace("\r\n", "\n")
                            .replace('\n', "\r\n");
                        let line = format!("{}: {}\r\n", name.to_string_lossy(), v.trim_start());
                        m.push(line.as_bytes(), limit);
                    }
                    Status::Continue
                })
            },
        )
        .on_eoh(move |cx: &mut Context<Msg>| {
            Box::pin(async move {
                if let Some(m) = cx.data.as_mut() {
                    m.push(b"\r\n", limit);
                }
                Status::Continue
            })
        })
        .on_body(move |cx: &mut Context<Msg>, chunk: Bytes| {
            Box::pin(async move {
                if let Some(m) = cx.data.as_mut() {
                    m.push(&chunk, limit);
                }
                Status::Continue
            })
        })
        .on_eom(move |cx: &mut EomContext<Msg>| Box::pin(eom(cx, milter.clone())))
        .on_abort(|cx: &mut Context<Msg>| {
            Box::pin(async move {
                cx.data = None;
                Status::Continue
            })
        })
}

/// The milter listener, admitting only `[relay] allowed_clients` (the MTA): any other
/// connection is closed at once, before a byte of the protocol.
struct AllowedOnly {
    inner: tokio::net::TcpListener,
    allowed: Vec<ipnet::IpNet>,
}

impl indymilter::Listener for AllowedOnly {
    type Io = tokio::net::TcpStream;

    fn poll_accept(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<Self::Io>> {
        loop {
            match self.inner.poll_accept(cx) {
                std::task::Poll::Ready(Ok((sock, peer))) => {
                    if crate::settings::in_networks(&self.allowed, peer.ip()) {
                        return std::task::Poll::Ready(Ok(sock));
                    }
                    tracing::warn!(%peer, "milter connection from a client not in allowed_clients: closed");
                    drop(sock);
                }
                other => return other.map_ok(|(sock, _)| sock),
            }
        }
    }
}

/// Serves the milter protocol on `listener` until `shutdown` turns true; only clients in
/// `[relay] allowed_clients` may connect.
pub async fn serve(
    milter: Arc<Milter>,
    listener: tokio::net::TcpListener,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let milter_config = indymilter::Config {
        max_connections: milter.max_connections,
        actions: Actions::ADD_HEADER
            | Actions::CHANGE_HEADER
            | Actions::DELETE_RCPT
            | Actions::QUARANTINE,
        ..Default::default()
    };
    let listener = AllowedOnly {
        inner: listener,
        allowed: milter.allowed.clone(),
    };
    indymilter::run(listener, callbacks(milter), milter_config, async move {
        let _ = shutdown.wait_for(|s| *s).await;
    })
    .await
}
