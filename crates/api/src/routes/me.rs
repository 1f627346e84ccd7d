//! `GET /api/v1/me`: the user, as the user model's row has it (never the password hash), for any
//! `AUTH_USER_MODEL`: `id` is `str(pk)`'s value, `username` the `USERNAME_FIELD`'s, and each standard
//! field the model lacks is `null`.
//! `PATCH /api/v1/me`: first name, last name and email, validated as a Django REST framework
//! `ModelSerializer` of the model validates them, written to the row Django reads; a field the model does
//! not have is ignored, as DRF ignores unknown fields.

use actix_web::{HttpRequest, HttpResponse, web};
use django_auth_core::user_model::{Field, UserModel};
use django_auth_core::users::{ProfileChange, User, UserError};
use django_auth_core::validators::{
    EMAIL_MAX_LENGTH, FIRST_NAME_MAX_LENGTH, INVALID_EMAIL, LAST_NAME_MAX_LENGTH,
};
use django_auth_web::Services;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::errors::{ApiError, Detail};
use crate::routes::{Authenticated, iso, read_json};

/// The user, as the user model's row has it. A standard field the model does not have is `null`.
#[derive(Serialize, ToSchema)]
pub struct Me {
    /// The primary key: a number for an integer key (`AutoField`, `BigAutoField`), a string for a
    /// `UUIDField` (hyphenated) or a text key.
    #[schema(schema_with = id_schema)]
    pub id: Value,
    /// The value of the model's `USERNAME_FIELD` (the email address for a model that logs in by email).
    pub username: String,
    /// The `EMAIL_FIELD`'s value.
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub is_staff: Option<bool>,
    pub is_superuser: Option<bool>,
    /// ISO 8601 in UTC, or null if the user never logged in.
    #[schema(format = DateTime)]
    pub last_login: Option<String>,
    #[schema(format = DateTime)]
    pub date_joined: Option<String>,
}

impl Me {
    /// The user as JSON, its key typed by the model (`PkKind::to_json`).
    pub fn new(user: &User, model: &UserModel) -> Me {
        Me {
            id: model.pk_kind().to_json(user.pk()),
            username: user.username.clone(),
            email: user.email.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            is_staff: user.is_staff,
            is_superuser: user.is_superuser,
            last_login: user.last_login.map(iso),
            date_joined: user.date_joined.map(iso),
        }
    }
}

/// `id`: an integer, or a string (a UUID's hyphenated form, or a text key).
fn id_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Integer))
        .item(ObjectBuilder::new().schema_type(Type::String))
        .description(Some(
            "str(pk): a number for an integer primary key, a string for a UUID or text key",
        ))
        .build()
        .into()
}

/// The fields `PATCH` may change; any of them may be left out, and other fields are read-only and
/// ignored, as Django REST framework ignores them. Strings are trimmed; NUL characters are refused.
#[derive(Deserialize, ToSchema)]
#[serde(default)]
#[allow(dead_code)] // The schema of the body; the handler validates the raw JSON to report every field.
#[derive(Default)]
pub struct MeUpdate {
    #[schema(max_length = 150, pattern = "^[^\\u0000]*$")]
    first_name: String,
    #[schema(max_length = 150, pattern = "^[^\\u0000]*$")]
    last_name: String,
    /// Empty, or an address Django's `EmailValidator` accepts (`name@example.com`).
    #[schema(schema_with = email_schema)]
    email: String,
}

/// `email`: empty, or an address of at most 254 characters.
fn email_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(0)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
                .max_length(Some(EMAIL_MAX_LENGTH)),
        )
        .description(Some(
            "Empty, or an address Django's EmailValidator accepts (name@example.com)",
        ))
        .build()
        .into()
}

/// The current user.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "user",
    responses(
        (status = 200, description = "The logged-in user", body = Me),
        (status = 401, description = "No valid session", body = Detail),
        (status = 503, description = "Redis or PostgreSQL is unavailable", body = Detail),
    ),
    security(("session" = []))
)]
pub async fn get(services: web::Data<Services>, auth: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(Me::new(&auth.user, services.users.model()))
}

