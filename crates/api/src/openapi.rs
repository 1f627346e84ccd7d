//! The OpenAPI 3.1 document (`/api/v1/openapi.json`), derived by utoipa from the handlers' attributes and
//! the response types themselves, so it lists exactly the routes `startup` serves; and Swagger UI at
//! `/api/v1/docs/`, its files compiled into the binary (no CDN: the page works offline).

use django_auth_core::settings::Settings;
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
    // PATCH's body may be left out (no change), as with DRF; utoipa marks a body required.
    for item in doc.paths.paths.values_mut() {
        if let Some(body) = item.patch.as_mut().and_then(|op| op.request_body.as_mut()) {
            body.required = Some(utoipa::openapi::Required::False);
        }
    }
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

#[cfg(test)]
mod tests {
    /// The schemes name the cookie and header the settings name; the document is OpenAPI 3.1.
    #[test]
    fn security_schemes_follow_the_settings() {
        let settings = django_auth_core::settings::Settings::from_lookup(|n| match n {
            "SECRET_KEY" => Some("k".into()),
            "SESSION_ENGINE" => Some("signed_cookies".into()),
            "SESSION_COOKIE_NAME" => Some("shared_session_id".into()),
            "CSRF_HEADER_NAME" => Some("HTTP_X_XSRF_TOKEN".into()),
            _ => None,
        })
        .unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(&super::document(&settings).to_json().unwrap()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["session"]["name"], "shared_session_id");
        assert_eq!(schemes["csrf"]["name"], "X-XSRF-TOKEN");
        assert_eq!(
            doc["paths"]["/api/v1/me"]["patch"]["requestBody"]["required"],
            false
        );
    }
}
