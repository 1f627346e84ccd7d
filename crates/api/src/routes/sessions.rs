//! `GET /api/v1/sessions`: the user's live sessions, from the per-user index the portal's sessions page
//! shows too (Django's included). `DELETE /api/v1/sessions/{id}`: end one of them everywhere. A session is
//! named by an opaque id (`django_auth_core::store::UserSession::id`), never by its key.

use actix_web::{HttpResponse, web};
use django_auth_core::connections::StoreError;
use django_auth_core::idle::SessionMeta;
use django_auth_core::store::{UserSession, session_id};
use django_auth_web::Services;
use serde::Serialize;
use utoipa::ToSchema;

use crate::errors::{ApiError, Detail};
use crate::routes::{Authenticated, iso};

/// One of the user's sessions.
#[derive(Serialize, ToSchema)]
pub struct SessionItem {
    /// An opaque id (not the session key): what `DELETE /api/v1/sessions/{id}` takes.
    pub id: String,
    /// Whether this is the session of the request.
    pub current: bool,
    #[schema(format = DateTime)]
    pub expire_date: String,
    /// When it logged in, if one of our services saw it then (null for a session only Django has used).
    #[schema(format = DateTime)]
    pub created: Option<String>,
    /// When it was last used (recorded at most once a minute).
    #[schema(format = DateTime)]
    pub last_seen: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

fn timestamp(seconds: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(seconds, 0).map(iso)
}

fn item(session: &UserSession, current: Option<&str>) -> SessionItem {
    let meta: Option<&SessionMeta> = session.meta.as_ref();
    let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
    SessionItem {
        id: session.id(),
        current: current.is_some_and(|key| key == session.session_key),
        expire_date: iso(session.expire_date),
        created: meta.and_then(|m| timestamp(m.created)),
        last_seen: meta.and_then(|m| timestamp(m.seen)),
        ip_address: meta.and_then(|m| text(&m.client.ip)),
        user_agent: meta.and_then(|m| text(&m.client.user_agent)),
    }
}

/// The current session alone, for an engine without the index (`signed_cookies`).
fn current_only(services: &Services, auth: &Authenticated) -> Result<Vec<UserSession>, ApiError> {
    let session = auth.session.take();
    let listed = match session.session_key() {
        Some(key) => services.sessions.session_expiry(&session).map(|expiry| {
            vec![UserSession {
                session_key: key.to_string(),
                expire_date: expiry.date,
                meta: SessionMeta::read(session.data()),
            }]
        }),
        None => Ok(Vec::new()),
    };
    auth.session.put(session);
    listed.map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// The user's live sessions, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/sessions",
    tag = "session",
    responses(
        (status = 200, description = "The user's sessions", body = [SessionItem]),
        (status = 401, description = "No valid session", body = Detail),
        (status = 503, description = "Redis or PostgreSQL is unavailable", body = Detail),
    ),
    security(("session" = []))
)]
pub async fn list(
    services: web::Data<Services>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let sessions = match services.sessions.user_sessions(auth.user.pk()).await {
        Ok(sessions) => sessions,
        Err(StoreError::NoIndex) => current_only(&services, &auth)?,
        Err(e) => return Err(e.into()),
    };
    let current = auth.session.session_key();
    let items: Vec<SessionItem> = sessions
        .iter()
        .rev()
        .map(|s| item(s, current.as_deref()))
        .collect();
    Ok(HttpResponse::Ok().json(items))
}

/// End one of the user's sessions, everywhere. Ending the current one is a logout.
#[utoipa::path(
    delete,
    path = "/api/v1/sessions/{id}",
    tag = "session",
    params(("id" = String, Path, description = "The session's opaque id, from the list")),
    responses(
        (status = 204, description = "The session has ended"),
        (status = 401, description = "No valid session", body = Detail),
        (status = 403, description = "CSRF check failed", body = Detail),
        (status = 404, description = "No session of this user has that id", body = Detail),
        (status = 503, description = "Redis or PostgreSQL is unavailable", body = Detail),
    ),
    security(("session" = [], "csrf" = []))
)]
pub async fn delete(
    services: web::Data<Services>,
    auth: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let current = auth.session.session_key();
    if current
        .as_deref()
        .is_some_and(|key| django_auth_core::crypto::constant_time_compare(session_id(key), &id))
    {
        return crate::routes::session::log_out(&services, &auth).await;
    }
    match services
        .sessions
        .delete_user_session(auth.user.pk(), &id)
        .await
    {
        Ok(true) => {
            tracing::info!(user_pk = auth.user.pk(), "session ended");
            Ok(HttpResponse::NoContent().finish())
        }
        Ok(false) | Err(StoreError::NoIndex) => Err(ApiError::NotFound),
        Err(e) => Err(e.into()),
    }
}
