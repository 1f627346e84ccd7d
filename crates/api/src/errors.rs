//! Errors as Django REST framework answers them: JSON `{"detail": "..."}` with the status; 401 for an
//! anonymous request, 503 (with `Retry-After`) when Redis or PostgreSQL does not answer, 400 for bad input.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use auth::connections::StoreError;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// DRF's `NotAuthenticated`.
    #[error("Authentication credentials were not provided.")]
    NotAuthenticated,
    #[error("The service is unavailable: {0}")]
    Unavailable(#[from] StoreError),
    #[error("{0}")]
    BadRequest(String),
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

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotAuthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Unavailable(e) => {
                tracing::warn!(error = %e, "store unavailable");
                unavailable()
            }
            other => detail(other.status_code(), &other.to_string()),
        }
    }
}

/// The shared middleware's refusals, in JSON.
pub struct JsonResponses;

impl middleware::Responses for JsonResponses {
    fn unavailable(&self) -> HttpResponse {
        unavailable()
    }

    fn bad_request(&self, message: String) -> HttpResponse {
        detail(StatusCode::BAD_REQUEST, &message)
    }
}
