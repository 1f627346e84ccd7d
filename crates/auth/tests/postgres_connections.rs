//! Production PostgreSQL: `DATABASE_URL`'s TLS parameters with libpq's meaning (libpq itself, through
//! `psql`, is the oracle), Unix sockets as Django's `HOST = "/var/run/postgresql"` gives them, and the
//! stores behind PgBouncer in transaction pooling mode.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use django_auth_core::Value;
use django_auth_core::connections::{Database, DatabaseConfig, StoreError};
use django_auth_core::libpq::ConnectOptions;
use django_auth_core::migrate::{self, DefaultAutoField};
use django_auth_core::settings::Settings;
use django_auth_core::store::SaveOutcome;
use django_auth_core::users::NewUser;
use testkit::{PgBouncer, PostgresServer, PostgresTls, RedisServer};

const SSL_IN_USE: &str = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

/// What a connection attempt gave: TLS in use or not, or refused.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Tls,
    Plain,
    Refused,
}

fn libpq(url: &str, home: &Path) -> (Outcome, String) {
    match testkit::libpq_query(url, home, SSL_IN_USE) {
        Ok(out) if out == "t" => (Outcome::Tls, out),
        Ok(out) if out == "f" => (Outcome::Plain, out),
        Ok(out) => panic!("psql printed {out:?}"),
        Err(e) => (Outcome::Refused, e),
    }
}

async fn ours(url: &str, home: &Path) -> (Outcome, String) {
    let options = match ConnectOptions::parse(url, Some(home)) {
        Ok(options) => options,
        Err(e) => return (Outcome::Refused, e),
    };
    let connected = tokio::time::timeout(Duration::from_secs(10), options.connect())
        .await
        .expect("a connection attempt must end within its connect timeout");
    let (client, connection) = match connected {
        Ok(pair) => pair,
        Err(e) => return (Outcome::Refused, e),
    };
    tokio::spawn(connection);
    let ssl: bool = client.query_one(SSL_IN_USE, &[]).await.unwrap().get(0);
    if ssl {
        (Outcome::Tls, String::new())
    } else {
        (Outcome::Plain, String::new())
    }
}

