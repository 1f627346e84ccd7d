//! Django's middleware on actix-web, shared by both services so neither re-implements a rule:
//! `SessionMiddleware` with `get_host()`'s `ALLOWED_HOSTS` check ([`session`]), `CsrfViewMiddleware`'s
//! cookie half and token check ([`csrf`]), and a request id, one log line and Prometheus metrics per
//! request ([`telemetry`]), and the probes `/healthz` and `/readyz` ([`health`]). The rules themselves are the `auth` crate's; this crate moves them in and out of
//! HTTP. Each service says how its errors look (HTML pages, JSON) through [`Responses`].

pub mod csrf;
pub mod health;
pub mod log_writer;
pub mod session;
pub mod telemetry;

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{HttpResponse, web};
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
    pub responses: Arc<dyn Responses>,
}

impl Services {
    /// The connections and the stores of `settings`. The user table is read from PostgreSQL's catalog
    /// here, once (see `auth::user_model`): a missing table, or one that is not a Django user model, is an
    /// error naming the setting to fix, so the service stops at start rather than failing requests.
    pub async fn build(
        settings: Settings,
        responses: Arc<dyn Responses>,
    ) -> Result<Services, StoreError> {
        if settings.secret_key_generated {
            tracing::warn!(
                "SECRET_KEY is not set: DEBUG made up a random key for this process. Sessions and \
                 links die with it, and no other service can read them. Never run like this in \
                 production."
            );
        }
        let connections = settings.connect()?;
        let sessions = settings.session_store(&connections)?;
        let users = settings
            .user_store(&connections)
            .await
            .map_err(|e| StoreError::Config(e.to_string()))?;
        if !users.model().can_create_users() {
            tracing::warn!(
                table = users.model().table(),
                columns = users.model().unfillable_columns().join(", "),
                "the user table has required columns without a database default: users can only be \
                 created by the Django project (registration and createsuperuser are off here)"
            );
        }
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

    /// A copy with connections of its own, for one of `workers` server workers. Each actix-web worker is
    /// a single-threaded runtime, and a Redis or PostgreSQL connection's task runs on the runtime that
    /// made it (connections are made lazily, by the first request that needs one); connections shared
    /// by the workers would cost two cross-thread wake-ups on every query. `DATABASE_POOL_SIZE` is the
    /// process's: each worker's pool holds its share, rounded up.
    pub fn for_worker(&self, workers: usize) -> Result<Services, StoreError> {
        let mut settings = self.settings.clone();
        if let Some(database) = settings.database.as_mut() {
            database.pool_size = database.pool_size.div_ceil(workers.max(1));
        }
        let connections = settings.connect()?;
        Ok(Services {
            sessions: settings.session_store(&connections)?,
            users: match &connections.database {
                Some(db) => self.users.with_database(db.clone()),
                None => self.users.clone(),
            },
            hasher: self.hasher.clone(),
            responses: self.responses.clone(),
            settings,
            connections,
        })
    }

    /// Logs the outage (never a secret: `StoreError` holds none) and answers the service's 503.
    pub fn unavailable(&self, error: &StoreError) -> HttpResponse {
        tracing::warn!(%error, "store unavailable");
        self.responses.unavailable()
    }
}

/// The `Services` a middleware runs with (a 500 if the app forgot to register them: a wiring bug, never
/// something a request can cause).
pub fn services(req: &ServiceRequest) -> Result<web::Data<Services>, actix_web::Error> {
    req.app_data::<web::Data<Services>>()
        .cloned()
        .ok_or_else(|| actix_web::error::ErrorInternalServerError("no services"))
}

/// `django.utils.cache.patch_vary_headers(response, new)`: one `Vary` header holding what it held (every
/// `Vary` line the response has, split at commas, blanks dropped, as Django 6.1's `split_header_value`)
/// and each of `new` it lacked (compared case-insensitively), joined by `", "`; `*` if any entry is `*`.
/// So the session and CSRF middleware, which both vary on `Cookie`, send `Vary: Cookie` once, as Django
/// does, and after the api's CORS entries (`Vary: Origin, …, Cookie`).
pub fn patch_vary_headers(headers: &mut HeaderMap, new: &[&str]) {
    let mut vary: Vec<String> = headers
        .get_all(header::VARY)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::to_string)
        .collect();
    for entry in new {
        if !vary.iter().any(|v| v.eq_ignore_ascii_case(entry)) {
            vary.push(entry.to_string());
        }
    }
    let value = if vary.iter().any(|v| v == "*") {
        "*".to_string()
    } else {
        vary.join(", ")
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(header::VARY, value);
    }
}

