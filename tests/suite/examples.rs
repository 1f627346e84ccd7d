//! `django-auth-web`'s two example services (`examples/axum_service.rs`, `examples/actix_service.rs`) run
//! as processes beside the Django site, the portal and the api (issue 19): a Django login is seen by both,
//! a portal logout ends it for both, an unsafe request without the CSRF header is 403, and a Redis outage
//! is a 503, never a 500.

use suite::{Client, Service, Stack, json};

const PASSWORD: &str = "correct horse battery 1";

/// `GET /whoami` on `service`: the status and the JSON body.
async fn whoami(client: &Client, service: &Service) -> (u16, suite::Value) {
    let page = client.get(&service.url("/whoami")).await;
    let body = serde_json::from_str(&page.body)
        .unwrap_or_else(|e| panic!("{} /whoami: {e}: {}", service.name, page.body));
    (page.status, body)
}

/// `POST /notes` with a JSON body, and with `X-CSRFToken` when `token` is given.
async fn post_note(client: &Client, service: &Service, token: Option<&str>) -> (u16, suite::Value) {
    let mut request = client
        .http
        .post(service.url("/notes"))
        .json(&json!({"title": "groceries", "items": ["milk", "eggs"]}));
    if let Some(token) = token {
        request = request.header("X-CSRFToken", token);
    }
    let page = client.send(request).await;
    let body = serde_json::from_str(&page.body)
        .unwrap_or_else(|e| panic!("{} /notes: {e}: {}", service.name, page.body));
    (page.status, body)
}

#[tokio::test]
async fn the_examples_see_djangos_user_its_logout_csrf_and_an_outage() {
    let mut stack = Stack::start("examples", &[]);
    let id = stack.create_user("ann", PASSWORD, None);
    let axum = stack.spawn_example("axum_service");
    let actix = stack.spawn_example("actix_service");
    let client = Client::new();

    for service in [&axum, &actix] {
        let (status, body) = whoami(&client, service).await;
        assert_eq!(status, 401, "{} anonymous /whoami: {body}", service.name);
        assert_eq!(
            body["detail"], "Authentication credentials were not provided.",
            "{}",
            service.name
        );
        let (status, body) = post_note(&client, service, None).await;
        assert_eq!(
            status, 401,
            "{} anonymous POST /notes: {body}",
            service.name
        );
    }

    let login = stack.django_log_in(&client, "ann", PASSWORD).await;
    assert_eq!(login.status, 302, "Django login: {}", login.body);
    let token = client.csrf_cookie().expect("Django's csrftoken cookie");
    for service in [&axum, &actix] {
        let (status, body) = whoami(&client, service).await;
        assert_eq!(
            status, 200,
            "{} /whoami after a Django login: {body}",
            service.name
        );
        assert_eq!(
            body,
            json!({"id": id, "username": "ann"}),
            "{}",
            service.name
        );

        let (status, body) = post_note(&client, service, None).await;
        assert_eq!(
            status, 403,
            "{} POST /notes without the CSRF header: {body}",
            service.name
        );
        assert_eq!(
            body["detail"], "CSRF Failed: CSRF token missing.",
            "{}",
            service.name
        );
        let (status, body) = post_note(&client, service, Some("x".repeat(32).as_str())).await;
        assert_eq!(
            status, 403,
            "{} POST /notes with a wrong token: {body}",
            service.name
        );
        let (status, body) = post_note(&client, service, Some(&token)).await;
        assert_eq!(
            status, 201,
            "{} POST /notes with the token: {body}",
            service.name
        );
        assert_eq!(
            body,
            json!({"title": "groceries", "items": ["milk", "eggs"]})
        );
    }

    // The axum example's forward-auth endpoint (django_auth_web::axum::forward_auth) knows her too.
    let page = client
        .get(&axum.url("/auth/verify/any/original/path"))
        .await;
    assert_eq!(page.status, 200, "axum /auth/verify: {}", page.body);
    assert_eq!(
        page.headers
            .get("x-auth-request-user")
            .and_then(|v| v.to_str().ok()),
        Some("ann")
    );

    // A logout on the portal ends the session for both.
    let logout = stack.portal_log_out(&client).await;
    assert!(
        [200, 302].contains(&logout.status),
        "portal logout: {}",
        logout.body
    );
    for service in [&axum, &actix] {
        let (status, body) = whoami(&client, service).await;
        assert_eq!(
            status, 401,
            "{} /whoami after a portal logout: {body}",
            service.name
        );
    }
    let page = client.get(&axum.url("/auth/verify")).await;
    assert_eq!(
        page.status, 401,
        "axum /auth/verify after the logout: {}",
        page.body
    );

    // A Redis outage: 503 with Retry-After, never a 500; back to 200 once Redis is.
    let login = stack.django_log_in(&client, "ann", PASSWORD).await;
    assert_eq!(login.status, 302, "Django login: {}", login.body);
    stack.redis_mut().stop();
    for service in [&axum, &actix] {
        let page = client.get(&service.url("/whoami")).await;
        assert_eq!(
            page.status, 503,
            "{} /whoami with Redis down: {}",
            service.name, page.body
        );
        assert_eq!(
            page.headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("5"),
            "{}",
            service.name
        );
    }
    let page = client.get(&axum.url("/auth/verify")).await;
    assert_eq!(
        page.status, 503,
        "axum /auth/verify with Redis down: {}",
        page.body
    );
    stack.redis_mut().start_again().expect("Redis again");
    for service in [&axum, &actix] {
        let mut status = 0;
        for _ in 0..50 {
            status = whoami(&client, service).await.0;
            if status != 503 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        // The session was in the Redis that stopped (the test kit's Redis runs without persistence), so
        // the user is anonymous again: a 401, not an error.
        assert_eq!(
            status, 401,
            "{} /whoami after Redis came back",
            service.name
        );
    }
}
