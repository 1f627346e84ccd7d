//! `/accounts/sessions/`: the user's live sessions from the shared per-user index (created, last seen,
//! client address, browser), with "log out this one" and "log out all others". Sessions are named by an
//! opaque id, never by their key.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::csrf::{CsrfHandle, protect};
use crate::pages::{Chrome, PageError, html};
use crate::routes::{
    Data, Form, chrome, clear_notice, current_user, notice, redirect_to_login, redirect_with_notice,
};
use crate::session::SessionHandle;

pub struct Row {
    pub id: String,
    pub browser: String,
    pub ip: String,
    pub created: String,
    pub seen: String,
    pub expires: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "sessions.html")]
pub struct SessionsPage {
    pub chrome: Chrome,
    pub notices: Vec<String>,
    pub sessions: Vec<Row>,
    pub others: bool,
}

/// "Firefox on Linux" from a User-Agent: the common browsers and systems, else the first word.
pub fn browser(user_agent: &str) -> String {
    if user_agent.is_empty() {
        return "Unknown browser".into();
    }
    let has = |s: &str| user_agent.contains(s);
    let name = if has("Edg/") {
        "Edge"
    } else if has("OPR/") {
        "Opera"
    } else if has("Firefox/") {
        "Firefox"
    } else if has("Chrome/") || has("Chromium/") || has("HeadlessChrome/") {
        "Chrome"
    } else if has("Safari/") {
        "Safari"
    } else if has("curl/") {
        "curl"
    } else {
        return user_agent
            .split([' ', '/'])
            .next()
            .unwrap_or("Unknown browser")
            .to_string();
    };
    let system = if has("Android") {
        " on Android"
    } else if has("iPhone") || has("iPad") {
        " on iOS"
    } else if has("Windows") {
        " on Windows"
    } else if has("Mac OS X") || has("Macintosh") {
        " on macOS"
    } else if has("Linux") || has("X11") {
        " on Linux"
    } else {
        ""
    };
    format!("{name}{system}")
}

fn when(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "—".into())
}

pub async fn list(
    req: HttpRequest,
    state: Data,
    handle: SessionHandle,
    csrf: CsrfHandle,
) -> Result<HttpResponse, PageError> {
    let Some(user) = current_user(&state, &handle).await? else {
        return Ok(redirect_to_login(&req, &state));
    };
    let current = handle.session_key();
    let sessions = match state.sessions.user_sessions(user.pk()).await {
        Ok(sessions) => sessions,
        // The `signed_cookies` engine (or no Redis) has no index: only this session is known.
        Err(django_auth_core::connections::StoreError::NoIndex) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let rows: Vec<Row> = sessions
        .iter()
        .rev()
        .map(|s| {
            let meta = s.meta.clone().unwrap_or_default();
            let known = s.meta.is_some();
            Row {
                id: s.id(),
                browser: if known {
                    browser(&meta.client.user_agent)
                } else {
                    "Signed in elsewhere".into()
                },
                ip: if meta.client.ip.is_empty() {
                    "—".into()
                } else {
                    meta.client.ip.clone()
                },
                created: if known {
                    when(meta.created)
                } else {
                    "—".into()
                },
                seen: if known { when(meta.seen) } else { "—".into() },
                expires: s.expire_date.format("%Y-%m-%d %H:%M UTC").to_string(),
                current: current.as_deref() == Some(s.session_key.as_str()),
            }
        })
        .collect();
    let others = rows.iter().any(|r| !r.current);
    let shown = notice(&req, &state);
    let page = SessionsPage {
        chrome: chrome(Some(&user), &csrf)?,
        notices: shown.clone().into_iter().collect(),
        sessions: rows,
        others,
    };
    let mut response = html(StatusCode::OK, &page);
    if shown.is_some() {
        clear_notice(&mut response);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrfmiddlewaretoken: Option<String>,
}

/// `POST /accounts/sessions/<id>/delete/`: ends one of the user's sessions everywhere.
pub async fn delete_one(
    req: HttpRequest,
    state: Data,
    handle: SessionHandle,
    path: web::Path<String>,
    form: Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    protect(&req, form.csrfmiddlewaretoken.as_deref())?;
    let Some(user) = current_user(&state, &handle).await? else {
        return Ok(redirect_to_login(&req, &state));
    };
    let id = path.into_inner();
    if !state.sessions.delete_user_session(user.pk(), &id).await? {
        return Err(PageError::BadRequest(
            "That session does not exist or has already ended.".into(),
        ));
    }
    Ok(redirect_with_notice("/accounts/sessions/", "session_ended"))
}

/// `POST /accounts/sessions/delete_others/`: "log out everywhere else".
pub async fn delete_others(
    req: HttpRequest,
    state: Data,
    handle: SessionHandle,
    form: Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    protect(&req, form.csrfmiddlewaretoken.as_deref())?;
    let Some(user) = current_user(&state, &handle).await? else {
        return Ok(redirect_to_login(&req, &state));
    };
    let current = handle.session_key();
    let ended = state
        .sessions
        .delete_user_sessions(user.pk(), current.as_deref())
        .await?;
    tracing::info!(user_pk = user.pk(), ended, "other sessions logged out");
    Ok(redirect_with_notice("/accounts/sessions/", "others_ended"))
}
