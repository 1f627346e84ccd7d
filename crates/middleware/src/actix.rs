//! Extractors for actix-web handlers behind [`crate::session::middleware`]: [`LoginRequired`] (Django REST
//! framework's `SessionAuthentication` with `IsAuthenticated`: 401 for an anonymous request, 403 for an
//! unsafe one without a valid CSRF token) and [`MaybeUser`] (`request.user`, possibly anonymous).
//! Refusals are DRF's JSON bodies (`{"detail": …}`); a store outage is a 503 with `Retry-After`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use django_auth_core::users::User;

use crate::Services;
use crate::csrf::CsrfHandle;
use crate::request::AuthError;
use crate::session::{ActixHead, SessionHandle};

/// The logged-in user; the handler does not run otherwise ([`AuthRejection`]).
pub struct LoginRequired(pub User);

/// `request.user`: the logged-in user, or `None` for an anonymous request (no CSRF check: nothing is
/// authenticated by it).
pub struct MaybeUser(pub Option<User>);

/// Why [`LoginRequired`] refused, as a response: 401, 403 (CSRF), 503 (store outage) or 500 (the route
/// is outside the middleware: a wiring bug).
#[derive(Debug, thiserror::Error)]
pub enum AuthRejection {
    /// The request path's refusal.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The route is outside [`crate::session::middleware`], or `web::Data<Services>` is not registered.
    #[error("internal error: {0}")]
    Wiring(&'static str),
}

impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthRejection::Auth(AuthError::NotAuthenticated) => StatusCode::UNAUTHORIZED,
            AuthRejection::Auth(AuthError::CsrfFailed(_)) => StatusCode::FORBIDDEN,
            AuthRejection::Auth(AuthError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            AuthRejection::Wiring(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let detail = match self {
            AuthRejection::Auth(AuthError::Unavailable(error)) => {
                tracing::warn!(%error, "store unavailable");
                "The session or user store is unavailable. Please retry shortly.".to_string()
            }
            AuthRejection::Wiring(what) => {
                tracing::error!(what, "django-auth-web is not wired");
                "A server error occurred.".to_string()
            }
            other => other.to_string(),
        };
        let mut response =
            HttpResponse::build(self.status_code()).json(serde_json::json!({ "detail": detail }));
        if self.status_code() == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

fn parts(req: &HttpRequest) -> Result<(web::Data<Services>, SessionHandle), AuthRejection> {
    let services = req
        .app_data::<web::Data<Services>>()
        .cloned()
        .ok_or(AuthRejection::Wiring("no services"))?;
    let session = req
        .extensions()
        .get::<SessionHandle>()
        .cloned()
        .ok_or(AuthRejection::Wiring("no session middleware"))?;
    Ok((services, session))
}

impl FromRequest for LoginRequired {
    type Error = AuthRejection;
    type Future = Pin<Box<dyn Future<Output = Result<LoginRequired, AuthRejection>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (user, _) = authenticate_request(&req).await?;
            Ok(LoginRequired(user))
        })
    }
}

/// What [`LoginRequired`] admits, with the request's [`SessionHandle`], for handlers that go on to change
/// the session (the api's logout) and services with their own error type.
pub async fn authenticate_request(
    req: &HttpRequest,
) -> Result<(User, SessionHandle), AuthRejection> {
    let (services, handle) = parts(req)?;
    let csrf = req
        .extensions()
        .get::<CsrfHandle>()
        .cloned()
        .ok_or(AuthRejection::Wiring("no session middleware"))?;
    let user = authenticate(&services, req, &handle, &csrf).await?;
    Ok((user, handle))
}

/// [`crate::request::DjangoAuth::authenticate_session`] on the request's handles; a user it admits marks
/// the request verified. Services with their own error type (the api) call this.
pub async fn authenticate(
    services: &Services,
    req: &HttpRequest,
    handle: &SessionHandle,
    csrf: &CsrfHandle,
) -> Result<User, AuthError> {
    let mut session = handle.take();
    let user = services
        .authenticate_session(&ActixHead(req), &mut session, || csrf.borrow())
        .await;
    handle.put(session);
    let user = user?;
    handle.verified();
    Ok(user)
}

impl FromRequest for MaybeUser {
    type Error = AuthRejection;
    type Future = Pin<Box<dyn Future<Output = Result<MaybeUser, AuthRejection>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (services, handle) = parts(&req)?;
            let user = handle
                .get_user(&services)
                .await
                .map_err(|e| AuthRejection::Auth(AuthError::Unavailable(e)))?;
            Ok(MaybeUser(user))
        })
    }
}

/// The forward-auth endpoint as an actix-web handler (`web::route().to(actix::forward_auth)` on
/// `/auth/verify` and `/auth/verify/{original:.*}`, outside [`crate::session::middleware`], with
/// [`Services`] registered): 200 with the identity headers, or 401, 403, 503 with `{"detail": …}`. See
/// [`crate::forward_auth`].
pub async fn forward_auth(req: HttpRequest) -> HttpResponse {
    let Some(services) = req.app_data::<web::Data<Services>>() else {
        return AuthRejection::Wiring("no services").error_response();
    };
    let answer = services.forward_auth(&ActixHead(&req)).await;
    let status = StatusCode::from_u16(answer.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    for (name, value) in answer.headers() {
        response.append_header((name, value));
    }
    match answer.body() {
        Some(body) => response.content_type("application/json").body(body),
        None => response.finish(),
    }
}
