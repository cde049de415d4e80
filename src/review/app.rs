//! What every review page shares: the application state ([`App`]), the signed-in reviewer
//! extractor ([`Reviewer`]: a session cookie looked up in the store, else a redirect to
//! sign in) and the plain error page ([`problem`]). The router and the pages sit above it.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::{auth, config};
use crate::deliver::Deliverer;
use crate::quarantine::{QuarantineStore, Role, Scope, User};
use crate::scan::Scanner;
use crate::settings::Site;

/// Everything the pages share.
pub struct App {
    pub store: Arc<dyn QuarantineStore>,
    pub deliverer: Deliverer,
    /// The trust and its schools (names, time zone).
    pub site: Arc<Site>,
    /// `[review]`.
    pub review: config::ReviewConfig,
    /// For highlighting findings in a held message's text.
    pub scanner: Option<Arc<Scanner>>,
    /// Release and return notices to the sender (and "false alarm" links).
    pub notifier: Option<Arc<crate::notify::Notifier>>,
    pub throttle: auth::Throttle,
}

impl App {
    pub fn tz(&self) -> chrono_tz::Tz {
        self.site
            .trust
            .timezone
            .parse()
            .unwrap_or(chrono_tz::Europe::London)
    }
}

/// A signed-in reviewer (the extractor every protected route takes).
pub struct Reviewer {
    pub user: User,
    pub csrf: String,
    pub token_hash: String,
}

impl Reviewer {
    pub fn scope(&self) -> Scope {
        self.user.scope()
    }
    /// Who did it, as the audit log and the released header say it.
    pub fn actor(&self) -> String {
        format!("{} ({})", self.user.name, self.user.role.as_str())
    }
    pub fn can_audit(&self) -> bool {
        matches!(self.user.role, Role::Admin | Role::Dpl)
    }
}

impl FromRequestParts<Arc<App>> for Reviewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        let token = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| auth::cookie(c, auth::SESSION_COOKIE).map(str::to_string));
        let Some(token) = token else {
            return Err(Redirect::to("/signin").into_response());
        };
        let hash = auth::token_hash(&token);
        match app.store.session(&hash, chrono::Utc::now().timestamp()) {
            Ok(Some((user, csrf))) => Ok(Reviewer {
                user,
                csrf,
                token_hash: hash,
            }),
            Ok(None) => Err(Redirect::to("/signin").into_response()),
            Err(e) => Err(problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())),
        }
    }
}

/// A plain error page (no template: it must work when everything else is broken).
pub fn problem(status: StatusCode, text: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en-GB\"><head><meta charset=\"utf-8\"><title>{}</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main><section class=\"card narrow\"><h1>{}</h1><p class=\"error\" role=\"alert\">{}</p><p><a href=\"/\">Back to the dashboard</a></p></section></main></body></html>",
        status,
        status,
        askama::filters::escape(text, askama::filters::Html)
            .map(|e| e.to_string())
            .unwrap_or_default()
    );
    (status, axum::response::Html(body)).into_response()
}
