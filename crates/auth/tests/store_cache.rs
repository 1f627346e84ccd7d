//! The `cache` engine on a real Redis: Django's semantics (create, load, save only when modified,
//! `cycle_key`, `flush`, expiry, collision, never adopting a made-up key), the races Django loses
//! (resurrection, lost updates), the per-user index, and an outage. The engine's tests run again on a
//! Redis Cluster of their own (`…::cluster`).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use django_auth_core::cluster::ClusterConfig;
use django_auth_core::connections::{Redis, RedisConfig, StoreError};
use django_auth_core::session::{self, SessionData, SetExpiry};
use django_auth_core::store::{
    CacheFlavor, CacheSessions, Engine, SaveOutcome, SessionBackend, SessionSettings, SessionStore,
    UserIndex,
};
use django_auth_core::{Value, auth as dj_auth};
use support::log_in;
use testkit::{RedisCluster, RedisServer};

fn redis(server: &RedisServer) -> Redis {
    Redis::connect(&RedisConfig {
        url: server.url(),
        connect_timeout: Duration::from_millis(500),
        response_timeout: Duration::from_millis(500),
        ca_certs: None,
        ..RedisConfig::new("")
    })
    .unwrap()
}

/// A Redis Cluster (three primaries, a replica each) of its own.
fn cluster_redis(cluster: &RedisCluster) -> Redis {
    Redis::connect(&RedisConfig {
        connect_timeout: Duration::from_millis(500),
        response_timeout: Duration::from_millis(500),
        cluster: Some(ClusterConfig::parse(&cluster.nodes(), None).unwrap()),
        ..RedisConfig::new("")
    })
    .unwrap()
}

/// The test `$name(redis)` twice: `$name::one_redis` on a single server, `$name::cluster` on a Redis
/// Cluster (every command names one key, so the engine works unchanged across shards).
macro_rules! on_one_redis_and_on_a_cluster {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn one_redis() {
                let server = testkit::RedisServer::start().unwrap();
                super::$name(super::redis(&server)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cluster() {
                let cluster = testkit::RedisCluster::start().unwrap();
                super::$name(super::cluster_redis(&cluster)).await;
            }
        }
    };
}

fn store(redis: &Redis, flavor: CacheFlavor) -> SessionStore {
    SessionStore::new(
        Engine::Cache(CacheSessions::new(redis.clone(), "", 1, flavor)),
        SessionSettings::default(),
        Some(UserIndex::new(redis.clone(), "", 1)),
    )
}

async fn raw_get(redis: &Redis, key: &str) -> Option<Vec<u8>> {
    redis.query(redis::cmd("GET").arg(key)).await.unwrap()
}

async fn pttl(redis: &Redis, key: &str) -> i64 {
    redis.query(redis::cmd("PTTL").arg(key)).await.unwrap()
}

fn cache_key(session_key: &str) -> String {
    format!(":1:django.contrib.sessions.cache{session_key}")
}

