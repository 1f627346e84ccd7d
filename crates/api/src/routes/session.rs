//! `GET /api/v1/session`: the session's expiry, never its key, hash or data. `DELETE /api/v1/session`:
//! log out (`flush`), so the portal and Django see the user logged out.

use actix_web::{HttpResponse, web};
use middleware::Services;
use middleware::session::SessionHandle;
use serde_json::json;

use crate::errors::ApiError;
use crate::routes::{authenticated, iso};

pub async fn get(
    services: web::Data<Services>,
    handle: SessionHandle,
) -> Result<HttpResponse, ApiError> {
    authenticated(&services, &handle).await?;
    let session = handle.take();
    let expiry = auth::session::expiry(
        session.data(),
        &services.sessions.settings().expiry,
        chrono::Utc::now(),
    );
    handle.put(session);
    let expiry = expiry.map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(HttpResponse::Ok().json(json!({
        "expire_date": iso(expiry.date),
        "age": expiry.age,
        "expire_at_browser_close": expiry.at_browser_close,
        "engine": format!("{:?}", services.settings.session_engine).to_lowercase(),
    })))
}

pub async fn delete(
    services: web::Data<Services>,
    handle: SessionHandle,
) -> Result<HttpResponse, ApiError> {
    authenticated(&services, &handle).await?;
    let mut session = handle.take();
    let result = services.sessions.logout(&mut session).await;
    handle.put(session);
    result?;
    Ok(HttpResponse::NoContent().finish())
}
