//! Outlook messages (.msg, [MS-OXMSG]) attached to mail — what Outlook makes when an email is
//! dragged into another — read with the msg_parser crate: the subject, the plain body (or
//! the HTML body, or the HTML inside the compressed RTF body), and every attachment, which
//! goes back through the sink's opener ([`Sink::open_file`]: an embedded message is read as one, one level
//! deeper). Attachment names are scanned like archive member names.
//!
//! msg_parser reads the whole compound file from a hostile attachment with its own OLE
//! reader; a panic in it is caught here and the file listed as not read.

use msg_parser::Outlook;

use super::sink::{Sink, member_location};
use crate::scan::segment::{Location, Segment};

/// Whether a compound file holds an Outlook message (its property stream, or its
/// `__substg1.0_` property streams).
pub fn is_msg(cf: &cfb::CompoundFile<std::io::Cursor<&[u8]>>) -> bool {
    cf.exists("/__properties_version1.0")
        || cf
            .read_root_storage()
            .take(4096)
            .any(|e| e.name().starts_with("__substg1.0_"))
}

pub fn extract(location: &Location, bytes: &[u8], depth: usize, sink: &mut Sink) {
    let parsed = std::panic::catch_unwind(|| Outlook::from_slice(bytes));
    match parsed {
        Ok(Ok(msg)) => read(location, &msg, depth, sink),
        Ok(Err(e)) => sink.not_read(
            location.clone(),
            format!("Outlook message could not be read: {e}"),
        ),
        Err(_) => sink.not_read(
            location.clone(),
            "Outlook message could not be read (damaged)".into(),
        ),
    }
}

fn read(location: &Location, msg: &Outlook, depth: usize, sink: &mut Sink) {
    if !msg.subject.is_empty() {
        sink.push(Segment::text(location.clone(), msg.subject.clone()));
    }
    let body = if !msg.body.trim().is_empty() {
        msg.body.clone()
    } else if !msg.html.trim().is_empty() {
        crate::scan::html::html_to_text(&msg.html)
    } else {
        std::panic::catch_unwind(|| msg.html_from_rtf())
            .ok()
            .flatten()
            .map(|h| crate::scan::html::html_to_text(&h))
            .unwrap_or_default()
    };
    sink.push_text(location.clone(), body);
    let limits = sink.budget.limits().clone();
    if msg.attachments.is_empty() {
        return;
    }
    if depth + 1 > limits.max_depth {
        sink.not_read(
            location.clone(),
            "attachments nested too deep (Outlook message)".into(),
        );
        return;
    }
    for (i, a) in msg.attachments.iter().enumerate().take(limits.max_members) {
        let name = [&a.long_file_name, &a.file_name, &a.display_name]
            .into_iter()
            .find(|n| !n.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| format!("attachment-{}", i + 1));
        let member = member_location(location, &name);
        sink.push_name(&member, &name);
        if let Some(why) = sink.budget.exhausted() {
            sink.not_read(member, why);
            return;
        }
        match std::panic::catch_unwind(|| a.as_message()) {
            Ok(Some(Ok(inner))) => read(&member, &inner, depth + 1, sink),
            Ok(Some(Err(e))) => sink.not_read(member, format!("embedded Outlook message: {e}")),
            Err(_) => sink.not_read(member, "embedded Outlook message (damaged)".into()),
            Ok(None) if a.attach_method == 6 => {
                sink.not_read(member, "embedded OLE object is not read".into())
            }
            Ok(None) => sink.open_file(&member, &a.payload_bytes, depth + 1),
        }
    }
    if msg.attachments.len() > limits.max_members {
        sink.not_read(
            location.clone(),
            format!(
                "{} attachments: more than the {} read",
                msg.attachments.len(),
                limits.max_members
            ),
        );
    }
}
