//! Structured logs on stderr (tracing), filtered by `RUST_LOG` (default `info`), one span per request with
//! a request id, and the Prometheus metrics every service has (requests, latency, store outages); a
//! service registers its own beside them.
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
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

/// Logs on, to stderr through [`crate::log_writer`]: info lines are written out in batches (at most 50 ms
/// late), warnings and errors at once.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::log_writer::stderr())
        // Colours only for a person at a terminal; log collectors get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The header a request id comes in (from a proxy) and goes out in.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The labels of `http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The matched route's pattern (`/api/v1/sessions/{id}`), never the raw path.
    pub route: String,
    /// The request method.
    pub method: String,
    /// The response status.
    pub status: u16,
}

/// The labels of the latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The matched route's pattern.
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    store: &'static str,
}

/// The shared crate's process-wide counters (`django_auth_core::metrics`), read at each scrape: sessions that could
/// not be used, by reason, and failed store calls, by store.
#[derive(Debug)]
struct StoreCounters;

impl prometheus_client::collector::Collector for StoreCounters {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::MetricType;
        use prometheus_client::metrics::counter::ConstCounter;

        {
            let mut family = encoder.encode_descriptor(
                "session_decode_failures",
                "Session cookies or stored sessions that could not be used (so the request was \
             anonymous), by reason",
                None,
                MetricType::Counter,
            )?;
            for (reason, count) in django_auth_core::metrics::decode_failures() {
                ConstCounter::new(count).encode(family.encode_family(&ReasonLabels { reason })?)?;
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "store_errors",
                "Calls to Redis or PostgreSQL that failed or timed out, by store",
                None,
                MetricType::Counter,
            )?;
            for (store, count) in django_auth_core::metrics::store_errors() {
                ConstCounter::new(count).encode(family.encode_family(&StoreLabels { store })?)?;
            }
        }
        let counter = encoder.encode_descriptor(
            "redis_wait_timeouts",
            "Session deletions (logouts, key changes) that no Redis replica acknowledged within \
             REDIS_WAIT_TIMEOUT: done on the primary only",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(django_auth_core::metrics::redis_wait_timeouts()).encode(counter)?;
        Ok(())
    }
}

/// A service's metrics registry, with what every service counts. Register it as app data
/// (`web::Data<Metrics>`) for [`observe`].
pub struct Metrics {
    registry: Registry,
    /// Requests by route, method and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Request durations by route, in seconds.
    pub latency: Family<RouteLabels, Histogram>,
    /// Responses that were a 503 because Redis or PostgreSQL did not answer.
    pub store_unavailable: Counter,
}

impl Metrics {
    /// Metric names start with `prefix_` (`portal_http_requests_total`).
    pub fn new(prefix: &str) -> Metrics {
        let mut registry = Registry::with_prefix(prefix);
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
        let store_unavailable = Counter::default();
        registry.register(
            "store_unavailable",
            "Responses that were a 503 because Redis or PostgreSQL did not answer",
            store_unavailable.clone(),
        );
        registry.register_collector(Box::new(StoreCounters));
        Metrics {
            registry,
            requests,
            latency,
            store_unavailable,
        }
    }

    /// To register a service's own metrics, at start-up.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// `GET /metrics`: the OpenMetrics text format.
    pub fn response(&self) -> HttpResponse {
        let mut body = String::new();
        match prometheus_client::encoding::text::encode(&mut body, &self.registry) {
            Ok(()) => HttpResponse::Ok()
                .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
                .body(body),
            Err(e) => {
                tracing::error!(error = %e, "metrics encoding failed");
                HttpResponse::InternalServerError().finish()
            }
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
    new_request_id()
}

/// A new request id, 16 hex digits, without a system call: a counter from a random start (one
/// `getrandom` per process), through splitmix64's finaliser, which is a bijection, so ids never repeat
/// within a process and look as random as random ids across processes. An id names a request in the
/// logs; it is not a secret.
fn new_request_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: OnceLock<AtomicU64> = OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let mut seed = [0u8; 8];
        // Without the system's randomness, the clock still tells processes apart.
        if getrandom::fill(&mut seed).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            seed = (nanos ^ u64::from(std::process::id())).to_le_bytes();
        }
        AtomicU64::new(u64::from_le_bytes(seed))
    });
    let mut z = next
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    format!("{:016x}", z ^ (z >> 31))
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
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let span =
        tracing::info_span!("request", request_id = %id, %method, route = tracing::field::Empty);
    let mut response = next
        .call(req)
        .instrument(span.clone())
        .await?
        .map_into_boxed_body();
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
    if let Some(metrics) = metrics {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_new_each_time_and_a_proxys_is_kept() {
        let ids: std::collections::HashSet<String> =
            (0..10_000).map(|_| request_id(None)).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| {
            id.len() == 16
                && id
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        }));
        let incoming = HeaderValue::from_static("proxy-id.42");
        assert_eq!(request_id(Some(&incoming)), "proxy-id.42");
        let odd = HeaderValue::from_static("not an id; <script>");
        assert_eq!(request_id(Some(&odd)).len(), 16);
    }
}
