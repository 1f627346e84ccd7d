#![deny(missing_docs)]
#![forbid(unsafe_code)]
//! Django's logged-in user in your own Rust web service, on the sessions a Django site writes: Django's
//! `SessionMiddleware`, `get_user` (`request.user`), `CsrfViewMiddleware` and `ALLOWED_HOSTS`, and Django
//! REST framework's `SessionAuthentication`, for actix-web (feature `actix`, on by default) and for axum
//! or any tower service (feature `axum`).
//!
//! The rules are written once: Django's formats and stores are `django-auth-core`'s, and the request path
//! that applies them (request parts in; the user, the session and the response's `Set-Cookie` and `Vary`
//! out) is [`request`], which neither framework's adapter re-implements.
//!
//! # Quick start (axum)
//!
//! ```no_run
//! # #[cfg(feature = "axum")]
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Json, Router, routing::get};
//! use django_auth_web::axum::{DjangoLayer, LoginRequired};
//! use django_auth_web::request::DjangoAuth;
//!
//! // SECRET_KEY, SESSION_ENGINE, REDIS_URL, DATABASE_URL, … as the Django site has them.
//! let django = DjangoAuth::from_env().await?;
//! let app: Router = Router::new()
//!     .route("/whoami", get(|LoginRequired(user): LoginRequired| async move {
//!         Json(serde_json::json!({ "username": user.username }))
//!     }))
//!     .layer(DjangoLayer::new(django));
//! # Ok(())
//! # }
//! ```
//!
//! The actix-web adapter (`App::new().wrap(from_fn(session::stack))`, [`actix::LoginRequired`],
//! [`actix::MaybeUser`], with [`Services`] registered as `web::Data`) is the one the portal and the api of
//! this workspace run on; `examples/` has a complete service for each framework.

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "actix")]
pub mod csrf;
pub mod forward_auth;
#[cfg(feature = "actix")]
pub mod health;
#[cfg(feature = "actix")]
pub mod log_writer;
pub mod request;
#[cfg(feature = "actix")]
pub mod session;
#[cfg(feature = "actix")]
pub mod telemetry;

#[cfg(feature = "actix")]
pub use actix_services::*;
/// The formats, stores and users this crate's request path runs on, so one dependency is enough.
pub use django_auth_core;

#[cfg(feature = "actix")]
mod actix_services {
    use std::future::Future;
    use std::process::ExitCode;
    use std::sync::Arc;

    use actix_web::dev::ServiceRequest;
    use actix_web::http::header::{self, HeaderMap, HeaderValue};
    use actix_web::{HttpResponse, web};
    use django_auth_core::connections::StoreError;
    use django_auth_core::settings::Settings;

    use crate::request::DjangoAuth;
    use crate::{log_writer, telemetry};

    /// How a service answers what the middleware refuses: a store outage (503) and a bad request (400).
    pub trait Responses: Send + Sync + 'static {
        /// The 503 for a store outage.
        fn unavailable(&self) -> HttpResponse;
        /// The 400 for a request refused before its handler (`message` is safe to show).
        fn bad_request(&self, message: String) -> HttpResponse;
    }

    /// Django REST framework's error bodies for the middleware's refusals: 503 `{"detail": …}` with
    /// `Retry-After`, and 400 `{"detail": …}`.
    pub struct JsonResponses;

    impl Responses for JsonResponses {
        fn unavailable(&self) -> HttpResponse {
            let mut response = HttpResponse::ServiceUnavailable().json(serde_json::json!({
                "detail": "The session or user store is unavailable. Please retry shortly."
            }));
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            response
        }

        fn bad_request(&self, message: String) -> HttpResponse {
            HttpResponse::BadRequest().json(serde_json::json!({ "detail": message }))
        }
    }

    /// The stores and settings every request needs ([`DjangoAuth`], which it dereferences to), with the
    /// service's own error pages; built once at start-up and registered as app data
    /// (`web::Data<Services>`), which the middleware reads.
    pub struct Services {
        /// The settings and stores.
        pub auth: DjangoAuth,
        /// How this service's refusals look.
        pub responses: Arc<dyn Responses>,
    }

    impl std::ops::Deref for Services {
        type Target = DjangoAuth;

        fn deref(&self) -> &DjangoAuth {
            &self.auth
        }
    }

    impl Services {
        /// [`DjangoAuth::build`], with the service's error pages.
        pub async fn build(
            settings: Settings,
            responses: Arc<dyn Responses>,
        ) -> Result<Services, StoreError> {
            Ok(Services {
                auth: DjangoAuth::build(settings).await?,
                responses,
            })
        }

        /// [`DjangoAuth::from_env`], with the service's error pages.
        pub async fn from_env(responses: Arc<dyn Responses>) -> Result<Services, StoreError> {
            let settings = Settings::from_env().map_err(|e| StoreError::Config(e.to_string()))?;
            Services::build(settings, responses).await
        }

        /// [`DjangoAuth::for_worker`]: a copy with connections of its own, for one of `workers` workers.
        pub fn for_worker(&self, workers: usize) -> Result<Services, StoreError> {
            Ok(Services {
                auth: self.auth.for_worker(workers)?,
                responses: self.responses.clone(),
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
        let value = crate::request::patch_vary(
            headers
                .get_all(header::VARY)
                .filter_map(|value| value.to_str().ok()),
            new,
        );
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
}

#[cfg(all(test, feature = "actix"))]
mod tests {
    use super::*;
    use actix_web::http::header::{self, HeaderMap, HeaderValue};

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
