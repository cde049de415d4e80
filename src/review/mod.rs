//! The data lead's review page: an axum server on its own listener (`[review] listen`,
//! started by `hallpass serve` beside the relay) over the same quarantine store. This
//! module owns the application state, the router, the signed-in-reviewer extractor (every
//! route but sign-in, the stylesheet and the signed "false alarm" link needs a session), CSRF checks on forms, and the
//! security headers (a CSP that allows no script at all, so a held message's HTML or JS
//! can never run). The pages themselves are in `pages`, their templates in `templates/`
//! (compile-checked by askama), the charts in `charts`, the actions in `actions`.

pub mod actions;
mod app;
pub mod auth;
pub mod charts;
pub mod config;
mod pages;

pub use app::{App, Reviewer, problem};

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::quarantine::QuarantineStore;

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

/// Expires held items past retention, once an hour, for as long as the server runs; and
/// reports which key this relay (`node`) seals with, for key rotations.
pub async fn retention_loop(
    store: Arc<dyn QuarantineStore>,
    node: String,
    days: u32,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let (s, n) = (store.clone(), node.clone());
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || s.key_in_use(&n)).await {
            tracing::error!(error = %e, "quarantine key");
        }
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
