//! What a reviewer can do to a held item, shared by the review page and `hallpass
//! quarantine`: release (to all or chosen held recipients, through the relay's next hop,
//! with a header saying who released it), return to the sender with a note, delete, and
//! mark as a false positive. Each is claimed or checked atomically in the store and leaves
//! an audit entry; a release whose delivery fails goes back to "held".

use crate::deliver::Deliverer;
use crate::notify::Notifier;
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
    notifier: Option<&Notifier>,
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
    if let Some(n) = notifier
        && let Some(notice) = n.review_outcome(&item.held, false, actor, note, &rcpts)
        && let Err(e) = deliverer
            .deliver("", std::slice::from_ref(&notice.to), &notice.message)
            .await
    {
        tracing::warn!(reference, error = %e, "release notice not sent");
    }
    Ok(rcpts)
}

/// Returns a held item to its sender: the message is not delivered, the sender gets a
/// notice with the reviewer's note (from the null sender, so it can never loop). The
/// notice goes first: if it cannot be sent, the item stays held.
pub async fn return_to_sender(
    store: &dyn QuarantineStore,
    deliverer: &Deliverer,
    notifier: Option<&Notifier>,
    reference: &str,
    scope: &Scope,
    actor: &str,
    note: Option<&str>,
) -> Result<(), ActionError> {
    let item = store.get(reference, scope)?.ok_or(ActionError::NotFound)?;
    if item.status != Status::Held {
        return Err(ActionError::NotHeld(item.status));
    }
    if let Some(notice) = notifier
        .and_then(|n| n.review_outcome(&item.held, true, actor, note, &item.held.held_recipients))
    {
        deliverer
            .deliver("", std::slice::from_ref(&notice.to), &notice.message)
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
