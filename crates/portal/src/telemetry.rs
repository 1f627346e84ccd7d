//! Structured logs on stderr (tracing), filtered by `RUST_LOG` (default `info`), one span per request with
//! a request id, and the Prometheus metrics served at `/metrics`.
//!
//! Nothing logged carries a cookie, a session key, a hash or a password: the shared crate's `Debug` hides
//! them, and requests are logged by their route pattern (`/accounts/reset/{uidb64}/{token}/`), never by
//! their path, which for a reset link holds a token.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::startup::State;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal; log collectors get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The header a request id comes in (from a proxy) and goes out in.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

/// The portal's metrics.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    /// Login attempts by outcome: `success`, `invalid`, `throttled`.
    pub logins: Family<OutcomeLabels, Counter>,
    /// Responses that were a 503 because Redis or PostgreSQL did not answer.
    pub store_unavailable: Counter,
    /// Reset mails that could not be delivered (read from the mailer at each scrape).
    mail_failures: Gauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("portal");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route pattern, method and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 0.25 ms to about 4 s.
            Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route pattern",
            latency.clone(),
        );
        let logins = Family::<OutcomeLabels, Counter>::default();
        registry.register("logins", "Login attempts by outcome", logins.clone());
        let store_unavailable = Counter::default();
        registry.register(
            "store_unavailable",
            "Responses that were a 503 because Redis or PostgreSQL did not answer",
            store_unavailable.clone(),
        );
        let mail_failures = Gauge::default();
        registry.register(
            "mail_failures",
            "Mails that could not be delivered since start-up",
            mail_failures.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            logins,
            store_unavailable,
            mail_failures,
        }
    }
}

impl Metrics {
    pub fn login(&self, outcome: &str) {
        self.logins
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }
}

/// `GET /metrics`: the OpenMetrics text format.
pub async fn metrics(state: web::Data<State>) -> HttpResponse {
    state
        .metrics
        .mail_failures
        .set(i64::try_from(state.mailer.failures()).unwrap_or(i64::MAX));
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &state.metrics.registry) {
        Ok(()) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "metrics encoding failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// A proxy's request id is kept when it looks like one (up to 64 of `[A-Za-z0-9._-]`, so nothing odd
/// reaches a log line); otherwise a new random one.
fn request_id(incoming: Option<&HeaderValue>) -> String {
    if let Some(id) = incoming.and_then(|v| v.to_str().ok()).filter(|id| {
        !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    }) {
        return id.to_string();
    }
    let mut bytes = [0u8; 8];
    match getrandom::fill(&mut bytes) {
        Ok(()) => auth::crypto::to_hex(&bytes),
        Err(_) => "unknown".to_string(),
    }
}

/// The outermost middleware: a span with the request id around everything, the id echoed in
/// `X-Request-Id`, one log line and the metrics per request.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(req.headers().get(&REQUEST_ID));
    let method = req.method().to_string();
    let state = req.app_data::<web::Data<State>>().cloned();
    let span =
        tracing::info_span!("request", request_id = %id, %method, route = tracing::field::Empty);
    let result = next.call(req).instrument(span.clone()).await;
    let mut response = match result {
        Ok(response) => response.map_into_boxed_body(),
        Err(e) => return Err(e),
    };
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.record("route", tracing::field::display(&route));
    span.in_scope(|| {
        tracing::info!(
            status,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    });
    if let Some(state) = state {
        let metrics = &state.metrics;
        metrics
            .requests
            .get_or_create(&RequestLabels {
                route: route.clone(),
                method,
                status,
            })
            .inc();
        metrics
            .latency
            .get_or_create(&RouteLabels { route })
            .observe(elapsed.as_secs_f64());
        if status == 503 {
            metrics.store_unavailable.inc();
        }
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}
