//! `/auth/verify`, the forward-auth endpoint (issue 20), asked directly as a proxy would ask it: the
//! identity headers of a session a real Django wrote, the original request taken from `X-Forwarded-*` only
//! behind a proxy (`NUM_PROXIES`), `ALLOWED_HOSTS` on the original host, `FORWARD_AUTH_GROUPS` and the two
//! kinds of `FORWARD_AUTH_CSRF`. The proxies themselves are the cross-service suite's
//! (`tests/suite/forward_auth.rs`).

#[path = "../../auth/tests/support/mod.rs"]
mod support;

use std::collections::HashMap;

use api::startup::Application;
use django_auth_core::migrate::{self, DefaultAutoField};
use django_auth_core::settings::Settings;
use serde_json::{Value, json};
use support::Oracle;
use testkit::{PostgresServer, RedisServer};

/// Request headers, as a case lists them.
type Headers<'a> = &'a [(&'a str, &'a str)];

/// A CSRF secret the client holds (any well-formed one, as in Django).
const CSRF: &str = "AbCdEfGhIjKlMnOpQrStUvWxYz012345";

/// The api on `base` settings with `extra` added; returns its `http://host:port`.
async fn api(base: &[(&str, String)], extra: &[(&str, &str)]) -> String {
    let mut map: HashMap<&str, String> = base.iter().cloned().collect();
    for (name, value) in extra {
        map.insert(name, value.to_string());
    }
    let settings = Settings::from_lookup(|n| map.get(n).cloned()).unwrap();
    let application = Application::build(settings, "127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", application.address());
    tokio::spawn(application.run_until_stopped());
    url
}

