//! Django's `SessionMiddleware` on actix-web: the session the cookie names is loaded before the handler
//! and, after it, saved and its cookie set (or deleted) exactly as Django decides; the rules are the
//! shared crate's (`SessionStore::load`, `SessionStore::process_response`). A store outage is a 503 page,
//! a session deleted meanwhile (a logout elsewhere) just logs the user out.

use std::cell::RefCell;
use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use auth::store::Session;

use crate::startup::State;

/// The request's session, for handlers (`session: SessionHandle`). Handlers take it out, work on it
/// across awaits, and put it back; the middleware saves what is put back.
#[derive(Clone, Default)]
pub struct SessionHandle(Rc<RefCell<Session>>);

impl SessionHandle {
    pub fn take(&self) -> Session {
        self.0.take()
    }

    pub fn put(&self, session: Session) {
        self.0.replace(session);
    }
}

impl FromRequest for SessionHandle {
    type Error = actix_web::Error;
    type Future = Ready<Result<SessionHandle, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<SessionHandle>()
                .cloned()
                .ok_or_else(|| actix_web::error::ErrorInternalServerError("no session middleware")),
        )
    }
}

pub fn unavailable(error: &auth::connections::StoreError) -> HttpResponse {
    tracing::warn!(%error, "store unavailable");
    HttpResponse::ServiceUnavailable()
        .content_type("text/html; charset=utf-8")
        .body(crate::routes::page(
            "Service unavailable",
            "<p>We cannot reach our session or user store right now. Please try again in a moment.</p>",
        ))
}

/// `HttpRequest.get_host()`'s check, before anything else: a Host header not in `ALLOWED_HOSTS` is a 400
/// ("Bad Request (400)", as Django answers `DisallowedHost`), logged with Django's message. The raw `Host`
/// header is used (or the HTTP/2 authority); forwarded-host headers are not trusted.
pub async fn allowed_hosts(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<State>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError("no state"));
    };
    let host = match req.headers().get(header::HOST) {
        Some(value) => value.to_str().unwrap_or("").to_string(),
        None => req
            .uri()
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default(),
    };
    if let Err(message) =
        auth::hosts::check_host(&host, &state.settings.allowed_hosts, state.settings.debug)
    {
        tracing::warn!(%message, "DisallowedHost");
        return Ok(req.into_response(
            HttpResponse::BadRequest()
                .content_type("text/html; charset=utf-8")
                .body(crate::routes::page("Bad Request (400)", "")),
        ));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<State>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError("no state"));
    };
    let cookie_settings = &state.settings.session_cookie;
    let cookie = req
        .cookie(&cookie_settings.name)
        .map(|c| c.value().to_string());
    let session = match state.sessions.load(cookie.as_deref()).await {
        Ok(session) => session,
        Err(e) => return Ok(req.into_response(unavailable(&e))),
    };
    let handle = SessionHandle(Rc::new(RefCell::new(session)));
    req.extensions_mut().insert(handle.clone());
    let response = next.call(req).await?.map_into_boxed_body();
    let mut session = handle.take();
    let status = response.status().as_u16();
    let outcome = state
        .sessions
        .process_response(
            &mut session,
            cookie.is_some(),
            status,
            cookie_settings,
            chrono::Utc::now(),
        )
        .await;
    let (request, mut response) = response.into_parts();
    match outcome {
        Ok(cookie) => {
            if let Some(value) = cookie.set_cookie {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            if cookie.vary_cookie {
                response
                    .headers_mut()
                    .append(header::VARY, HeaderValue::from_static("Cookie"));
            }
            Ok(ServiceResponse::new(request, response))
        }
        Err(e) => Ok(ServiceResponse::new(request, unavailable(&e))),
    }
}
