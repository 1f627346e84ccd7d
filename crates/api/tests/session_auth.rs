//! The api authenticates from the session a real Django wrote, with Django's rules, and answers JSON:
//! the user for a live session, 401 for anything else, 204 for a logout (with its CSRF token) that Django
//! then sees, 503 when Redis is down.

#[path = "../../auth/tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use api::startup::Application;
use django_auth_core::migrate::{self, DefaultAutoField};
use django_auth_core::settings::Settings;
use serde_json::{Value, json};
use support::Oracle;
use testkit::{PostgresServer, RedisServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_and_session_from_a_django_login() {
    let mut redis = RedisServer::start().unwrap();
    let pg = PostgresServer::start().unwrap();
    let vars: Vec<(&str, String)> = vec![
        ("SECRET_KEY", "api-test-secret".into()),
        ("SESSION_ENGINE", "cache".into()),
        ("REDIS_URL", redis.url()),
        ("DATABASE_URL", pg.url()),
        (
            "PASSWORD_HASHERS",
            "django.contrib.auth.hashers.MD5PasswordHasher".into(),
        ),
        ("REDIS_SOCKET_CONNECT_TIMEOUT", "0.5".into()),
        ("REDIS_SOCKET_TIMEOUT", "0.5".into()),
        ("ALLOWED_HOSTS", "127.0.0.1".into()),
    ];
    let map: HashMap<&str, String> = vars.iter().cloned().collect();
    let settings = Settings::from_lookup(|n| map.get(n).cloned()).unwrap();
    let connections = settings.connect().unwrap();
    migrate::migrate(
        connections.database.as_ref().unwrap(),
        DefaultAutoField::BigAuto,
        false,
    )
    .await
    .unwrap();
    let application = Application::build(settings, "127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/api/v1", application.address());
    tokio::spawn(application.run_until_stopped());
    let peer_vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut peer = Oracle::peer(&peer_vars);
    peer.call(
        "create_user",
        json!({}),
        json!({"username": "zoe", "password": "zoe password 1", "email": "zoe@example.com"}),
    );
    let login = peer.call(
        "login_session",
        json!({}),
        json!({"username": "zoe", "password": "zoe password 1"}),
    );
    let key = login["session_key"].as_str().unwrap().to_string();
    let client = reqwest::Client::new();
    let get = |path: &str, cookie: Option<&str>| {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(cookie) = cookie {
            request = request.header("Cookie", format!("sessionid={cookie}"));
        }
        request.send()
    };

    for path in ["/me", "/me/"] {
        let me = get(path, Some(&key)).await.unwrap();
        assert_eq!(me.status(), 200, "{path}");
        let body: Value = me.json().await.unwrap();
        assert_eq!(body["username"], "zoe");
        assert_eq!(body["email"], "zoe@example.com");
        assert_eq!(body["is_staff"], false);
        assert!(body["last_login"].as_str().unwrap().ends_with('Z'));
        assert!(body.get("password").is_none());
    }
    for cookie in [None, Some("garbage"), Some("z".repeat(32).as_str())] {
        let anonymous = get("/me", cookie).await.unwrap();
        assert_eq!(anonymous.status(), 401, "{cookie:?}");
        let body: Value = anonymous.json().await.unwrap();
        assert_eq!(
            body,
            json!({"detail": "Authentication credentials were not provided."})
        );
    }

    let session: Value = get("/session", Some(&key))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["engine"], "cache");
    assert_eq!(session["expire_at_browser_close"], false);
    assert!(session["age"].as_i64().unwrap() > 1_209_000);
    let text = session.to_string();
    assert!(!text.contains(&key), "never the key");

    // An unsafe method needs the CSRF token (any well-formed secret the client holds, as in Django).
    let delete = |csrf: Option<&str>| {
        let mut request = client.delete(format!("{base}/session"));
        request = match csrf {
            Some(token) => request
                .header("Cookie", format!("sessionid={key}; csrftoken={token}"))
                .header("X-CSRFToken", token),
            None => request.header("Cookie", format!("sessionid={key}")),
        };
        request.send()
    };
    let refused = delete(None).await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body, json!({"detail": "CSRF Failed: CSRF cookie not set."}));
    let deleted = delete(Some("AbCdEfGhIjKlMnOpQrStUvWxYz012345"))
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        peer.call("session_load", json!({}), json!({"session_key": key}))["found"],
        json!(false)
    );
    assert_eq!(get("/me", Some(&key)).await.unwrap().status(), 401);

    // Redis down: 503 JSON with Retry-After, within the timeout.
    let login = peer.call(
        "login_session",
        json!({}),
        json!({"username": "zoe", "password": "zoe password 1"}),
    );
    let key = login["session_key"].as_str().unwrap().to_string();
    redis.stop();
    let started = Instant::now();
    let down = get("/me", Some(&key)).await.unwrap();
    assert_eq!(down.status(), 503);
    assert_eq!(down.headers().get("retry-after").unwrap(), "5");
    assert!(started.elapsed() < Duration::from_secs(5));
    let body: Value = down.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("unavailable"));
}