/// Asks `url` (a path under the api) with the session `key` and `headers`: the status, the headers, the
/// body.
async fn ask(
    method: reqwest::Method,
    url: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = reqwest::Client::new().request(method, url);
    let mut cookies = vec![format!("csrftoken={CSRF}")];
    if let Some(key) = key {
        cookies.push(format!("sessionid={key}"));
    }
    request = request.header("Cookie", cookies.join("; "));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn get<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_answers_a_proxy_with_djangos_user_and_rules() {
    let redis = RedisServer::start().unwrap();
    let pg = PostgresServer::start().unwrap();
    let vars: Vec<(&str, String)> = vec![
        ("SECRET_KEY", "forward-auth-test-secret".into()),
        ("SESSION_ENGINE", "cache".into()),
        ("REDIS_URL", redis.url()),
        ("DATABASE_URL", pg.url()),
        (
            "PASSWORD_HASHERS",
            "django.contrib.auth.hashers.MD5PasswordHasher".into(),
        ),
    ];
    let map: HashMap<&str, String> = vars
        .iter()
        .cloned()
        .chain([("ALLOWED_HOSTS", "127.0.0.1".to_string())])
        .collect();
    let settings = Settings::from_lookup(|n| map.get(n).cloned()).unwrap();
    let connections = settings.connect().unwrap();
    migrate::migrate(
        connections.database.as_ref().unwrap(),
        DefaultAutoField::BigAuto,
        false,
    )
    .await
    .unwrap();
    let peer_vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut peer = Oracle::peer(&peer_vars);
    let zoe = peer.call(
        "create_user",
        json!({}),
        json!({"username": "zoe", "password": "zoe password 1", "email": "zoe@example.com"}),
    );
    let zoe_id = zoe.as_i64().unwrap_or_else(|| panic!("a pk: {zoe}"));
    // Her groups, in Django's tables.
    pg.psql(&format!(
        "INSERT INTO auth_group (name) VALUES ('Sales, EMEA'), ('ops'), ('admins'); \
         INSERT INTO auth_user_groups (user_id, group_id) \
         SELECT {zoe_id}, id FROM auth_group WHERE name IN ('Sales, EMEA', 'ops')"
    ))
    .unwrap();
    let key = peer.call(
        "login_session",
        json!({}),
        json!({"username": "zoe", "password": "zoe password 1"}),
    )["session_key"]
        .as_str()
        .unwrap()
        .to_string();

    // Behind one proxy: the original request is what its X-Forwarded-* headers say.
    let proxied = api(
        &vars,
        &[
            ("NUM_PROXIES", "1"),
            ("ALLOWED_HOSTS", "app.example.com"),
            ("FORWARD_AUTH_GROUPS", r#"["Sales, EMEA", "finance"]"#),
            ("FORWARD_AUTH_CSRF", "true"),
        ],
    )
    .await;
    let original = [
        ("X-Forwarded-Host", "app.example.com"),
        ("X-Forwarded-Proto", "http"),
        ("X-Forwarded-Uri", "/grafana/d/1?from=now"),
    ];
    // Any method, and any path below /auth/verify; the original method is the proxy's X-Forwarded-Method
    // (here a GET, whatever the ask's own method: no CSRF check).
    for (method, path) in [
        (reqwest::Method::GET, "/auth/verify"),
        (reqwest::Method::HEAD, "/auth/verify/"),
        (reqwest::Method::POST, "/auth/verify/grafana/d/1"),
    ] {
        let mut headers = original.to_vec();
        headers.push(("X-Forwarded-Method", "GET"));
        let (status, headers, body) = ask(
            method.clone(),
            &format!("{proxied}{path}"),
            Some(&key),
            &headers,
        )
        .await;
        assert_eq!(status, 200, "{method} {path}: {body}");
        assert_eq!(get(&headers, "x-auth-request-user"), Some("zoe"));
        assert_eq!(get(&headers, "remote-user"), Some("zoe"));
        assert_eq!(
            get(&headers, "x-auth-request-email"),
            Some("zoe@example.com")
        );
        assert_eq!(get(&headers, "remote-email"), Some("zoe@example.com"));
        assert_eq!(
            get(&headers, "x-auth-request-user-id"),
            Some(zoe_id.to_string().as_str())
        );
        let mut groups: Vec<&str> = get(&headers, "x-auth-request-groups")
            .unwrap()
            .split(',')
            .collect();
        groups.sort_unstable();
        assert_eq!(groups, ["Sales%2C EMEA", "ops"]);
        assert_eq!(
            get(&headers, "remote-name"),
            Some(""),
            "no name: sent empty"
        );
        assert_eq!(get(&headers, "cache-control"), Some("private, no-store"));
    }
    // No session, or a garbage one: 401 with DRF's body, never a redirect.
    for cookie in [None, Some("garbage")] {
        let (status, headers, body) = ask(
            reqwest::Method::GET,
            &format!("{proxied}/auth/verify"),
            cookie,
            &original,
        )
        .await;
        assert_eq!(status, 401, "{cookie:?}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({"detail": "Authentication credentials were not provided."})
        );
        assert!(get(&headers, "location").is_none());
        assert!(get(&headers, "x-auth-request-user").is_none());
    }
    // The original host must be allowed (the api's own Host, 127.0.0.1, is not).
    let (status, _, body) = ask(
        reqwest::Method::GET,
        &format!("{proxied}/auth/verify"),
        Some(&key),
        &[("X-Forwarded-Host", "evil.example.com")],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("ALLOWED_HOSTS"), "{body}");
    // An unsafe original method: Django's CSRF check, the token from the header.
    let unsafe_original = |extra: &[(&'static str, &'static str)]| {
        let mut headers = original.to_vec();
        headers.push(("X-Forwarded-Method", "POST"));
        headers.extend_from_slice(extra);
        headers
    };
    let cases: [(Headers, u16, &str); 4] = [
        (
            &[("Origin", "http://app.example.com")],
            403,
            "CSRF token missing.",
        ),
        (
            &[("Origin", "http://app.example.com"), ("X-CSRFToken", CSRF)],
            200,
            "",
        ),
        (
            &[
                ("Origin", "https://evil.example.com"),
                ("X-CSRFToken", CSRF),
            ],
            403,
            "Origin checking failed",
        ),
        // The original scheme is the proxy's X-Forwarded-Proto: an http origin for an https site fails.
        (
            &[
                ("Origin", "http://app.example.com"),
                ("X-CSRFToken", CSRF),
                ("X-Forwarded-Proto", "https"),
            ],
            403,
            "Origin checking failed",
        ),
    ];
    for (extra, expected, detail) in cases {
        let headers = dedup_last(unsafe_original(extra));
        let (status, _, body) = ask(
            reqwest::Method::GET,
            &format!("{proxied}/auth/verify"),
            Some(&key),
            &headers,
        )
        .await;
        assert_eq!(status, expected, "{extra:?}: {body}");
        assert!(body.contains(detail), "{extra:?}: {body}");
    }

    // Not behind a proxy (NUM_PROXIES=0): X-Forwarded-* are the client's own words and are ignored; the
    // request is its own original. FORWARD_AUTH_GROUPS refuses a user in none of them with 403.
    let direct = api(
        &vars,
        &[
            ("ALLOWED_HOSTS", "127.0.0.1"),
            ("FORWARD_AUTH_GROUPS", "admins"),
        ],
    )
    .await;
    let (status, _, body) = ask(
        reqwest::Method::GET,
        &format!("{direct}/auth/verify"),
        Some(&key),
        &[("X-Forwarded-Host", "evil.example.com")],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"detail": "You do not have permission to perform this action."})
    );
    // FORWARD_AUTH_CSRF=origin: only the Origin half, for plain form posts (whose token is in a body the
    // proxy never forwards).
    let origin_only = api(
        &vars,
        &[
            ("ALLOWED_HOSTS", "127.0.0.1"),
            ("FORWARD_AUTH_CSRF", "origin"),
        ],
    )
    .await;
    let port = origin_only.rsplit(':').next().unwrap().to_string();
    let same_site = format!("http://127.0.0.1:{port}");
    for (method, origin, forwarded_method, expected) in [
        (reqwest::Method::POST, same_site.as_str(), None, 200),
        (reqwest::Method::POST, "http://evil.example.com", None, 403),
        // X-Forwarded-Method is not believed without a proxy: this is a GET.
        (
            reqwest::Method::GET,
            "http://evil.example.com",
            Some("POST"),
            200,
        ),
    ] {
        let mut headers = vec![("Origin", origin)];
        if let Some(forwarded) = forwarded_method {
            headers.push(("X-Forwarded-Method", forwarded));
        }
        let (status, _, body) = ask(
            method.clone(),
            &format!("{origin_only}/auth/verify"),
            Some(&key),
            &headers,
        )
        .await;
        assert_eq!(status, expected, "{method} Origin {origin}: {body}");
    }
}

/// `headers` with only the last value of each name (a case that overrides one of the defaults).
fn dedup_last<'a>(headers: Vec<(&'a str, &'a str)>) -> Vec<(&'a str, &'a str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for (name, value) in headers {
        out.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        out.push((name, value));
    }
    out
}