on_one_redis_and_on_a_cluster!(lifecycle_as_django);
async fn lifecycle_as_django(redis: Redis) {
    for flavor in [CacheFlavor::Django, CacheFlavor::DJANGO_REDIS] {
        let store = store(&redis, flavor);

        // No cookie: a new empty session, not saved while empty or unmodified.
        let mut session = store.load(None).await.unwrap();
        assert!(session.is_empty());
        assert_eq!(
            store.save(&mut session).await.unwrap(),
            SaveOutcome::NotSaved
        );

        // Modified: created under a fresh 32-character key, pickled as the flavor pickles, TTL two weeks.
        session.insert("counter", 1i64);
        assert_eq!(store.save(&mut session).await.unwrap(), SaveOutcome::Saved);
        let key = session.session_key().unwrap().to_string();
        assert!(session::is_well_formed_session_key(&key), "{key}");
        let raw = raw_get(&redis, &cache_key(&key)).await.unwrap();
        let mut expected = SessionData::new();
        expected.insert("counter", 1i64);
        assert_eq!(
            raw,
            session::encode_cache(&expected, flavor.pickle_protocol()).unwrap()
        );
        let ttl = pttl(&redis, &cache_key(&key)).await;
        assert!((1_209_590_000..=1_209_600_000).contains(&ttl), "{ttl}");

        // Loaded back; saving unmodified writes nothing.
        let mut loaded = store.load(Some(&key)).await.unwrap();
        assert_eq!(loaded.session_key(), Some(key.as_str()));
        assert_eq!(loaded.get("counter"), Some(&Value::Int(1)));
        redis
            .query::<()>(redis::cmd("PEXPIRE").arg(cache_key(&key)).arg(100_000))
            .await
            .unwrap();
        assert_eq!(
            store.save(&mut loaded).await.unwrap(),
            SaveOutcome::NotSaved
        );
        assert!(pttl(&redis, &cache_key(&key)).await <= 100_000);

        // Modified and saved: same key, new value, TTL from set_expiry.
        loaded.insert("counter", 2i64);
        loaded.set_expiry(SetExpiry::Seconds(300));
        assert_eq!(store.save(&mut loaded).await.unwrap(), SaveOutcome::Saved);
        assert_eq!(loaded.session_key(), Some(key.as_str()));
        let ttl = pttl(&redis, &cache_key(&key)).await;
        assert!((290_000..=300_000).contains(&ttl), "{ttl}");
        let reread = store.load(Some(&key)).await.unwrap();
        assert_eq!(reread.get("counter"), Some(&Value::Int(2)));

        // cycle_key: a new key holding the same bytes, the old key gone.
        let before = raw_get(&redis, &cache_key(&key)).await.unwrap();
        let mut cycled = store.load(Some(&key)).await.unwrap();
        assert_eq!(
            store.cycle_key(&mut cycled).await.unwrap(),
            SaveOutcome::Saved
        );
        let new_key = cycled.session_key().unwrap().to_string();
        assert_ne!(new_key, key);
        assert_eq!(raw_get(&redis, &cache_key(&new_key)).await.unwrap(), before);
        assert_eq!(raw_get(&redis, &cache_key(&key)).await, None);
        assert!(!store.exists(&key).await.unwrap());
        assert!(store.exists(&new_key).await.unwrap());

        // flush: deleted, no key, data cleared.
        store.flush(&mut cycled).await.unwrap();
        assert_eq!(cycled.session_key(), None);
        assert!(cycled.data().is_empty());
        assert_eq!(raw_get(&redis, &cache_key(&new_key)).await, None);

        // A key the client made up is never adopted: the session saves under a fresh key.
        let made_up = "abcdefghijklmnopqrstuvwxyz012345";
        let mut session = store.load(Some(made_up)).await.unwrap();
        assert_eq!(session.session_key(), None);
        session.insert("x", 1i64);
        assert_eq!(store.save(&mut session).await.unwrap(), SaveOutcome::Saved);
        assert_ne!(session.session_key(), Some(made_up));
        assert_eq!(raw_get(&redis, &cache_key(made_up)).await, None);

        // Too short, too long or garbage: a new session, no error.
        for cookie in ["short", &"a".repeat(41), "\u{0}\u{1}garbage-with-nul"] {
            let session = store.load(Some(cookie)).await.unwrap();
            assert_eq!(session.session_key(), None);
        }
    }
}

