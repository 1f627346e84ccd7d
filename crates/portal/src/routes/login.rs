//! `/accounts/login/` and `/accounts/logout/`: Django's `LoginView` (`AuthenticationForm`, then
//! `django.contrib.auth.login`) and `LogoutView`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use django_auth_core::auth::login_backend;
use django_auth_core::user_model::UserModel;
use django_auth_core::users::User;
use serde::Deserialize;

use crate::csrf::{CsrfHandle, protect};
use crate::pages::{Field, FormPage, MessagePage, PageError, html, redirect};
use crate::routes::{
    Data, Form, MAX_PASSWORD, REQUIRED, chrome, clear_notice, current_user, field, form_chrome,
    notice, too_long,
};
use crate::session::{SessionHandle, client, is_secure, request_host};

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrfmiddlewaretoken: Option<String>,
    username: Option<String>,
    password: Option<String>,
    next: Option<String>,
}

/// `AuthenticationForm`'s `invalid_login`, with the `USERNAME_FIELD`'s verbose name: one message whether
/// the username is unknown, the password wrong, or the account inactive.
fn invalid_login(model: &UserModel) -> String {
    format!(
        "Please enter a correct {} and password. Note that both fields may be case-sensitive.",
        model.username_label().to_lowercase()
    )
}

/// `AuthenticationForm`'s login field: named `username` whatever the model, labelled with the
/// `USERNAME_FIELD`'s verbose name ("Email address" for a model that logs in by email).
fn login_form(model: &UserModel, username: &str, next: &str) -> FormPage {
    FormPage {
        title: "Log in".into(),
        action: "/accounts/login/".into(),
        hidden: if next.is_empty() {
            Vec::new()
        } else {
            vec![("next".into(), next.to_string())]
        },
        fields: vec![
            Field::new("username", model.username_label(), "text")
                .value(username)
                .autofocus(),
            Field::new("password", "Password", "password"),
        ],
        submit: "Log in".into(),
        links: vec![
            (
                "/accounts/password_reset/".into(),
                "Forgot your password?".into(),
            ),
            ("/accounts/register/".into(), "Create an account".into()),
        ],
        ..FormPage::default()
    }
}

/// `LoginView.get_success_url`: `next` when `url_has_allowed_host_and_scheme` accepts it for this host
/// (HTTPS required when the request is secure), else `LOGIN_REDIRECT_URL`.
pub fn success_url(req: &HttpRequest, state: &Data, next: &str, default: &str) -> String {
    let host = request_host(req, &state.settings);
    let secure = is_secure(req, &state.settings);
    if django_auth_core::hosts::url_has_allowed_host_and_scheme(next, &[host.as_str()], secure) {
        next.trim().to_string()
    } else {
        default.to_string()
    }
}

