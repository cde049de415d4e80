//! The review page's handlers: sign-in and sign-out, the dashboard, the queue (filters,
//! sort, paging, bulk actions), one item (envelope, findings, each part as text with the
//! matched words marked, actions), and the audit log with its CSV export.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query as UrlQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::actions::{self, ActionError};
use super::app::{App, Reviewer, problem};
use super::{auth, charts};
use crate::quarantine::{AuditEntry, Item, Query, Sort, Status, Summary, valid_reference};
use crate::scan::FindingKind;

/// What every signed-in page shows around its content.
pub struct Chrome {
    pub user: String,
    pub role: &'static str,
    pub csrf: String,
    pub can_audit: bool,
    pub section: &'static str,
}

fn chrome(r: &Reviewer, section: &'static str) -> Chrome {
    Chrome {
        user: r.user.name.clone(),
        role: r.user.role.as_str(),
        csrf: r.csrf.clone(),
        can_audit: r.can_audit(),
        section,
    }
}

fn no_chrome() -> Chrome {
    Chrome {
        user: String::new(),
        role: "",
        csrf: String::new(),
        can_audit: false,
        section: "",
    }
}

fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(s) => Html(s).into_response(),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

type Form = Vec<(String, String)>;

fn parse_form(body: &Bytes) -> Form {
    form_urlencoded::parse(body)
        .take(10_000)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn field<'a>(f: &'a Form, name: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn fields(f: &Form, name: &str) -> Vec<String> {
    f.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

fn check_csrf(r: &Reviewer, f: &Form) -> Result<(), Response> {
    match field(f, "csrf") {
        Some(t) if auth::same(t, &r.csrf) => Ok(()),
        _ => Err(problem(
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from this page. Reload the page and try again.",
        )),
    }
}

fn local(app: &App, t: DateTime<Utc>) -> String {
    t.with_timezone(&app.tz())
        .format("%a %d %b %Y %H:%M")
        .to_string()
}

fn age(t: DateTime<Utc>) -> String {
    let d = Utc::now().signed_duration_since(t);
    if d.num_days() >= 1 {
        format!("{} day(s)", d.num_days())
    } else if d.num_hours() >= 1 {
        format!("{} hour(s)", d.num_hours())
    } else {
        format!("{} minute(s)", d.num_minutes().max(0))
    }
}

// ---- sign-in ----

#[derive(Template)]
#[template(path = "signin.html", config = "src/review/askama.toml")]
struct SigninPage {
    chrome: Chrome,
    signin: String,
    error: String,
}

fn signin_page(app: &App, status: StatusCode, error: &str) -> Response {
    let token = auth::token();
    let page = SigninPage {
        chrome: no_chrome(),
        signin: token.clone(),
        error: error.to_string(),
    };
    let mut res = render(&page);
    *res.status_mut() = status;
    if let Ok(v) = auth::set_cookie(
        auth::SIGNIN_COOKIE,
        &token,
        3600,
        app.review.secure_cookies(),
    )
    .parse()
    {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

pub async fn signin_form(State(app): State<Arc<App>>) -> Response {
    signin_page(&app, StatusCode::OK, "")
}

pub async fn signin(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = parse_form(&body);
    let cookie_token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| auth::cookie(c, auth::SIGNIN_COOKIE).map(str::to_string));
    match (field(&f, "signin"), cookie_token) {
        (Some(a), Some(b)) if auth::same(a, &b) => {}
        _ => {
            return signin_page(
                &app,
                StatusCode::FORBIDDEN,
                "The sign-in form expired. Please try again.",
            );
        }
    }
    let name = field(&f, "username").unwrap_or("").trim().to_string();
    let password = field(&f, "password").unwrap_or("").to_string();
    let peer = SocketAddr::new(auth::client_address(peer.ip(), &headers), peer.port());
    if let Some(wait) = app.throttle.blocked(&name, peer.ip()) {
        tracing::info!(user = %name, client = %peer.ip(), wait_s = wait, "review page: sign-in refused while throttled");
        return signin_page(
            &app,
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "Too many failed sign-ins. Try again in {} minute(s).",
                wait.div_ceil(60)
            ),
        );
    }
    let user = match app.store.user(&name) {
        Ok(u) => u,
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| auth::dummy_hash().to_string());
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let Some(user) = user.filter(|_| ok) else {
        let wait = app.throttle.failed(&name, peer.ip());
        tracing::info!(user = %name, client = %peer.ip(), "review page: failed sign-in");
        // Audited (the name as typed: it may not be an account), and the wait it starts.
        let typed: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
        let _ = app.store.audit(
            "review page",
            "sign_in_failed",
            "-",
            &format!("user {typed:?} from {}", peer.ip()),
        );
        if let Some(wait) = wait {
            let _ = app.store.audit(
                "review page",
                "sign_in_throttled",
                "-",
                &format!(
                    "user {typed:?} from {}: next attempt in {wait} s",
                    peer.ip()
                ),
            );
        }
        return signin_page(
            &app,
            StatusCode::UNAUTHORIZED,
            "That user name and password do not match.",
        );
    };
    app.throttle.succeeded(&name, peer.ip());
    let token = auth::token();
    let csrf = auth::token();
    let hours = app.review.session_hours.max(1);
    let expires = Utc::now().timestamp() + (hours * 3600) as i64;
    if let Err(e) = app
        .store
        .create_session(&auth::token_hash(&token), &user.name, &csrf, expires)
    {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    let _ = app.store.audit(
        &format!("{} ({})", user.name, user.role.as_str()),
        "signed_in",
        "-",
        &format!("from {}", peer.ip()),
    );
    let secure = app.review.secure_cookies();
    let mut res = Redirect::to("/").into_response();
    *res.status_mut() = StatusCode::SEE_OTHER;
    for c in [
        auth::set_cookie(auth::SESSION_COOKIE, &token, hours * 3600, secure),
        auth::set_cookie(auth::SIGNIN_COOKIE, "", 0, secure),
    ] {
        if let Ok(v) = c.parse() {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

pub async fn signout(State(app): State<Arc<App>>, r: Reviewer, body: Bytes) -> Response {
    let f = parse_form(&body);
    if let Err(e) = check_csrf(&r, &f) {
        return e;
    }
    let _ = app.store.delete_session(&r.token_hash);
    let mut res = Redirect::to("/signin").into_response();
    *res.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) =
        auth::set_cookie(auth::SESSION_COOKIE, "", 0, app.review.secure_cookies()).parse()
    {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

// ---- dashboard ----

#[derive(Template)]
#[template(path = "dashboard.html", config = "src/review/askama.toml")]
struct DashboardPage {
    chrome: Chrome,
    waiting: usize,
    totals: (usize, usize, usize, usize, usize),
    oldest: Option<(String, String)>,
    charts: Vec<(String, String)>,
    kinds_chart: String,
    senders: Vec<(String, usize)>,
}

pub async fn dashboard(State(app): State<Arc<App>>, r: Reviewer) -> Response {
    let now = Utc::now();
    let scope = r.scope();
    let stats = match app.store.stats(now, &scope) {
        Ok(s) => s,
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let waiting = app
        .store
        .query(&Query {
            scope: scope.clone(),
            status: Some(Status::Held),
            per_page: 1,
            ..Query::default()
        })
        .map(|p| p.total)
        .unwrap_or(0);
    let days: Vec<String> = (0..30)
        .rev()
        .map(|i| {
            (now - chrono::Duration::days(i))
                .format("%Y-%m-%d")
                .to_string()
        })
        .collect();
    let mut per: HashMap<&str, BTreeMap<String, usize>> = HashMap::new();
    for (day, action, n) in &stats.per_day {
        *per.entry(action.as_str())
            .or_default()
            .entry(day.clone())
            .or_default() += n;
    }
    let total = |a: &str| per.get(a).map_or(0, |m| m.values().sum());
    let series = [
        ("held", "Held per day", "#b54708"),
        ("refused", "Refused per day", "#b42318"),
        ("released", "Released per day", "#1e7b3a"),
        ("false_positive", "False positives per day", "#3b6ea5"),
        (
            "false_alarm",
            "False alarms reported by senders per day",
            "#6b4fa0",
        ),
    ];
    let empty = BTreeMap::new();
    let charts = series
        .iter()
        .map(|(a, title, colour)| {
            (
                format!("{title} ({} in all)", total(a)),
                charts::daily(title, &days, per.get(a).unwrap_or(&empty), colour),
            )
        })
        .collect();
    let kinds_chart = if stats.per_kind.is_empty() {
        String::new()
    } else {
        charts::bars("Finding kinds", &stats.per_kind)
    };
    render(&DashboardPage {
        chrome: chrome(&r, "dashboard"),
        waiting,
        totals: (
            total("held"),
            total("refused"),
            total("released"),
            total("false_positive"),
            total("false_alarm"),
        ),
        oldest: stats.oldest_held.map(|(r, t)| (r, age(t))),
        charts,
        kinds_chart,
        senders: stats.top_senders,
    })
}

// ---- queue ----

/// The queue's filters as the form shows them.
#[derive(Default)]
struct Filters {
    status: String,
    school: String,
    kind: String,
    sender: String,
    since: String,
    until: String,
    sort: String,
}

struct Row {
    reference: String,
    received: String,
    sender: String,
    subject: String,
    kinds: Vec<String>,
    status: Status,
    false_positive: bool,
    safeguarding: bool,
}

#[derive(Template)]
#[template(path = "queue.html", config = "src/review/askama.toml")]
struct QueuePage {
    chrome: Chrome,
    f: Filters,
    counts: Vec<(Status, usize)>,
    statuses: Vec<Status>,
    schools: Vec<(String, String)>,
    kinds: Vec<String>,
    items: Vec<Row>,
    total: usize,
    first: usize,
    last: usize,
    prev: Option<String>,
    next: Option<String>,
}

const PER_PAGE: usize = 50;

fn day(s: &str, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    tz.from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

pub async fn queue(
    State(app): State<Arc<App>>,
    r: Reviewer,
    UrlQuery(q): UrlQuery<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| {
        q.get(k)
            .map(|v| v.trim().chars().take(200).collect::<String>())
            .unwrap_or_default()
    };
    let tz = app.tz();
    let f = Filters {
        status: match get("status").as_str() {
            "" => "held".into(),
            s => s.into(),
        },
        school: get("school"),
        kind: get("kind"),
        sender: get("sender"),
        since: get("since"),
        until: get("until"),
        sort: match get("sort").as_str() {
            "" => "newest".into(),
            s => s.into(),
        },
    };
    let page: usize = get("page").parse().unwrap_or(0).min(100_000);
    let status = match f.status.as_str() {
        "any" => None,
        s => match Status::parse(s) {
            Some(st) => Some(st),
            None => return problem(StatusCode::BAD_REQUEST, "Unknown status."),
        },
    };
    let sort = match f.sort.as_str() {
        "oldest" => Sort::Oldest,
        "sender" => Sort::Sender,
        _ => Sort::Newest,
    };
    let query = Query {
        scope: r.scope(),
        status,
        school: (!f.school.is_empty()).then(|| f.school.clone()),
        kind: (!f.kind.is_empty()).then(|| f.kind.clone()),
        sender: (!f.sender.is_empty()).then(|| f.sender.clone()),
        since: day(&f.since, tz),
        until: day(&f.until, tz).map(|t| t + chrono::Duration::days(1)),
        sort,
        page,
        per_page: PER_PAGE,
    };
    let result = match app.store.query(&query) {
        Ok(p) => p,
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let link = |p: usize| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("status", &f.status),
            ("school", &f.school),
            ("kind", &f.kind),
            ("sender", &f.sender),
            ("since", &f.since),
            ("until", &f.until),
            ("sort", &f.sort),
        ] {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        s.append_pair("page", &p.to_string());
        format!("/queue?{}", s.finish())
    };
    let first = page * PER_PAGE + 1;
    let last = page * PER_PAGE + result.items.len();
    let prev = (page > 0).then(|| link(page - 1));
    let next = (last < result.total).then(|| link(page + 1));
    let items = result
        .items
        .into_iter()
        .map(|s: Summary| Row {
            reference: s.reference,
            received: local(&app, s.received),
            sender: s.sender,
            subject: s.subject,
            kinds: s.kinds,
            status: s.status,
            false_positive: s.false_positive,
            safeguarding: s.safeguarding,
        })
        .collect();
    render(&QueuePage {
        chrome: chrome(&r, "queue"),
        counts: result.by_status,
        statuses: Status::ALL.to_vec(),
        schools: app
            .site
            .schools
            .iter()
            .map(|s| (s.id.clone(), s.name.clone()))
            .collect(),
        kinds: FindingKind::ALL
            .iter()
            .map(|k| k.as_str().to_string())
            .collect(),
        f,
        items,
        total: result.total,
        first,
        last,
        prev,
        next,
    })
}

pub async fn bulk(State(app): State<Arc<App>>, r: Reviewer, body: Bytes) -> Response {
    let f = parse_form(&body);
    if let Err(e) = check_csrf(&r, &f) {
        return e;
    }
    let refs = fields(&f, "ref");
    let action = field(&f, "action").unwrap_or("").to_string();
    if refs.is_empty() {
        return notice(
            &r,
            "Nothing selected",
            "Select one or more items first.",
            true,
        );
    }
    if refs.len() > 500 {
        return problem(StatusCode::BAD_REQUEST, "At most 500 items at once.");
    }
    let (mut done, mut failed) = (0, Vec::new());
    for reference in &refs {
        let res = match action.as_str() {
            "release" => actions::release(
                &*app.store,
                &app.deliverer,
                app.notifier.as_deref(),
                reference,
                &r.scope(),
                &r.actor(),
                &[],
                None,
            )
            .await
            .map(|_| ()),
            "delete" => actions::delete(&*app.store, reference, &r.scope(), &r.actor(), None),
            "false_positive" => {
                actions::false_positive(&*app.store, reference, &r.scope(), &r.actor(), None)
            }
            _ => return problem(StatusCode::BAD_REQUEST, "Unknown action."),
        };
        match res {
            Ok(()) => done += 1,
            Err(e) => failed.push(format!("{reference}: {e}")),
        }
    }
    let text = if failed.is_empty() {
        format!("Done for {done} item(s).")
    } else {
        format!(
            "Done for {done} item(s). Not done for {}: {}",
            failed.len(),
            failed.join("; ")
        )
    };
    notice(&r, "Bulk action", &text, !failed.is_empty())
}

// ---- one item ----

struct Part {
    label: String,
    findings: Vec<String>,
    /// The text in runs, `true` for a run to highlight.
    text: Vec<(String, bool)>,
}

#[derive(Template)]
#[template(path = "item.html", config = "src/review/askama.toml")]
struct ItemPage {
    chrome: Chrome,
    item: Item,
    received: String,
    reviewed: Option<String>,
    school: String,
    parts: Vec<Part>,
    history: Vec<(String, AuditEntry)>,
}

/// The most text shown of one part.
const MAX_PART_TEXT: usize = 200 * 1024;

fn runs(app: &App, text: &str) -> Vec<(String, bool)> {
    let mut text = text;
    if text.len() > MAX_PART_TEXT {
        let mut cut = MAX_PART_TEXT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text = &text[..cut];
    }
    let spans = app
        .scanner
        .as_ref()
        .map(|s| s.highlights(text))
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut at = 0;
    for (s, e) in spans {
        if s < at || e > text.len() {
            continue;
        }
        if s > at {
            out.push((text[at..s].to_string(), false));
        }
        out.push((text[s..e].to_string(), true));
        at = e;
    }
    if at < text.len() {
        out.push((text[at..].to_string(), false));
    }
    out
}

fn parts_of(app: &App, item: &Item, raw: &[u8]) -> Vec<Part> {
    use mail_parser::{MimeHeaders, PartType};
    let Some(msg) = mail_parser::MessageParser::default().parse(raw) else {
        return vec![Part {
            label: "Message (could not be parsed; shown raw)".into(),
            findings: Vec::new(),
            text: runs(app, &String::from_utf8_lossy(raw)),
        }];
    };
    let mut out = Vec::new();
    for (i, p) in msg.parts.iter().enumerate() {
        let name = p.attachment_name().map(str::to_string);
        let ctype = p
            .content_type()
            .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
            .unwrap_or_else(|| "text/plain".into());
        let findings_for = |n: &str| -> Vec<String> {
            // Locations show pupil names masked ("L**** W**** EHCP.zip").
            let shown = app
                .scanner
                .as_ref()
                .map_or_else(|| n.to_string(), |s| s.mask_names(n));
            item.held
                .findings
                .iter()
                .filter(|f| f.location.contains(n) || f.location.contains(&shown))
                .map(|f| format!("{} ×{}", f.kind.as_str(), f.count))
                .collect()
        };
        let (label, findings, text) = match (&p.body, &name) {
            (PartType::Multipart(_), _) => continue,
            (PartType::Text(t), None) => (
                format!("Body, part {} ({ctype})", i + 1),
                Vec::new(),
                runs(app, t),
            ),
            (PartType::Html(h), None) => (
                format!("Body, part {} (HTML, shown as text)", i + 1),
                Vec::new(),
                runs(app, &crate::scan::html::html_to_text(h)),
            ),
            (PartType::Text(t), Some(n)) => (
                format!("Attachment {n} ({ctype}, {} bytes)", t.len()),
                findings_for(n),
                runs(app, t),
            ),
            (PartType::Html(h), Some(n)) => (
                format!("Attachment {n} (HTML, shown as text)"),
                findings_for(n),
                runs(app, &crate::scan::html::html_to_text(h)),
            ),
            (PartType::Binary(b) | PartType::InlineBinary(b), n) => {
                let n = n.clone().unwrap_or_else(|| "(no name)".into());
                (
                    format!("Attachment {n} ({ctype}, {} bytes; not shown)", b.len()),
                    findings_for(&n),
                    Vec::new(),
                )
            }
            (PartType::Message(m), _) => (
                format!(
                    "Attached message: {}",
                    m.subject().unwrap_or("(no subject)")
                ),
                Vec::new(),
                runs(app, &m.body_text(0).unwrap_or_default()),
            ),
        };
        out.push(Part {
            label,
            findings,
            text,
        });
    }
    out
}

pub async fn item(
    State(app): State<Arc<App>>,
    r: Reviewer,
    Path(reference): Path<String>,
) -> Response {
    if !valid_reference(&reference) {
        return problem(StatusCode::NOT_FOUND, "There is no such item.");
    }
    let item = match app.store.get(&reference, &r.scope()) {
        Ok(Some(i)) => i,
        Ok(None) => {
            return problem(
                StatusCode::NOT_FOUND,
                "There is no such item, or it is not yours to see.",
            );
        }
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let _ = app.store.audit(&r.actor(), "viewed", &reference, "");
    let parts = if item.has_message {
        match app.store.message(&reference) {
            Ok(Some(raw)) => {
                let app2 = app.clone();
                let item2 = item.clone();
                tokio::task::spawn_blocking(move || parts_of(&app2, &item2, &raw))
                    .await
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let school = app
        .site
        .schools
        .iter()
        .find(|s| s.id == item.held.school)
        .map(|s| s.name.clone())
        .unwrap_or_else(|| item.held.school.clone());
    let history = app
        .store
        .audit_of(&reference)
        .unwrap_or_default()
        .into_iter()
        .map(|e| (local(&app, e.at), e))
        .collect();
    render(&ItemPage {
        chrome: chrome(&r, "queue"),
        history,
        received: local(&app, item.held.received),
        reviewed: item.reviewed.map(|t| local(&app, t)),
        school,
        parts,
        item,
    })
}

#[derive(Template)]
#[template(path = "notice.html", config = "src/review/askama.toml")]
struct NoticePage {
    chrome: Chrome,
    heading: String,
    text: String,
    is_error: bool,
    back: String,
    back_label: String,
}

fn notice(r: &Reviewer, heading: &str, text: &str, is_error: bool) -> Response {
    let mut res = render(&NoticePage {
        chrome: chrome(r, "queue"),
        heading: heading.into(),
        text: text.into(),
        is_error,
        back: "/queue".into(),
        back_label: "Back to the queue".into(),
    });
    if is_error {
        *res.status_mut() = StatusCode::CONFLICT;
    }
    res
}

fn action_error(r: &Reviewer, e: ActionError) -> Response {
    match e {
        ActionError::NotFound => problem(
            StatusCode::NOT_FOUND,
            "There is no such item, or it is not yours to see.",
        ),
        ActionError::Store(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        e => notice(r, "Not done", &e.to_string(), true),
    }
}

pub async fn item_action(
    State(app): State<Arc<App>>,
    r: Reviewer,
    Path((reference, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let f = parse_form(&body);
    if let Err(e) = check_csrf(&r, &f) {
        return e;
    }
    if !valid_reference(&reference) {
        return problem(StatusCode::NOT_FOUND, "There is no such item.");
    }
    let note = field(&f, "note").map(|n| n.chars().take(4000).collect::<String>());
    let note = note.as_deref();
    let scope = r.scope();
    let actor = r.actor();
    match action.as_str() {
        "release" => {
            let chosen = fields(&f, "rcpt");
            if chosen.is_empty() {
                return notice(
                    &r,
                    "Not released",
                    "Choose at least one recipient to release to.",
                    true,
                );
            }
            match actions::release(
                &*app.store,
                &app.deliverer,
                app.notifier.as_deref(),
                &reference,
                &scope,
                &actor,
                &chosen,
                note,
            )
            .await
            {
                Ok(to) => notice(
                    &r,
                    "Released",
                    &format!("{reference} was released to {}.", to.join(", ")),
                    false,
                ),
                Err(e) => action_error(&r, e),
            }
        }
        "return" => match actions::return_to_sender(
            &*app.store,
            &app.deliverer,
            app.notifier.as_deref(),
            &reference,
            &scope,
            &actor,
            note,
        )
        .await
        {
            Ok(()) => notice(
                &r,
                "Returned",
                &format!("{reference} was returned to its sender."),
                false,
            ),
            Err(e) => action_error(&r, e),
        },
        "delete" => match actions::delete(&*app.store, &reference, &scope, &actor, note) {
            Ok(()) => notice(&r, "Deleted", &format!("{reference} was deleted."), false),
            Err(e) => action_error(&r, e),
        },
        "false-positive" => {
            match actions::false_positive(&*app.store, &reference, &scope, &actor, note) {
                Ok(()) => notice(
                    &r,
                    "Recorded",
                    &format!("{reference} is recorded as a false positive."),
                    false,
                ),
                Err(e) => action_error(&r, e),
            }
        }
        "original" => {
            match app.store.get(&reference, &scope) {
                Ok(Some(_)) => {}
                Ok(None) => return problem(StatusCode::NOT_FOUND, "There is no such item."),
                Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            }
            let raw = match app.store.message(&reference) {
                Ok(Some(m)) => m,
                Ok(None) => {
                    return notice(
                        &r,
                        "Not kept",
                        "The message itself is no longer kept.",
                        true,
                    );
                }
                Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            };
            if let Err(e) = app.store.audit(
                &actor,
                "downloaded",
                &reference,
                "original message downloaded",
            ) {
                return problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
            }
            (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{reference}.eml\""),
                    ),
                ],
                raw,
            )
                .into_response()
        }
        _ => problem(StatusCode::NOT_FOUND, "There is no such action."),
    }
}

// ---- audit log ----

#[derive(Template)]
#[template(path = "audit.html", config = "src/review/askama.toml")]
struct AuditPage {
    chrome: Chrome,
    entries: Vec<(String, AuditEntry)>,
    page: usize,
    more: bool,
}

fn audit_allowed(r: &Reviewer) -> Result<(), Response> {
    if r.can_audit() {
        Ok(())
    } else {
        Err(problem(
            StatusCode::FORBIDDEN,
            "The audit log is for the data protection lead and administrators.",
        ))
    }
}

pub async fn audit(
    State(app): State<Arc<App>>,
    r: Reviewer,
    UrlQuery(q): UrlQuery<HashMap<String, String>>,
) -> Response {
    if let Err(e) = audit_allowed(&r) {
        return e;
    }
    let page: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0usize)
        .min(1_000_000);
    let per = 100;
    let mut entries = match app.store.audit_log(per + 1, page * per) {
        Ok(e) => e,
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let more = entries.len() > per;
    entries.truncate(per);
    render(&AuditPage {
        chrome: chrome(&r, "audit"),
        entries: entries
            .into_iter()
            .map(|e| (local(&app, e.at), e))
            .collect(),
        page,
        more,
    })
}

pub async fn audit_csv(State(app): State<Arc<App>>, r: Reviewer) -> Response {
    if let Err(e) = audit_allowed(&r) {
        return e;
    }
    let entries = match app.store.audit_log(0, 0) {
        Ok(e) => e,
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let _ = app.store.audit(
        &r.actor(),
        "exported_audit_log",
        "-",
        &format!("{} entries", entries.len()),
    );
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(["time_utc", "actor", "action", "reference", "detail"]);
    for e in entries {
        // A leading = + - @ would make a spreadsheet evaluate the cell: quote it away.
        let safe = |s: &str| {
            if s.starts_with(['=', '+', '-', '@']) && s != "-" {
                format!("'{s}")
            } else {
                s.to_string()
            }
        };
        let _ = w.write_record([
            e.at.to_rfc3339(),
            safe(&e.actor),
            safe(&e.action),
            safe(&e.reference),
            safe(&e.detail),
        ]);
    }
    let body = w.into_inner().unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"hallpass-audit.csv\"",
            ),
        ],
        body,
    )
        .into_response()
}

// ---- "this is a false alarm", from the link in a guidance notice (no sign-in: the link
// carries a MAC of the reference) ----

#[derive(Template)]
#[template(path = "false_alarm.html", config = "src/review/askama.toml")]
struct FalseAlarmPage {
    chrome: Chrome,
    reference: String,
    token: String,
    done: bool,
}

fn false_alarm_checked(app: &App, reference: &str, token: &str) -> Result<(), Response> {
    let ok = valid_reference(reference)
        && app
            .notifier
            .as_ref()
            .is_some_and(|n| auth::same(token, &n.false_alarm_token(reference)));
    if ok {
        Ok(())
    } else {
        Err(problem(
            StatusCode::NOT_FOUND,
            "This link is not valid. Use the link in the notice you received, or write to the data protection lead.",
        ))
    }
}

pub async fn false_alarm_form(
    State(app): State<Arc<App>>,
    Path((reference, token)): Path<(String, String)>,
) -> Response {
    if let Err(e) = false_alarm_checked(&app, &reference, &token) {
        return e;
    }
    render(&FalseAlarmPage {
        chrome: no_chrome(),
        reference,
        token,
        done: false,
    })
}

pub async fn false_alarm(
    State(app): State<Arc<App>>,
    Path((reference, token)): Path<(String, String)>,
) -> Response {
    if let Err(e) = false_alarm_checked(&app, &reference, &token) {
        return e;
    }
    let already = app
        .store
        .audit_of(&reference)
        .map(|a| a.iter().any(|e| e.action == "false_alarm_reported"))
        .unwrap_or(false);
    if !already {
        // The school and sender: from the held item, or from the relay's decision event.
        let known = match app.store.get(&reference, &Default::default()) {
            Ok(Some(i)) => {
                Some((i.held.kinds(), i.held)).map(|(k, h)| (h.school, h.sender, k, h.safeguarding))
            }
            _ => app
                .store
                .events(Utc::now() - chrono::Duration::days(60), &Default::default())
                .ok()
                .and_then(|ev| {
                    ev.into_iter()
                        .find(|e| e.reference == reference)
                        .map(|e| (e.school, e.sender, e.kinds, e.safeguarding))
                }),
        };
        let Some((school, sender, kinds, safeguarding)) = known else {
            return problem(
                StatusCode::NOT_FOUND,
                "Hallpass has no record of this message.",
            );
        };
        let event = crate::quarantine::Event {
            at: Utc::now(),
            school,
            sender: sender.clone(),
            action: "false_alarm".into(),
            kinds,
            reference: reference.clone(),
            safeguarding,
        };
        if let Err(e) = app.store.record(&event).and_then(|_| {
            app.store.audit(
                &format!("sender {sender}"),
                "false_alarm_reported",
                &reference,
                "the sender says this was a false alarm",
            )
        }) {
            return problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
        }
    }
    render(&FalseAlarmPage {
        chrome: no_chrome(),
        reference,
        token,
        done: true,
    })
}
