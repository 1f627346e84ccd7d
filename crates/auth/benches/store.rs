//! `make bench`: the stores' round trips on a real, local Redis and PostgreSQL (throwaway servers from the
//! test kit, over loopback), one request at a time.
//!
//! - `cache_load`: `SessionStore::load` of a login session (`GET` + `PTTL`, unpickle, index join).
//! - `cache_save`: load, change one key, conditional save (the compare-and-set script).
//! - `db_load`: `SessionStore::load` on the `db` engine (one `SELECT`, verify, inflate, JSON).
//! - `db_save`: load, change one key, conditional `UPDATE`.
//!
//! - `redis_get_baseline`: one `GET` on the same connection, the floor of any Redis-backed load.
//!
//! After criterion's report, a peer Django (`tests/django/peer`) on the same servers times its own
//! `SessionStore` doing the same to the same session (`bench_store`), and the ratios are printed.
//!
//! These are latencies of one client on an idle machine, dominated by the loopback round trips; they say
//! what one request costs, not the throughput under load.

use std::collections::HashMap;
use std::time::Duration;

use criterion::Criterion;
use django_auth_core::migrate::{self, DefaultAutoField};
use django_auth_core::settings::Settings;
use django_auth_core::store::SessionStore;

mod common;
use testkit::{PostgresServer, RedisServer};

fn env(pg: &PostgresServer, redis: &RedisServer, engine: &str) -> Vec<(&'static str, String)> {
    vec![
        ("SECRET_KEY", "bench-secret".to_string()),
        ("SESSION_ENGINE", engine.to_string()),
        ("DATABASE_URL", pg.url()),
        ("REDIS_URL", redis.url()),
    ]
}

fn store(
    runtime: &tokio::runtime::Runtime,
    pg: &PostgresServer,
    redis: &RedisServer,
    engine: &str,
) -> (SessionStore, String) {
    let map: HashMap<&str, String> = env(pg, redis, engine).into_iter().collect();
    let settings = Settings::from_lookup(|name| map.get(name).cloned()).expect("settings");
    runtime.block_on(async {
        let connections = settings.connect().expect("connect");
        migrate::migrate(
            connections.database.as_ref().expect("database"),
            DefaultAutoField::BigAuto,
            false,
        )
        .await
        .expect("migrate");
        let store = settings.session_store(&connections).expect("store");
        let mut session = store.load(None).await.expect("load");
        store
            .login(
                &mut session,
                "1",
                django_auth_core::auth::MODEL_BACKEND,
                &"0".repeat(64),
            )
            .await
            .expect("login");
        let _saved = store.save(&mut session).await.expect("save");
        let key = session.session_key().expect("key").to_string();
        (store, key)
    })
}

fn main() {
    // One thread, as an actix-web worker runs its requests.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pg = PostgresServer::start().expect("postgres");
    let redis = RedisServer::start().expect("redis");
    let mut criterion = Criterion::default()
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    for engine in ["cache", "db"] {
        let (store, key) = store(&runtime, &pg, &redis, engine);
        if engine == "cache" {
            // The floor: one Redis round trip on the same connection.
            let django_auth_core::store::Engine::Cache(cache) = store.engine() else {
                unreachable!("the cache engine was configured")
            };
            let cache_key = cache.cache_key(&key);
            criterion.bench_function("redis_get_baseline", |b| {
                b.iter(|| {
                    runtime
                        .block_on(
                            cache
                                .redis()
                                .query::<Option<Vec<u8>>>(redis::cmd("GET").arg(&cache_key)),
                        )
                        .expect("get")
                })
            });
        }
        criterion.bench_function(&format!("{engine}_load"), |b| {
            b.iter(|| runtime.block_on(store.load(Some(&key))).expect("load"))
        });
        let mut n = 0i64;
        criterion.bench_function(&format!("{engine}_save"), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let mut session = store.load(Some(&key)).await.expect("load");
                    n += 1;
                    session.insert("counter", n);
                    store.save(&mut session).await.expect("save")
                })
            })
        });
    }
    criterion.final_summary();

    println!(
        "\n{:<12} {:>12} {:>12} {:>8}",
        "operation", "rust (µs)", "django (µs)", "ratio"
    );
    for engine in ["cache", "db"] {
        let (_, key) = store(&runtime, &pg, &redis, engine);
        let django = common::peer_call(
            &env(&pg, &redis, engine),
            "bench_store",
            serde_json::json!({"session_key": key, "number": 2000}),
        );
        for op in ["load", "save"] {
            let name = format!("{engine}_{op}");
            let rust = common::criterion_mean_ns(&name).unwrap_or(f64::NAN) / 1000.0;
            let theirs = django[format!("{op}_ns")].as_f64().unwrap_or(f64::NAN) / 1000.0;
            println!(
                "{name:<12} {rust:>12.1} {theirs:>12.1} {:>7.2}x",
                theirs / rust
            );
        }
    }
}