pub async fn get(
    req: HttpRequest,
    state: Data,
    handle: SessionHandle,
    csrf: CsrfHandle,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, PageError> {
    let user = current_user(&state, &handle).await?;
    let mut page = login_form(state.users.model(), "", field(&query.next));
    page.chrome = form_chrome(user.as_ref(), &csrf)?;
    let shown = notice(&req, &state);
    page.notices.extend(shown.clone());
    let mut response = html(StatusCode::OK, &page);
    if shown.is_some() {
        clear_notice(&mut response);
    }
    Ok(response)
}

pub async fn post(
    req: HttpRequest,
    state: Data,
    handle: SessionHandle,
    csrf: CsrfHandle,
    form: Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    protect(&req, form.csrfmiddlewaretoken.as_deref())?;
    let username = field(&form.username);
    let password = field(&form.password);
    let next = field(&form.next);
    let mut page = login_form(state.users.model(), username, next);
    // `username_max_length = field.max_length or 254`: the column's length.
    let model = state.users.model();
    let username_max = model.max_length(
        model.username_field(),
        if model.username_is_email() {
            django_auth_core::validators::EMAIL_MAX_LENGTH
        } else {
            django_auth_core::validators::USERNAME_MAX_LENGTH
        },
    );
    for (name, value, max) in [
        ("username", username, username_max),
        ("password", password, MAX_PASSWORD),
    ] {
        let error = if value.is_empty() {
            Some(REQUIRED.to_string())
        } else {
            too_long(value, max)
        };
        if let (Some(error), Some(f)) = (error, page.field_mut(name)) {
            f.errors.push(error);
        }
    }
    if !page.has_errors() {
        match authenticate(&req, &state, username, password).await? {
            Ok(user) => {
                login(&state, &handle, &csrf, &user).await?;
                let to = success_url(&req, &state, next, &state.portal.login_redirect_url);
                return Ok(redirect(&to));
            }
            Err(message) => page.form_errors.push(message),
        }
    }
    let user = current_user(&state, &handle).await?;
    page.chrome = form_chrome(user.as_ref(), &csrf)?;
    Ok(html(StatusCode::OK, &page))
}

/// The throttle, then `authenticate()`: the user, or the message to show.
async fn authenticate(
    req: &HttpRequest,
    state: &Data,
    username: &str,
    password: &str,
) -> Result<Result<User, String>, PageError> {
    let address = client(req, &state.settings).ip;
    if let Err(throttled) = state.throttle.check(username, &address).await? {
        let minutes = throttled.retry_after.as_secs().div_ceil(60).max(1);
        tracing::warn!("login refused: too many failures");
        state.metrics.login("throttled");
        return Ok(Err(format!(
            "Too many failed login attempts. Please try again in {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        )));
    }
    match state.users.authenticate(username, password).await? {
        Some(user) if login_backend(&state.settings.authentication_backends).is_some() => {
            state.throttle.succeeded(username).await?;
            state.metrics.login("success");
            Ok(Ok(user))
        }
        _ => {
            state.throttle.failed(username, &address).await?;
            state.metrics.login("invalid");
            Ok(Err(invalid_login(state.users.model())))
        }
    }
}

/// `django.contrib.auth.login(request, user)`: the session's half is the shared crate's (flush or cycle
/// the key, then the three `_auth_user_*` keys), then `rotate_token` and `update_last_login`.
pub async fn login(
    state: &Data,
    handle: &SessionHandle,
    csrf: &CsrfHandle,
    user: &User,
) -> Result<(), PageError> {
    let backend = login_backend(&state.settings.authentication_backends)
        .ok_or_else(|| PageError::Internal("no authentication backend".into()))?
        .to_string();
    let hash = state.hasher.get_session_auth_hash(&user.password);
    let mut session = handle.take();
    let result = state
        .sessions
        .login(&mut session, user.pk(), &backend, &hash)
        .await;
    handle.put(session);
    result?;
    // The middleware then writes the activity record for the session's user.
    handle.verified();
    csrf.rotate()?;
    state.users.update_last_login(user.pk()).await?;
    tracing::info!(user_pk = user.pk(), "user logged in");
    Ok(())
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrfmiddlewaretoken: Option<String>,
    next: Option<String>,
}

/// `GET /accounts/logout/`: a confirmation form (a GET must never log anyone out: a link or an image on
/// another site could).
pub async fn logout_get(
    state: Data,
    handle: SessionHandle,
    csrf: CsrfHandle,
) -> Result<HttpResponse, PageError> {
    let user = current_user(&state, &handle).await?;
    let page = FormPage {
        chrome: form_chrome(user.as_ref(), &csrf)?,
        title: "Log out".into(),
        lead: match &user {
            Some(u) => format!(
                "You are signed in as {}. Log out on every service?",
                u.username
            ),
            None => "You are not signed in.".into(),
        },
        action: "/accounts/logout/".into(),
        submit: "Log out".into(),
        ..FormPage::default()
    };
    Ok(html(StatusCode::OK, &page))
}

/// `POST /accounts/logout/`: `logout()` flushes the session (so Django and the api see nobody), the
/// middleware deletes the cookie; then `next` if safe, `LOGOUT_REDIRECT_URL`, or the logged-out page.
pub async fn logout_post(
    req: HttpRequest,
    state: Data,
    handle: SessionHandle,
    csrf: CsrfHandle,
    form: Form<LogoutForm>,
) -> Result<HttpResponse, PageError> {
    protect(&req, form.csrfmiddlewaretoken.as_deref())?;
    let mut session = handle.take();
    let result = state.sessions.logout(&mut session).await;
    handle.put(session);
    result?;
    let next = field(&form.next);
    if let Some(default) = state.portal.logout_redirect_url.clone() {
        return Ok(redirect(&success_url(&req, &state, next, &default)));
    }
    if !next.is_empty() {
        let to = success_url(&req, &state, next, "");
        if !to.is_empty() {
            return Ok(redirect(&to));
        }
    }
    let page = MessagePage {
        chrome: chrome(None, &csrf)?,
        title: "Logged out".into(),
        paragraphs: vec!["You have been logged out of every service.".into()],
        links: vec![("/accounts/login/".into(), "Log in again".into())],
    };
    Ok(html(StatusCode::OK, &page))
}