on_one_redis_and_on_a_cluster!(expiry_collision_and_corruption);
async fn expiry_collision_and_corruption(redis: Redis) {
    let backend = CacheSessions::new(redis.clone(), "", 1, CacheFlavor::Django);
    let store = store(&redis, CacheFlavor::Django);

    // A key that is taken is a collision: create() reports it and writes nothing.
    let mut data = SessionData::new();
    data.insert("a", 1i64);
    let expiry = session::expiry(&data, &Default::default(), chrono::Utc::now()).unwrap();
    let key = "k".repeat(32);
    assert!(
        backend
            .create(&key, &data, &expiry)
            .await
            .unwrap()
            .is_some()
    );
    let mut other = SessionData::new();
    other.insert("b", 2i64);
    assert!(
        backend
            .create(&key, &other, &expiry)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.load(Some(&key)).await.unwrap().data(), &data);

    // An expired session loads as a new one.
    let mut short = store.load(None).await.unwrap();
    short.insert("x", 1i64);
    short.set_expiry(SetExpiry::Seconds(1));
    assert_eq!(store.save(&mut short).await.unwrap(), SaveOutcome::Saved);
    let short_key = short.session_key().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_eq!(
        store.load(Some(&short_key)).await.unwrap().session_key(),
        None
    );

    // An explicit expiry in the past stores nothing (Django's timeout 0 deletes).
    let mut past = store.load(None).await.unwrap();
    past.set_expiry(SetExpiry::Date(
        chrono::Utc::now() - chrono::Duration::hours(1),
    ));
    assert_eq!(store.save(&mut past).await.unwrap(), SaveOutcome::Saved);
    let past_key = past.session_key().unwrap().to_string();
    assert_eq!(raw_get(&redis, &cache_key(&past_key)).await, None);

    // Corrupt or malicious bytes: "Session data corrupted", a new session, nothing executed.
    for garbage in [
        b"not a pickle".to_vec(),
        b"\x80\x04\x95\x00".to_vec(),
        // pickle of os.system("true"): a GLOBAL + REDUCE, which the reader refuses to call.
        b"cos\nsystem\n(S'true'\ntR.".to_vec(),
        b"42".to_vec(),
    ] {
        let key = "g".repeat(32);
        redis
            .query::<()>(redis::cmd("SET").arg(cache_key(&key)).arg(&garbage))
            .await
            .unwrap();
        let session = store.load(Some(&key)).await.unwrap();
        assert_eq!(session.session_key(), None);
        assert!(session.data().is_empty());
    }
}

on_one_redis_and_on_a_cluster!(an_update_never_resurrects_a_deleted_session);
async fn an_update_never_resurrects_a_deleted_session(redis: Redis) {
    let store = store(&redis, CacheFlavor::Django);
    let mut session = store.load(None).await.unwrap();
    log_in(&store, &mut session, "7").await;
    assert_eq!(store.save(&mut session).await.unwrap(), SaveOutcome::Saved);
    let key = session.session_key().unwrap().to_string();

    // Request A loads the session; request B logs out (flush); A then modifies and saves.
    let mut a = store.load(Some(&key)).await.unwrap();
    let mut b = store.load(Some(&key)).await.unwrap();
    store.flush(&mut b).await.unwrap();
    a.insert("cart", "3 items");
    assert_eq!(store.save(&mut a).await.unwrap(), SaveOutcome::Interrupted);
    assert_eq!(raw_get(&redis, &cache_key(&key)).await, None);
    assert!(store.user_sessions("7").await.unwrap().is_empty());
}

on_one_redis_and_on_a_cluster!(concurrent_writers_keep_every_key_and_a_logout_wins);
async fn concurrent_writers_keep_every_key_and_a_logout_wins(redis: Redis) {
    for flavor in [CacheFlavor::Django, CacheFlavor::DJANGO_REDIS] {
        let store = Arc::new(store(&redis, flavor));
        let key = support::writers_and_a_logout(store.clone(), &format!("{flavor:?}")).await;
        assert_eq!(raw_get(&redis, &cache_key(&key)).await, None);
        support::stale_requests_after_a_logout(&store, &format!("{flavor:?}")).await;
    }
}

