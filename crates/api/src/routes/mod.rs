//! The endpoints, one module each, and [`Authenticated`], the extractor every one of them takes.

pub mod me;
pub mod session;
pub mod sessions;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use django_auth_core::users::User;
use django_auth_web::session::SessionHandle;

use crate::errors::ApiError;

/// The logged-in user, as Django REST framework's `SessionAuthentication` admits a request: a session
/// whose user the shared `get_user` accepts (which may cycle or flush the session, as Django's does; else
/// 401), and for an unsafe method (anything but GET, HEAD, OPTIONS,
/// TRACE) Django's CSRF check (`enforce_csrf`: Origin, Referer over HTTPS, then the `X-CSRFToken` header
/// against the `csrftoken` cookie), else 403 `CSRF Failed: <Django's reason>`.
pub struct Authenticated {
    pub user: User,
    pub session: SessionHandle,
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Authenticated, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (user, session) = django_auth_web::actix::authenticate_request(&req).await?;
            Ok(Authenticated { user, session })
        })
    }
}

/// A time as Django REST framework's `DateTimeField` writes it in UTC: ISO 8601 with microseconds and `Z`.
pub fn iso(when: chrono::DateTime<chrono::Utc>) -> String {
    when.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The largest request body read (the api's bodies are a few short fields; Django's own limit is 2.5 MB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Django REST framework's `JSONParser` as `request.data` runs it: no `Content-Type` (and so no body
/// DRF would read) is `{}`; another media type is a 415; a body that is not UTF-8 JSON is a 400
/// ("JSON parse error - …"); more than [`MAX_BODY_BYTES`] is a 413, read no further.
pub async fn read_json(
    req: &HttpRequest,
    body: web::Payload,
) -> Result<serde_json::Value, ApiError> {
    let Some(content_type) = req.headers().get(actix_web::http::header::CONTENT_TYPE) else {
        return Ok(serde_json::Value::Object(serde_json::Map::new()));
    };
    let content_type = content_type.to_str().unwrap_or("").trim().to_string();
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media_type != "application/json" && !media_type.ends_with("+json") {
        return Err(ApiError::UnsupportedMediaType(content_type));
    }
    let bytes = body
        .to_bytes_limited(MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::TooLarge(MAX_BODY_BYTES))?
        .map_err(|e| ApiError::BadRequest(format!("Malformed request body: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("JSON parse error - {e}")))
}
