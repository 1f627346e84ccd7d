//! Django's `SessionMiddleware` on actix-web: the session the cookie names is loaded before the handler
//! and, after it, saved and its cookie set (or deleted) exactly as Django decides; the rules are the
//! shared crate's (`SessionStore::load`, `SessionStore::process_response`). A store outage is a 503 page,
//! a session deleted meanwhile (a logout elsewhere) just logs the user out.

use std::cell::{Cell, RefCell};
use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use auth::store::Session;

use crate::Services;

/// The request's session, for handlers (`session: SessionHandle`). Handlers take it out, work on it
/// across awaits, and put it back; the middleware saves what is put back.
#[derive(Clone, Default)]
pub struct SessionHandle(Rc<Inner>);

#[derive(Default)]
struct Inner {
    session: RefCell<Session>,
    /// Whether `get_user` accepted the session's user (or the user just logged in): only then does the
    /// middleware record the request's activity in the session.
    verified: Cell<bool>,
}

impl SessionHandle {
    pub fn take(&self) -> Session {
        self.0.session.take()
    }

    pub fn put(&self, session: Session) {
        self.0.session.replace(session);
    }

    /// The current session key (a credential: compare with it, never show it).
    pub fn session_key(&self) -> Option<String> {
        self.0.session.borrow().session_key().map(str::to_string)
    }

    /// `request.user`: Django's `get_user` through the shared crate (which may cycle the key after a
    /// fallback-key match, or flush a session whose hash matches nothing). A user it accepts marks the
    /// request verified.
    pub async fn get_user(
        &self,
        services: &Services,
    ) -> Result<Option<auth::users::User>, auth::connections::StoreError> {
        let mut session = self.take();
        let user = auth::users::get_user(
            &services.sessions,
            &services.users,
            &mut session,
            &services.settings.authentication_backends,
            &services.hasher,
        )
        .await;
        self.put(session);
        let user = user?;
        if user.is_some() {
            self.0.verified.set(true);
        }
        Ok(user)
    }

    /// After `login()`: the session's user is verified for this request.
    pub fn verified(&self) {
        self.0.verified.set(true);
    }
}

impl FromRequest for SessionHandle {
    type Error = actix_web::Error;
    type Future = Ready<Result<SessionHandle, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(from_extensions(req, "no session middleware"))
    }
}

/// What a middleware left in the request's extensions for the handlers (a 500 naming the middleware if
/// the route is outside it: a wiring bug, never something a request can cause).
pub fn from_extensions<T: Clone + 'static>(
    req: &HttpRequest,
    missing: &'static str,
) -> Result<T, actix_web::Error> {
    req.extensions()
        .get::<T>()
        .cloned()
        .ok_or_else(|| actix_web::error::ErrorInternalServerError(missing))
}

/// The longest cookie value a browser stores (RFC 6265's minimum that every browser implements as its
/// maximum).
const MAX_COOKIE_BYTES: usize = 4096;

/// `request.get_host()`'s raw value: the `Host` header (or the HTTP/2 authority), or `X-Forwarded-Host`
/// with `USE_X_FORWARDED_HOST`. Non-ASCII bytes make it empty, which `ALLOWED_HOSTS` refuses.
pub fn request_host(req: &HttpRequest, settings: &auth::settings::Settings) -> String {
    let header = |name: &str| req.headers().get(name).map(|v| v.to_str().unwrap_or(""));
    let authority = req.uri().authority().map(|a| a.as_str());
    auth::hosts::raw_host(
        header("host").or(authority),
        header("x-forwarded-host"),
        settings.use_x_forwarded_host,
    )
    .to_string()
}

/// `request.is_secure()`: only through `SECURE_PROXY_SSL_HEADER` (the portal itself speaks plain HTTP).
pub fn is_secure(req: &HttpRequest, settings: &auth::settings::Settings) -> bool {
    auth::hosts::is_secure(
        settings.secure_proxy_ssl_header.as_ref(),
        |name| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        },
        false,
    )
}