on_one_redis_and_on_a_cluster!(per_user_index_lists_and_logs_out_everywhere);
async fn per_user_index_lists_and_logs_out_everywhere(redis: Redis) {
    let store = store(&redis, CacheFlavor::Django);

    let mut keys = Vec::new();
    for _ in 0..3 {
        let mut session = store.load(None).await.unwrap();
        log_in(&store, &mut session, "42").await;
        assert_eq!(store.save(&mut session).await.unwrap(), SaveOutcome::Saved);
        keys.push(session.session_key().unwrap().to_string());
    }
    let mut someone_else = store.load(None).await.unwrap();
    log_in(&store, &mut someone_else, "43").await;
    assert_eq!(
        store.save(&mut someone_else).await.unwrap(),
        SaveOutcome::Saved
    );

    // A session Django wrote itself (raw pickle, no index entry) joins once we load it.
    let mut django_data = SessionData::new();
    dj_auth::set_session_auth(
        &mut django_data,
        "42",
        dj_auth::MODEL_BACKEND,
        &"1".repeat(64),
    );
    let django_key = "d".repeat(32);
    redis
        .query::<()>(
            redis::cmd("SET")
                .arg(cache_key(&django_key))
                .arg(session::encode_cache(&django_data, 5).unwrap())
                .arg("EX")
                .arg(600),
        )
        .await
        .unwrap();
    let listed: Vec<String> = store
        .user_sessions("42")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.session_key)
        .collect();
    assert_eq!(listed.len(), 3);
    let loaded = store.load(Some(&django_key)).await.unwrap();
    assert_eq!(loaded.user_pk().as_deref(), Some("42"));
    // The join runs in the background: wait for it (a second at most).
    let mut listed = store.user_sessions("42").await.unwrap();
    for _ in 0..50 {
        if listed.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        listed = store.user_sessions("42").await.unwrap();
    }
    assert_eq!(listed.len(), 4);
    // Soonest expiry first: the Django session expires in 10 minutes.
    assert_eq!(listed[0].session_key, django_key);

    // A late join carrying an older expiry never lowers what the index holds.
    let index = UserIndex::new(redis.clone(), "", 1);
    let before = store.user_sessions("42").await.unwrap();
    index
        .add(
            "42",
            &keys[2],
            chrono::Utc::now() + chrono::Duration::minutes(1),
        )
        .await
        .unwrap();
    assert_eq!(store.user_sessions("42").await.unwrap(), before);

    // A session deleted behind the index's back (Django's logout) drops out of the listing.
    redis
        .query::<()>(redis::cmd("DEL").arg(cache_key(&keys[0])))
        .await
        .unwrap();
    assert_eq!(store.user_sessions("42").await.unwrap().len(), 3);

    // Log out everywhere but here.
    let deleted = store
        .delete_user_sessions("42", Some(&keys[1]))
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    let left: Vec<String> = store
        .user_sessions("42")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.session_key)
        .collect();
    assert_eq!(left, vec![keys[1].clone()]);
    assert_eq!(raw_get(&redis, &cache_key(&django_key)).await, None);
    assert_eq!(raw_get(&redis, &cache_key(&keys[2])).await, None);
    // The other user is untouched.
    assert_eq!(store.user_sessions("43").await.unwrap().len(), 1);
    // The index expires with its last session (two weeks), not its first (the Django one, ten minutes).
    let index_ttl = pttl(&redis, ":1:django_rs.user_sessions.42").await;
    assert!(
        (1_209_000_000..=1_209_600_000).contains(&index_ttl),
        "{index_ttl}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_is_a_typed_error_within_the_timeout_then_recovers() {
    let mut server = RedisServer::start().unwrap();
    let redis = redis(&server);
    let store = store(&redis, CacheFlavor::Django);
    let mut session = store.load(None).await.unwrap();
    session.insert("k", "v");
    assert_eq!(store.save(&mut session).await.unwrap(), SaveOutcome::Saved);
    let key = session.session_key().unwrap().to_string();
    let mut logging_out = store.load(Some(&key)).await.unwrap();

    server.stop();
    // A logout during the outage fails, clears the request's session, and keeps the key for a retry.
    assert!(
        store
            .flush(&mut logging_out)
            .await
            .unwrap_err()
            .is_unavailable()
    );
    assert!(logging_out.data().is_empty());
    assert_eq!(logging_out.session_key(), Some(key.as_str()));
    for _ in 0..3 {
        let started = Instant::now();
        let error = store.load(Some(&key)).await.unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::Unavailable {
                    service: "redis",
                    ..
                }
            ),
            "{error:?}"
        );
        // The deadline is connect + response timeout (1 s); allow generous scheduling slack.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    let mut fresh = store.load(None).await.unwrap();
    fresh.insert("k", "v");
    assert!(store.save(&mut fresh).await.unwrap_err().is_unavailable());

    // Back (empty, as after a restart without persistence): the same store works again, no restart.
    server.start_again().unwrap();
    let mut recovered = None;
    for _ in 0..50 {
        let mut session = store.load(None).await.unwrap();
        session.insert("k", "v");
        if store.save(&mut session).await.is_ok() {
            recovered = Some(session);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let session = recovered.expect("the store did not recover after Redis came back");
    let key = session.session_key().unwrap();
    assert_eq!(
        store.load(Some(key)).await.unwrap().get("k"),
        Some(&Value::Str("v".into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_user_password_and_database_index_from_the_url() {
    let server = RedisServer::start().unwrap();
    assert_eq!(
        server
            .command("ACL SETUSER svc on >s3cret ~* &* +@all")
            .unwrap(),
        "+OK"
    );
    let url = server
        .url()
        .replace("redis://", "redis://svc:s3cret@")
        .replace("/0", "/2");
    let connect = |url: &str| {
        Redis::connect(&RedisConfig {
            url: url.to_string(),
            connect_timeout: Duration::from_millis(500),
            response_timeout: Duration::from_millis(500),
            ca_certs: None,
            ..RedisConfig::new("")
        })
        .unwrap()
    };
    let redis_db2 = connect(&url);
    let sessions = store(&redis_db2, CacheFlavor::Django);
    let mut session = sessions.load(None).await.unwrap();
    session.insert("where", "db 2");
    assert_eq!(
        sessions.save(&mut session).await.unwrap(),
        SaveOutcome::Saved
    );
    let key = cache_key(session.session_key().unwrap());
    // The key is in database 2, not in database 0.
    let default_db = redis(&server);
    assert_eq!(raw_get(&default_db, &key).await, None);
    assert!(raw_get(&redis_db2, &key).await.is_some());

    // A wrong password is a typed error naming no secret.
    let wrong = connect(&url.replace("s3cret", "wrong"));
    let error = store(&wrong, CacheFlavor::Django)
        .load(Some(&"a".repeat(32)))
        .await
        .unwrap_err();
    assert!(!format!("{error} {error:?}").contains("wrong"), "{error:?}");
    assert!(
        matches!(
            error,
            StoreError::Server { .. } | StoreError::Unavailable { .. }
        ),
        "{error:?}"
    );
}

on_one_redis_and_on_a_cluster!(login_cycles_or_flushes_as_django_login_does);
async fn login_cycles_or_flushes_as_django_login_does(redis: Redis) {
    let store = store(&redis, CacheFlavor::Django);
    let hash = "a".repeat(64);

    // An anonymous session with data: logging in keeps the data under a new key (cycle_key).
    let mut session = store.load(None).await.unwrap();
    session.insert("cart", "3 items");
    assert_eq!(store.save(&mut session).await.unwrap(), SaveOutcome::Saved);
    let anonymous_key = session.session_key().unwrap().to_string();
    store
        .login(&mut session, "9", dj_auth::MODEL_BACKEND, &hash)
        .await
        .unwrap();
    assert_eq!(store.save(&mut session).await.unwrap(), SaveOutcome::Saved);
    let logged_in_key = session.session_key().unwrap().to_string();
    assert_ne!(logged_in_key, anonymous_key);
    assert!(!store.exists(&anonymous_key).await.unwrap());
    let keys: Vec<&str> = session.data().iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "cart",
            "_auth_user_id",
            "_auth_user_backend",
            "_auth_user_hash"
        ]
    );

    // The same user with the same hash: the key stays.
    store
        .login(&mut session, "9", dj_auth::MODEL_BACKEND, &hash)
        .await
        .unwrap();
    assert_eq!(store.save(&mut session).await.unwrap(), SaveOutcome::Saved);
    assert_eq!(session.session_key(), Some(logged_in_key.as_str()));

    // The same user with another auth hash (the password changed), then another user: each time the
    // session is flushed first (the old key and the old data gone), then logged in.
    let mut logged_in_key = logged_in_key;
    for (pk, new_hash) in [("9", "b".repeat(64)), ("10", hash.clone())] {
        session.insert("cart", "still here");
        assert_eq!(store.save(&mut session).await.unwrap(), SaveOutcome::Saved);
        store
            .login(&mut session, pk, dj_auth::MODEL_BACKEND, &new_hash)
            .await
            .unwrap();
        assert_eq!(store.save(&mut session).await.unwrap(), SaveOutcome::Saved);
        assert_ne!(session.session_key(), Some(logged_in_key.as_str()));
        assert!(!store.exists(&logged_in_key).await.unwrap());
        assert_eq!(session.get("cart"), None);
        assert_eq!(session.user_pk().as_deref(), Some(pk));
        assert_eq!(
            session.get(dj_auth::HASH_SESSION_KEY),
            Some(&Value::Str(new_hash))
        );
        logged_in_key = session.session_key().unwrap().to_string();
    }

    // logout: flushed, nothing stored, no key.
    let key = session.session_key().unwrap().to_string();
    store.logout(&mut session).await.unwrap();
    assert_eq!(session.session_key(), None);
    assert!(!store.exists(&key).await.unwrap());
    assert_eq!(
        store.save(&mut session).await.unwrap(),
        SaveOutcome::NotSaved
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_private_ca() {
    let server = RedisServer::start_tls().unwrap();
    assert!(server.url().starts_with("rediss://"));
    let tls = Redis::connect(&RedisConfig {
        url: server.url(),
        connect_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(2),
        ca_certs: server.ca_cert().map(|p| p.to_path_buf()),
        ..RedisConfig::new("")
    })
    .unwrap();
    let sessions = store(&tls, CacheFlavor::Django);
    let mut session = sessions.load(None).await.unwrap();
    session.insert("over", "tls");
    assert_eq!(
        sessions.save(&mut session).await.unwrap(),
        SaveOutcome::Saved
    );
    let key = session.session_key().unwrap().to_string();
    assert_eq!(
        sessions.load(Some(&key)).await.unwrap().get("over"),
        Some(&Value::Str("tls".into()))
    );

    // Without the CA, the server's certificate is not trusted: a typed error, not a plaintext fallback.
    let untrusted = Redis::connect(&RedisConfig {
        url: server.url(),
        connect_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(2),
        ca_certs: None,
        ..RedisConfig::new("")
    })
    .unwrap();
    let error = store(&untrusted, CacheFlavor::Django)
        .load(Some(&key))
        .await
        .unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
}

on_one_redis_and_on_a_cluster!(save_every_request_refreshes_an_unmodified_session);
async fn save_every_request_refreshes_an_unmodified_session(redis: Redis) {
    let store = SessionStore::new(
        Engine::Cache(CacheSessions::new(
            redis.clone(),
            "",
            1,
            CacheFlavor::Django,
        )),
        SessionSettings {
            save_every_request: true,
            ..SessionSettings::default()
        },
        None,
    );
    // A new, empty session is still not saved (Django's middleware skips empty sessions).
    let mut empty = store.load(None).await.unwrap();
    assert_eq!(store.save(&mut empty).await.unwrap(), SaveOutcome::NotSaved);

    let mut session = store.load(None).await.unwrap();
    session.insert("k", 1i64);
    assert_eq!(store.save(&mut session).await.unwrap(), SaveOutcome::Saved);
    let key = session.session_key().unwrap().to_string();
    redis
        .query::<()>(redis::cmd("PEXPIRE").arg(cache_key(&key)).arg(10_000))
        .await
        .unwrap();
    // Loaded and not modified: saved anyway, so the TTL is two weeks again.
    let mut loaded = store.load(Some(&key)).await.unwrap();
    assert!(!loaded.is_modified());
    assert_eq!(store.save(&mut loaded).await.unwrap(), SaveOutcome::Saved);
    let ttl = pttl(&redis, &cache_key(&key)).await;
    assert!(ttl > 1_209_000_000, "{ttl}");
}
