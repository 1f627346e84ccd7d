//! Builds the server from typed settings: `Application::build(settings, "127.0.0.1:0")` in the tests,
//! the configured address in production. The stores are made here, once, and shared with every worker.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web};
use auth::auth::SessionAuthHasher;
use auth::settings::{Connections, Settings};
use auth::store::SessionStore;
use auth::users::UserStore;

use crate::{routes, session};

/// What every request handler can reach.
pub struct State {
    pub settings: Settings,
    pub connections: Connections,
    pub sessions: SessionStore,
    pub users: UserStore,
    /// `_auth_user_hash` checks, with the HMAC key of each secret derived once.
    pub hasher: SessionAuthHasher,
}

pub struct Application {
    address: std::net::SocketAddr,
    server: Server,
}

impl Application {
    pub fn build(settings: Settings, bind: &str) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(bind)?;
        let address = listener.local_addr()?;
        let connections = settings.connect()?;
        let sessions = settings.session_store(&connections)?;
        let users = settings.user_store(&connections)?;
        let hasher = SessionAuthHasher::new(&settings.keys);
        let state = web::Data::new(State {
            settings,
            connections,
            sessions,
            users,
            hasher,
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                // Django's SecurityMiddleware and XFrameOptionsMiddleware defaults.
                .wrap(
                    DefaultHeaders::new()
                        .add(("X-Frame-Options", "DENY"))
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("Referrer-Policy", "same-origin"))
                        .add(("Cross-Origin-Opener-Policy", "same-origin")),
                )
                .route("/healthz", web::get().to(routes::health::healthz))
                .route("/readyz", web::get().to(routes::health::readyz))
                .service(
                    // Probes (`/healthz`, `/readyz`) answer on any host; pages only on `ALLOWED_HOSTS`.
                    web::scope("")
                        .wrap(from_fn(session::middleware))
                        .wrap(from_fn(session::allowed_hosts))
                        .route("/", web::get().to(routes::home::home)),
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
