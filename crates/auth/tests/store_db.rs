//! The `db` and `cached_db` engines and the user store on a real PostgreSQL (and Redis): Django's
//! semantics, the races Django loses, `clear_expired`, and a PostgreSQL outage.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use django_auth_core::Value;
use django_auth_core::connections::StoreError;
use django_auth_core::migrate::{self, DefaultAutoField};
use django_auth_core::session::SetExpiry;
use django_auth_core::settings::{Connections, Settings};
use django_auth_core::store::{SaveOutcome, SessionStore};
use django_auth_core::users::NewUser;
use support::log_in;
use testkit::{PostgresServer, RedisServer};

fn settings(pg: &PostgresServer, redis: &RedisServer, engine: &str) -> Settings {
    let map: HashMap<&str, String> = [
        ("SECRET_KEY", "db-store-test-secret".to_string()),
        ("SESSION_ENGINE", engine.to_string()),
        ("DATABASE_URL", pg.url()),
        ("REDIS_URL", redis.url()),
        ("DATABASE_CONNECT_TIMEOUT", "0.5".to_string()),
        ("DATABASE_TIMEOUT", "1".to_string()),
        ("DATABASE_POOL_SIZE", "1".to_string()),
        ("REDIS_SOCKET_CONNECT_TIMEOUT", "0.5".to_string()),
        ("REDIS_SOCKET_TIMEOUT", "0.5".to_string()),
        (
            "PASSWORD_HASHERS",
            "django.contrib.auth.hashers.MD5PasswordHasher".to_string(),
        ),
    ]
    .into_iter()
    .collect();
    Settings::from_lookup(|name| map.get(name).cloned()).unwrap()
}

