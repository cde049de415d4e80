//! The daily digest: for each school, the data lead's summary (items waiting, the oldest,
//! what was held, refused and released in the last 24 hours, by finding kind) and, when
//! staff wrote to pupils out of hours, the DSL's summary. Sent at `[guidance] digest_time`
//! by `serve`, or on demand by `hallpass digest --send`. A school with nothing to report
//! gets nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Notice, Notifier};
use crate::quarantine::{QuarantineStore, Query, Scope, Status};
use crate::scan::FindingKind;

pub fn digests(
    n: &Notifier,
    store: &dyn QuarantineStore,
    now: DateTime<Utc>,
) -> crate::quarantine::Result<Vec<Notice>> {
    let site = n.site();
    let tz: chrono_tz::Tz = site
        .trust
        .timezone
        .parse()
        .unwrap_or(chrono_tz::Europe::London);
    let date = now.with_timezone(&tz).format("%A %d %B %Y").to_string();
    let mut out = Vec::new();
    for school in &site.schools {
        let scope = Scope {
            school: Some(school.id.clone()),
            safeguarding_only: false,
        };
        let waiting = store
            .query(&Query {
                scope: scope.clone(),
                status: Some(Status::Held),
                per_page: 1,
                ..Query::default()
            })?
            .total;
        let oldest = store.stats(now, &scope)?.oldest_held;
        let events = store.events(now - chrono::Duration::hours(24), &scope)?;
        let mut actions: BTreeMap<String, usize> = BTreeMap::new();
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for e in &events {
            *actions.entry(e.action.replace('_', " ")).or_default() += 1;
            if e.action == "held" || e.action == "refused" {
                for k in &e.kinds {
                    *kinds.entry(k.clone()).or_default() += 1;
                }
            }
        }
        let ooh: Vec<_> = events
            .iter()
            .filter(|e| {
                e.kinds
                    .iter()
                    .any(|k| k == FindingKind::OutOfHoursPupilContact.as_str())
                    && e.action != "released"
            })
            .collect();
        if waiting > 0 || !events.is_empty() {
            #[derive(Serialize)]
            struct Ctx<'a> {
                school: &'a str,
                date: &'a str,
                waiting: usize,
                oldest: Option<String>,
                oldest_age: String,
                actions: Vec<(String, usize)>,
                kinds: Vec<(String, usize)>,
                out_of_hours: usize,
                queue_url: String,
            }
            let ctx = Ctx {
                school: &school.name,
                date: &date,
                waiting,
                oldest: oldest.as_ref().map(|o| o.0.clone()),
                oldest_age: oldest
                    .as_ref()
                    .map(|o| {
                        let d = now.signed_duration_since(o.1);
                        if d.num_days() > 0 {
                            format!("{} day(s)", d.num_days())
                        } else {
                            format!("{} hour(s)", d.num_hours())
                        }
                    })
                    .unwrap_or_default(),
                actions: actions.into_iter().collect(),
                kinds: kinds.into_iter().collect(),
                out_of_hours: ooh.len(),
                queue_url: n
                    .base_url()
                    .map(|b| format!("{b}/queue"))
                    .unwrap_or_default(),
            };
            let text = n.render(Some(school), "digest.txt", &ctx);
            out.push(Notice {
                to: school.dpl.clone(),
                kind: "digest",
                message: n.build(
                    &school.dpl,
                    &format!(
                        "Hallpass daily summary: {waiting} waiting at {}",
                        school.name
                    ),
                    text,
                    None,
                    "auto-generated",
                    "digest",
                ),
            });
        }
        if !ooh.is_empty() {
            #[derive(Serialize)]
            struct Ev {
                when: String,
                sender: String,
                reference: String,
            }
            #[derive(Serialize)]
            struct Ctx<'a> {
                school: &'a str,
                date: &'a str,
                count: usize,
                events: Vec<Ev>,
            }
            let ctx = Ctx {
                school: &school.name,
                date: &date,
                count: ooh.len(),
                events: ooh
                    .iter()
                    .map(|e| Ev {
                        when: e.at.with_timezone(&tz).format("%a %H:%M").to_string(),
                        sender: e.sender.clone(),
                        reference: e.reference.clone(),
                    })
                    .collect(),
            };
            let text = n.render(Some(school), "dsl-digest.txt", &ctx);
            for to in &school.dsl {
                out.push(Notice {
                    to: to.clone(),
                    kind: "dsl-digest",
                    message: n.build(
                        to,
                        &format!("Hallpass safeguarding summary for {}", school.name),
                        text.clone(),
                        None,
                        "auto-generated",
                        "dsl-digest",
                    ),
                });
            }
        }
    }
    Ok(out)
}
