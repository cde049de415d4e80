//! The data lead's review page: an axum server on its own listener (`[review] listen`,
//! started by `hallpass serve` beside the relay) over the same quarantine store. This
//! module owns the application state, the router, the signed-in-reviewer extractor (every
//! route but sign-in, the stylesheet and the signed "false alarm" link needs a session), CSRF checks on forms, and the
//! security headers (a CSP that allows no script at all, so a held message's HTML or JS
//! can never run). The pages themselves are in `pages`, their templates in `templates/`
//! (compile-checked by askama), the charts in `charts`, the actions in `actions`.

pub mod actions;
pub mod auth;
pub mod charts;
pub mod config;
mod pages;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

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

async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("static/app.css"),
    )
        .into_response()
}

async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        include_str!("static/favicon.svg"),
    )
        .into_response()
}

async fn not_found(State(_): State<Arc<App>>) -> Response {
    problem(StatusCode::NOT_FOUND, "There is no such page.")
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(pages::dashboard))
        .route("/signin", get(pages::signin_form).post(pages::signin))
        .route("/signout", post(pages::signout))
        .route("/queue", get(pages::queue))
        .route("/bulk", post(pages::bulk))
        .route("/item/{reference}", get(pages::item))
        .route("/item/{reference}/{action}", post(pages::item_action))
        .route(
            "/false-alarm/{reference}/{token}",
            get(pages::false_alarm_form).post(pages::false_alarm),
        )
        .route("/audit", get(pages::audit))
        .route("/audit.csv", get(pages::audit_csv))
        .route("/static/app.css", get(stylesheet))
        .route("/favicon.ico", get(favicon))
        .fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(app)
}

/// Serves the review page until `shutdown` turns true.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = shutdown.wait_for(|s| *s).await;
    })
    .await
}

/// Expires held items past retention, once an hour, for as long as the server runs.
pub async fn retention_loop(
    store: Arc<dyn QuarantineStore>,
    days: u32,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.purge(chrono::Utc::now(), days)).await {
            Ok(Ok(n)) if n > 0 => tracing::info!(expired = n, "retention: held items expired"),
            Ok(Err(e)) => tracing::warn!(error = %e, "retention purge failed"),
            _ => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}
