//! Your own service beside Django, on actix-web: `GET /whoami` and `POST /notes` for Django's logged-in
//! user. It reads the Django site's settings from the environment, as the api does (`SECRET_KEY`,
//! `SESSION_ENGINE`, `REDIS_URL`, `DATABASE_URL`, `SESSION_COOKIE_NAME`, …) and binds `EXAMPLE_BIND`.
//!
//! `cargo run -p django-auth-web --example actix_service`
use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};
use django_auth_web::actix::LoginRequired;
use django_auth_web::{JsonResponses, Services, session};
use serde_json::{Value, json};

/// 200 `{"id": …, "username": …}` for a logged-in user; 401 `{"detail": …}` otherwise.
async fn whoami(django: web::Data<Services>, LoginRequired(user): LoginRequired) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "id": django.pk_json(&user), "username": user.username }))
}

/// Login and CSRF required (the `X-CSRFToken` header, as Django REST framework asks): 201 with the body.
async fn create_note(_: LoginRequired, note: web::Json<Value>) -> HttpResponse {
    HttpResponse::Created().json(note.into_inner())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let services = Services::from_env(Arc::new(JsonResponses))
        .await
        .map_err(std::io::Error::other)?;
    let services = web::Data::new(services);
    let bind = std::env::var("EXAMPLE_BIND").unwrap_or_else(|_| "127.0.0.1:8002".into());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(services.clone())
            .wrap(from_fn(session::stack))
            .route("/whoami", web::get().to(whoami))
            .route("/notes", web::post().to(create_note))
    })
    .bind(&bind)?;
    println!("listening on http://{}", server.addrs()[0]);
    server.run().await
}
