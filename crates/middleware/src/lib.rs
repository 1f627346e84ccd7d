//! Django's middleware on actix-web, shared by both services so neither re-implements a rule:
//! `SessionMiddleware` with `get_host()`'s `ALLOWED_HOSTS` check ([`session`]), `CsrfViewMiddleware`'s
//! cookie half and token check ([`csrf`]), and a request id, one log line and Prometheus metrics per
//! request ([`telemetry`]), and the probes `/healthz` and `/readyz` ([`health`]). The rules themselves are the `auth` crate's; this crate moves them in and out of
//! HTTP. Each service says how its errors look (HTML pages, JSON) through [`Responses`].

pub mod csrf;
pub mod health;
pub mod session;
pub mod telemetry;

use actix_web::HttpResponse;
use auth::auth::SessionAuthHasher;
use auth::connections::StoreError;
use auth::settings::{Connections, Settings};
use auth::store::SessionStore;
use auth::users::UserStore;

/// How a service answers what the middleware refuses: a store outage (503) and a bad request (400).
pub trait Responses: Send + Sync + 'static {
    fn unavailable(&self) -> HttpResponse;
    fn bad_request(&self, message: String) -> HttpResponse;
}

/// The stores and settings every request needs, built once at start-up and registered as app data
/// (`web::Data<Services>`), which the middleware reads.
pub struct Services {
    pub settings: Settings,
    pub connections: Connections,
    pub sessions: SessionStore,
    pub users: UserStore,
    /// `_auth_user_hash` checks, with the HMAC key of each secret derived once.
    pub hasher: SessionAuthHasher,
    pub responses: Box<dyn Responses>,
}

impl Services {
    /// The connections (lazy: nothing is contacted yet) and the stores of `settings`.
    pub fn build(
        settings: Settings,
        responses: Box<dyn Responses>,
    ) -> Result<Services, StoreError> {
        let connections = settings.connect()?;
        let sessions = settings.session_store(&connections)?;
        let users = settings.user_store(&connections)?;
        let hasher = SessionAuthHasher::new(&settings.keys);
        Ok(Services {
            settings,
            connections,
            sessions,
            users,
            hasher,
            responses,
        })
    }

    /// Logs the outage (never a secret: `StoreError` holds none) and answers the service's 503.
    pub fn unavailable(&self, error: &StoreError) -> HttpResponse {
        tracing::warn!(%error, "store unavailable");
        self.responses.unavailable()
    }
}
