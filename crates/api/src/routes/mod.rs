//! The endpoints, one module each.

pub mod me;
pub mod session;

use actix_web::web;
use auth::users::User;
use middleware::Services;
use middleware::session::SessionHandle;

use crate::errors::ApiError;

/// `request.user` through the shared `get_user` (which may cycle or flush the session, as Django's
/// does); anonymous is a 401.
pub async fn authenticated(
    services: &web::Data<Services>,
    handle: &SessionHandle,
) -> Result<User, ApiError> {
    let mut session = handle.take();
    let user = auth::users::get_user(
        &services.sessions,
        &services.users,
        &mut session,
        &services.settings.authentication_backends,
        &services.hasher,
    )
    .await;
    handle.put(session);
    user?.ok_or(ApiError::NotAuthenticated)
}

/// A time as Django REST framework's `DateTimeField` writes it in UTC: ISO 8601 with microseconds and `Z`.
pub fn iso(when: chrono::DateTime<chrono::Utc>) -> String {
    when.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
