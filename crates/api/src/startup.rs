//! Builds the server: `Application::build(settings, "127.0.0.1:0")` in the tests. The shared middleware
//! loads and saves the session; a trailing slash is accepted on every route.

use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::header::{ALLOW, LOCATION};
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use django_auth_core::settings::Settings;
use django_auth_web::Services;
use django_auth_web::telemetry::Metrics;
use utoipa_swagger_ui::SwaggerUi;

use crate::errors::JsonResponses;
use crate::routes::{me, session, sessions};

/// Every endpoint, with and without its trailing slash; a method a path does not serve is Django REST
/// framework's 405 with `Allow`.
fn routes(config: &mut web::ServiceConfig) {
    for slash in ["", "/"] {
        config
            .service(
                web::resource(format!("/me{slash}"))
                    .route(web::get().to(me::get))
                    .route(web::patch().to(me::patch))
                    .default_service(web::to(|req: HttpRequest| not_allowed(req, "GET, PATCH"))),
            )
            .service(
                web::resource(format!("/session{slash}"))
                    .route(web::get().to(session::get))
                    .route(web::delete().to(session::delete))
                    .default_service(web::to(|req: HttpRequest| not_allowed(req, "GET, DELETE"))),
            )
            .service(
                web::resource(format!("/sessions{slash}"))
                    .route(web::get().to(sessions::list))
                    .default_service(web::to(|req: HttpRequest| not_allowed(req, "GET"))),
            )
            .service(
                web::resource(format!("/sessions/{{id}}{slash}"))
                    .route(web::delete().to(sessions::delete))
                    .default_service(web::to(|req: HttpRequest| not_allowed(req, "DELETE"))),
            );
    }
}

/// DRF's `MethodNotAllowed`: 405 `Method "TRACE" not allowed.`, with the methods the path serves (HEAD
/// goes with GET, and OPTIONS is the CORS preflight's).
async fn not_allowed(req: HttpRequest, allow: &'static str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((ALLOW, allow))
        .json(crate::errors::Detail {
            detail: format!("Method \"{}\" not allowed.", req.method()),
        })
}

/// CORS from `CORS_ALLOWED_ORIGINS`: those origins only, always with credentials (the session cookie is
/// the api's only credential), so the allowed origin is echoed, never `*`. Preflights are answered here;
/// a request from another origin is served without CORS headers, so the browser withholds the answer.
fn cors(settings: &Settings) -> Cors {
    let mut cors = Cors::default()
        .supports_credentials()
        .allowed_methods(["GET", "HEAD", "OPTIONS", "PATCH", "DELETE"])
        .allowed_headers([
            "accept",
            "content-type",
            "x-requested-with",
            settings.csrf.header_name.as_str(),
        ]);
    if settings.cors_preflight_max_age > 0 {
        cors = cors.max_age(settings.cors_preflight_max_age);
    }
    for origin in &settings.cors_allowed_origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// An unknown path or method under `/api/v1`: DRF's 404 body.
async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(crate::errors::Detail {
        detail: "Not found.".into(),
    })
}

pub struct Application {
    address: std::net::SocketAddr,
    server: Server,
}

impl Application {
    pub async fn build(settings: Settings, bind: &str) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(bind)?;
        let address = listener.local_addr()?;
        let document = crate::openapi::document(&settings);
        let services = Services::build(settings, Arc::new(JsonResponses)).await?;
        let cors_settings = services.settings.clone();
        let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let shared = web::Data::new(services);
        let metrics = web::Data::new(Metrics::new("api"));
        let server = HttpServer::new(move || {
            // Each worker (and one restarted after a panic) makes its own connections, used only on its
            // thread (`for_worker`). The settings connected once already, so sharing the first set is
            // only the answer to a failure nobody has seen.
            let services = shared
                .for_worker(workers)
                .map(web::Data::new)
                .unwrap_or_else(|_| shared.clone());
            App::new()
                .app_data(services)
                .app_data(metrics.clone())
                .wrap(
                    DefaultHeaders::new()
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("Referrer-Policy", "same-origin")),
                )
                .wrap(from_fn(django_auth_web::telemetry::observe))
                .route("/healthz", web::get().to(django_auth_web::health::healthz))
                .route("/readyz", web::get().to(django_auth_web::health::readyz))
                // Forward auth for the services behind a proxy: any method, and any path below it (for
                // proxies that append the original URI, as Envoy's `path_prefix` does).
                .route(
                    "/auth/verify",
                    web::route().to(django_auth_web::actix::forward_auth),
                )
                .route(
                    "/auth/verify/{original:.*}",
                    web::route().to(django_auth_web::actix::forward_auth),
                )
                .route(
                    "/metrics",
                    web::get().to(|metrics: web::Data<Metrics>| async move { metrics.response() }),
                )
                .service(
                    web::scope("/api/v1")
                        .wrap(from_fn(django_auth_web::session::middleware))
                        .wrap(from_fn(django_auth_web::session::allowed_hosts))
                        .wrap(cors(&cors_settings))
                        .configure(routes)
                        .service(
                            SwaggerUi::new("/docs/{_:.*}")
                                .url("/openapi.json", document.clone())
                                .config(utoipa_swagger_ui::Config::new(["/api/v1/openapi.json"])),
                        )
                        .route(
                            "/docs",
                            web::get().to(|| async {
                                HttpResponse::MovedPermanently()
                                    .insert_header((LOCATION, "/api/v1/docs/"))
                                    .finish()
                            }),
                        )
                        .default_service(web::to(not_found)),
                )
        })
        .workers(workers)
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
