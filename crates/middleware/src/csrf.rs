//! Django's `CsrfViewMiddleware` on actix-web, the handlers' half: the rules (secret, masking, the token
//! check and its reasons, Origin and Referer) are the shared crate's (`django_auth_core::csrf`) through the
//! framework-neutral [`crate::request::DjangoAuth::enforce_csrf`]. The session middleware
//! ([`crate::session::middleware`]) reads the `csrftoken` cookie and sets it when the secret is new or
//! rotated; this module gives handlers a [`CsrfHandle`] for pages that need a token, and [`protect`] for
//! every unsafe request, called by each form handler before it looks at the form (only the handler has
//! the body).

use std::cell::RefCell;
use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use django_auth_core::crypto::RandomError;
use django_auth_core::csrf::{CsrfCookie, CsrfRejection};

use crate::Services;
use crate::session::ActixHead;

/// The request's CSRF state, shared by the middleware and the handlers.
#[derive(Clone)]
pub struct CsrfHandle(Rc<RefCell<CsrfCookie>>);

impl CsrfHandle {
    /// The handle of a request's CSRF cookie.
    pub fn new(csrf: CsrfCookie) -> CsrfHandle {
        CsrfHandle(Rc::new(RefCell::new(csrf)))
    }

    /// The CSRF cookie's state after the handler (what the response must set).
    pub fn into_inner(self) -> CsrfCookie {
        self.0.take()
    }

    /// The CSRF cookie's state, borrowed (never across an await).
    pub fn borrow(&self) -> std::cell::Ref<'_, CsrfCookie> {
        self.0.borrow()
    }

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

/// `CsrfViewMiddleware.process_view` for an unsafe request: Origin (or, over HTTPS, Referer) must be this
/// site or a trusted origin, then the form's `csrfmiddlewaretoken` (else the `X-CSRFToken` header) must
/// match the cookie. `form_token` is the form field as posted.
pub fn protect(req: &HttpRequest, form_token: Option<&str>) -> Result<(), CsrfError> {
    let state = req
        .app_data::<web::Data<Services>>()
        .ok_or(CsrfError::Wiring("no services"))?;
    let handle = req
        .extensions()
        .get::<CsrfHandle>()
        .cloned()
        .ok_or(CsrfError::Wiring("no CSRF middleware"))?;
    let csrf = handle.borrow();
    state
        .enforce_csrf(&ActixHead(req), &csrf, form_token)
        .map_err(CsrfError::Rejected)
}

/// Why [`protect`] refused.
#[derive(Debug)]
pub enum CsrfError {
    /// Django's rejection, with its reason text.
    Rejected(CsrfRejection),
    /// The route is outside the middleware: a bug of ours, never something a request causes.
    Wiring(&'static str),
}
