//! The portal's home page reads the session Django wrote: after a Django login it shows that user; after
//! the password changes (on Django's side) it shows nobody and deletes the cookie, as Django's
//! `get_user` flushes such a session; a garbage cookie is a visitor; a Redis outage is a 503 page.

mod app;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use app::oracle::Oracle;
use django_auth_core::migrate::{self, DefaultAutoField};
use portal::config::Config;
use portal::startup::Application;
use serde_json::json;
use testkit::{PostgresServer, RedisServer};

fn vars(redis: &RedisServer, pg: &PostgresServer) -> Vec<(&'static str, String)> {
    app::vars(redis, pg, &[("SECRET_KEY", "portal-home-test-secret")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_shows_the_user_django_logged_in() {
    let mut redis = RedisServer::start().unwrap();
    let pg = PostgresServer::start().unwrap();
    let vars = vars(&redis, &pg);
    let map: HashMap<&str, String> = vars.iter().cloned().collect();
    let settings = Config::from_lookup(|name| map.get(name).cloned()).unwrap();
    let connections = settings.auth.connect().unwrap();
    migrate::migrate(
        connections.database.as_ref().unwrap(),
        DefaultAutoField::BigAuto,
        false,
    )
    .await
    .unwrap();
    let application = Application::build(settings, "127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", application.address());
    tokio::spawn(application.run_until_stopped());
    let client = reqwest::Client::new();

    let peer_vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut peer = Oracle::peer(&peer_vars);
    peer.call(
        "create_user",
        json!({}),
        json!({"username": "alice<b>", "password": "pw one"}),
    );
    let login = peer.call(
        "login_session",
        json!({}),
        json!({"username": "alice<b>", "password": "pw one"}),
    );
    let key = login["session_key"].as_str().unwrap().to_string();

    // A visitor: no cookie in, none out; Django's security headers.
    let visitor = client.get(&url).send().await.unwrap();
    assert_eq!(visitor.status(), 200);
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        assert_eq!(visitor.headers().get(name).unwrap(), value, "{name}");
    }

    // A Host not in ALLOWED_HOSTS (Host-header poisoning): 400, as Django's DisallowedHost.
    for host in ["evil.example", "127.0.0.1.evil.example", "bad host"] {
        let refused = client.get(&url).header("Host", host).send().await.unwrap();
        assert_eq!(refused.status(), 400, "{host}");
        assert!(refused.headers().get("set-cookie").is_none());
    }
    let allowed = client
        .get(&url)
        .header("Host", "TestServer:8000")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert!(
        visitor.headers().get("set-cookie").is_none(),
        "a visitor's home page sets no cookie at all"
    );
    assert!(
        visitor
            .text()
            .await
            .unwrap()
            .contains("You are not logged in.")
    );

    // Django's login, seen here (the name escaped). The first sight records the session's activity (a
    // key Django ignores) and hands out a CSRF token for the logout button; after that, page views within
    // a minute write nothing.
    let first = client
        .get(&url)
        .header("Cookie", format!("sessionid={key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let csrftoken = first
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("csrftoken="))
        .and_then(|c| c.split(';').next())
        .expect("a CSRF cookie")
        .to_string();
    let home = client
        .get(&url)
        .header("Cookie", format!("sessionid={key}; csrftoken={csrftoken}"))
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    assert_eq!(home.headers().get("vary").unwrap(), "Cookie");
    assert!(home.headers().get("set-cookie").is_none());
    let body = home.text().await.unwrap();
    assert!(
        body.contains("<span id=\"username\">alice&#60;b&#62;</span>"),
        "{body}"
    );

    // Garbage cookies are visitors, not errors.
    for garbage in ["x", "not-a-key-!!", &"z".repeat(4000)] {
        let page = client
            .get(&url)
            .header("Cookie", format!("sessionid={garbage}"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{garbage}");
        assert!(page.text().await.unwrap().contains("not logged in"));
    }

    // The password changes in Django: the session no longer matches, so it is flushed and its cookie
    // deleted, here as in Django.
    peer.call(
        "set_password",
        json!({}),
        json!({"username": "alice<b>", "password": "pw two"}),
    );
    let after = client
        .get(&url)
        .header("Cookie", format!("sessionid={key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 200);
    assert_eq!(
        after.headers().get("set-cookie").unwrap(),
        "sessionid=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax"
    );
    assert!(after.text().await.unwrap().contains("not logged in"));
    assert_eq!(
        peer.call("session_load", json!({}), json!({"session_key": key}))["found"],
        json!(false)
    );

    // Redis down: a 503 page within the timeout, not a 500 or a hang.
    redis.stop();
    let started = Instant::now();
    let down = client
        .get(&url)
        .header("Cookie", format!("sessionid={key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), 503);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(down.text().await.unwrap().contains("Service unavailable"));
}
