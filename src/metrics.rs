//! Metrics and health for monitoring: one process-wide registry (prometheus-client) that the
//! relay records into, served with `/healthz` and `/readyz` on `[metrics] listen`. Metric
//! names follow Prometheus conventions (`hallpass_` prefix, `_total` counters, seconds).
//! Labels are bounded sets (actions, finding kinds, notice kinds): never an address or a
//! name.
//!
//! A sink: modules report into [`get`]; what the endpoints must ask (the held gauge,
//! readiness) comes through the [`Probe`] trait. This module imports no other part of
//! Hallpass.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::Deserialize;

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// "127.0.0.1:9325"; "" turns the listener off.
    #[serde(default = "default_listen")]
    pub listen: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: default_listen(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:9325".into()
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    pub action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

pub struct Metrics {
    registry: Registry,
    /// Messages by their overall action (allow, tag, notify, quarantine, reject, tempfail).
    pub messages: Family<ActionLabel, Counter>,
    /// Messages with at least one finding of a kind.
    pub findings: Family<KindLabel, Counter>,
    pub scan_seconds: Histogram,
    pub next_hop_errors: Counter,
    pub connections_open: Gauge,
    pub connections: Counter,
    /// Connections turned away with 421 (every slot of the pool, or of the client, in use).
    pub connections_refused: Counter,
    pub tls_sessions: Counter,
    pub notices: Family<KindLabel, Counter>,
    pub reloads: Family<ActionLabel, Counter>,
    pub quarantine_held: Gauge,
}

/// The process's metrics.
pub fn get() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| {
        let mut registry = Registry::default();
        let m = Metrics {
            messages: Family::default(),
            findings: Family::default(),
            scan_seconds: Histogram::new(
                [
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                ]
                .into_iter(),
            ),
            next_hop_errors: Counter::default(),
            connections_open: Gauge::default(),
            connections: Counter::default(),
            connections_refused: Counter::default(),
            tls_sessions: Counter::default(),
            notices: Family::default(),
            reloads: Family::default(),
            quarantine_held: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "hallpass_messages",
            "Messages by overall action",
            m.messages.clone(),
        );
        registry.register(
            "hallpass_findings",
            "Messages with a finding of this kind",
            m.findings.clone(),
        );
        registry.register(
            "hallpass_scan_seconds",
            "Time to scan one message",
            m.scan_seconds.clone(),
        );
        registry.register(
            "hallpass_next_hop_errors",
            "Copies the next hop did not accept",
            m.next_hop_errors.clone(),
        );
        registry.register(
            "hallpass_connections_open",
            "SMTP/LMTP connections open now",
            m.connections_open.clone(),
        );
        registry.register(
            "hallpass_connections",
            "SMTP/LMTP connections accepted",
            m.connections.clone(),
        );
        registry.register(
            "hallpass_connections_refused",
            "SMTP/LMTP connections refused with 421: too many in all or from one client",
            m.connections_refused.clone(),
        );
        registry.register(
            "hallpass_tls_sessions",
            "SMTP/LMTP connections that started TLS",
            m.tls_sessions.clone(),
        );
        registry.register(
            "hallpass_notices",
            "Notices sent, by kind",
            m.notices.clone(),
        );
        registry.register(
            "hallpass_reloads",
            "Reloads (SIGHUP) by result",
            m.reloads.clone(),
        );
        registry.register(
            "hallpass_quarantine_held",
            "Items waiting for review",
            m.quarantine_held.clone(),
        );
        Metrics { registry, ..m }
    })
}

impl Metrics {
    pub fn message(&self, action: &str, kinds: &[&str], scan: std::time::Duration) {
        self.messages
            .get_or_create(&ActionLabel {
                action: action.to_string(),
            })
            .inc();
        let mut seen: Vec<&str> = kinds.to_vec();
        seen.sort_unstable();
        seen.dedup();
        for k in seen {
            self.findings
                .get_or_create(&KindLabel {
                    kind: k.to_string(),
                })
                .inc();
        }
        self.scan_seconds.observe(scan.as_secs_f64());
    }

    pub fn notice(&self, kind: &str) {
        self.notices
            .get_or_create(&KindLabel {
                kind: kind.to_string(),
            })
            .inc();
    }

    pub fn reload(&self, ok: bool) {
        self.reloads
            .get_or_create(&ActionLabel {
                action: if ok { "ok" } else { "failed" }.into(),
            })
            .inc();
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// What the metrics endpoints ask of the rest of Hallpass, without importing it: the
/// quarantine implements it (`quarantine::StoreProbe`), `serve` wires it in.
pub trait Probe: Send + Sync {
    /// How many items wait for review (the `hallpass_quarantine_held` gauge).
    fn held(&self) -> Result<u64, String>;
    /// Whether the store answers (for `/readyz`).
    fn ready(&self) -> Result<(), String>;
}

/// What the health endpoints look at.
pub struct Health {
    pub probe: Arc<dyn Probe>,
}

async fn metrics(State(h): State<Arc<Health>>) -> Response {
    let probe = h.probe.clone();
    if let Ok(Ok(held)) = tokio::task::spawn_blocking(move || probe.held()).await {
        get().quarantine_held.set(held as i64);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        get().encode(),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the quarantine store answers (the listeners are bound before this serves).
async fn readyz(State(h): State<Arc<Health>>) -> Response {
    let probe = h.probe.clone();
    match tokio::task::spawn_blocking(move || probe.ready()).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n").into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "quarantine store not reachable\n",
        )
            .into_response(),
    }
}

pub fn router(health: Arc<Health>) -> Router {
    Router::new()
        .route("/metrics", routing::get(metrics))
        .route("/healthz", routing::get(healthz))
        .route("/readyz", routing::get(readyz))
        .with_state(health)
}
