//! The OpenAPI 3.1 document (`/api/v1/openapi.json`), derived by utoipa from the handlers' attributes and
//! the response types themselves, so it lists exactly the routes `startup` serves; and Swagger UI at
//! `/api/v1/docs/`, its files compiled into the binary (no CDN: the page works offline).

use auth::settings::Settings;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};

use crate::errors::Detail;
use crate::routes::{me, session, sessions};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "api",
        description = "A JSON API authenticated by the session Django and the portal share: log in on \
                       either and call it with the session cookie. Unsafe methods (PATCH, DELETE) also need \
                       the CSRF token, as Django REST framework's SessionAuthentication asks: the \
                       `csrftoken` cookie's value in the `X-CSRFToken` header."
    ),
    paths(
        me::get,
        me::patch,
        session::get,
        session::delete,
        sessions::list,
        sessions::delete
    ),
    components(schemas(Detail, me::Me, me::MeUpdate, session::SessionInfo, sessions::SessionItem)),
    tags(
        (name = "user", description = "The logged-in user"),
        (name = "session", description = "The user's sessions")
    )
)]
struct ApiDoc;

/// The document, with the security schemes named as these settings name the cookie and header.
pub fn document(settings: &Settings) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            settings.session_cookie.name.as_str(),
            "Django's session cookie (SESSION_COOKIE_NAME)",
        ))),
    );
    components.add_security_scheme(
        "csrf",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            settings.csrf.header_name.as_str(),
            "The CSRF token: the csrftoken cookie's value (CSRF_HEADER_NAME)",
        ))),
    );
    doc
}
