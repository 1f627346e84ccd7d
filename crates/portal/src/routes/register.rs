//! `/accounts/register/`: Django's `UserCreationForm` (username rules, a case-insensitive uniqueness
//! check, the two passwords, `AUTH_PASSWORD_VALIDATORS`' defaults) plus an email, then
//! `UserManager.create_user`. The new user logs in on the next page. The login field follows the user
//! model's `USERNAME_FIELD` (an email address for a model that logs in by email); a user table we cannot
//! fill (required columns without a database default) has no registration here.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use django_auth_core::password_validation::{
    UserAttributes, password_validators_help_texts, validate_password,
};
use django_auth_core::user_model::UserModel;
use django_auth_core::users::{NewUser, UserError};
use serde::Deserialize;

use crate::csrf::{CsrfHandle, protect};
use crate::pages::{Field, FormPage, MessagePage, PageError, html};
use crate::routes::{
    Data, Form, MAX_PASSWORD, REQUIRED, chrome, current_user, field, form_chrome,
    redirect_with_notice, too_long,
};
use crate::session::SessionHandle;

#[derive(Deserialize)]
pub struct RegisterForm {
    csrfmiddlewaretoken: Option<String>,
    username: Option<String>,
    email: Option<String>,
    password1: Option<String>,
    password2: Option<String>,
}

/// `UserCreationForm.error_messages["password_mismatch"]`.
pub const PASSWORD_MISMATCH: &str = "The two password fields didn’t match.";

fn register_form(model: &UserModel, username: &str, email: &str) -> FormPage {
    let mut fields = Vec::new();
    if model.username_is_email() {
        fields.push(
            Field::new("username", model.username_label(), "email")
                .value(username)
                .autofocus(),
        );
    } else {
        let login = Field::new("username", model.username_label(), "text")
            .value(username)
            .autofocus();
        fields.push(if model.username_field() == "username" {
            login.help(vec![
                "Required. 150 characters or fewer. Letters, digits and @/./+/-/_ only.".into(),
            ])
        } else {
            login
        });
        if model.email_field().is_some() {
            fields.push(
                Field::new("email", "Email address", "email")
                    .value(email)
                    .optional(),
            );
        }
    }
    fields.push(
        Field::new("password1", "Password", "password").help(password_validators_help_texts()),
    );
    fields.push(
        Field::new("password2", "Password confirmation", "password").help(vec![
            "Enter the same password as before, for verification.".into(),
        ]),
    );
    FormPage {
        title: "Create an account".into(),
        action: "/accounts/register/".into(),
        fields,
        submit: "Create account".into(),
        links: vec![(
            "/accounts/login/".into(),
            "Already have an account? Log in".into(),
        )],
        ..FormPage::default()
    }
}

pub async fn get(
    state: Data,
    handle: SessionHandle,
    csrf: CsrfHandle,
) -> Result<HttpResponse, PageError> {
    let user = current_user(&state, &handle).await?;
    if !state.users.model().can_create_users() {
        return unavailable(user.as_ref(), &csrf);
    }
    let mut page = register_form(state.users.model(), "", "");
    page.chrome = form_chrome(user.as_ref(), &csrf)?;
    Ok(html(StatusCode::OK, &page))
}

/// The user table has required columns only the Django project knows how to fill (logged once at
/// start): registration is the Django project's.
fn unavailable(
    user: Option<&django_auth_core::users::User>,
    csrf: &CsrfHandle,
) -> Result<HttpResponse, PageError> {
    let page = MessagePage {
        chrome: chrome(user, csrf)?,
        title: "Registration is not available here".into(),
        paragraphs: vec![
            "Accounts are created on the main site. Once you have one, you can log in here with it."
                .into(),
        ],
        links: vec![("/accounts/login/".into(), "Log in".into())],
    };
    Ok(html(StatusCode::NOT_FOUND, &page))
}

