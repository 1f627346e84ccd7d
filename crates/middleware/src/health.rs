//! `/healthz`: the process answers. `/readyz`: Redis and PostgreSQL (those configured) answer within
//! their timeouts; 503 naming the one that does not, so a load balancer stops sending traffic and resumes
//! on its own.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::Services;

/// `/healthz`: 200 `ok` while the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok\n")
}

/// `/readyz`: 200 with each store's state when Redis and PostgreSQL (those configured) answer; 503
/// naming the one that does not.
pub async fn readyz(state: web::Data<Services>) -> HttpResponse {
    // Both at once: an outage answers within one timeout, not the sum.
    let (redis, database) = tokio::join!(
        async {
            match &state.connections.redis {
                Some(redis) => Some(redis.ping().await),
                None => None,
            }
        },
        async {
            match &state.connections.database {
                Some(database) => Some(database.ping().await),
                None => None,
            }
        }
    );
    let status = |check: &Option<Result<(), django_auth_core::connections::StoreError>>| match check
    {
        None => "not configured".to_string(),
        Some(Ok(())) => "ok".to_string(),
        Some(Err(e)) => e.to_string(),
    };
    let ready = [&redis, &database]
        .iter()
        .all(|check| !matches!(check, Some(Err(_))));
    let body = json!({"redis": status(&redis), "postgresql": status(&database)});
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
