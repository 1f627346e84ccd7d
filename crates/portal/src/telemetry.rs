//! The portal's own metrics, registered beside the shared ones (`django_auth_web::telemetry`): logins by
//! outcome and undelivered mails.

use actix_web::{HttpResponse, web};
use django_auth_web::telemetry::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::startup::State;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

/// Handles on the portal's metrics (the registry lives in the shared `Metrics`).
#[derive(Clone, Default)]
pub struct PortalMetrics {
    /// Login attempts by outcome: `success`, `invalid`, `throttled`.
    pub logins: Family<OutcomeLabels, Counter>,
    /// Mails that could not be delivered since start-up (read from the mailer at each scrape).
    mail_failures: Gauge,
}

impl PortalMetrics {
    /// Registers the portal's metrics in `metrics`.
    pub fn register(metrics: &mut Metrics) -> PortalMetrics {
        let ours = PortalMetrics::default();
        let registry = metrics.registry_mut();
        registry.register("logins", "Login attempts by outcome", ours.logins.clone());
        registry.register(
            "mail_failures",
            "Mails that could not be delivered since start-up",
            ours.mail_failures.clone(),
        );
        ours
    }

    pub fn login(&self, outcome: &str) {
        self.logins
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }
}

/// `GET /metrics`.
pub async fn metrics(state: web::Data<State>, metrics: web::Data<Metrics>) -> HttpResponse {
    state
        .metrics
        .mail_failures
        .set(i64::try_from(state.mailer.failures()).unwrap_or(i64::MAX));
    metrics.response()
}
