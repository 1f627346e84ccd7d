//! Django's `SessionMiddleware` and `CsrfViewMiddleware` on actix-web: the session the cookie names and
//! the CSRF cookie are read before the handler and, after it, the session saved and the cookies set (or
//! deleted) exactly as Django decides. The rules are the framework-neutral request path's
//! ([`crate::request`]); this module only moves them in and out of actix-web. A store outage is the
//! service's 503, a session deleted meanwhile (a logout elsewhere) just logs the user out.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::future::{Ready, ready};
use std::net::IpAddr;
use std::rc::Rc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use django_auth_core::store::Session;

use crate::Services;
use crate::csrf::CsrfHandle;
use crate::request::{Rejection, RequestHead, RequestState};

pub use crate::request::{MAX_COOKIE_BYTES, NOTICE_COOKIE, clear_notice_cookie, notice_cookie};

/// An actix-web request as the framework-neutral request path reads it.
pub struct ActixHead<'a>(pub &'a HttpRequest);

impl RequestHead for ActixHead<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap_or(""))
    }

    fn cookie_header(&self) -> Option<Cow<'_, str>> {
        crate::request::join_cookie_headers(
            self.0
                .headers()
                .get_all(header::COOKIE)
                .filter_map(|value| value.to_str().ok()),
        )
    }

    fn authority(&self) -> Option<&str> {
        self.0.uri().authority().map(|a| a.as_str())
    }

    fn method(&self) -> &str {
        self.0.method().as_str()
    }

    fn peer_ip(&self) -> Option<IpAddr> {
        self.0.peer_addr().map(|a| a.ip())
    }

    fn server_port(&self) -> Option<u16> {
        Some(self.0.app_config().local_addr().port())
    }
}

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
    /// The session, taken out (an empty one is left until [`SessionHandle::put`]).
    pub fn take(&self) -> Session {
        self.0.session.take()
    }

    /// Puts the session back, for the middleware to save.
    pub fn put(&self, session: Session) {
        self.0.session.replace(session);
    }

    /// The current session key (a credential: compare with it, never show it).
    pub fn session_key(&self) -> Option<String> {
        self.0.session.borrow().session_key().map(str::to_string)
    }

    /// `request.user`: Django's `get_user` ([`crate::request::DjangoAuth::get_session_user`], which may
    /// cycle the key after a fallback-key match, or flush a session whose hash matches nothing). A user
    /// it accepts marks the request verified.
    pub async fn get_user(
        &self,
        services: &Services,
    ) -> Result<Option<django_auth_core::users::User>, django_auth_core::connections::StoreError>
    {
        let mut session = self.take();
        let user = services.get_session_user(&mut session).await;
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

/// `request.get_host()`'s raw value ([`crate::request::request_host`]).
pub fn request_host(req: &HttpRequest, settings: &django_auth_core::settings::Settings) -> String {
    crate::request::request_host(&ActixHead(req), settings)
}

/// `request.is_secure()` ([`crate::request::is_secure`]).
pub fn is_secure(req: &HttpRequest, settings: &django_auth_core::settings::Settings) -> bool {
    crate::request::is_secure(&ActixHead(req), settings)
}

/// The client's address (`NUM_PROXIES`) and browser ([`crate::request::client`]).
pub fn client(
    req: &HttpRequest,
    settings: &django_auth_core::settings::Settings,
) -> django_auth_core::idle::Client {
    crate::request::client(&ActixHead(req), settings)
}

/// A refusal of the request path as the service's response.
fn rejection(state: &Services, rejection: Rejection) -> actix_web::HttpResponse {
    match rejection {
        Rejection::BadRequest(message) => state.responses.bad_request(message),
        Rejection::Unavailable(e) => state.unavailable(&e),
        Rejection::Random(e) => actix_web::error::ErrorInternalServerError(e).error_response(),
    }
}

/// `HttpRequest.get_host()`'s check, before anything else: a Host header not in `ALLOWED_HOSTS` is a 400
/// ("Bad Request (400)", as Django answers `DisallowedHost`), logged with Django's message.
pub async fn allowed_hosts(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = crate::services(&req)?;
    if let Err(refused) = state.check_host(&ActixHead(req.request())) {
        return Ok(req.into_response(rejection(&state, refused)));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// The whole stack in one middleware, for a service of your own: [`allowed_hosts`], then [`middleware`]
/// (`SessionMiddleware` and `CsrfViewMiddleware`), as `App::new().wrap(from_fn(session::stack))`.
pub async fn stack(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = crate::services(&req)?;
    if let Err(refused) = state.check_host(&ActixHead(req.request())) {
        return Ok(req.into_response(rejection(&state, refused)));
    }
    middleware(req, next).await
}

/// `SessionMiddleware` and `CsrfViewMiddleware` (`process_request`, then `process_response`): the
/// handlers find a [`SessionHandle`] and a [`CsrfHandle`] in the request.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = crate::services(&req)?;
    let RequestState {
        session,
        csrf,
        had_cookie,
        activity,
        verified,
    } = match state.begin(&ActixHead(req.request())).await {
        Ok(begun) => begun,
        Err(refused) => return Ok(req.into_response(rejection(&state, refused))),
    };
    let handle = SessionHandle::default();
    handle.put(session);
    handle.0.verified.set(verified);
    let csrf = CsrfHandle::new(csrf);
    req.extensions_mut().insert(handle.clone());
    req.extensions_mut().insert(csrf.clone());
    let response = next.call(req).await?.map_into_boxed_body();
    let finished = RequestState {
        session: handle.take(),
        csrf: csrf.into_inner(),
        had_cookie,
        activity,
        verified: handle.0.verified.get(),
    };
    let status = response.status().as_u16();
    let outcome = state
        .finish(finished, status, || {
            client(response.request(), &state.settings)
        })
        .await;
    let (request, mut response) = response.into_parts();
    match outcome {
        Ok(headers) => {
            for value in headers.set_cookie {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            if headers.vary_cookie {
                crate::patch_vary_headers(response.headers_mut(), &["Cookie"]);
            }
            Ok(ServiceResponse::new(request, response))
        }
        Err(e) => Ok(ServiceResponse::new(request, state.unavailable(&e))),
    }
}
