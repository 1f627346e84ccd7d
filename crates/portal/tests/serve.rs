//! `portal serve` as a real process: it logs one line per request with a request id, and nothing it logs
//! (at debug level for our crates) holds a password, a session key, a CSRF secret or token, an auth hash,
//! or a reset token. Without `SECRET_KEY`, `DEBUG` starts it with a random key and says so loudly.

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
        let child = Command::new(env!("CARGO_BIN_EXE_portal"))
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env_clear()
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "info,portal=debug,django_auth_core=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "portal did not start"
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
    let config = portal::config::Config::from_lookup(|n| map.get(n).cloned()).unwrap();
    let connections = config.auth.connect().unwrap();
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
    let test_app = app::TestApp {
        redis,
        pg,
        base: served.base.clone(),
        vars: vars.clone(),
    };
    let browser = test_app.browser();
    assert_eq!(
        browser.log_in("olga", "wrong secret pass").await.status,
        200
    );
    assert_eq!(browser.log_in("olga", "olga secret pass").await.status, 302);
    assert_eq!(browser.whoami().await.as_deref(), Some("olga"));
    let key = browser.cookie("sessionid").unwrap();
    let csrf = browser.cookie("csrftoken").unwrap();
    let link = peer.call(
        "password_reset_link",
        json!({}),
        json!({"username": "olga"}),
    );
    let token = link["token"].as_str().unwrap().to_string();
    browser
        .get(&format!(
            "/accounts/reset/{}/{token}/",
            link["uidb64"].as_str().unwrap()
        ))
        .await;
    let hash = peer.call("session_auth_hash", json!({}), json!({"pk": 1}));
    let hash = hash.as_str().unwrap().to_string();
    browser.log_out().await;
    let log = served.stop();

    assert!(log.contains("request_id="), "{log}");
    assert!(log.contains("route=/accounts/login/"), "{log}");
    assert!(log.contains("user logged in"), "{log}");
    for secret in [
        "olga secret pass",
        "wrong secret pass",
        key.as_str(),
        csrf.as_str(),
        token.as_str(),
        hash.as_str(),
        "portal-pages-test-secret",
    ] {
        assert!(
            !log.contains(secret),
            "{secret:?} leaked into the log:\n{log}"
        );
    }
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
