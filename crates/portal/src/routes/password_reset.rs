//! Django's password reset: `/accounts/password_reset/` (`PasswordResetView`) mails a link to every
//! active user with that address and a usable password, `/accounts/reset/<uidb64>/<token>/`
//! (`PasswordResetConfirmView`) checks it, keeps the token in the session and redirects to
//! `/accounts/reset/<uidb64>/set-password/` (so the token leaves the address bar and the Referer), where
//! the new password is set. Tokens are the shared crate's `PasswordResetTokenGenerator`, so a link Django
//! mailed works here and ours works on Django.
//!
//! No user enumeration: the form answers the same redirect whether or not the address exists, and the
//! mail goes out in the background, so the response time does not tell either.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use django_auth_core::tokens::{TokenUser, uid_decode, uid_encode};
use django_auth_core::users::User;
use django_auth_core::value::Value;
use serde::Deserialize;

use crate::csrf::{CsrfHandle, protect};
use crate::mail::Message;
use crate::pages::{Field, FormPage, MessagePage, PageError, html, redirect};
use crate::routes::password_change::check_new_passwords;
use crate::routes::{Data, Form, REQUIRED, chrome, current_user, field, form_chrome, too_long};
use crate::session::{SessionHandle, is_secure, request_host};

/// `INTERNAL_RESET_SESSION_TOKEN`: where the confirm view keeps the token between its two pages.
const INTERNAL_RESET_SESSION_TOKEN: &str = "_password_reset_token";
/// `PasswordResetConfirmView.reset_url_token`.
const RESET_URL_TOKEN: &str = "set-password";

#[derive(Deserialize)]
pub struct ResetForm {
    csrfmiddlewaretoken: Option<String>,
    email: Option<String>,
}

fn reset_form(email: &str) -> FormPage {
    FormPage {
        title: "Password reset".into(),
        lead:
            "Forgotten your password? Enter your email address below, and we’ll email instructions \
               for setting a new one."
                .into(),
        action: "/accounts/password_reset/".into(),
        fields: vec![
            Field::new("email", "Email", "email")
                .value(email)
                .autofocus(),
        ],
        submit: "Reset my password".into(),
        ..FormPage::default()
    }
}

pub async fn get(
    state: Data,
    handle: SessionHandle,
    csrf: CsrfHandle,
) -> Result<HttpResponse, PageError> {
    let user = current_user(&state, &handle).await?;
    let mut page = reset_form("");
    page.chrome = form_chrome(user.as_ref(), &csrf)?;
    Ok(html(StatusCode::OK, &page))
}

fn token_user(user: &User) -> TokenUser<'_> {
    TokenUser {
        pk: user.pk(),
        password: &user.password,
        last_login: user.last_login,
        email: user.email(),
    }
}

/// `PasswordResetForm.save`: one mail per matching user, with Django's link layout.
pub async fn post(
    req: HttpRequest,
    state: Data,
    handle: SessionHandle,
    csrf: CsrfHandle,
    form: Form<ResetForm>,
) -> Result<HttpResponse, PageError> {
    protect(&req, form.csrfmiddlewaretoken.as_deref())?;
    let email = field(&form.email).trim().to_string();
    let error = if email.is_empty() {
        Some(REQUIRED.to_string())
    } else {
        too_long(&email, 254)
    };
    if let Some(error) = error {
        let user = current_user(&state, &handle).await?;
        let mut page = reset_form(&email);
        page.chrome = form_chrome(user.as_ref(), &csrf)?;
        if let Some(f) = page.field_mut("email") {
            f.errors.push(error);
        }
        return Ok(html(StatusCode::OK, &page));
    }
    let host = request_host(&req, &state.settings);
    let protocol = if is_secure(&req, &state.settings) {
        "https"
    } else {
        "http"
    };
    let now = chrono::Utc::now();
    for user in state.users.users_for_password_reset(&email).await? {
        let token = state.tokens.make_token_at(&token_user(&user), now);
        let uid = uid_encode(user.pk());
        let body = format!(
            "You're receiving this email because you requested a password reset for your user account \
             at {host}.\n\nPlease go to the following page and choose a new password:\n\n\
             {protocol}://{host}/accounts/reset/{uid}/{token}/\n\nYour username, in case you’ve \
             forgotten: {username}\n\nThanks for using our site!\n\nThe {host} team\n",
            username = user.username,
        );
        state.mailer.send_in_background(Message {
            to: user.email().to_string(),
            subject: format!("Password reset on {host}"),
            body,
        });
    }
    Ok(redirect("/accounts/password_reset/done/"))
}

pub async fn done(
    state: Data,
    handle: SessionHandle,
    csrf: CsrfHandle,
) -> Result<HttpResponse, PageError> {
    let user = current_user(&state, &handle).await?;
    let page = MessagePage {
        chrome: chrome(user.as_ref(), &csrf)?,
        title: "Password reset sent".into(),
        paragraphs: vec![
            "We’ve emailed you instructions for setting your password, if an account exists with the \
             email you entered. You should receive them shortly."
                .into(),
            "If you don’t receive an email, please make sure you’ve entered the address you \
             registered with, and check your spam folder."
                .into(),
        ],
        links: vec![("/accounts/login/".into(), "Back to log in".into())],
    };
    Ok(html(StatusCode::OK, &page))
}

