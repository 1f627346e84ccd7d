//! `/`: who is logged in (Django's `request.user`, through the shared `get_user`), and where to go next.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;
use django_auth_core::users::User;

use crate::csrf::CsrfHandle;
use crate::pages::{Chrome, PageError, html};
use crate::routes::{Data, chrome, current_user};
use crate::session::SessionHandle;

pub struct HomeUser {
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub date_joined: String,
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub chrome: Chrome,
    pub user: Option<HomeUser>,
    pub api_url: String,
}

pub async fn home(
    state: Data,
    handle: SessionHandle,
    csrf: CsrfHandle,
) -> Result<HttpResponse, PageError> {
    let user: Option<User> = current_user(&state, &handle).await?;
    let page = HomePage {
        chrome: chrome(user.as_ref(), &csrf)?,
        user: user.map(|u| HomeUser {
            // A field the user model lacks shows as "—".
            date_joined: u
                .date_joined
                .map(|d| d.format("%B %-d, %Y").to_string())
                .unwrap_or_default(),
            username: u.username,
            email: u.email.unwrap_or_default(),
            first_name: u.first_name.unwrap_or_default(),
            last_name: u.last_name.unwrap_or_default(),
        }),
        api_url: state.portal.api_url.clone(),
    };
    Ok(html(StatusCode::OK, &page))
}
