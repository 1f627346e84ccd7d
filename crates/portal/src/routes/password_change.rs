//! `/accounts/password_change/` and `done/`: Django's `PasswordChangeView` (`PasswordChangeForm`), then
//! `update_session_auth_hash`: this session stays logged in under a new key, and every other session of
//! the user stops working everywhere, because their `_auth_user_hash` no longer matches.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use django_auth_core::password_validation::{
    UserAttributes, password_validators_help_texts, validate_password,
};
use django_auth_core::users::User;
use serde::Deserialize;

use crate::csrf::{CsrfHandle, protect};
use crate::pages::{Field, FormPage, MessagePage, PageError, html, redirect};
use crate::routes::register::PASSWORD_MISMATCH;
use crate::routes::{
    Data, Form, MAX_PASSWORD, REQUIRED, chrome, current_user, field, form_chrome,
    redirect_to_login, too_long,
};
use crate::session::SessionHandle;

#[derive(Deserialize)]
pub struct PasswordChangeForm {
    csrfmiddlewaretoken: Option<String>,
    old_password: Option<String>,
    new_password1: Option<String>,
    new_password2: Option<String>,
}

fn change_form() -> FormPage {
    FormPage {
        title: "Password change".into(),
        lead:
            "Please enter your old password, for security’s sake, and then enter your new password \
               twice so we can verify you typed it in correctly."
                .into(),
        action: "/accounts/password_change/".into(),
        fields: vec![
            Field::new("old_password", "Old password", "password").autofocus(),
            Field::new("new_password1", "New password", "password")
                .help(password_validators_help_texts()),
            Field::new("new_password2", "New password confirmation", "password"),
        ],
        submit: "Change my password".into(),
        ..FormPage::default()
    }
}

/// `SetPasswordForm`'s checks on the two new passwords, errors attached to `new_password2` as Django does.
pub fn check_new_passwords(page: &mut FormPage, user: &User, password1: &str, password2: &str) {
    let mut error = |name: &str, message: String| {
        if let Some(f) = page.field_mut(name) {
            f.errors.push(message);
        }
    };
    for (name, value) in [("new_password1", password1), ("new_password2", password2)] {
        if value.is_empty() {
            error(name, REQUIRED.into());
        } else if let Some(message) = too_long(value, MAX_PASSWORD) {
            error(name, message);
        }
    }
    if password1.is_empty() || password2.is_empty() || password2.chars().count() > MAX_PASSWORD {
        return;
    }
    if password1 != password2 {
        error("new_password2", PASSWORD_MISMATCH.into());
        return;
    }
    let attributes = UserAttributes::from(user);
    if let Err(errors) = validate_password(password2, &attributes) {
        for e in errors {
            error("new_password2", e.message);
        }
    }
}

pub async fn get(
    req: HttpRequest,
    state: Data,
    handle: SessionHandle,
    csrf: CsrfHandle,
) -> Result<HttpResponse, PageError> {
    let Some(user) = current_user(&state, &handle).await? else {
        return Ok(redirect_to_login(&req, &state));
    };
    let mut page = change_form();
    page.chrome = form_chrome(Some(&user), &csrf)?;
    Ok(html(StatusCode::OK, &page))
}

pub async fn post(
    req: HttpRequest,
    state: Data,
    handle: SessionHandle,
    csrf: CsrfHandle,
    form: Form<PasswordChangeForm>,
) -> Result<HttpResponse, PageError> {
    protect(&req, form.csrfmiddlewaretoken.as_deref())?;
    let Some(user) = current_user(&state, &handle).await? else {
        return Ok(redirect_to_login(&req, &state));
    };
    let mut page = change_form();
    let old = field(&form.old_password);
    if old.is_empty() {
        if let Some(f) = page.field_mut("old_password") {
            f.errors.push(REQUIRED.into());
        }
    } else {
        let verification = state
            .users
            .hashers()
            .clone()
            .check_password_blocking(old.to_string(), user.password.clone())
            .await
            .map_err(|e| PageError::Internal(e.to_string()))?;
        if !verification.is_correct {
            if let Some(f) = page.field_mut("old_password") {
                f.errors.push(
                    "Your old password was entered incorrectly. Please enter it again.".into(),
                );
            }
        }
    }
    let (password1, password2) = (field(&form.new_password1), field(&form.new_password2));
    check_new_passwords(&mut page, &user, password1, password2);
    if page.has_errors() {
        page.chrome = form_chrome(Some(&user), &csrf)?;
        return Ok(html(StatusCode::OK, &page));
    }
    let encoded = state.users.set_password(user.pk(), password1).await?;
    // `update_session_auth_hash`: this session survives the change that ends all the others.
    let mut session = handle.take();
    let updated = state
        .sessions
        .update_session_auth_hash(&mut session, &state.hasher.get_session_auth_hash(&encoded))
        .await;
    handle.put(session);
    updated?;
    tracing::info!(user_pk = user.pk(), "password changed");
    Ok(redirect("/accounts/password_change/done/"))
}

pub async fn done(
    req: HttpRequest,
    state: Data,
    handle: SessionHandle,
    csrf: CsrfHandle,
) -> Result<HttpResponse, PageError> {
    let Some(user) = current_user(&state, &handle).await? else {
        return Ok(redirect_to_login(&req, &state));
    };
    let page = MessagePage {
        chrome: chrome(Some(&user), &csrf)?,
        title: "Password change successful".into(),
        paragraphs: vec![
            "Your password was changed.".into(),
            "Your other sessions, on every service, have been logged out.".into(),
        ],
        links: vec![("/".into(), "Home".into())],
    };
    Ok(html(StatusCode::OK, &page))
}
