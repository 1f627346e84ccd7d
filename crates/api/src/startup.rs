//! Builds the server: `Application::build(settings, "127.0.0.1:0")` in the tests. The shared middleware
//! loads and saves the session; a trailing slash is accepted on every route.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web};
use auth::settings::Settings;
use middleware::Services;
use middleware::telemetry::Metrics;

use crate::errors::JsonResponses;
use crate::routes::{me, session};

pub struct Application {
    address: std::net::SocketAddr,
    server: Server,
}

impl Application {
    pub fn build(settings: Settings, bind: &str) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(bind)?;
        let address = listener.local_addr()?;
        let services = web::Data::new(Services::build(settings, Box::new(JsonResponses))?);
        let metrics = web::Data::new(Metrics::new("api"));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(services.clone())
                .app_data(metrics.clone())
                .wrap(
                    DefaultHeaders::new()
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("Referrer-Policy", "same-origin")),
                )
                .wrap(from_fn(middleware::telemetry::observe))
                .route("/healthz", web::get().to(middleware::health::healthz))
                .route("/readyz", web::get().to(middleware::health::readyz))
                .route(
                    "/metrics",
                    web::get().to(|metrics: web::Data<Metrics>| async move { metrics.response() }),
                )
                .service(
                    web::scope("/api/v1")
                        .wrap(from_fn(middleware::session::middleware))
                        .wrap(from_fn(middleware::session::allowed_hosts))
                        .route("/me", web::get().to(me::get))
                        .route("/me/", web::get().to(me::get))
                        .route("/session", web::get().to(session::get))
                        .route("/session/", web::get().to(session::get))
                        .route("/session", web::delete().to(session::delete))
                        .route("/session/", web::delete().to(session::delete)),
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
