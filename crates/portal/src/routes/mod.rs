//! One module per page, after Django's `django.contrib.auth.urls`. Handlers only speak HTTP: every rule
//! of sessions, passwords and tokens is the shared crate's.

pub mod home;
pub mod login;
pub mod password_change;
pub mod password_reset;
pub mod register;
pub mod sessions;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use django_auth_core::users::User;

use crate::csrf::CsrfHandle;
use crate::pages::{Chrome, PageError, redirect};
use crate::session::{NOTICE_COOKIE, SessionHandle, clear_notice_cookie};
use crate::startup::State;

/// Django's `request.POST` for a form page: the urlencoded body (read by actix's `Form`, with its size
/// limit), or an empty form when the request carries none (no `Content-Type`, or another media type), as
/// Django's `request.POST` is then empty. So a bodiless `POST` reaches the page's CSRF check and is refused
/// there (403) as Django refuses it, not turned away as unreadable (400).
pub struct Form<T>(pub T);

impl<T> std::ops::Deref for Form<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for Form<T> {
    type Error = actix_web::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Form<T>, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        use actix_web::HttpMessage;
        let media_type = req.content_type();
        // A urlencoded body is read; multipart (which Django would parse, and these pages never send)
        // stays actix's 400 "could not be read", as before.
        if media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded")
            || media_type.eq_ignore_ascii_case("multipart/form-data")
        {
            let body = web::Form::<T>::from_request(req, payload);
            return Box::pin(async move { Ok(Form(body.await?.into_inner())) });
        }
        let empty = serde_urlencoded::from_str::<T>("")
            .map(Form)
            .map_err(|e| PageError::BadRequest(format!("The form could not be read: {e}.")).into());
        Box::pin(std::future::ready(empty))
    }
}

/// `request.user` through the shared `get_user` (which may cycle or flush the session, as Django's does).
pub async fn current_user(
    state: &State,
    handle: &SessionHandle,
) -> Result<Option<User>, PageError> {
    Ok(handle.get_user(&state.services).await?)
}

/// The header's facts for a page without a form: a CSRF token only for the logout button of a signed-in
/// user, so an anonymous visitor's page sets no `csrftoken` cookie.
pub fn chrome(user: Option<&User>, csrf: &CsrfHandle) -> Result<Chrome, PageError> {
    Ok(Chrome {
        username: user.map(|u| u.username.clone()),
        csrf_token: if user.is_some() {
            csrf.token()?
        } else {
            String::new()
        },
    })
}

/// The header's facts for a page with a form: always a token (Django's `{% csrf_token %}`).
pub fn form_chrome(user: Option<&User>, csrf: &CsrfHandle) -> Result<Chrome, PageError> {
    Ok(Chrome {
        username: user.map(|u| u.username.clone()),
        csrf_token: csrf.token()?,
    })
}

/// `redirect_to_login(request.get_full_path())`: `LOGIN_URL?next=<path>`.
pub fn redirect_to_login(req: &HttpRequest, state: &State) -> HttpResponse {
    let path = match req.uri().query() {
        Some(query) => format!("{}?{query}", req.uri().path()),
        None => req.uri().path().to_string(),
    };
    let query = serde_urlencoded::to_string([("next", path)]).unwrap_or_default();
    redirect(&format!("{}?{query}", state.portal.login_url))
}

/// The one-time notice the previous response left (see [`crate::session::NOTICE_COOKIE`]), as text, and
/// whether a cookie must be cleared.
pub fn notice(req: &HttpRequest, state: &State) -> Option<String> {
    let code = req.cookie(NOTICE_COOKIE)?;
    let text = match code.value() {
        "idle" => format!(
            "You were logged out after {} without activity. Please log in again.",
            span(state.settings.idle_timeout.unwrap_or(0))
        ),
        "registered" => "Your account has been created. You can log in now.".into(),
        "reset" => "Your password has been set. You may go ahead and log in now.".into(),
        "session_ended" => "That session has been logged out.".into(),
        "others_ended" => "All your other sessions have been logged out.".into(),
        _ => return None,
    };
    Some(text)
}

/// "90 seconds", "15 minutes", "2 hours": a timeout as people say it.
pub fn span(seconds: i64) -> String {
    let (n, unit) = if seconds % 3600 == 0 && seconds >= 3600 {
        (seconds / 3600, "hour")
    } else if seconds % 60 == 0 && seconds >= 60 {
        (seconds / 60, "minute")
    } else {
        (seconds, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Drops the notice cookie once a page showed it.
pub fn clear_notice(response: &mut HttpResponse) {
    if let Ok(value) = HeaderValue::from_str(&clear_notice_cookie()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// A redirect that carries a notice to the next page.
pub fn redirect_with_notice(location: &str, code: &str) -> HttpResponse {
    let mut response = redirect(location);
    if let Ok(value) = HeaderValue::from_str(&crate::session::notice_cookie(code)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// A form field as posted, or empty.
pub fn field(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

/// `CharField(max_length=…)`'s checks, with Django's messages: the length, then
/// `ProhibitNullCharactersValidator` (a NUL never reaches the database, which would refuse it); `None`
/// when the value passes.
pub fn too_long(value: &str, max: usize) -> Option<String> {
    let n = value.chars().count();
    if value.contains('\0') && n <= max {
        return Some("Null characters are not allowed.".into());
    }
    (n > max).then(|| {
        format!(
            "Ensure this value has at most {max} character{} (it has {n}).",
            if max == 1 { "" } else { "s" }
        )
    })
}

/// Django's `required` message.
pub const REQUIRED: &str = "This field is required.";

/// The longest password accepted at all: hashing megabytes would be a denial of service, and Django's
/// forms cap a whole request at 2.5 MB. Beyond this the form says so.
pub const MAX_PASSWORD: usize = 4096;

pub type Data = web::Data<State>;

/// What no page matched: Django's `CommonMiddleware` with `APPEND_SLASH` first (a GET or HEAD for a path
/// that is a page once a slash is appended gets a 301 there, leading slashes escaped as Django's
/// `escape_leading_slashes` does, so `//evil.example` cannot become a protocol-relative redirect), else a
/// 404 page.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, PageError> {
    use actix_web::http::Method;
    let path = req.path();
    if matches!(*req.method(), Method::GET | Method::HEAD) && !path.ends_with('/') {
        let with_slash = format!("{path}/");
        if req.resource_map().has_resource(&with_slash) {
            let mut location = match with_slash.strip_prefix("//") {
                Some(rest) => format!("/%2F{rest}"),
                None => with_slash,
            };
            if let Some(query) = req.uri().query() {
                location.push('?');
                location.push_str(query);
            }
            return Ok(HttpResponse::MovedPermanently()
                .insert_header((header::LOCATION, location))
                .finish());
        }
    }
    Err(PageError::NotFound)
}