pub async fn post(
    req: HttpRequest,
    state: Data,
    handle: SessionHandle,
    csrf: CsrfHandle,
    form: Form<RegisterForm>,
) -> Result<HttpResponse, PageError> {
    protect(&req, form.csrfmiddlewaretoken.as_deref())?;
    let model = state.users.model().clone();
    if !model.can_create_users() {
        let user = current_user(&state, &handle).await?;
        return unavailable(user.as_ref(), &csrf);
    }
    let by_email = model.username_is_email();
    let username = if by_email {
        django_auth_core::users::normalize_email(field(&form.username))
    } else {
        django_auth_core::users::normalize_username(field(&form.username))
    };
    let email = if by_email {
        username.clone()
    } else {
        django_auth_core::users::normalize_email(field(&form.email))
    };
    let (password1, password2) = (field(&form.password1), field(&form.password2));
    let mut page = register_form(&model, &username, &email);
    // `unique_error_message`: `AbstractUser.username`'s own, else Django's default for a unique field.
    let taken = if model.username_field() == "username" {
        "A user with that username already exists.".to_string()
    } else {
        format!("User with this {} already exists.", model.username_label())
    };
    let error = |page: &mut FormPage, name: &str, message: String| {
        if let Some(f) = page.field_mut(name) {
            f.errors.push(message);
        }
    };
    if username.is_empty() {
        error(&mut page, "username", REQUIRED.into());
    } else if let Some(message) = too_long(
        &username,
        model.max_length(
            model.username_field(),
            if by_email {
                django_auth_core::validators::EMAIL_MAX_LENGTH
            } else {
                django_auth_core::validators::USERNAME_MAX_LENGTH
            },
        ),
    ) {
        error(&mut page, "username", message);
    } else if by_email && !django_auth_core::validators::is_valid_email(&username) {
        error(
            &mut page,
            "username",
            django_auth_core::validators::INVALID_EMAIL.into(),
        );
    } else if model.username_field() == "username"
        && !django_auth_core::users::is_valid_username(&username)
    {
        error(
            &mut page,
            "username",
            django_auth_core::users::INVALID_USERNAME.into(),
        );
    } else if state.users.username_taken_iexact(&username).await? {
        error(&mut page, "username", taken.clone());
    }
    if !by_email && !email.is_empty() {
        let max = model.max_length(
            model.email_field().unwrap_or_default(),
            django_auth_core::validators::EMAIL_MAX_LENGTH,
        );
        if let Some(message) = too_long(&email, max) {
            error(&mut page, "email", message);
        } else if !django_auth_core::validators::is_valid_email(&email) {
            error(
                &mut page,
                "email",
                django_auth_core::validators::INVALID_EMAIL.into(),
            );
        }
    }
    for (name, value) in [("password1", password1), ("password2", password2)] {
        if value.is_empty() {
            error(&mut page, name, REQUIRED.into());
        } else if let Some(message) = too_long(value, MAX_PASSWORD) {
            error(&mut page, name, message);
        }
    }
    if !password1.is_empty() && !password2.is_empty() && password1 != password2 {
        error(&mut page, "password2", PASSWORD_MISMATCH.into());
    } else if !password2.is_empty() && password2.chars().count() <= MAX_PASSWORD {
        let attributes = UserAttributes {
            username: model.username_attribute(&username),
            email: &email,
            ..UserAttributes::default()
        };
        if let Err(errors) = validate_password(password2, &attributes) {
            for e in errors {
                error(&mut page, "password2", e.message);
            }
        }
    }
    if !page.has_errors() {
        let created = state
            .users
            .create_user(NewUser {
                username: username.clone(),
                email: email.clone(),
                password: Some(password1.to_string()),
                ..NewUser::default()
            })
            .await;
        match created {
            Ok(user) => {
                tracing::info!(user_pk = user.pk(), "user registered");
                return Ok(redirect_with_notice("/accounts/login/", "registered"));
            }
            Err(UserError::UsernameTaken) => {
                error(&mut page, "username", taken);
            }
            Err(e) => return Err(e.into()),
        }
    }
    let user = current_user(&state, &handle).await?;
    page.chrome = form_chrome(user.as_ref(), &csrf)?;
    Ok(html(StatusCode::OK, &page))
}
