//! `GET /api/v1/session`: the session's expiry, never its key, hash or data. `DELETE /api/v1/session`:
//! log out (`flush`), so the portal and Django see the user logged out.

use actix_web::{HttpResponse, web};
use django_auth_web::Services;
use serde::Serialize;
use utoipa::ToSchema;

use crate::errors::{ApiError, Detail};
use crate::routes::{Authenticated, iso};

/// The current session, as `SessionBase`'s expiry methods see it.
#[derive(Serialize, ToSchema)]
pub struct SessionInfo {
    /// `get_expiry_date()`, ISO 8601 in UTC.
    #[schema(format = DateTime)]
    pub expire_date: String,
    /// `get_expiry_age()`, in seconds.
    pub age: i64,
    /// `get_expire_at_browser_close()`.
    pub expire_at_browser_close: bool,
    /// `SESSION_ENGINE`: cache, cached_db, db or signed_cookies.
    pub engine: String,
}

/// The current session's expiry.
#[utoipa::path(
    get,
    path = "/api/v1/session",
    tag = "session",
    responses(
        (status = 200, description = "The current session", body = SessionInfo),
        (status = 401, description = "No valid session", body = Detail),
        (status = 503, description = "Redis or PostgreSQL is unavailable", body = Detail),
    ),
    security(("session" = []))
)]
pub async fn get(
    services: web::Data<Services>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let session = auth.session.take();
    let expiry = services.sessions.session_expiry(&session);
    auth.session.put(session);
    let expiry = expiry.map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(HttpResponse::Ok().json(SessionInfo {
        expire_date: iso(expiry.date),
        age: expiry.age,
        expire_at_browser_close: expiry.at_browser_close,
        engine: engine_name(services.settings.session_engine).into(),
    }))
}

/// `SESSION_ENGINE`'s short name.
pub fn engine_name(engine: django_auth_core::settings::EngineKind) -> &'static str {
    match engine {
        django_auth_core::settings::EngineKind::Cache => "cache",
        django_auth_core::settings::EngineKind::CachedDb => "cached_db",
        django_auth_core::settings::EngineKind::Db => "db",
        django_auth_core::settings::EngineKind::SignedCookies => "signed_cookies",
    }
}

/// Log out: the session ends everywhere (Django's `logout()`), and its cookie is deleted.
#[utoipa::path(
    delete,
    path = "/api/v1/session",
    tag = "session",
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "No valid session", body = Detail),
        (status = 403, description = "CSRF check failed", body = Detail),
        (status = 503, description = "Redis or PostgreSQL is unavailable", body = Detail),
    ),
    security(("session" = [], "csrf" = []))
)]
pub async fn delete(
    services: web::Data<Services>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    log_out(&services, &auth).await
}

/// `logout()`: the request's session is flushed (Django and the portal see it gone) and its cookie
/// deleted; 204.
pub async fn log_out(services: &Services, auth: &Authenticated) -> Result<HttpResponse, ApiError> {
    let mut session = auth.session.take();
    let result = services.sessions.logout(&mut session).await;
    auth.session.put(session);
    result?;
    tracing::info!(user_pk = auth.user.pk(), "logged out");
    Ok(HttpResponse::NoContent().finish())
}