/// `PasswordResetConfirmView.get_user(uidb64)`: the user, active or not (Django does not filter here; an
/// inactive user's token still works, and the user still cannot log in).
async fn reset_user(state: &Data, uidb64: &str) -> Result<Option<User>, PageError> {
    match uid_decode(uidb64) {
        Some(pk) => Ok(state.users.get(&pk).await?),
        None => Ok(None),
    }
}

fn invalid_link(csrf: &CsrfHandle) -> Result<HttpResponse, PageError> {
    let page = MessagePage {
        chrome: chrome(None, csrf)?,
        title: "Password reset unsuccessful".into(),
        paragraphs: vec![
            "The password reset link was invalid, possibly because it has already been used. Please \
             request a new password reset."
                .into(),
        ],
        links: vec![("/accounts/password_reset/".into(), "Request a new link".into())],
    };
    Ok(html(StatusCode::OK, &page))
}

fn set_password_form(uidb64: &str) -> FormPage {
    FormPage {
        title: "Enter new password".into(),
        lead: "Please enter your new password twice so we can verify you typed it in correctly."
            .into(),
        action: format!("/accounts/reset/{uidb64}/{RESET_URL_TOKEN}/"),
        fields: vec![
            Field::new("new_password1", "New password", "password")
                .autofocus()
                .help(django_auth_core::password_validation::password_validators_help_texts()),
            Field::new("new_password2", "New password confirmation", "password"),
        ],
        submit: "Change my password".into(),
        ..FormPage::default()
    }
}

/// The token the session holds for this link, if it is still valid for the user.
fn session_token_valid(state: &Data, handle: &SessionHandle, user: &User) -> bool {
    let session = handle.take();
    let token = match session.get(INTERNAL_RESET_SESSION_TOKEN) {
        Some(Value::Str(token)) => Some(token.clone()),
        _ => None,
    };
    handle.put(session);
    token.is_some_and(|t| {
        state
            .tokens
            .check_token_at(&token_user(user), &t, chrono::Utc::now())
    })
}

/// `GET /accounts/reset/<uidb64>/<token>/`.
pub async fn confirm(
    state: Data,
    handle: SessionHandle,
    csrf: CsrfHandle,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (uidb64, token) = path.into_inner();
    let Some(user) = reset_user(&state, &uidb64).await? else {
        return invalid_link(&csrf);
    };
    if token == RESET_URL_TOKEN {
        if !session_token_valid(&state, &handle, &user) {
            return invalid_link(&csrf);
        }
        let mut page = set_password_form(&uidb64);
        page.chrome = form_chrome(None, &csrf)?;
        return Ok(html(StatusCode::OK, &page));
    }
    if !state
        .tokens
        .check_token_at(&token_user(&user), &token, chrono::Utc::now())
    {
        return invalid_link(&csrf);
    }
    let mut session = handle.take();
    session.insert(INTERNAL_RESET_SESSION_TOKEN, token);
    handle.put(session);
    Ok(redirect(&format!(
        "/accounts/reset/{uidb64}/{RESET_URL_TOKEN}/"
    )))
}

#[derive(Deserialize)]
pub struct SetPasswordForm {
    csrfmiddlewaretoken: Option<String>,
    new_password1: Option<String>,
    new_password2: Option<String>,
}

/// `POST /accounts/reset/<uidb64>/set-password/`: `SetPasswordForm`, then the token leaves the session.
/// Django does not log the user in (`post_reset_login = False`); the new password ends every session.
pub async fn confirm_post(
    req: HttpRequest,
    state: Data,
    handle: SessionHandle,
    csrf: CsrfHandle,
    path: web::Path<(String, String)>,
    form: Form<SetPasswordForm>,
) -> Result<HttpResponse, PageError> {
    protect(&req, form.csrfmiddlewaretoken.as_deref())?;
    let (uidb64, token) = path.into_inner();
    let user = match reset_user(&state, &uidb64).await? {
        Some(user) if token == RESET_URL_TOKEN && session_token_valid(&state, &handle, &user) => {
            user
        }
        _ => return invalid_link(&csrf),
    };
    let (password1, password2) = (field(&form.new_password1), field(&form.new_password2));
    let mut page = set_password_form(&uidb64);
    check_new_passwords(&mut page, &user, password1, password2);
    if page.has_errors() {
        page.chrome = form_chrome(None, &csrf)?;
        return Ok(html(StatusCode::OK, &page));
    }
    state.users.set_password(user.pk(), password1).await?;
    let mut session = handle.take();
    session.remove(INTERNAL_RESET_SESSION_TOKEN);
    handle.put(session);
    tracing::info!(user_pk = user.pk(), "password reset");
    Ok(redirect("/accounts/reset/done/"))
}

/// `/accounts/reset/done/` (`PasswordResetCompleteView`).
pub async fn complete(
    state: Data,
    handle: SessionHandle,
    csrf: CsrfHandle,
) -> Result<HttpResponse, PageError> {
    let user = current_user(&state, &handle).await?;
    let page = MessagePage {
        chrome: chrome(user.as_ref(), &csrf)?,
        title: "Password reset complete".into(),
        paragraphs: vec!["Your password has been set. You may go ahead and log in now.".into()],
        links: vec![("/accounts/login/".into(), "Log in".into())],
    };
    Ok(html(StatusCode::OK, &page))
}
