//! `api serve` as a real process: one log line per request with its id and route, and nothing it logs (at
//! debug level for our crates) holds a password, a session key, a CSRF secret, an auth hash or the
//! `SECRET_KEY`. Without `SECRET_KEY` it refuses to start, as the portal does (unless `DEBUG`).

#[path = "../../portal/tests/app/mod.rs"]
mod app;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use testkit::{PostgresServer, RedisServer, free_port};

struct Served {
    child: Child,
    base: String,
}

impl Served {
    fn start(vars: &[(&str, String)]) -> Served {
        let port = free_port().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_api"))
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env_clear()
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .env(
                "RUST_LOG",
                "info,api=debug,django_auth_web=debug,django_auth_core=debug",
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "api did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Served { child, base }
    }

    /// Stops the process as an operator would (SIGINT: a graceful stop, which writes out the log lines
    /// still buffered) and returns everything it wrote to stderr.
    fn stop(mut self) -> String {
        testkit::stop_child(&mut self.child);
        let mut log = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut log);
        }
        log
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_name_requests_and_never_secrets() {
    let redis = RedisServer::start().unwrap();
    let pg = PostgresServer::start().unwrap();
    let vars = app::vars(&redis, &pg, &[]);
    let map: std::collections::HashMap<&str, String> = vars.iter().cloned().collect();
    let settings =
        django_auth_core::settings::Settings::from_lookup(|n| map.get(n).cloned()).unwrap();
    let connections = settings.connect().unwrap();
    django_auth_core::migrate::migrate(
        connections.database.as_ref().unwrap(),
        django_auth_core::migrate::DefaultAutoField::BigAuto,
        false,
    )
    .await
    .unwrap();
    let served = Served::start(&vars);
    let peer_vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut peer = app::oracle::Oracle::peer(&peer_vars);
    peer.call(
        "create_user",
        json!({}),
        json!({"username": "olga", "password": "olga secret pass", "email": "olga@example.com"}),
    );
    let login = peer.call(
        "login_session",
        json!({}),
        json!({"username": "olga", "password": "olga secret pass"}),
    );
    let key = login["session_key"].as_str().unwrap().to_string();
    let hash = peer.call("session_auth_hash", json!({}), json!({"pk": 1}));
    let hash = hash.as_str().unwrap().to_string();
    let csrf = "Zq0Zq0Zq0Zq0Zq0Zq0Zq0Zq0Zq0Zq0Zq";
    let cookies = format!("sessionid={key}; csrftoken={csrf}");
    let client = reqwest::Client::new();
    let api = format!("{}/api/v1", served.base);
    let me = client
        .get(format!("{api}/me"))
        .header("Cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let patched = client
        .patch(format!("{api}/me"))
        .header("Cookie", &cookies)
        .header("X-CSRFToken", csrf)
        .json(&json!({"first_name": "Olga"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let refused = client
        .patch(format!("{api}/me"))
        .header("Cookie", &cookies)
        .header("X-CSRFToken", "Xx1Xx1Xx1Xx1Xx1Xx1Xx1Xx1Xx1Xx1Xx")
        .json(&json!({"first_name": "Mallory"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let sessions = client
        .get(format!("{api}/sessions"))
        .header("Cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(sessions.status(), 200);
    let logout = client
        .delete(format!("{api}/session"))
        .header("Cookie", &cookies)
        .header("X-CSRFToken", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let log = served.stop();

    assert!(log.contains("request_id="), "{log}");
    assert!(log.contains("route=/api/v1/me"), "{log}");
    assert!(log.contains("Forbidden (CSRF)"), "{log}");
    for secret in [
        "olga secret pass",
        key.as_str(),
        csrf,
        "Xx1Xx1Xx1Xx1Xx1Xx1Xx1Xx1Xx1Xx1Xx",
        hash.as_str(),
        "portal-pages-test-secret",
    ] {
        assert!(
            !log.contains(secret),
            "{secret:?} leaked into the log:\n{log}"
        );
    }
}

#[test]
fn refuses_to_start_without_a_secret_key() {
    let output = Command::new(env!("CARGO_BIN_EXE_api"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env_clear()
        .env("SESSION_ENGINE", "signed_cookies")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SECRET_KEY is required"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_without_a_secret_key_runs_on_a_random_one_and_says_so() {
    let pg = PostgresServer::start().unwrap();
    app::migrated(&pg.url()).await;
    let served = Served::start(&[
        ("DEBUG", "true".to_string()),
        ("SESSION_ENGINE", "signed_cookies".to_string()),
        ("DATABASE_URL", pg.url()),
    ]);
    let log = served.stop();
    assert!(
        log.contains("SECRET_KEY is not set: DEBUG made up a random key for this process"),
        "{log}"
    );
}

/// The user table is read at start: a table that is missing, or a database that cannot be reached, stops
/// the api at once with a message naming the setting to fix, never a 500 on the first request.
#[test]
fn a_user_table_it_cannot_read_stops_it_at_start() {
    let pg = PostgresServer::start().unwrap();
    let cases = [
        // Not migrated: no auth_user.
        (pg.url(), "auth.User", "AUTH_USER_MODEL", "\"auth_user\""),
        (
            pg.url(),
            "accounts.Member",
            "AUTH_USER_MODEL",
            "\"accounts_member\"",
        ),
        (
            "postgres://nobody@127.0.0.1:1/none".to_string(),
            "auth.User",
            "cannot read the user table",
            "postgresql unavailable",
        ),
    ];
    for (url, model, setting, detail) in cases {
        let output = testkit::output_within(
            Command::new(env!("CARGO_BIN_EXE_api"))
                .args(["serve", "--bind", "127.0.0.1:0"])
                .env_clear()
                .env("SECRET_KEY", "k")
                .env("SESSION_ENGINE", "signed_cookies")
                .env("DATABASE_URL", &url)
                .env("AUTH_USER_MODEL", model),
            Duration::from_secs(30),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{model}: {stderr}");
        assert!(stderr.contains(setting), "{model}: {stderr}");
        assert!(stderr.contains(detail), "{model}: {stderr}");
        assert!(
            !stderr.contains("nobody@"),
            "no URL in the message: {stderr}"
        );
    }
}

/// A `DATABASE_URL` whose TLS cannot work stops the api at start, naming the parameter and never the
/// password: a missing CA file before connecting, a CA that did not sign the server's certificate at the
/// first connection (reading the user table).
#[test]
fn a_database_url_whose_tls_cannot_work_stops_it_at_start() {
    let pg = PostgresServer::start_tls(testkit::PostgresTls::default()).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let wrong_ca = testkit::another_ca(elsewhere.path()).unwrap();
    let url = |query: String| {
        format!(
            "postgres://postgres:hunter2@127.0.0.1:{}/test?{query}",
            pg.port()
        )
    };
    for (url, expected) in [
        (
            url("sslmode=verify-full&sslrootcert=/nonexistent/ca.pem".into()),
            "DATABASE_URL: sslrootcert: file \"/nonexistent/ca.pem\" does not exist",
        ),
        (
            url(format!(
                "sslmode=verify-full&sslrootcert={}",
                wrong_ca.display()
            )),
            "sslrootcert: the server's certificate is not signed by a CA in",
        ),
    ] {
        let output = testkit::output_within(
            Command::new(env!("CARGO_BIN_EXE_api"))
                .args(["serve", "--bind", "127.0.0.1:0"])
                .env_clear()
                .env("SECRET_KEY", "k")
                .env("SESSION_ENGINE", "signed_cookies")
                .env("DATABASE_URL", &url)
                .env("DATABASE_CONNECT_TIMEOUT", "2"),
            Duration::from_secs(30),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(
            !stderr.contains("hunter2"),
            "no password in the message: {stderr}"
        );
    }
}