/// A service binary's `main`: logs set up, a multi-threaded Tokio runtime, `command` run on it, and its
/// error printed with its causes and turned into a failing exit status.
pub fn run(command: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    telemetry::init();
    // A panic's message comes after the lines logged before it.
    let report_panic = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        log_writer::flush();
        report_panic(info);
    }));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            log_writer::flush();
            eprintln!("Error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(command);
    log_writer::flush();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vary(lines: &[&str], new: &[&str]) -> Vec<String> {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(header::VARY, HeaderValue::from_str(line).unwrap());
        }
        patch_vary_headers(&mut headers, new);
        headers
            .get_all(header::VARY)
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    /// Django's own cases (tests/cache/tests.py, `test_patch_vary_headers`), and what the session and CSRF
    /// middleware send between them.
    #[test]
    fn patch_vary_headers_is_djangos() {
        for (initial, new, expected) in [
            (None, &["Accept-Encoding"][..], "Accept-Encoding"),
            (
                Some("Accept-Encoding"),
                &["accept-encoding"],
                "Accept-Encoding",
            ),
            (
                Some("Accept-Encoding"),
                &["ACCEPT-ENCODING"],
                "Accept-Encoding",
            ),
            (
                Some("Cookie"),
                &["Accept-Encoding"],
                "Cookie, Accept-Encoding",
            ),
            (
                Some("Cookie, Accept-Encoding"),
                &["Accept-Encoding"],
                "Cookie, Accept-Encoding",
            ),
            (
                Some("Cookie, Accept-Encoding"),
                &["Accept-Encoding", "cookie"],
                "Cookie, Accept-Encoding",
            ),
            (
                None,
                &["Accept-Encoding", "COOKIE"],
                "Accept-Encoding, COOKIE",
            ),
            (
                Some("Cookie,     Accept-Encoding"),
                &["Accept-Encoding", "cookie"],
                "Cookie, Accept-Encoding",
            ),
            (
                Some("Cookie    ,     Accept-Encoding"),
                &["Accept-Encoding", "cookie"],
                "Cookie, Accept-Encoding",
            ),
            (Some("*"), &["Accept-Language", "Cookie"], "*"),
            (Some("Accept-Language, Cookie"), &["*"], "*"),
            (
                Some("Accept-Language, Cookie"),
                &["*", "Accept-Encoding"],
                "*",
            ),
        ] {
            let lines: Vec<&str> = initial.into_iter().collect();
            assert_eq!(vary(&lines, new), [expected], "{initial:?} + {new:?}");
        }
        // The CSRF and the session middleware both vary on Cookie: one header, one entry; after the api's
        // CORS entries.
        assert_eq!(vary(&[], &["Cookie"]), ["Cookie"]);
        assert_eq!(vary(&["Cookie"], &["Cookie"]), ["Cookie"]);
        assert_eq!(
            vary(&["Origin, Access-Control-Request-Method"], &["Cookie"]),
            ["Origin, Access-Control-Request-Method, Cookie"]
        );
        assert_eq!(
            vary(&["Origin", "Accept"], &["Cookie"]),
            ["Origin, Accept, Cookie"]
        );
    }
}
