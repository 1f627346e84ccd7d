//! The pages' shared parts: the chrome every page has (who is signed in, the token of the logout form), the
//! two page shapes (a form, a message) rendered with askama (HTML-escaped by default), and [`PageError`],
//! which turns every failure into a styled page with the right status: 400 for bad input, 403 for CSRF
//! with Django's reason, 503 when Redis or PostgreSQL is unreachable. Never a 500 for anything a request
//! or a store can cause.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use django_auth_core::connections::StoreError;
use django_auth_core::csrf::CsrfRejection;

/// What the header of every page shows.
#[derive(Clone, Debug, Default)]
pub struct Chrome {
    pub username: Option<String>,
    /// A masked CSRF token for the logout button (and the page's own form).
    pub csrf_token: String,
}

/// One input of a form, with its errors next to it.
#[derive(Clone, Debug, Default)]
pub struct Field {
    pub name: &'static str,
    /// The label (the login field's follows the user model's `USERNAME_FIELD`).
    pub label: std::borrow::Cow<'static, str>,
    /// `text`, `password` or `email`.
    pub kind: &'static str,
    /// Shown back after an error (never for passwords).
    pub value: String,
    pub autocomplete: &'static str,
    pub autofocus: bool,
    /// Marked `required` for the browser (the server checks regardless).
    pub required: bool,
    pub errors: Vec<String>,
    pub help: Vec<String>,
}

impl Field {
    pub fn new(
        name: &'static str,
        label: impl Into<std::borrow::Cow<'static, str>>,
        kind: &'static str,
    ) -> Field {
        let autocomplete = match (kind, name) {
            ("password", "password" | "old_password") => "current-password",
            ("password", _) => "new-password",
            ("email", _) => "email",
            _ => "username",
        };
        Field {
            name,
            label: label.into(),
            kind,
            autocomplete,
            required: true,
            ..Field::default()
        }
    }

    pub fn value(mut self, value: &str) -> Field {
        self.value = value.to_string();
        self
    }

    pub fn optional(mut self) -> Field {
        self.required = false;
        self
    }

    pub fn autofocus(mut self) -> Field {
        self.autofocus = true;
        self
    }

    pub fn help(mut self, help: Vec<String>) -> Field {
        self.help = help;
        self
    }
}

#[derive(Template, Default)]
#[template(path = "form.html")]
pub struct FormPage {
    pub chrome: Chrome,
    pub title: String,
    pub lead: String,
    pub notices: Vec<String>,
    /// Errors about the whole form (Django's `non_field_errors`).
    pub form_errors: Vec<String>,
    pub action: String,
    pub hidden: Vec<(String, String)>,
    pub fields: Vec<Field>,
    pub submit: String,
    pub links: Vec<(String, String)>,
}

impl FormPage {
    /// The field named `name`, to attach an error to it.
    pub fn field_mut(&mut self, name: &str) -> Option<&mut Field> {
        self.fields.iter_mut().find(|f| f.name == name)
    }

    pub fn has_errors(&self) -> bool {
        !self.form_errors.is_empty() || self.fields.iter().any(|f| !f.errors.is_empty())
    }
}

#[derive(Template, Default)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub chrome: Chrome,
    pub title: String,
    pub paragraphs: Vec<String>,
    pub links: Vec<(String, String)>,
}

/// A rendered page with this status.
pub fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("Server error (500)")
        }
    }
}

/// A 302 to `location` (Django's `HttpResponseRedirect`).
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header(("Location", location))
        .finish()
}

/// Why a request could not be answered with its page.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("store unavailable: {0}")]
    Unavailable(#[from] StoreError),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("not found")]
    NotFound,
    #[error("CSRF verification failed: {0}")]
    Csrf(CsrfRejection),
    /// A bug of ours, not something a request or a store can cause.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<django_auth_web::csrf::CsrfError> for PageError {
    fn from(e: django_auth_web::csrf::CsrfError) -> PageError {
        match e {
            django_auth_web::csrf::CsrfError::Rejected(reason) => PageError::Csrf(reason),
            django_auth_web::csrf::CsrfError::Wiring(what) => PageError::Internal(what.to_string()),
        }
    }
}

impl From<django_auth_core::crypto::RandomError> for PageError {
    fn from(e: django_auth_core::crypto::RandomError) -> PageError {
        PageError::Internal(e.to_string())
    }
}

/// The shared middleware's refusals, as the portal's pages.
pub struct HtmlResponses;

impl django_auth_web::Responses for HtmlResponses {
    fn unavailable(&self) -> HttpResponse {
        unavailable_page()
    }

    fn bad_request(&self, message: String) -> HttpResponse {
        PageError::BadRequest(message).error_response()
    }
}

impl From<django_auth_core::users::UserError> for PageError {
    fn from(e: django_auth_core::users::UserError) -> PageError {
        match e {
            django_auth_core::users::UserError::Store(e) => PageError::Unavailable(e),
            other => PageError::Internal(other.to_string()),
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::Csrf(_) => StatusCode::FORBIDDEN,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, paragraphs) = match self {
            PageError::Unavailable(e) => {
                tracing::warn!(error = %e, "store unavailable");
                return unavailable_page();
            }
            PageError::BadRequest(message) => ("Bad Request (400)", vec![message.clone()]),
            PageError::NotFound => (
                "Not Found",
                vec!["The requested resource was not found on this server.".to_string()],
            ),
            PageError::Csrf(reason) => {
                tracing::warn!(%reason, "Forbidden (CSRF)");
                let mut paragraphs = vec![
                    "CSRF verification failed. Request aborted.".to_string(),
                    format!("Reason given for failure: {reason}"),
                ];
                if matches!(reason, CsrfRejection::NoCookie) {
                    paragraphs.push(
                        "You are seeing this message because this site requires a CSRF cookie when \
                         submitting forms. This cookie is required for security reasons, to ensure \
                         that your browser is not being hijacked by third parties. If you have \
                         configured your browser to disable cookies, please re-enable them, at least \
                         for this site, or for “same-origin” requests."
                            .to_string(),
                    );
                }
                ("Forbidden (403)", paragraphs)
            }
            PageError::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                ("Server error (500)", Vec::new())
            }
        };
        let page = MessagePage {
            title: title.to_string(),
            paragraphs,
            links: vec![("/".into(), "Home".into())],
            ..MessagePage::default()
        };
        html(self.status_code(), &page)
    }
}

/// The 503 page for a Redis or PostgreSQL outage, with `Retry-After`.
pub fn unavailable_page() -> HttpResponse {
    let page = MessagePage {
        title: "Service unavailable".into(),
        paragraphs: vec![
            "We cannot reach our session or user store right now. Please try again in a moment."
                .into(),
        ],
        links: vec![("/".into(), "Home".into())],
        ..MessagePage::default()
    };
    let mut response = html(StatusCode::SERVICE_UNAVAILABLE, &page);
    response.headers_mut().insert(
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from_static("5"),
    );
    response
}