async fn setup(
    pg: &PostgresServer,
    redis: &RedisServer,
    engine: &str,
) -> (Settings, Connections, SessionStore) {
    let settings = settings(pg, redis, engine);
    let connections = settings.connect().unwrap();
    migrate::migrate(
        connections.database.as_ref().unwrap(),
        DefaultAutoField::BigAuto,
        false,
    )
    .await
    .unwrap();
    let store = settings.session_store(&connections).unwrap();
    (settings, connections, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_engines_behave_as_django() {
    let pg = PostgresServer::start().unwrap();
    let redis = RedisServer::start().unwrap();
    for engine in ["db", "cached_db"] {
        let (_, _, store) = setup(&pg, &redis, engine).await;

        let mut session = store.load(None).await.unwrap();
        assert_eq!(
            store.save(&mut session).await.unwrap(),
            SaveOutcome::NotSaved
        );
        session.insert("counter", 1i64);
        assert_eq!(store.save(&mut session).await.unwrap(), SaveOutcome::Saved);
        let key = session.session_key().unwrap().to_string();
        let row = pg
            .psql(&format!(
                "SELECT session_data, round(extract(epoch FROM expire_date - now())) \
                 FROM django_session WHERE session_key = '{key}'"
            ))
            .unwrap();
        let (data, age) = row.split_once('|').unwrap();
        // Signed, compressed JSON of {"counter": 1}, signed with our SECRET_KEY.
        let keys = django_auth_core::signing::Keys::new("db-store-test-secret", vec![]);
        let (decoded, _) = django_auth_core::session::decode_db(data, &keys).unwrap();
        assert_eq!(decoded.get("counter"), Some(&Value::Int(1)));
        let age: i64 = age.parse().unwrap();
        assert!((1_209_590..=1_209_600).contains(&age), "{age}");

        // Load, modify, save; the expiry follows set_expiry.
        let mut loaded = store.load(Some(&key)).await.unwrap();
        assert_eq!(loaded.get("counter"), Some(&Value::Int(1)));
        assert_eq!(
            store.save(&mut loaded).await.unwrap(),
            SaveOutcome::NotSaved
        );
        loaded.insert("counter", 2i64);
        loaded.set_expiry(SetExpiry::Seconds(60));
        assert_eq!(store.save(&mut loaded).await.unwrap(), SaveOutcome::Saved);
        let age: i64 = pg
            .psql(&format!(
                "SELECT round(extract(epoch FROM expire_date - now())) FROM django_session \
                 WHERE session_key = '{key}'"
            ))
            .unwrap()
            .parse()
            .unwrap();
        assert!((55..=60).contains(&age), "{age}");
        assert_eq!(
            store.load(Some(&key)).await.unwrap().get("counter"),
            Some(&Value::Int(2))
        );

        // cycle_key and flush.
        let mut cycled = store.load(Some(&key)).await.unwrap();
        assert_eq!(
            store.cycle_key(&mut cycled).await.unwrap(),
            SaveOutcome::Saved
        );
        let new_key = cycled.session_key().unwrap().to_string();
        assert!(!store.exists(&key).await.unwrap());
        assert!(store.exists(&new_key).await.unwrap());
        assert_eq!(
            store.load(Some(&new_key)).await.unwrap().get("counter"),
            Some(&Value::Int(2))
        );
        store.flush(&mut cycled).await.unwrap();
        assert!(!store.exists(&new_key).await.unwrap());

        // An expired row loads as a new session, and clear_expired removes it.
        let mut old = store.load(None).await.unwrap();
        old.insert("x", 1i64);
        assert_eq!(store.save(&mut old).await.unwrap(), SaveOutcome::Saved);
        let old_key = old.session_key().unwrap().to_string();
        pg.psql(&format!(
            "UPDATE django_session SET expire_date = now() - interval '1 second' \
             WHERE session_key = '{old_key}'"
        ))
        .unwrap();
        if engine == "cached_db" {
            // The cache would still answer until its own TTL; drop it as Redis would at expiry.
            redis
                .command(&format!(
                    "DEL :1:django.contrib.sessions.cached_db{old_key}"
                ))
                .unwrap();
        }
        assert_eq!(
            store.load(Some(&old_key)).await.unwrap().session_key(),
            None
        );
        assert!(store.clear_expired().await.unwrap() >= 1);
        assert_eq!(
            pg.psql(&format!(
                "SELECT count(*) FROM django_session WHERE session_key = '{old_key}'"
            ))
            .unwrap(),
            "0"
        );

        // A corrupt row keeps its key with an empty dict (Django's "Session data corrupted"), and
        // saving over it works.
        let corrupt_key = format!("{engine:c<32}").replace('_', "c");
        pg.psql(&format!(
            "INSERT INTO django_session VALUES ('{corrupt_key}', 'garbage:1:sig', now() + interval '1 hour')"
        ))
        .unwrap();
        let mut corrupt = store.load(Some(&corrupt_key)).await.unwrap();
        assert_eq!(corrupt.session_key(), Some(corrupt_key.as_str()));
        assert!(corrupt.data().is_empty());
        corrupt.insert("fixed", true);
        assert_eq!(store.save(&mut corrupt).await.unwrap(), SaveOutcome::Saved);
        assert_eq!(
            store.load(Some(&corrupt_key)).await.unwrap().get("fixed"),
            Some(&Value::Bool(true))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_engines_keep_concurrent_writes_and_never_resurrect() {
    let pg = PostgresServer::start().unwrap();
    let redis = RedisServer::start().unwrap();
    for engine in ["db", "cached_db"] {
        let (_, _, store) = setup(&pg, &redis, engine).await;
        let store = Arc::new(store);
        let key = support::writers_and_a_logout(store.clone(), engine).await;
        support::stale_requests_after_a_logout(&store, engine).await;
        assert_eq!(
            pg.psql(&format!(
                "SELECT count(*) FROM django_session WHERE session_key = '{key}'"
            ))
            .unwrap(),
            "0"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_a_typed_error_within_the_timeout_then_recovers() {
    let mut pg = PostgresServer::start().unwrap();
    let redis = RedisServer::start().unwrap();
    let (settings, connections, store) = setup(&pg, &redis, "db").await;
    let users = settings.user_store(&connections).await.unwrap();
    let user = users
        .create_user(NewUser {
            username: "carol".into(),
            password: Some("pw".into()),
            ..NewUser::default()
        })
        .await
        .unwrap();
    let mut session = store.load(None).await.unwrap();
    log_in(&store, &mut session, &user.pk.clone()).await;
    assert_eq!(store.save(&mut session).await.unwrap(), SaveOutcome::Saved);
    let key = session.session_key().unwrap().to_string();
    // The lookups' pooled connection is open before the outage.
    assert!(users.get(&user.pk.clone()).await.unwrap().is_some());

    pg.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let error = store.load(Some(&key)).await.unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::Unavailable {
                    service: "postgresql",
                    ..
                }
            ),
            "{error:?}"
        );
        let error = users.get(&user.pk.clone()).await.unwrap_err();
        assert!(error.is_unavailable(), "{error:?}");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
    }
    assert!(matches!(
        users.authenticate("carol", "pw").await,
        Err(django_auth_core::users::UserError::Store(
            StoreError::Unavailable { .. }
        ))
    ));

    pg.start_again().unwrap();
    let mut back = None;
    for _ in 0..50 {
        if let Ok(session) = store.load(Some(&key)).await {
            back = Some(session);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let session = back.expect("the store did not recover after PostgreSQL came back");
    assert_eq!(session.user_pk(), Some(user.pk.clone()));
    assert_eq!(
        users
            .authenticate("carol", "pw")
            .await
            .unwrap()
            .map(|u| u.pk.clone()),
        Some(user.pk.clone())
    );
    // The connection that died with the server was dropped from the pool; the lookup has a new one.
    assert_eq!(
        users
            .get(&user.pk.clone())
            .await
            .unwrap()
            .map(|u| u.pk.clone()),
        Some(user.pk.clone())
    );
}

/// Concurrent lookups are merged into one query (`UserStore::get`), each answered with its own row, and
/// each is read after it was asked for: a change committed before a lookup starts is what it sees, with no
/// cache in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_lookups_are_fresh() {
    let pg = PostgresServer::start().unwrap();
    let redis = RedisServer::start().unwrap();
    let (settings, connections, _) = setup(&pg, &redis, "db").await;
    let users = settings.user_store(&connections).await.unwrap();
    let mut pks = Vec::new();
    for name in ["ann", "ben", "cid", "dot"] {
        let user = users
            .create_user(NewUser {
                username: name.into(),
                password: Some("pw".into()),
                ..NewUser::default()
            })
            .await
            .unwrap();
        pks.push(user.pk.clone());
    }
    // 64 lookups at once, of 4 users: merged into far fewer queries, each answered with its own row.
    let before = users.lookup_queries();
    let lookups: Vec<_> = (0..64)
        .map(|i| {
            let users = users.clone();
            let pk = pks[i % pks.len()].clone();
            tokio::spawn(async move { users.get(&pk).await.map(|u| u.map(|u| u.pk.clone())) })
        })
        .collect();
    for (i, lookup) in lookups.into_iter().enumerate() {
        assert_eq!(
            lookup.await.unwrap().unwrap(),
            Some(pks[i % pks.len()].clone())
        );
    }
    let queries = users.lookup_queries() - before;
    assert!(
        (1..=32).contains(&queries),
        "{queries} queries for 64 lookups"
    );
    assert_eq!(
        users
            .get(&i64::from(i32::MAX).to_string())
            .await
            .unwrap()
            .map(|u| u.pk.clone()),
        None
    );
    // While other lookups of the same user keep a query in flight, a lookup made after a commit sees it.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy: Vec<_> = (0..8)
        .map(|_| {
            let (users, stop, pk) = (users.clone(), stop.clone(), pks[0].clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    users.get(&pk).await.unwrap();
                }
            })
        })
        .collect();
    for round in 0..40 {
        let active = round % 2 == 0;
        users.set_active(&pks[0], active).await.unwrap();
        let seen = users.get(&pks[0]).await.unwrap().unwrap();
        assert_eq!(seen.is_active, Some(active), "round {round}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in busy {
        task.await.unwrap();
    }
}

/// A lookup that waits behind a stalled one (a migration holding a lock on `auth_user`) fails within its own
/// deadline (`DATABASE_TIMEOUT=1`), not the stalled query's plus its own; lookups given up by their caller
/// stop nothing; and lookups work again once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_behind_a_stalled_one_fails_within_its_own_deadline() {
    let pg = PostgresServer::start().unwrap();
    let redis = RedisServer::start().unwrap();
    let (settings, connections, _) = setup(&pg, &redis, "db").await;
    let users = settings.user_store(&connections).await.unwrap();
    let pk = users
        .create_user(NewUser {
            username: "eve".into(),
            password: Some("pw".into()),
            ..NewUser::default()
        })
        .await
        .unwrap()
        .pk
        .clone();
    assert!(users.get(&pk).await.unwrap().is_some());

    let (locker, connection) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    locker
        .batch_execute("BEGIN; LOCK TABLE auth_user IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let stalled = {
        let (users, pk) = (users.clone(), pk.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            (users.get(&pk).await, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Queued, then given up by their callers (a client that went away).
    for _ in 0..8 {
        let given_up = tokio::time::timeout(Duration::ZERO, users.get(&pk)).await;
        assert!(given_up.is_err());
    }
    let started = Instant::now();
    let error = users.get(&pk).await.unwrap_err();
    let waited = started.elapsed();
    assert!(error.is_unavailable(), "{error:?}");
    // Its own deadline is 1 s; behind the stalled query (1 s, of which 0.4 had passed) and then its own,
    // it would have waited about 1.6 s.
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(1400),
        "{waited:?}"
    );
    let (first, first_waited) = stalled.await.unwrap();
    assert!(first.unwrap_err().is_unavailable());
    assert!(
        first_waited < Duration::from_millis(1400),
        "{first_waited:?}"
    );

    locker.batch_execute("COMMIT").await.unwrap();
    let mut seen = None;
    for _ in 0..30 {
        if let Ok(user) = users.get(&pk).await {
            seen = user.map(|u| u.pk.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, Some(pk), "lookups did not come back after the lock");
}

/// What `cached_db` keeps in Redis: the pickled dict under `:1:django.contrib.sessions.cached_db<key>` with
/// the session's TTL after a create and an update, the row's remaining age after a refill, nothing after a
/// delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_db_keeps_its_cache_in_step_with_the_row() {
    let pg = PostgresServer::start().unwrap();
    let redis_server = RedisServer::start().unwrap();
    let (_, connections, store) = setup(&pg, &redis_server, "cached_db").await;
    let redis = connections.redis.clone().unwrap();
    let cached = |key: &str| format!(":1:django.contrib.sessions.cached_db{key}");
    let get = |key: String| {
        let redis = redis.clone();
        async move {
            let value: Option<Vec<u8>> = redis.query(redis::cmd("GET").arg(&key)).await.unwrap();
            let ttl: i64 = redis.query(redis::cmd("PTTL").arg(&key)).await.unwrap();
            (value, ttl)
        }
    };

    let mut session = store.load(None).await.unwrap();
    session.insert("n", 1i64);
    assert_eq!(store.save(&mut session).await.unwrap(), SaveOutcome::Saved);
    let key = session.session_key().unwrap().to_string();
    let (value, ttl) = get(cached(&key)).await;
    assert_eq!(
        value.unwrap(),
        django_auth_core::session::encode_cache(session.data(), 5).unwrap()
    );
    assert!((1_209_590_000..=1_209_600_000).contains(&ttl), "{ttl}");

    // Updated through the cache: the cache holds the new dict.
    let mut loaded = store.load(Some(&key)).await.unwrap();
    loaded.insert("n", 2i64);
    assert_eq!(store.save(&mut loaded).await.unwrap(), SaveOutcome::Saved);
    let (value, _) = get(cached(&key)).await;
    assert_eq!(
        value.unwrap(),
        django_auth_core::session::encode_cache(loaded.data(), 5).unwrap()
    );

    // A miss refills from the row with the row's remaining age; unreadable bytes are replaced.
    redis_server
        .command(&format!("SET {} garbage", cached(&key)))
        .unwrap();
    let refilled = store.load(Some(&key)).await.unwrap();
    assert_eq!(refilled.get("n"), Some(&Value::Int(2)));
    let (value, ttl) = get(cached(&key)).await;
    assert_eq!(
        value.unwrap(),
        django_auth_core::session::encode_cache(refilled.data(), 5).unwrap()
    );
    assert!(ttl > 1_209_000_000, "{ttl}");

    // Deleted: row and cache.
    let mut flushed = store.load(Some(&key)).await.unwrap();
    store.logout(&mut flushed).await.unwrap();
    assert_eq!(get(cached(&key)).await.0, None);

    // (A logout landing inside a refill is tested deterministically in `store::cached_db`'s unit tests.)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticate_as_model_backend() {
    let pg = PostgresServer::start().unwrap();
    let redis = RedisServer::start().unwrap();
    let (settings, connections, _) = setup(&pg, &redis, "db").await;
    let md5_users = settings.user_store(&connections).await.unwrap();
    let dave = md5_users
        .create_user(NewUser {
            username: "dave".into(),
            password: Some("pw".into()),
            ..NewUser::default()
        })
        .await
        .unwrap();
    assert!(dave.password.starts_with("md5$"));

    // Unknown user and wrong password: both `None`, neither an error.
    assert!(
        md5_users
            .authenticate("nobody", "pw")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        md5_users
            .authenticate("dave", "nope")
            .await
            .unwrap()
            .is_none()
    );
    // Usernames are exact and case-sensitive, as `get_by_natural_key`.
    assert!(
        md5_users
            .authenticate("Dave", "pw")
            .await
            .unwrap()
            .is_none()
    );

    // With PBKDF2 preferred, a correct login re-hashes the MD5 password and saves it.
    let hashers = django_auth_core::hashers::PasswordHashers::new(
        [
            "django.contrib.auth.hashers.PBKDF2PasswordHasher",
            "django.contrib.auth.hashers.MD5PasswordHasher",
        ],
        django_auth_core::hashers::WorkFactors::django_5_2(),
    )
    .unwrap();
    let pbkdf2_users = md5_users.with_hashers(Arc::new(hashers));
    let logged_in = pbkdf2_users
        .authenticate("dave", "pw")
        .await
        .unwrap()
        .unwrap();
    assert!(logged_in.password.starts_with("pbkdf2_sha256$1000000$"));
    let stored = pbkdf2_users.get(&dave.pk.clone()).await.unwrap().unwrap();
    assert_eq!(stored.password, logged_in.password);
    assert!(
        pbkdf2_users
            .authenticate("dave", "pw")
            .await
            .unwrap()
            .is_some()
    );
}
