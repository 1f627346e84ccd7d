//! Every endpoint against the real api, with sessions made by the real portal (over HTTP, in a browser-like
//! client whose cookie jar the two services share, as one host's cookies are) and by a real Django; the
//! browser rules (DRF's CSRF, CORS, ALLOWED_HOSTS); the OpenAPI document and the offline docs page; the
//! metrics and the edges (oversized and malformed cookies, Redis down).

#[path = "../../portal/tests/app/mod.rs"]
mod app;

use std::collections::{BTreeSet, HashMap};

use api::startup::Application;
use app::{Browser, TestApp, spawn_app};
use django_auth_core::settings::Settings;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

/// Cookies or headers, by name.
type Pairs = Vec<(&'static str, String)>;

const ALLOWED_ORIGIN: &str = "https://app.example";
const TRUSTED_ORIGIN: &str = "https://trusted.example";

/// The portal (with its Redis, PostgreSQL and settings) and the api beside it on the same settings.
struct Stack {
    portal: TestApp,
    api: String,
}

async fn spawn_stack(extra: &[(&'static str, &str)]) -> Stack {
    let mut all: Vec<(&'static str, &str)> = vec![
        ("CORS_ALLOWED_ORIGINS", ALLOWED_ORIGIN),
        ("CSRF_TRUSTED_ORIGINS", TRUSTED_ORIGIN),
        ("SECURE_PROXY_SSL_HEADER", "HTTP_X_FORWARDED_PROTO,https"),
    ];
    all.extend_from_slice(extra);
    let portal = spawn_app(&all).await;
    let map: HashMap<&str, String> = portal.vars.iter().cloned().collect();
    let settings = Settings::from_lookup(|n| map.get(n).cloned()).expect("settings");
    let application = Application::build(settings, "127.0.0.1:0")
        .await
        .expect("api");
    let api = format!("http://{}/api/v1", application.address());
    tokio::spawn(application.run_until_stopped());
    Stack { portal, api }
}

impl Stack {
    /// A browser registered and logged in on the portal; its jar then holds `sessionid` and
    /// `csrftoken`, which it sends to the api too (cookies are per host, not per port).
    async fn logged_in_browser(&self, username: &str) -> Browser {
        let browser = self.portal.browser();
        let registered = browser
            .register(
                username,
                &format!("{username}@example.com"),
                "a long password 7",
            )
            .await;
        assert_eq!(registered.status, 302, "{}", registered.body);
        let login = browser.log_in(username, "a long password 7").await;
        assert_eq!(login.status, 302, "{}", login.body);
        browser
    }
}

fn cookie_header(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn json_of(response: reqwest::Response) -> (u16, HeaderMap, Value) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, headers, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_and_sessions_with_portal_and_django_sessions() {
    let stack = spawn_stack(&[]).await;
    let browser = stack.logged_in_browser("amelie").await;
    let csrf = browser.cookie("csrftoken").expect("csrftoken");
    let session_key = browser.cookie("sessionid").expect("sessionid");
    let api = &stack.api;
    let client = &browser.client;

    // GET /me with the portal's session, with and without the trailing slash.
    for path in ["/me", "/me/"] {
        let (status, _, me) =
            json_of(client.get(format!("{api}{path}")).send().await.unwrap()).await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["username"], "amelie");
        assert_eq!(me["email"], "amelie@example.com");
        assert_eq!(me["first_name"], "");
        assert!(me.get("password").is_none());
    }

    // PATCH /me: validated, written where Django reads it; read-only fields ignored.
    let patch = |body: String, content_type: &'static str| {
        client
            .patch(format!("{api}/me"))
            .header("X-CSRFToken", csrf.clone())
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let (status, _, me) = json_of(
        patch(
            json!({"first_name": "  Amélie ", "last_name": "Poulain", "email": "amelie@montmartre.fr",
                   "username": "root", "is_superuser": true})
            .to_string(),
            "application/json",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["first_name"], "Amélie");
    assert_eq!(me["username"], "amelie");
    assert_eq!(me["is_superuser"], false);
    let mut peer = stack.portal.peer();
    let row = peer.call("get_user_row", json!({}), json!({"pk": me["id"]}));
    assert_eq!(row["first_name"], "Amélie");
    assert_eq!(row["last_name"], "Poulain");
    assert_eq!(row["email"], "amelie@montmartre.fr");
    assert_eq!(row["username"], "amelie");
    assert_eq!(row["is_superuser"], false);

    // Each invalid field gets DRF's message; nothing is written.
    let (status, _, errors) = json_of(
        patch(
            json!({"first_name": "x".repeat(151), "last_name": null, "email": "not an address"})
                .to_string(),
            "application/json",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        errors,
        json!({
            "first_name": ["Ensure this field has no more than 150 characters."],
            "last_name": ["This field may not be null."],
            "email": ["Enter a valid email address."],
        })
    );
    let (status, _, errors) = json_of(
        patch(json!({"email": ["a@b.c"]}).to_string(), "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, errors),
        (400, json!({"email": ["Not a valid string."]}))
    );
    let row = peer.call("get_user_row", json!({}), json!({"pk": me["id"]}));
    assert_eq!(row["email"], "amelie@montmartre.fr");
    let (status, _, body) = json_of(patch("[1]".into(), "application/json").await.unwrap()).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
        )
    );
    let (status, _, body) =
        json_of(patch("{\"a\": ".into(), "application/json").await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error - "),
        "{body}"
    );
    let (status, _, body) =
        json_of(patch("first_name=x".into(), "text/plain").await.unwrap()).await;
    assert_eq!(
        (status, body),
        (
            415,
            json!({"detail": "Unsupported media type \"text/plain\" in request."})
        )
    );
    let (status, _, body) = json_of(
        patch(
            format!("{{\"first_name\": \"{}\"}}", "x".repeat(70_000)),
            "application/json",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 413, "{body}");

    // A second session of the same user, made by Django, and one of another user.
    let login = peer.call(
        "login_session",
        json!({}),
        json!({"username": "amelie", "password": "a long password 7"}),
    );
    let django_key = login["session_key"].as_str().unwrap().to_string();
    let other = stack.logged_in_browser("nino").await;
    let (status, _, nino_sessions) = json_of(
        other
            .client
            .get(format!("{api}/sessions"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let nino_id = nino_sessions[0]["id"].as_str().unwrap().to_string();

    // Django's session joins the shared index the first time one of our services sees it (in the
    // background, so the list may take a moment).
    let django_client = reqwest::Client::new();
    let (status, _, _) = json_of(
        django_client
            .get(format!("{api}/me"))
            .header("Cookie", format!("sessionid={django_key}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let mut sessions = Value::Null;
    for _ in 0..50 {
        let (status, _, listed) =
            json_of(client.get(format!("{api}/sessions/")).send().await.unwrap()).await;
        assert_eq!(status, 200, "{listed}");
        sessions = listed;
        if sessions.as_array().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let sessions = sessions.as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let text = serde_json::to_string(&sessions).unwrap();
    assert!(
        !text.contains(&session_key) && !text.contains(&django_key),
        "never a key"
    );
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert!(current[0]["created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(current[0]["ip_address"], "127.0.0.1");
    let django_session = sessions.iter().find(|s| s["current"] == false).unwrap();
    let django_id = django_session["id"].as_str().unwrap();

    let delete = |id: String| {
        client
            .delete(format!("{api}/sessions/{id}"))
            .header("X-CSRFToken", csrf.clone())
            .send()
    };
    // Another user's session, or a made-up id: 404, and nothing ends.
    for id in [nino_id.clone(), "0".repeat(32), django_key.clone()] {
        let (status, _, body) = json_of(delete(id).await.unwrap()).await;
        assert_eq!((status, body), (404, json!({"detail": "Not found."})));
    }
    let (status, _, _) = json_of(other.client.get(format!("{api}/me")).send().await.unwrap()).await;
    assert_eq!(status, 200, "nino is still logged in");
    // Django's session ends: Django sees it gone.
    let response = delete(django_id.to_string()).await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        peer.call(
            "session_load",
            json!({}),
            json!({"session_key": django_key})
        )["found"],
        json!(false)
    );
    // Ending the current session is a logout: the cookie is deleted and the portal sees nobody.
    let current_id = current[0]["id"].as_str().unwrap().to_string();
    let response = delete(current_id).await.unwrap();
    assert_eq!(response.status(), 204);
    assert!(
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("sessionid=\"\"")),
        "the session cookie is deleted"
    );
    assert_eq!(browser.whoami().await, None);
    assert_eq!(
        peer.call(
            "session_load",
            json!({}),
            json!({"session_key": session_key})
        )["found"],
        json!(false)
    );
    let (status, _, _) = json_of(client.get(format!("{api}/sessions")).send().await.unwrap()).await;
    assert_eq!(status, 401);
}

/// DRF's `SessionAuthentication.enforce_csrf`: every unsafe request of a logged-in session needs the
/// `X-CSRFToken` header to match the `csrftoken` cookie (masked or not), and over HTTPS a trusted Origin
/// (or Referer). Anonymous requests are 401 before any CSRF check; safe methods need no token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_matrix() {
    let stack = spawn_stack(&[]).await;
    let browser = stack.logged_in_browser("cleo").await;
    let session = browser.cookie("sessionid").unwrap();
    let secret = browser.cookie("csrftoken").unwrap();
    assert_eq!(secret.len(), 32);
    // A masked token, as a Django template's {% csrf_token %} gives it (here the portal's form).
    let masked = browser.get("/accounts/logout/").await.csrf_token();
    assert_eq!(masked.len(), 64);
    let client = reqwest::Client::new();
    let api = &stack.api;
    let patch = |cookies: Vec<(&'static str, String)>, headers: Vec<(&'static str, String)>| {
        let mut request = client
            .patch(format!("{api}/me"))
            .header("Content-Type", "application/json")
            .body(r#"{"last_name": "Wedge"}"#);
        let pairs: Vec<(&str, &str)> = cookies.iter().map(|(k, v)| (*k, v.as_str())).collect();
        request = request.header("Cookie", cookie_header(&pairs));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let s = || ("sessionid", session.clone());
    let c = || ("csrftoken", secret.clone());
    let wrong = "a".repeat(32);
    let https = || ("X-Forwarded-Proto", "https".to_string());
    let cases: Vec<(&str, Pairs, Pairs, u16, &str)> = vec![
        (
            "no cookie",
            vec![s()],
            vec![("X-CSRFToken", secret.clone())],
            403,
            "CSRF Failed: CSRF cookie not set.",
        ),
        (
            "no header",
            vec![s(), c()],
            vec![],
            403,
            "CSRF Failed: CSRF token missing.",
        ),
        (
            "wrong token",
            vec![s(), c()],
            vec![("X-CSRFToken", wrong.clone())],
            403,
            "CSRF Failed: CSRF token from the 'X-Csrftoken' HTTP header incorrect.",
        ),
        (
            "token of the wrong length",
            vec![s(), c()],
            vec![("X-CSRFToken", "abc".into())],
            403,
            "CSRF Failed: CSRF token from the 'X-Csrftoken' HTTP header has incorrect length.",
        ),
        (
            "bad cookie",
            vec![s(), ("csrftoken", "!".repeat(32))],
            vec![("X-CSRFToken", secret.clone())],
            403,
            "CSRF Failed: CSRF cookie has invalid characters.",
        ),
        (
            "unmasked token",
            vec![s(), c()],
            vec![("X-CSRFToken", secret.clone())],
            200,
            "",
        ),
        (
            "masked token",
            vec![s(), c()],
            vec![("X-CSRFToken", masked.clone())],
            200,
            "",
        ),
        (
            "https, foreign Origin",
            vec![s(), c()],
            vec![
                https(),
                ("Origin", "https://evil.example".into()),
                ("X-CSRFToken", masked.clone()),
            ],
            403,
            "CSRF Failed: Origin checking failed - https://evil.example does not match any trusted origins.",
        ),
        (
            "https, trusted Origin",
            vec![s(), c()],
            vec![
                https(),
                ("Origin", TRUSTED_ORIGIN.into()),
                ("X-CSRFToken", masked.clone()),
            ],
            200,
            "",
        ),
        (
            "https, no Origin nor Referer",
            vec![s(), c()],
            vec![https(), ("X-CSRFToken", masked.clone())],
            403,
            "CSRF Failed: Referer checking failed - no Referer.",
        ),
        (
            "https, foreign Referer",
            vec![s(), c()],
            vec![
                https(),
                ("Referer", "https://evil.example/page".into()),
                ("X-CSRFToken", masked.clone()),
            ],
            403,
            "CSRF Failed: Referer checking failed - https://evil.example/page does not match any \
             trusted origins.",
        ),
        (
            "https, plain-HTTP Referer",
            vec![s(), c()],
            vec![
                https(),
                (
                    "Referer",
                    format!(
                        "http://{}/",
                        api.trim_start_matches("http://").split('/').next().unwrap()
                    ),
                ),
                ("X-CSRFToken", masked.clone()),
            ],
            403,
            "CSRF Failed: Referer checking failed - Referer is insecure while host is secure.",
        ),
        (
            "https, trusted Referer",
            vec![s(), c()],
            vec![
                https(),
                ("Referer", format!("{TRUSTED_ORIGIN}/page")),
                ("X-CSRFToken", masked.clone()),
            ],
            200,
            "",
        ),
        (
            "anonymous: 401 first",
            vec![c()],
            vec![],
            401,
            "Authentication credentials were not provided.",
        ),
    ];
    for (name, cookies, headers, expected, detail) in cases {
        let (status, _, body) = json_of(patch(cookies, headers).await.unwrap()).await;
        assert_eq!(status, expected, "{name}: {body}");
        if expected != 200 {
            assert_eq!(body, json!({ "detail": detail }), "{name}");
        } else {
            assert_eq!(body["last_name"], "Wedge", "{name}");
        }
    }
    // Safe methods need no token.
    let response = client
        .get(format!("{api}/me"))
        .header("Cookie", cookie_header(&[("sessionid", &session)]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// `CORS_ALLOWED_ORIGINS` with credentials: preflights answered for listed origins only, the origin
/// echoed (never `*`), and nothing for others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_and_credentials() {
    let stack = spawn_stack(&[]).await;
    let browser = stack.logged_in_browser("zazie").await;
    let session = browser.cookie("sessionid").unwrap();
    let client = reqwest::Client::new();
    let api = &stack.api;
    let preflight = |origin: &str| {
        client
            .request(reqwest::Method::OPTIONS, format!("{api}/me"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "PATCH")
            .header(
                "Access-Control-Request-Headers",
                "content-type, x-csrftoken",
            )
            .send()
    };
    let allowed = preflight(ALLOWED_ORIGIN).await.unwrap();
    assert_eq!(allowed.status(), 200);
    let header = |h: &HeaderMap, name: &str| {
        h.get(name)
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
            .unwrap_or_default()
    };
    let h = allowed.headers();
    assert_eq!(header(h, "access-control-allow-origin"), ALLOWED_ORIGIN);
    assert_eq!(header(h, "access-control-allow-credentials"), "true");
    assert!(header(h, "access-control-allow-methods").contains("patch"));
    assert!(header(h, "access-control-allow-headers").contains("x-csrftoken"));
    assert_eq!(header(h, "access-control-max-age"), "86400");

    let refused = preflight("https://evil.example").await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    for (origin, echoed) in [
        (ALLOWED_ORIGIN, Some(ALLOWED_ORIGIN)),
        ("https://evil.example", None),
    ] {
        let response = client
            .get(format!("{api}/me"))
            .header("Origin", origin)
            .header("Cookie", cookie_header(&[("sessionid", &session)]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let h = response.headers();
        assert_eq!(
            h.get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap()),
            echoed,
            "{origin}"
        );
        assert_ne!(header(h, "access-control-allow-origin"), "*");
        if echoed.is_some() {
            assert_eq!(header(h, "access-control-allow-credentials"), "true");
            assert!(header(h, "vary").contains("origin"));
        }
    }
}

/// The OpenAPI document is 3.1, lists exactly the routes served (each documented operation answers, 401
/// without a session rather than 404 or 405), and the docs page and its assets come from the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_and_offline_docs() {
    let stack = spawn_stack(&[]).await;
    let api = &stack.api;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (status, _, doc) = json_of(
        client
            .get(format!("{api}/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let expected: BTreeSet<String> = [
        "GET /api/v1/me",
        "PATCH /api/v1/me",
        "GET /api/v1/session",
        "DELETE /api/v1/session",
        "GET /api/v1/sessions",
        "DELETE /api/v1/sessions/{id}",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(operations, expected);
    let origin = api.trim_end_matches("/api/v1");
    for operation in &operations {
        let (method, path) = operation.split_once(' ').unwrap();
        let url = format!("{origin}{}", path.replace("{id}", &"0".repeat(32)));
        let response = client
            .request(method.parse().unwrap(), &url)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{operation}");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "sessionid");
    assert_eq!(schemes["csrf"]["name"], "X-CSRFTOKEN");

    let redirect = client.get(format!("{api}/docs")).send().await.unwrap();
    assert_eq!(redirect.status(), 301);
    assert_eq!(redirect.headers()["location"], "/api/v1/docs/");
    let page = client.get(format!("{api}/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Every asset is local, and is served.
    let mut assets = Vec::new();
    for marker in ["src=\"", "href=\""] {
        for part in html.split(marker).skip(1) {
            let url = &part[..part.find('"').unwrap()];
            assert!(!url.contains("://"), "an external asset: {url}");
            assets.push(url.trim_start_matches("./").to_string());
        }
    }
    assert!(assets.iter().any(|a| a.ends_with(".js")), "{assets:?}");
    for asset in &assets {
        let response = client
            .get(format!("{api}/docs/{asset}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
    }
    let initializer = client
        .get(format!("{api}/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        initializer.contains("/api/v1/openapi.json"),
        "{initializer}"
    );
}

fn counter(metrics: &str, name: &str, label: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l.contains(label))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name}{{{label}}} in:\n{metrics}"))
}

/// Cookies that cannot be a session are refused without a store round trip and counted by reason; an
/// oversized cookie is a 400; an unknown Host a 400; Redis down a 503 counted as a store error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edges_and_metrics() {
    let mut stack = spawn_stack(&[]).await;
    let browser = stack.logged_in_browser("marcel").await;
    let session = browser.cookie("sessionid").unwrap();
    let api = stack.api.clone();
    let origin = api.trim_end_matches("/api/v1").to_string();
    let client = reqwest::Client::new();
    let metrics = || async {
        client
            .get(format!("{origin}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let get_me = |cookie: HeaderValue| {
        client
            .get(format!("{api}/me"))
            .header("Cookie", cookie)
            .send()
    };
    let before = metrics().await;
    let malformed = r#"api_session_decode_failures_total{reason="malformed_key"}"#;
    let before_malformed = counter(&before, malformed, "");

    // Keys of the wrong shape: anonymous, counted, no round trip.
    for bad in [
        "short",
        "UPPERCASE0123456789abcdefghijklm",
        "key-with-dashes-0123456789abcdef",
    ] {
        let (status, _, body) = json_of(
            get_me(HeaderValue::from_str(&format!("sessionid={bad}")).unwrap())
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 401, "{bad}: {body}");
    }
    let after = metrics().await;
    assert!(
        counter(&after, malformed, "") >= before_malformed + 3.0,
        "{after}"
    );

    // Non-UTF-8 bytes in the cookie: a clear 4xx, never a 500.
    let (status, _, _) = json_of(
        get_me(HeaderValue::from_bytes(b"sessionid=\xff\xfe0123456789").unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert!(status == 400 || status == 401, "{status}");

    // Oversized: a 400 that says what to do.
    let (status, _, body) = json_of(
        get_me(HeaderValue::from_str(&format!("sessionid={}", "a".repeat(5000))).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["detail"].as_str().unwrap().contains("delete"),
        "{body}"
    );

    // Oversized headers: refused by the HTTP layer with a 4xx, never a hang or a 500.
    let response = client
        .get(format!("{api}/me"))
        .header("X-Padding", "p".repeat(100 * 1024))
        .send()
        .await;
    match response {
        Ok(response) => {
            let status = response.status().as_u16();
            assert!((400..500).contains(&status), "{status}");
        }
        // The server may close the connection as soon as the headers overflow.
        Err(e) => assert!(!e.is_timeout(), "{e}"),
    }

    // A Host outside ALLOWED_HOSTS.
    let response = client
        .get(format!("{api}/me"))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // Per-route request counts and latency.
    let valid = format!("sessionid={session}");
    assert_eq!(
        get_me(HeaderValue::from_str(&valid).unwrap())
            .await
            .unwrap()
            .status(),
        200
    );
    let text = metrics().await;
    assert!(
        counter(&text, "api_http_requests_total", r#"route="/api/v1/me""#) >= 1.0,
        "{text}"
    );
    assert!(
        text.contains("api_http_request_duration_seconds_bucket"),
        "{text}"
    );
    let redis_errors = counter(&text, "api_store_errors_total", r#"store="redis""#);

    // Redis down: a 503 with Retry-After, counted.
    stack.portal.redis.stop();
    let (status, headers, body) = json_of(
        get_me(HeaderValue::from_str(&valid).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers["retry-after"], "5");
    let text = metrics().await;
    assert!(counter(&text, "api_store_errors_total", r#"store="redis""#) > redis_errors);
    assert!(counter(&text, "api_store_unavailable_total", "") >= 1.0);
}
