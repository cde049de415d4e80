//! What a reviewer can do to a held item, shared by the review page and `hallpass
//! quarantine`: release (to all or chosen held recipients, through the relay's next hop,
//! with a header saying who released it), return to the sender with a note, delete, and
//! mark as a false positive. Each is claimed or checked atomically in the store and leaves
//! an audit entry; a release whose delivery fails goes back to "held".

use crate::deliver::Deliverer;
use crate::quarantine::{QuarantineStore, Scope, Status, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("no such item")]
    NotFound,
    #[error("this item is {0} already; nothing was done")]
    NotHeld(Status),
    #[error("{0} is not a held recipient of this item")]
    NotARecipient(String),
    #[error("the next hop did not take the released copy: {0}; the item is held again")]
    Delivery(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The header a released copy carries.
pub fn released_header(actor: &str, reference: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let actor: String = actor
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    format!(
        "X-Hallpass-Released-By: {actor}; {reference}; {}\r\n",
        now.to_rfc2822()
    )
}

/// Releases a held item to `chosen` held recipients (all when empty).
pub async fn release(
    store: &dyn QuarantineStore,
    deliverer: &Deliverer,
    reference: &str,
    scope: &Scope,
    actor: &str,
    chosen: &[String],
    note: Option<&str>,
) -> Result<Vec<String>, ActionError> {
    let item = store.get(reference, scope)?.ok_or(ActionError::NotFound)?;
    let rcpts: Vec<String> = if chosen.is_empty() {
        item.held.held_recipients.clone()
    } else {
        for c in chosen {
            if !item.held.held_recipients.iter().any(|h| h == c) {
                return Err(ActionError::NotARecipient(c.clone()));
            }
        }
        chosen.to_vec()
    };
    if !store.claim(reference, actor)? {
        let now = store
            .get(reference, scope)?
            .map(|i| i.status)
            .unwrap_or(item.status);
        return Err(ActionError::NotHeld(now));
    }
    let message = match store.message(reference) {
        Ok(Some(m)) => m,
        Ok(None) => {
            store.unclaim(reference)?;
            return Err(ActionError::NotFound);
        }
        Err(e) => {
            store.unclaim(reference)?;
            return Err(e.into());
        }
    };
    let mut copy = released_header(actor, reference, chrono::Utc::now()).into_bytes();
    copy.extend_from_slice(&message);
    if let Err(e) = deliverer.deliver(&item.held.sender, &rcpts, &copy).await {
        store.unclaim(reference)?;
        store.audit(actor, "release_failed", reference, &e.to_string())?;
        return Err(ActionError::Delivery(e.to_string()));
    }
    let not_released = item.held.held_recipients.len() - rcpts.len();
    let detail = if not_released == 0 {
        format!("released to {} recipient(s)", rcpts.len())
    } else {
        format!(
            "released to {} recipient(s); {not_released} not released",
            rcpts.len()
        )
    };
    store.finish(
        reference,
        &[Status::Releasing],
        Status::Released,
        actor,
        note,
        &detail,
    )?;
    Ok(rcpts)
}

/// Returns a held item to its sender: the message is not delivered, the sender gets a
/// notice with the reviewer's note (from the null sender, so it can never loop).
pub async fn return_to_sender(
    store: &dyn QuarantineStore,
    deliverer: &Deliverer,
    hostname: &str,
    reference: &str,
    scope: &Scope,
    actor: &str,
    note: Option<&str>,
) -> Result<(), ActionError> {
    let item = store.get(reference, scope)?.ok_or(ActionError::NotFound)?;
    if item.status != Status::Held {
        return Err(ActionError::NotHeld(item.status));
    }
    if !item.held.sender.is_empty() {
        let notice = return_notice(hostname, &item.held, note);
        deliverer
            .deliver("", std::slice::from_ref(&item.held.sender), &notice)
            .await
            .map_err(|e| ActionError::Delivery(e.to_string()))?;
    }
    if !store.finish(
        reference,
        &[Status::Held],
        Status::Returned,
        actor,
        note,
        "returned to the sender",
    )? {
        return Err(ActionError::NotHeld(Status::Returned));
    }
    Ok(())
}

/// Deletes a held item (its metadata and the audit entry stay).
pub fn delete(
    store: &dyn QuarantineStore,
    reference: &str,
    scope: &Scope,
    actor: &str,
    note: Option<&str>,
) -> Result<(), ActionError> {
    let item = store.get(reference, scope)?.ok_or(ActionError::NotFound)?;
    if !store.finish(
        reference,
        &[Status::Held],
        Status::Deleted,
        actor,
        note,
        "deleted",
    )? {
        return Err(ActionError::NotHeld(item.status));
    }
    Ok(())
}

pub fn false_positive(
    store: &dyn QuarantineStore,
    reference: &str,
    scope: &Scope,
    actor: &str,
    note: Option<&str>,
) -> Result<(), ActionError> {
    store.get(reference, scope)?.ok_or(ActionError::NotFound)?;
    store.mark_false_positive(reference, actor, note)?;
    Ok(())
}

fn return_notice(
    hostname: &str,
    item: &crate::quarantine::HeldItem,
    note: Option<&str>,
) -> Vec<u8> {
    let subject: String = item.subject.chars().filter(|c| !c.is_control()).collect();
    let mut body = format!(
        "Your message \"{subject}\" (reference {}) was held because it appeared to contain pupil\r\n\
         personal data, and the data protection lead has returned it to you. It was NOT sent to:\r\n",
        item.reference
    );
    for r in &item.held_recipients {
        body.push_str(&format!("  {r}\r\n"));
    }
    if let Some(n) = note.filter(|n| !n.trim().is_empty()) {
        body.push_str("\r\nThe data protection lead's note:\r\n");
        for line in n.lines() {
            body.push_str(&format!("  {line}\r\n"));
        }
    }
    body.push_str(
        "\r\nIf the recipient needs this information, send it through the school's approved\r\n\
         secure route, or ask the data protection lead how.\r\n",
    );
    let msg = lettre::Message::builder()
        .from(
            format!("Hallpass <postmaster@{hostname}>")
                .parse()
                .unwrap_or_else(|_| "postmaster@localhost".parse().expect("valid")),
        )
        .to(item
            .sender
            .parse()
            .unwrap_or_else(|_| "postmaster@localhost".parse().expect("valid")))
        .subject(format!("Returned by the data protection lead: {subject}"))
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(body);
    match msg {
        Ok(m) => {
            let mut out = b"Auto-Submitted: auto-replied\r\n".to_vec();
            out.extend_from_slice(&m.formatted());
            out
        }
        Err(_) => b"Auto-Submitted: auto-replied\r\nSubject: Returned by the data protection lead\r\n\r\nA message you sent was returned.\r\n".to_vec(),
    }
}