/// Change the current user's first name, last name or email.
#[utoipa::path(
    patch,
    path = "/api/v1/me",
    tag = "user",
    request_body(content = MeUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "The user, updated", body = Me),
        (status = 400, description = "Invalid input: a list of messages per field", body = Object),
        (status = 401, description = "No valid session", body = Detail),
        (status = 403, description = "CSRF check failed", body = Detail),
        (status = 413, description = "The body is too large", body = Detail),
        (status = 415, description = "The body is not JSON", body = Detail),
        (status = 503, description = "Redis or PostgreSQL is unavailable", body = Detail),
    ),
    security(("session" = [], "csrf" = []))
)]
pub async fn patch(
    req: HttpRequest,
    services: web::Data<Services>,
    auth: Authenticated,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let data = read_json(&req, body).await?;
    let Value::Object(data) = data else {
        return Err(ApiError::Invalid(serde_json::json!({
            "non_field_errors": [format!(
                "Invalid data. Expected a dictionary, but got {}.",
                python_type(&data)
            )],
        })));
    };
    let model = services.users.model().clone();
    // The email is a login name when it is the USERNAME_FIELD: unique, and never blank.
    let email_is_login = model.username_is_email();
    let mut errors = Map::new();
    let mut field = |name: &str, max: usize, email: bool| -> Option<String> {
        let value = data.get(name)?;
        match char_field(value, max, email, email && email_is_login) {
            Ok(value) => Some(value),
            Err(message) => {
                errors.insert(name.into(), Value::from(vec![message]));
                None
            }
        }
    };
    // Only the fields the model has are read; the others are ignored, as unknown fields are.
    let mut read = |f: Field, name: &str, max: usize, email: bool| {
        model.has(f).then(|| field(name, max, email)).flatten()
    };
    // Each field's `max_length` is its column's.
    let email_column = model.email_field().unwrap_or("email").to_string();
    let change = ProfileChange {
        first_name: read(
            Field::FirstName,
            "first_name",
            model.max_length("first_name", FIRST_NAME_MAX_LENGTH),
            false,
        ),
        last_name: read(
            Field::LastName,
            "last_name",
            model.max_length("last_name", LAST_NAME_MAX_LENGTH),
            false,
        ),
        email: read(
            Field::Email,
            "email",
            model.max_length(&email_column, EMAIL_MAX_LENGTH),
            true,
        ),
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(Value::Object(errors)));
    }
    let user = match services.users.update_profile(auth.user.pk(), change).await {
        Ok(user) => user,
        // DRF's `UniqueValidator` message for the model's unique email field.
        Err(UserError::UsernameTaken) => {
            return Err(ApiError::Invalid(serde_json::json!({
                "email": ["user with this email address already exists."],
            })));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user_pk = user.pk(), "profile updated");
    Ok(HttpResponse::Ok().json(Me::new(&user, &model)))
}

/// Django REST framework's `CharField(max_length=…, allow_blank=True)` (and `EmailField`): strings,
/// whitespace trimmed; its messages.
fn char_field(value: &Value, max: usize, email: bool, required: bool) -> Result<String, String> {
    let text = match value {
        // DRF would also take a number as its text; the schema says string, and so do we.
        Value::String(s) => s.trim().to_string(),
        Value::Null => return Err("This field may not be null.".into()),
        _ => return Err("Not a valid string.".into()),
    };
    if required && text.is_empty() {
        return Err("This field may not be blank.".into());
    }
    if text.contains('\0') {
        return Err("Null characters are not allowed.".into());
    }
    if text.chars().count() > max {
        return Err(format!(
            "Ensure this field has no more than {max} characters."
        ));
    }
    if email && !text.is_empty() && !django_auth_core::validators::is_valid_email(&text) {
        return Err(INVALID_EMAIL.into());
    }
    Ok(text)
}

/// The Python type name DRF puts in "Expected a dictionary, but got list.".
fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}
