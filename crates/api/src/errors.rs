//! Errors as Django REST framework answers them: JSON `{"detail": "..."}` with the status; 401 for an
//! anonymous request, 403 for a CSRF refusal, 404, 400 with field errors for invalid input, 503 (with
//! `Retry-After`) when Redis or PostgreSQL does not answer.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use django_auth_core::connections::StoreError;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// DRF's `NotAuthenticated`.
    #[error("Authentication credentials were not provided.")]
    NotAuthenticated,
    /// DRF's `PermissionDenied`, as `SessionAuthentication.enforce_csrf` raises it.
    #[error("CSRF Failed: {0}")]
    CsrfFailed(django_auth_core::csrf::CsrfRejection),
    #[error("Not found.")]
    NotFound,
    #[error("The service is unavailable: {0}")]
    Unavailable(#[from] StoreError),
    /// DRF's `ParseError` and other malformed requests.
    #[error("{0}")]
    BadRequest(String),
    /// A serializer's `ValidationError`: `{"field": ["message", …]}`.
    #[error("invalid input")]
    Invalid(Value),
    /// DRF's `UnsupportedMediaType`.
    #[error("Unsupported media type \"{0}\" in request.")]
    UnsupportedMediaType(String),
    /// Django's `RequestDataTooBig`, in JSON.
    #[error("The request body is larger than {0} bytes.")]
    TooLarge(usize),
    /// A bug of ours (a route outside its middleware), never something a request or a store causes.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// Every error's body (Django REST framework's shape), except field errors.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Detail {
    pub detail: String,
}

fn detail(status: StatusCode, detail: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "detail": detail }))
}

/// The 503 every outage gets.
pub fn unavailable() -> HttpResponse {
    let mut response = detail(
        StatusCode::SERVICE_UNAVAILABLE,
        "The session or user store is unavailable. Please retry shortly.",
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

impl From<django_auth_web::actix::AuthRejection> for ApiError {
    fn from(e: django_auth_web::actix::AuthRejection) -> ApiError {
        match e {
            django_auth_web::actix::AuthRejection::Auth(e) => e.into(),
            django_auth_web::actix::AuthRejection::Wiring(what) => ApiError::Internal(what),
        }
    }
}

impl From<django_auth_web::request::AuthError> for ApiError {
    fn from(e: django_auth_web::request::AuthError) -> ApiError {
        match e {
            django_auth_web::request::AuthError::NotAuthenticated => ApiError::NotAuthenticated,
            django_auth_web::request::AuthError::CsrfFailed(reason) => ApiError::CsrfFailed(reason),
            django_auth_web::request::AuthError::Unavailable(e) => ApiError::Unavailable(e),
        }
    }
}

impl From<django_auth_core::users::UserError> for ApiError {
    fn from(e: django_auth_core::users::UserError) -> ApiError {
        match e {
            django_auth_core::users::UserError::Store(e) => ApiError::Unavailable(e),
            // The user was deleted between the session check and the write.
            django_auth_core::users::UserError::NotFound => ApiError::NotAuthenticated,
            other => {
                tracing::error!(error = %other, "user update failed");
                ApiError::Internal("user update failed")
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotAuthenticated => StatusCode::UNAUTHORIZED,
            ApiError::CsrfFailed(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BadRequest(_) | ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Unavailable(e) => {
                tracing::warn!(error = %e, "store unavailable");
                unavailable()
            }
            ApiError::CsrfFailed(reason) => {
                tracing::warn!(%reason, "Forbidden (CSRF)");
                detail(self.status_code(), &self.to_string())
            }
            ApiError::Invalid(errors) => HttpResponse::BadRequest().json(errors),
            ApiError::Internal(what) => {
                tracing::error!(what, "internal error");
                detail(self.status_code(), "A server error occurred.")
            }
            other => detail(other.status_code(), &other.to_string()),
        }
    }
}

/// The shared middleware's refusals, in JSON.
pub struct JsonResponses;

impl django_auth_web::Responses for JsonResponses {
    fn unavailable(&self) -> HttpResponse {
        unavailable()
    }

    fn bad_request(&self, message: String) -> HttpResponse {
        detail(StatusCode::BAD_REQUEST, &message)
    }
}
