//! Your own service beside Django, on axum: `GET /whoami` and `POST /notes` for Django's logged-in user,
//! and `/auth/verify`, forward auth for a reverse proxy in front of other services.
//! It reads the Django site's settings from the environment, as the api does (`SECRET_KEY`,
//! `SESSION_ENGINE`, `REDIS_URL`, `DATABASE_URL`, `SESSION_COOKIE_NAME`, …) and binds `EXAMPLE_BIND`.
//!
//! `cargo run -p django-auth-web --features axum --example axum_service`
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{any, get, post};
use axum::{Json, Router};
use django_auth_web::axum::{DjangoLayer, LoginRequired, forward_auth};
use django_auth_web::request::DjangoAuth;
use serde_json::{Value, json};

// The api's allocator (optional: with glibc's, allocation costs a service like this about 15% more CPU).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// 200 `{"id": …, "username": …}` for a logged-in user; 401 `{"detail": …}` otherwise.
async fn whoami(
    State(django): State<Arc<DjangoAuth>>,
    LoginRequired(user): LoginRequired,
) -> Json<Value> {
    Json(json!({ "id": django.pk_json(&user), "username": user.username }))
}

/// Login and CSRF required (the `X-CSRFToken` header, as Django REST framework asks): 201 with the body.
async fn create_note(
    LoginRequired(_): LoginRequired,
    Json(note): Json<Value>,
) -> (StatusCode, Json<Value>) {
    (StatusCode::CREATED, Json(note))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let django = Arc::new(DjangoAuth::from_env().await?);
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route("/notes", post(create_note))
        .with_state(django.clone())
        .layer(DjangoLayer::from_arc(django.clone()))
        // Forward auth checks the original request's host and session itself: outside the layer.
        .merge(
            Router::new()
                .route("/auth/verify", any(forward_auth))
                .route("/auth/verify/{*original}", any(forward_auth))
                .with_state(django),
        );
    let bind = std::env::var("EXAMPLE_BIND").unwrap_or_else(|_| "127.0.0.1:8002".into());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await?;
    Ok(())
}
