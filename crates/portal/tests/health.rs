//! `/healthz` and `/readyz` on the real server, with Redis and PostgreSQL from the test kit: ready while
//! both answer, 503 naming the one that stopped (within its timeout), ready again once it is back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use portal::config::Config;
use portal::startup::Application;
use testkit::{PostgresServer, RedisServer};

fn settings(redis: &RedisServer, pg: &PostgresServer) -> Config {
    let map: HashMap<&str, String> = [
        ("SECRET_KEY", "portal-test-secret".to_string()),
        ("REDIS_URL", redis.url()),
        ("DATABASE_URL", pg.url()),
        ("REDIS_SOCKET_CONNECT_TIMEOUT", "0.5".to_string()),
        ("REDIS_SOCKET_TIMEOUT", "0.5".to_string()),
        ("DATABASE_CONNECT_TIMEOUT", "0.5".to_string()),
        ("DATABASE_TIMEOUT", "1".to_string()),
    ]
    .into_iter()
    .collect();
    Config::from_lookup(|name| map.get(name).cloned()).unwrap()
}

/// The portal on a migrated database (it reads the user table at start).
async fn spawn_app(settings: Config) -> String {
    let connections = settings.auth.connect().unwrap();
    django_auth_core::migrate::migrate(
        connections.database.as_ref().unwrap(),
        django_auth_core::migrate::DefaultAutoField::BigAuto,
        false,
    )
    .await
    .unwrap();
    let application = Application::build(settings, "127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", application.address());
    tokio::spawn(application.run_until_stopped());
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_while_redis_and_postgres_answer() {
    let mut redis = RedisServer::start().unwrap();
    let mut pg = PostgresServer::start().unwrap();
    let url = spawn_app(settings(&redis, &pg)).await;
    let client = reqwest::Client::new();

    let alive = client.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(alive.status(), 200);
    assert_eq!(alive.text().await.unwrap(), "ok\n");

    let ready = client.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"redis": "ok", "postgresql": "ok"}));

    for stopped in ["redis", "postgresql"] {
        if stopped == "redis" {
            redis.stop();
        } else {
            pg.stop();
        }
        let started = Instant::now();
        let down = client.get(format!("{url}/readyz")).send().await.unwrap();
        assert_eq!(down.status(), 503);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let body: serde_json::Value = down.json().await.unwrap();
        assert!(
            body[stopped].as_str().unwrap().contains("unavailable"),
            "{body}"
        );
        // Liveness does not depend on the stores.
        let alive = client.get(format!("{url}/healthz")).send().await.unwrap();
        assert_eq!(alive.status(), 200);

        if stopped == "redis" {
            redis.start_again().unwrap();
        } else {
            pg.start_again().unwrap();
        }
        let mut status = 0;
        for _ in 0..50 {
            status = client
                .get(format!("{url}/readyz"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            if status == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, 200, "not ready again after {stopped} came back");
    }
}