fn encode(path: &Path) -> String {
    path.display().to_string().replace('/', "%2F")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sslmode_connects_or_refuses_exactly_as_libpq() {
    let home = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let wrong_ca = testkit::another_ca(elsewhere.path()).unwrap();
    let plain = PostgresServer::start().unwrap();
    let tls = PostgresServer::start_tls(PostgresTls::default()).unwrap();
    let tls_only = PostgresServer::start_tls(PostgresTls {
        tls_only: true,
        ..PostgresTls::default()
    })
    .unwrap();
    let mut compared = 0;
    for (name, server, ca) in [
        ("plain", &plain, wrong_ca.clone()),
        ("tls", &tls, tls.ca_cert().unwrap()),
        ("tls-only", &tls_only, tls_only.ca_cert().unwrap()),
    ] {
        for mode in [
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ] {
            for rootcert in [None, Some(&ca)] {
                let mut url = format!("{}?sslmode={mode}", server.url());
                if let Some(ca) = rootcert {
                    url.push_str(&format!("&sslrootcert={}", ca.display()));
                }
                let (expected, libpq_says) = libpq(&url, home.path());
                let (got, we_say) = ours(&url, home.path()).await;
                assert_eq!(
                    got, expected,
                    "{name} server, {url}: libpq: {libpq_says:?}; ours: {we_say:?}"
                );
                if got == Outcome::Refused {
                    assert!(
                        we_say.contains("sslmode") || we_say.contains("sslrootcert"),
                        "{name} server, {url}: the refusal must name the parameter: {we_say}"
                    );
                }
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 36);
    // The cases that matter most, spelled out.
    let url = |server: &PostgresServer, q: &str| format!("{}?{q}", server.url());
    assert_eq!(
        ours(&url(&plain, "sslmode=prefer"), home.path()).await.0,
        Outcome::Plain
    );
    assert_eq!(
        ours(&url(&tls, "sslmode=prefer"), home.path()).await.0,
        Outcome::Tls
    );
    let (outcome, message) = ours(&url(&plain, "sslmode=require"), home.path()).await;
    assert_eq!(outcome, Outcome::Refused);
    assert!(
        message.contains("sslmode=require") && message.contains("TLS"),
        "{message}"
    );
    let (outcome, message) = ours(&url(&tls_only, "sslmode=disable"), home.path()).await;
    assert_eq!(outcome, Outcome::Refused);
    assert!(message.contains("sslmode=disable"), "{message}");
    assert_eq!(
        ours(&url(&tls_only, "sslmode=allow"), home.path()).await.0,
        Outcome::Tls
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_checks_the_ca_and_the_host_name() {
    let home = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let wrong_ca = testkit::another_ca(elsewhere.path()).unwrap();
    let server = PostgresServer::start_tls(PostgresTls::default()).unwrap();
    let ca = server.ca_cert().unwrap();
    let port = server.port();
    let right = format!(
        "postgres://postgres@127.0.0.1:{port}/test?sslmode=verify-full&sslrootcert={}",
        ca.display()
    );
    assert_eq!(ours(&right, home.path()).await.0, Outcome::Tls);
    assert_eq!(libpq(&right, home.path()).0, Outcome::Tls);

    let wrong = format!(
        "postgres://postgres@127.0.0.1:{port}/test?sslmode=verify-full&sslrootcert={}",
        wrong_ca.display()
    );
    let (outcome, message) = ours(&wrong, home.path()).await;
    assert_eq!(outcome, Outcome::Refused);
    assert!(message.starts_with("sslrootcert"), "{message}");
    assert_eq!(libpq(&wrong, home.path()).0, Outcome::Refused);

    // The certificate is for 127.0.0.1; asking for "localhost" (at the same address) is another host.
    for (mode, expected) in [
        ("verify-full", Outcome::Refused),
        ("verify-ca", Outcome::Tls),
    ] {
        let other_host = format!(
            "postgres://postgres@localhost:{port}/test?hostaddr=127.0.0.1&sslmode={mode}&sslrootcert={}",
            ca.display()
        );
        let (outcome, message) = ours(&other_host, home.path()).await;
        assert_eq!(outcome, expected, "{mode}: {message}");
        assert_eq!(libpq(&other_host, home.path()).0, expected, "{mode}");
        if expected == Outcome::Refused {
            assert!(
                message.contains("sslmode=verify-full") && message.contains("host name"),
                "{message}"
            );
        }
    }

    // sslrootcert=system: libpq 16's meaning (verify-full by default); the throwaway CA is not the
    // system's, so the server is refused, naming the parameter.
    let system = format!("postgres://postgres@127.0.0.1:{port}/test?sslrootcert=system");
    let (outcome, message) = ours(&system, home.path()).await;
    assert_eq!(outcome, Outcome::Refused);
    assert!(message.contains("sslrootcert"), "{message}");

    // libpq's default root file, ~/.postgresql/root.crt, turns require into verify-ca.
    let dot = home.path().join(".postgresql");
    std::fs::create_dir_all(&dot).unwrap();
    std::fs::copy(&wrong_ca, dot.join("root.crt")).unwrap();
    let require = format!("postgres://postgres@127.0.0.1:{port}/test?sslmode=require");
    assert_eq!(libpq(&require, home.path()).0, Outcome::Refused);
    assert_eq!(ours(&require, home.path()).await.0, Outcome::Refused);
    std::fs::copy(&ca, dot.join("root.crt")).unwrap();
    assert_eq!(libpq(&require, home.path()).0, Outcome::Tls);
    assert_eq!(ours(&require, home.path()).await.0, Outcome::Tls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_for_a_server_that_requires_them() {
    let home = tempfile::tempdir().unwrap();
    let server = PostgresServer::start_tls(PostgresTls {
        tls_only: true,
        client_certificates: true,
    })
    .unwrap();
    let ca = server.ca_cert().unwrap();
    let (cert, key) = server.client_cert().unwrap();
    let without = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        server.url(),
        ca.display()
    );
    let (outcome, message) = ours(&without, home.path()).await;
    assert_eq!(outcome, Outcome::Refused);
    assert!(message.contains("sslcert"), "{message}");
    assert_eq!(libpq(&without, home.path()).0, Outcome::Refused);

    let with = format!(
        "{without}&sslcert={}&sslkey={}",
        cert.display(),
        key.display()
    );
    assert_eq!(libpq(&with, home.path()), (Outcome::Tls, "t".to_string()));
    assert_eq!(
        ours(&with, home.path()).await,
        (Outcome::Tls, String::new())
    );

    // libpq's defaults: ~/.postgresql/postgresql.crt and .key.
    let dot = home.path().join(".postgresql");
    std::fs::create_dir_all(&dot).unwrap();
    std::fs::copy(&cert, dot.join("postgresql.crt")).unwrap();
    std::fs::copy(&key, dot.join("postgresql.key")).unwrap();
    assert_eq!(libpq(&without, home.path()).0, Outcome::Tls);
    assert_eq!(ours(&without, home.path()).await.0, Outcome::Tls);

    // A key others can read is refused, as libpq refuses it, naming the parameter.
    use std::os::unix::fs::PermissionsExt;
    let loose = home.path().join("loose.key");
    std::fs::copy(&key, &loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let url = format!(
        "{without}&sslcert={}&sslkey={}",
        cert.display(),
        loose.display()
    );
    let e = ConnectOptions::parse(&url, Some(home.path())).unwrap_err();
    assert!(
        e.starts_with("sslkey") && e.contains("group or world access"),
        "{e}"
    );
    assert_eq!(libpq(&url, home.path()).0, Outcome::Refused);
}

fn config(url: String) -> DatabaseConfig {
    DatabaseConfig {
        url,
        pool_size: 2,
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(2),
        transaction_pooling: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tls_settings_fail_fast_naming_the_parameter_never_the_password() {
    let elsewhere = tempfile::tempdir().unwrap();
    let wrong_ca = testkit::another_ca(elsewhere.path()).unwrap();
    let plain = PostgresServer::start().unwrap();
    let tls = PostgresServer::start_tls(PostgresTls::default()).unwrap();
    let with_password = |server: &PostgresServer, query: String| {
        format!(
            "postgres://postgres:hunter2@127.0.0.1:{}/test?{query}",
            server.port()
        )
    };
    // A missing file: refused before any connection (the services stop at start).
    for (query, parameter) in [
        (
            "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem".to_string(),
            "sslrootcert",
        ),
        (
            "sslcert=/nonexistent/c.pem&sslkey=/nonexistent/c.key".to_string(),
            "sslcert",
        ),
        ("sslmode=verify-ca".to_string(), "sslrootcert"),
    ] {
        let url = with_password(&tls, query);
        let e = Database::connect(&config(url.clone())).unwrap_err();
        let message = e.to_string();
        assert!(matches!(e, StoreError::Config(_)), "{message}");
        assert!(
            message.contains("DATABASE_URL") && message.contains(parameter),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
        let settings = Settings::from_lookup(|name| match name {
            "SECRET_KEY" => Some("x".into()),
            "SESSION_ENGINE" => Some("db".into()),
            "DATABASE_URL" => Some(url.clone()),
            _ => None,
        });
        let message = settings.unwrap_err().to_string();
        assert!(
            message.starts_with("DATABASE_URL") && message.contains(parameter),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
    }
    // Failures at connect time: 503-style `Unavailable` within the connect timeout, with the reason.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!(
        "postgres://postgres:hunter2@127.0.0.1:{}/test?sslmode=require",
        silent.local_addr().unwrap().port()
    );
    for (url, expected) in [
        (
            with_password(
                &tls,
                format!("sslmode=verify-full&sslrootcert={}", wrong_ca.display()),
            ),
            "sslrootcert",
        ),
        (
            with_password(&plain, "sslmode=require".into()),
            "sslmode=require",
        ),
        (silent_url, "timed out"),
    ] {
        let db = Database::connect(&config(url)).unwrap();
        let started = Instant::now();
        let e = db.ping().await.unwrap_err();
        let elapsed = started.elapsed();
        let message = e.to_string();
        assert!(e.is_unavailable(), "{message}");
        assert!(message.contains(expected), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(
            elapsed < Duration::from_millis(3500),
            "{elapsed:?}: {message}"
        );
        println!("{expected}: {message} ({elapsed:?})");
    }
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_sockets_as_djangos_host_gives_them() {
    let home = tempfile::tempdir().unwrap();
    let server = PostgresServer::start().unwrap();
    let dir = server.socket_dir();
    let port = server.port();
    for url in [
        format!("postgresql://postgres@{}:{port}/test", encode(dir)),
        format!(
            "postgresql://postgres@/test?host={}&port={port}",
            dir.display()
        ),
        // libpq sends no TLS request over a socket, whatever sslmode says.
        format!(
            "postgresql://postgres@{}:{port}/test?sslmode=require",
            encode(dir)
        ),
    ] {
        assert_eq!(libpq(&url, home.path()).0, Outcome::Plain, "{url}");
        assert_eq!(ours(&url, home.path()).await.0, Outcome::Plain, "{url}");
        let db = Database::connect(&config(url.clone())).unwrap();
        db.ping().await.unwrap();
    }
}

fn bouncer_settings(url: String, redis: &RedisServer, engine: &str, pooling: bool) -> Settings {
    let map: HashMap<&str, String> = [
        ("SECRET_KEY", "pgbouncer-test-secret".to_string()),
        ("SESSION_ENGINE", engine.to_string()),
        ("DATABASE_URL", url),
        ("REDIS_URL", redis.url()),
        ("DATABASE_POOL_SIZE", "6".to_string()),
        ("DATABASE_TRANSACTION_POOLING", pooling.to_string()),
        (
            "PASSWORD_HASHERS",
            "django.contrib.auth.hashers.MD5PasswordHasher".to_string(),
        ),
    ]
    .into_iter()
    .collect();
    Settings::from_lookup(|name| map.get(name).cloned()).unwrap()
}

/// Concurrent user lookups, logins and session writes through the pooler; the first error, if any.
async fn workload(settings: &Settings, tag: &str, rounds: usize) -> Result<usize, String> {
    let connections = settings.connect().map_err(|e| e.to_string())?;
    let users = Arc::new(
        settings
            .user_store(&connections)
            .await
            .map_err(|e| e.to_string())?,
    );
    let store = Arc::new(
        settings
            .session_store(&connections)
            .map_err(|e| e.to_string())?,
    );
    let mut tasks = Vec::new();
    for task in 0..12 {
        let users = users.clone();
        let store = store.clone();
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            for round in 0..rounds {
                let name = format!("{tag}-{task}-{round}");
                let user = users
                    .create_user(NewUser {
                        username: name.clone(),
                        password: Some("pw".into()),
                        ..NewUser::default()
                    })
                    .await
                    .map_err(|e| format!("create_user: {e}"))?;
                let found = users.get(&user.pk).await.map_err(|e| format!("get: {e}"))?;
                assert_eq!(found.map(|u| u.pk), Some(user.pk.clone()));
                let by_name = users
                    .get_by_natural_key(&name)
                    .await
                    .map_err(|e| format!("get_by_natural_key: {e}"))?;
                assert!(by_name.is_some());
                let mut session = store.load(None).await.map_err(|e| format!("load: {e}"))?;
                session.insert("owner", user.pk.clone());
                match store
                    .save(&mut session)
                    .await
                    .map_err(|e| format!("save: {e}"))?
                {
                    SaveOutcome::Saved => {}
                    other => return Err(format!("save: {other:?}")),
                }
                let key = session.session_key().map(str::to_string);
                let again = store
                    .load(key.as_deref())
                    .await
                    .map_err(|e| format!("reload: {e}"))?;
                assert_eq!(again.get("owner"), Some(&Value::from(user.pk.clone())));
                done += 1;
            }
            Ok::<usize, String>(done)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.map_err(|e| e.to_string())??;
    }
    Ok(total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stores_work_behind_pgbouncer_in_transaction_mode() {
    let pg = PostgresServer::start().unwrap();
    let redis = RedisServer::start().unwrap();
    // Two server connections for every client: transactions move between them, as in production.
    let bouncer = PgBouncer::start(&pg, "transaction", 2).unwrap();
    let url = bouncer.database_url("test");

    // `migrate` through the pooler too: one transaction, a transaction-scoped lock.
    let pooled = bouncer_settings(url.clone(), &redis, "db", true);
    let connections = pooled.connect().unwrap();
    migrate::migrate(
        connections.database.as_ref().unwrap(),
        DefaultAutoField::BigAuto,
        false,
    )
    .await
    .unwrap();
    let tables = pg
        .psql("SELECT count(*) FROM django_migrations WHERE app IN ('auth', 'sessions')")
        .unwrap();
    assert_ne!(tables, "0");

    for engine in ["db", "cached_db"] {
        let settings = bouncer_settings(url.clone(), &redis, engine, true);
        let done = workload(&settings, engine, 15).await.unwrap_or_else(|e| {
            panic!(
                "{engine} behind PgBouncer: {e}\nPgBouncer's log:\n{}",
                bouncer.log()
            )
        });
        assert_eq!(done, 12 * 15);
    }

    // Without the setting, the cached prepared statements meet server connections that never saw
    // them: what DATABASE_TRANSACTION_POOLING is for.
    let unpooled = bouncer_settings(url, &redis, "db", false);
    let e = workload(&unpooled, "unpooled", 15)
        .await
        .expect_err("named prepared statements should break behind PgBouncer in transaction mode");
    assert!(e.contains("prepared statement"), "{e}");
}
