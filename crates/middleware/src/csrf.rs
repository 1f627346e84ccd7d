//! Django's `CsrfViewMiddleware` on actix-web. The rules (secret, masking, the token check and its reasons,
//! Origin and Referer) are the shared crate's (`auth::csrf`); this module only moves them in and out of
//! HTTP: the `csrftoken` cookie in, a [`CsrfHandle`] for pages that need a token, the cookie out when the
//! secret is new or rotated, and [`protect`] for every unsafe request, called by each form handler before
//! it looks at the form (only the handler has the body).

use std::cell::RefCell;
use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use auth::crypto::RandomError;
use auth::csrf::{CsrfCookie, CsrfRejection, RequestOrigin, TokenSource};

use crate::Services;

/// The request's CSRF state, shared by the middleware and the handlers.
#[derive(Clone)]
pub struct CsrfHandle(Rc<RefCell<CsrfCookie>>);

impl CsrfHandle {
    /// `get_token(request)`: a masked token for a form (the response then carries the cookie if new).
    pub fn token(&self) -> Result<String, RandomError> {
        self.0.borrow_mut().get_token()
    }

    /// `rotate_token(request)`, at login.
    pub fn rotate(&self) -> Result<(), RandomError> {
        self.0.borrow_mut().rotate()
    }
}

impl FromRequest for CsrfHandle {
    type Error = actix_web::Error;
    type Future = Ready<Result<CsrfHandle, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(crate::session::from_extensions(req, "no CSRF middleware"))
    }
}

/// `process_request` and `process_response`.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = crate::services(&req)?;
    let settings = &state.settings.csrf;
    let cookie = req
        .cookie(&settings.cookie.name)
        .map(|c| c.value().to_string());
    let csrf = CsrfCookie::from_cookie(cookie.as_deref())
        .map_err(actix_web::error::ErrorInternalServerError)?;
    let handle = CsrfHandle(Rc::new(RefCell::new(csrf)));
    req.extensions_mut().insert(handle.clone());
    let mut response = next.call(req).await?.map_into_boxed_body();
    let set_cookie =
        handle
            .0
            .borrow()
            .set_cookie(&settings.cookie, settings.cookie_age, chrono::Utc::now());
    if let Some(value) = set_cookie.and_then(|v| HeaderValue::from_str(&v).ok()) {
        let headers = response.headers_mut();
        headers.append(header::SET_COOKIE, value);
        crate::patch_vary_headers(headers, &["Cookie"]);
    }
    Ok(response)
}

/// `CsrfViewMiddleware.process_view` for an unsafe request: Origin (or, over HTTPS, Referer) must be this
/// site or a trusted origin, then the form's `csrfmiddlewaretoken` (else the `X-CSRFToken` header) must
/// match the cookie. `form_token` is the form field as posted.
pub fn protect(req: &HttpRequest, form_token: Option<&str>) -> Result<(), CsrfError> {
    let state = req
        .app_data::<web::Data<Services>>()
        .ok_or(CsrfError::Wiring("no services"))?;
    let settings = &state.settings;
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let host = crate::session::request_host(req, settings);
    let port = req.app_config().local_addr().port().to_string();
    let origin = header("origin");
    let referer = header("referer");
    let request = RequestOrigin {
        is_secure: crate::session::is_secure(req, settings),
        // The host passed ALLOWED_HOSTS already (the page would be a 400 otherwise).
        host: Some(host.as_str()),
        port: &port,
        origin: origin.as_deref(),
        referer: referer.as_deref(),
    };
    auth::csrf::check_origin_and_referer(
        &request,
        &settings.csrf.trusted,
        settings.csrf.cookie.domain.as_deref(),
    )
    .map_err(CsrfError::Rejected)?;
    let header_token = header(&settings.csrf.header_name);
    let header_display = display_header_name(&settings.csrf.header_name);
    let token = match (
        form_token.filter(|t| !t.is_empty()),
        header_token.as_deref(),
    ) {
        (Some(token), _) => Some((token, TokenSource::Post)),
        (None, Some(token)) => Some((token, TokenSource::Header(&header_display))),
        (None, None) => None,
    };
    let handle = req
        .extensions()
        .get::<CsrfHandle>()
        .cloned()
        .ok_or(CsrfError::Wiring("no CSRF middleware"))?;
    let result: Result<(), CsrfRejection> = handle.0.borrow().check(token);
    result.map_err(CsrfError::Rejected)
}

/// Why [`protect`] refused.
#[derive(Debug)]
pub enum CsrfError {
    /// Django's rejection, with its reason text.
    Rejected(CsrfRejection),
    /// The route is outside the middleware: a bug of ours, never something a request causes.
    Wiring(&'static str),
}

/// How Django names a header in its reasons: `X-CSRFTOKEN` is shown as `X-Csrftoken`
/// (`header.replace("_", "-").title()` of the part after `HTTP_`).
fn display_header_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let lower = part.to_ascii_lowercase();
            let mut chars = lower.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}
