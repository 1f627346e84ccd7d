//! `/`: who is logged in (Django's `request.user`, through the shared `get_user`).

use actix_web::{HttpResponse, web};

use crate::routes::{escape, page};
use crate::session::{SessionHandle, unavailable};
use crate::startup::State;

pub async fn home(state: web::Data<State>, handle: SessionHandle) -> HttpResponse {
    let mut session = handle.take();
    let user = auth::users::get_user(
        &state.sessions,
        &state.users,
        &mut session,
        &state.settings.authentication_backends,
        &state.hasher,
    )
    .await;
    handle.put(session);
    let body = match user {
        Ok(Some(user)) => format!(
            "<p>Logged in as <strong id=\"username\">{}</strong>.</p>",
            escape(&user.username)
        ),
        Ok(None) => "<p id=\"anonymous\">You are not logged in.</p>".to_string(),
        Err(e) => return unavailable(&e),
    };
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page("Portal", &body))
}
