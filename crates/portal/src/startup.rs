//! Builds the server from typed settings: `Application::build(config, "127.0.0.1:0")` in the tests, the
//! configured address in production. The stores are made here, once, and shared with every worker.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web};
use django_auth_core::throttle::LoginThrottle;
use django_auth_core::tokens::PasswordResetTokenGenerator;
use django_auth_web::Services;
use django_auth_web::telemetry::Metrics;

use crate::config::{Config, PortalSettings};
use crate::mail::Mailer;
use crate::pages::{HtmlResponses, PageError};
use crate::routes::{self, login, password_change, password_reset, register, sessions};
use crate::session;
use crate::telemetry::PortalMetrics;

/// What every request handler can reach: the shared services (settings, stores; `state.sessions` reads
/// through to them) and the portal's own.
pub struct State {
    pub services: web::Data<Services>,
    pub portal: PortalSettings,
    pub throttle: LoginThrottle,
    pub tokens: PasswordResetTokenGenerator,
    pub mailer: Mailer,
    pub metrics: PortalMetrics,
}

impl std::ops::Deref for State {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

pub struct Application {
    address: std::net::SocketAddr,
    server: Server,
}

/// The largest form body accepted (Django's `DATA_UPLOAD_MAX_MEMORY_SIZE` is 2.5 MB; these forms are a
/// few short fields).
const MAX_FORM_BYTES: usize = 64 * 1024;

impl Application {
    pub async fn build(config: Config, bind: &str) -> anyhow::Result<Application> {
        let Config {
            auth: settings,
            portal,
            mail,
        } = config;
        let listener = TcpListener::bind(bind)?;
        let address = listener.local_addr()?;
        let services =
            web::Data::new(Services::build(settings, std::sync::Arc::new(HtmlResponses)).await?);
        let throttle = services.settings.login_throttle(&services.connections);
        let tokens = services.settings.password_reset_tokens();
        let mailer = Mailer::from_settings(&mail)?;
        let mut metrics = Metrics::new("portal");
        let portal_metrics = PortalMetrics::register(&mut metrics);
        let metrics = web::Data::new(metrics);
        let state = web::Data::new(State {
            services: services.clone(),
            portal,
            throttle,
            tokens,
            mailer,
            metrics: portal_metrics,
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(services.clone())
                .app_data(metrics.clone())
                .app_data(
                    web::FormConfig::default()
                        .limit(MAX_FORM_BYTES)
                        .error_handler(|e, _| {
                            PageError::BadRequest(format!("The form could not be read: {e}."))
                                .into()
                        }),
                )
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    PageError::BadRequest(format!("The query string could not be read: {e}."))
                        .into()
                }))
                .app_data(web::PathConfig::default().error_handler(|e, _| {
                    PageError::BadRequest(format!("The address could not be read: {e}.")).into()
                }))
                // Django's SecurityMiddleware and XFrameOptionsMiddleware defaults.
                .wrap(
                    DefaultHeaders::new()
                        .add(("X-Frame-Options", "DENY"))
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("Referrer-Policy", "same-origin"))
                        .add(("Cross-Origin-Opener-Policy", "same-origin")),
                )
                .wrap(from_fn(django_auth_web::telemetry::observe))
                .route("/healthz", web::get().to(django_auth_web::health::healthz))
                .route("/metrics", web::get().to(crate::telemetry::metrics))
                .route("/readyz", web::get().to(django_auth_web::health::readyz))
                .service(
                    // Probes (`/healthz`, `/readyz`) and `/metrics` answer on any host (they are for
                    // the orchestrator and the monitoring, on the internal network); pages only on
                    // `ALLOWED_HOSTS`.
                    web::scope("")
                        .wrap(from_fn(session::middleware))
                        .wrap(from_fn(session::allowed_hosts))
                        .route("/", web::get().to(routes::home::home))
                        .service(
                            web::resource("/accounts/login/")
                                .route(web::get().to(login::get))
                                .route(web::post().to(login::post)),
                        )
                        .service(
                            web::resource("/accounts/logout/")
                                .route(web::get().to(login::logout_get))
                                .route(web::post().to(login::logout_post)),
                        )
                        .service(
                            web::resource("/accounts/register/")
                                .route(web::get().to(register::get))
                                .route(web::post().to(register::post)),
                        )
                        .service(
                            web::resource("/accounts/password_change/")
                                .route(web::get().to(password_change::get))
                                .route(web::post().to(password_change::post)),
                        )
                        .route(
                            "/accounts/password_change/done/",
                            web::get().to(password_change::done),
                        )
                        .service(
                            web::resource("/accounts/password_reset/")
                                .route(web::get().to(password_reset::get))
                                .route(web::post().to(password_reset::post)),
                        )
                        .route(
                            "/accounts/password_reset/done/",
                            web::get().to(password_reset::done),
                        )
                        .route(
                            "/accounts/reset/done/",
                            web::get().to(password_reset::complete),
                        )
                        .service(
                            web::resource("/accounts/reset/{uidb64}/{token}/")
                                .route(web::get().to(password_reset::confirm))
                                .route(web::post().to(password_reset::confirm_post)),
                        )
                        .route("/accounts/sessions/", web::get().to(sessions::list))
                        .route(
                            "/accounts/sessions/delete_others/",
                            web::post().to(sessions::delete_others),
                        )
                        .route(
                            "/accounts/sessions/{id}/delete/",
                            web::post().to(sessions::delete_one),
                        )
                        .default_service(web::to(routes::not_found)),
                )
        })
        .listen(listener)?
        .run();
        Ok(Application { address, server })
    }

    pub fn address(&self) -> std::net::SocketAddr {
        self.address
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