/// The client's address (`NUM_PROXIES`) and browser, for the throttle and the sessions page.
pub fn client(req: &HttpRequest, settings: &auth::settings::Settings) -> auth::idle::Client {
    let peer = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    auth::idle::Client {
        ip: auth::hosts::client_address(&peer, header("x-forwarded-for"), settings.num_proxies),
        user_agent: header("user-agent").unwrap_or("").to_string(),
    }
}

/// A one-time notice for the next page (Horizon's `logout_reason` cookie): a fixed code, never text from
/// the request, shown once and then deleted.
pub const NOTICE_COOKIE: &str = "portal_notice";

/// The `Set-Cookie` value that carries `code` to the next page.
pub fn notice_cookie(code: &str) -> String {
    format!("{NOTICE_COOKIE}={code}; HttpOnly; Max-Age=60; Path=/; SameSite=Lax")
}

/// The `Set-Cookie` value that drops the notice once shown.
pub fn clear_notice_cookie() -> String {
    format!("{NOTICE_COOKIE}=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/")
}

/// `HttpRequest.get_host()`'s check, before anything else: a Host header not in `ALLOWED_HOSTS` is a 400
/// ("Bad Request (400)", as Django answers `DisallowedHost`), logged with Django's message. The host is
/// [`request_host`]'s.
pub async fn allowed_hosts(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = crate::services(&req)?;
    let host = request_host(req.request(), &state.settings);
    if let Err(message) =
        auth::hosts::check_host(&host, &state.settings.allowed_hosts, state.settings.debug)
    {
        tracing::warn!(%message, "DisallowedHost");
        return Ok(req.into_response(state.responses.bad_request(
            "This address is not served here (the Host header is not in ALLOWED_HOSTS).".into(),
        )));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = crate::services(&req)?;
    let cookie_settings = &state.settings.session_cookie;
    let cookie = req
        .cookie(&cookie_settings.name)
        .map(|c| c.value().to_string());
    // Browsers keep at most 4096 bytes per cookie; anything longer was not set by Django or by us.
    if let Some(length) = cookie
        .as_ref()
        .map(String::len)
        .filter(|n| *n > MAX_COOKIE_BYTES)
    {
        tracing::warn!(length, "oversized session cookie");
        return Ok(req.into_response(state.responses.bad_request(format!(
            "Your browser sent a session cookie of {length} bytes, more than any browser keeps \
             ({MAX_COOKIE_BYTES}). Please delete this site's cookies and try again."
        ))));
    }
    let mut session = match state.sessions.load(cookie.as_deref()).await {
        Ok(session) => session,
        Err(e) => return Ok(req.into_response(state.unavailable(&e))),
    };
    let activity = match state
        .sessions
        .check_idle(
            &mut session,
            state.settings.idle_timeout,
            chrono::Utc::now(),
        )
        .await
    {
        Ok(activity) => activity,
        Err(e) => return Ok(req.into_response(state.unavailable(&e))),
    };
    let handle = SessionHandle::default();
    handle.put(session);
    req.extensions_mut().insert(handle.clone());
    let mut response = next.call(req).await?.map_into_boxed_body();
    if activity == auth::idle::Activity::Expired {
        // The login page says why (the session itself is gone).
        if let Ok(value) = HeaderValue::from_str(&notice_cookie("idle")) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    let mut session = handle.take();
    if handle.0.verified.get() {
        let request = response.request();
        state.sessions.record_activity(
            &mut session,
            state.settings.idle_timeout,
            || client(request, &state.settings),
            chrono::Utc::now(),
        );
    }
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
                crate::patch_vary_headers(response.headers_mut(), &["Cookie"]);
            }
            Ok(ServiceResponse::new(request, response))
        }
        Err(e) => Ok(ServiceResponse::new(request, state.unavailable(&e))),
    }
}
