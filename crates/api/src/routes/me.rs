//! `GET /api/v1/me`: the user, as Django's `auth_user` row has it (never the password hash).

use actix_web::{HttpResponse, web};
use middleware::Services;
use middleware::session::SessionHandle;
use serde_json::json;

use crate::errors::ApiError;
use crate::routes::{authenticated, iso};

pub async fn get(
    services: web::Data<Services>,
    handle: SessionHandle,
) -> Result<HttpResponse, ApiError> {
    let user = authenticated(&services, &handle).await?;
    Ok(HttpResponse::Ok().json(json!({
        "id": user.pk(),
        "username": user.username,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "last_login": user.last_login.map(iso),
        "date_joined": iso(user.date_joined),
    })))
}
