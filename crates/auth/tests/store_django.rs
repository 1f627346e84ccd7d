//! The stores against a real Django project (the peer, `tests/django/peer`) on the same real PostgreSQL
//! and Redis: Django reads what we store and we read what Django stores, for every engine and both Redis
//! cache backends; our `migrate` and Django's agree in both orders; users made on either side log in on
//! the other.

mod support;

use std::collections::HashMap;

use django_auth_core::auth::{self as dj_auth, GetUser};
use django_auth_core::migrate::{self, DefaultAutoField};
use django_auth_core::session::SetExpiry;
use django_auth_core::settings::Settings;
use django_auth_core::store::{SaveOutcome, SessionStore};
use django_auth_core::users::{NewUser, UserStore};
use serde_json::{Value, json};
use support::{Oracle, from_json, to_json};
use testkit::{PostgresServer, RedisServer};

const DJANGO_REDIS_CACHE: &str = "django.core.cache.backends.redis.RedisCache";
const SECRET_KEY: &str = "peer-secret-key-for-the-store-tests-0123456789";

/// Our settings and the peer's, from one set of variables (the same names on both sides).
struct Env {
    vars: Vec<(&'static str, String)>,
}

impl Env {
    fn new(database_url: &str, redis_url: &str, engine: &str, backend: &str) -> Env {
        Env {
            vars: vec![
                ("SECRET_KEY", SECRET_KEY.to_string()),
                ("SECRET_KEY_FALLBACKS", "old-key-1".to_string()),
                ("DATABASE_URL", database_url.to_string()),
                ("REDIS_URL", redis_url.to_string()),
                ("SESSION_ENGINE", engine.to_string()),
                ("CACHE_BACKEND", backend.to_string()),
                ("CACHE_KEY_PREFIX", "site".to_string()),
                ("CACHE_VERSION", "3".to_string()),
                // Fast hashing for the tests; the hasher formats are proven elsewhere.
                (
                    "PASSWORD_HASHERS",
                    "django.contrib.auth.hashers.MD5PasswordHasher".to_string(),
                ),
            ],
        }
    }

    fn settings(&self) -> Settings {
        let map: HashMap<&str, &str> = self.vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Settings::from_lookup(|name| map.get(name).map(|v| v.to_string())).unwrap()
    }

    fn peer(&self) -> Oracle {
        let vars: Vec<(&str, &str)> = self.vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Oracle::peer(&vars)
    }
}

fn call(peer: &mut Oracle, op: &str, args: Value) -> Value {
    peer.call(op, json!({}), args)
}

fn data_json(session: &django_auth_core::store::Session) -> Value {
    let mut map = serde_json::Map::new();
    for (k, v) in session.data().iter() {
        map.insert(k.to_string(), to_json(v));
    }
    Value::Object(map)
}

/// The first differing line of two dumps, so a failure shows the difference and not two whole dumps.
fn assert_same_dump(ours: &str, theirs: &str, what: &str) {
    for (n, (a, b)) in ours.lines().zip(theirs.lines()).enumerate() {
        assert_eq!(a, b, "{what}: line {} differs", n + 1);
    }
    assert_eq!(
        ours.lines().count(),
        theirs.lines().count(),
        "{what}: length"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_in_both_orders_agrees_with_django() {
    let pg = PostgresServer::start().unwrap();
    let redis = RedisServer::start().unwrap();
    for (setting, auto_field) in [
        ("django.db.models.BigAutoField", DefaultAutoField::BigAuto),
        ("django.db.models.AutoField", DefaultAutoField::Auto),
    ] {
        let suffix = if auto_field == DefaultAutoField::Auto {
            "auto"
        } else {
            "big"
        };
        let (ours_db, theirs_db) = (format!("ours_{suffix}"), format!("theirs_{suffix}"));
        let ours = pg.create_database(&ours_db).unwrap();
        let theirs = pg.create_database(&theirs_db).unwrap();

        // Ours first: 15 migrations, 5 content types, 20 permissions; then Django finds nothing to do.
        let mut env = Env::new(&ours, &redis.url(), "db", DJANGO_REDIS_CACHE);
        env.vars.push(("DEFAULT_AUTO_FIELD", setting.to_string()));
        let connections = env.settings().connect().unwrap();
        let db = connections.database.as_ref().unwrap();
        // As the peer's Django version numbers content types (6.0 sorts them by model name).
        let order = migrate::ContentTypeOrder::for_django_version(&env.peer().django_version());
        let report = migrate::migrate_as(db, auto_field, false, order)
            .await
            .unwrap();
        assert_eq!(report.applied.len(), 15);
        assert_eq!(
            report.applied[0],
            ("contenttypes".into(), "0001_initial".into())
        );
        assert_eq!(
            report.applied[14],
            ("sessions".into(), "0001_initial".into())
        );
        assert_eq!(
            (report.content_types_created, report.permissions_created),
            (5, 20)
        );
        let mut peer = env.peer();
        assert_eq!(call(&mut peer, "migrate_plan", json!({})), json!([]));
        assert_eq!(call(&mut peer, "migrate", json!({})), json!([]));
        drop(peer);
        // Running ours again changes nothing.
        let again = migrate::migrate_as(db, auto_field, false, order)
            .await
            .unwrap();
        assert_eq!(again, migrate::MigrateReport::default());

        // Django first: ours then finds nothing to do and changes nothing.
        let mut env_theirs = Env::new(&theirs, &redis.url(), "db", DJANGO_REDIS_CACHE);
        env_theirs
            .vars
            .push(("DEFAULT_AUTO_FIELD", setting.to_string()));
        let mut peer = env_theirs.peer();
        let applied = call(&mut peer, "migrate", json!({}));
        assert_eq!(applied.as_array().unwrap().len(), 15);
        drop(peer);
        let before = pg.pg_dump(&theirs_db, &["--inserts"]).unwrap();
        let connections_theirs = env_theirs.settings().connect().unwrap();
        let report = migrate::migrate_as(
            connections_theirs.database.as_ref().unwrap(),
            auto_field,
            false,
            order,
        )
        .await
        .unwrap();
        assert_eq!(report, migrate::MigrateReport::default());
        assert_same_dump(
            &pg.pg_dump(&theirs_db, &["--inserts"]).unwrap(),
            &before,
            "Django's database after our migrate",
        );

        // The two databases have the same schema, and the same rows but for the migration times.
        assert_same_dump(
            &pg.pg_dump(&ours_db, &["--schema-only"]).unwrap(),
            &pg.pg_dump(&theirs_db, &["--schema-only"]).unwrap(),
            setting,
        );
        for query in [
            "SELECT id, app, name FROM django_migrations ORDER BY id",
            "SELECT id, app_label, model FROM django_content_type ORDER BY id",
            "SELECT id, name, content_type_id, codename FROM auth_permission ORDER BY id",
        ] {
            assert_eq!(
                pg.psql_in(&ours_db, query).unwrap(),
                pg.psql_in(&theirs_db, query).unwrap(),
                "{query}"
            );
        }
    }
}

/// Sessions written by one side and read, changed, cycled and flushed by the other, for one engine.
async fn round_trip(env: &Env, store: &SessionStore, peer: &mut Oracle, cache_engine: bool) {
    let engine = env.settings().session_engine;
    let signed = matches!(
        engine,
        django_auth_core::settings::EngineKind::SignedCookies
    );

    // Ours → Django.
    let mut ours = store.load(None).await.unwrap();
    ours.insert("counter", 1i64);
    ours.insert("name", "Zoë ☃");
    ours.insert(
        "nested",
        from_json(&json!({"list": [1, 2.5, null, true], "s": "x"})),
    );
    assert_eq!(store.save(&mut ours).await.unwrap(), SaveOutcome::Saved);
    let key = ours.session_key().unwrap().to_string();
    let loaded = call(peer, "session_load", json!({"session_key": key}));
    assert_eq!(loaded["found"], json!(true), "{loaded}");
    assert_eq!(loaded["data"], data_json(&ours));
    if cache_engine {
        let full_key = call(peer, "cache_key", json!({"session_key": key}));
        let prefix = match engine {
            django_auth_core::settings::EngineKind::Cache => "site:3:django.contrib.sessions.cache",
            _ => "site:3:django.contrib.sessions.cached_db",
        };
        assert_eq!(full_key, json!(format!("{prefix}{key}")));
    }

    // Django → ours.
    let created = call(
        peer,
        "session_create",
        json!({"data": {"from": "django", "n": 7, "f": 0.1}}),
    );
    let django_key = created["session_key"].as_str().unwrap().to_string();
    let theirs = store.load(Some(&django_key)).await.unwrap();
    assert_eq!(
        theirs.session_key(),
        Some(django_key.as_str()),
        "we did not find Django's session"
    );
    assert_eq!(
        data_json(&theirs),
        json!({"from": "django", "n": 7, "f": 0.1})
    );

    if signed {
        // A signed cookie is the session: nothing to update, cycle or delete server-side.
        return;
    }

    // Django updates our session; we see it. We update it; Django sees both changes.
    let updated = call(
        peer,
        "session_update",
        json!({"session_key": key, "set": {"by_django": "yes"}, "delete": ["counter"]}),
    );
    assert_eq!(updated["ok"], json!(true), "{updated}");
    let mut ours = store.load(Some(&key)).await.unwrap();
    assert_eq!(ours.get("counter"), None);
    assert_eq!(
        ours.get("by_django"),
        Some(&django_auth_core::Value::Str("yes".into()))
    );
    ours.insert("by_rust", "yes");
    ours.set_expiry(SetExpiry::Seconds(300));
    assert_eq!(store.save(&mut ours).await.unwrap(), SaveOutcome::Saved);
    let loaded = call(peer, "session_load", json!({"session_key": key}));
    assert_eq!(loaded["data"]["by_django"], json!("yes"));
    assert_eq!(loaded["data"]["by_rust"], json!("yes"));
    let age = loaded["expiry_age"].as_i64().unwrap();
    assert!((295..=300).contains(&age), "{age}");

    // A session Django deleted mid-request is not resurrected by our save.
    let mut stale = store.load(Some(&key)).await.unwrap();
    call(peer, "session_flush", json!({"session_key": key}));
    stale.insert("late", 1i64);
    assert_eq!(
        store.save(&mut stale).await.unwrap(),
        SaveOutcome::Interrupted
    );
    assert_eq!(
        call(peer, "session_load", json!({"session_key": key}))["found"],
        json!(false)
    );
    assert!(!store.exists(&key).await.unwrap());

    // Our cycle_key: Django finds the data under the new key only. Our flush: Django finds nothing.
    let mut theirs = store.load(Some(&django_key)).await.unwrap();
    assert_eq!(
        store.cycle_key(&mut theirs).await.unwrap(),
        SaveOutcome::Saved
    );
    let new_key = theirs.session_key().unwrap().to_string();
    assert_ne!(new_key, django_key);
    let after = call(peer, "session_load", json!({"session_key": new_key}));
    assert_eq!(after["found"], json!(true));
    assert_eq!(after["data"], json!({"from": "django", "n": 7, "f": 0.1}));
    assert_eq!(
        call(peer, "session_load", json!({"session_key": django_key}))["found"],
        json!(false)
    );
    store.flush(&mut theirs).await.unwrap();
    assert_eq!(
        call(peer, "session_load", json!({"session_key": new_key}))["found"],
        json!(false)
    );

    // Django's cycle_key and flush, seen from here.
    let created = call(peer, "session_create", json!({"data": {"a": 1}}));
    let k1 = created["session_key"].as_str().unwrap().to_string();
    let k2 = call(peer, "session_cycle_key", json!({"session_key": k1}))["session_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(store.load(Some(&k1)).await.unwrap().session_key(), None);
    assert_eq!(
        store.load(Some(&k2)).await.unwrap().get("a"),
        Some(&django_auth_core::Value::Int(1))
    );
    call(peer, "session_flush", json!({"session_key": k2}));
    assert_eq!(store.load(Some(&k2)).await.unwrap().session_key(), None);
}

/// Users made on either side log in on the other; a Django login is a session our `get_user` accepts.
async fn users_and_login(users: &UserStore, store: &SessionStore, peer: &mut Oracle) {
    let hasher = django_auth_core::auth::SessionAuthHasher::new(
        &django_auth_core::signing::Keys::new(SECRET_KEY, vec!["old-key-1".into()]),
    );
    let backends = vec![dj_auth::MODEL_BACKEND.to_string()];
    let suffix = django_auth_core::crypto::get_random_string(6, "abcdefghij").unwrap();

    let django_user = format!("alice{suffix}");
    let pk = call(
        peer,
        "create_user",
        json!({"username": django_user, "password": "s3cret pass", "email": "a@Example.COM"}),
    );
    let alice = users
        .authenticate(&django_user, "s3cret pass")
        .await
        .unwrap()
        .expect("Django's user logs in here");
    assert_eq!(json!(alice.pk()), json!(pk.to_string()));
    assert_eq!(alice.email(), "a@example.com");
    assert!(
        users
            .authenticate(&django_user, "wrong")
            .await
            .unwrap()
            .is_none()
    );

    let rust_user = format!("bob{suffix}");
    let bob = users
        .create_user(NewUser {
            username: rust_user.clone(),
            email: "Bob@Example.ORG".into(),
            password: Some("another pass".into()),
            ..NewUser::default()
        })
        .await
        .unwrap();
    assert_eq!(
        call(
            peer,
            "authenticate",
            json!({"username": rust_user, "password": "another pass"})
        )
        .to_string(),
        bob.pk()
    );
    let row = call(peer, "get_user_row", json!({"pk": bob.pk()}));
    assert_eq!(row["email"], json!("Bob@example.org"));
    assert_eq!(row["is_active"], json!(true));
    assert_eq!(row["is_staff"], json!(false));
    assert_eq!(row["last_login"], Value::Null);
    assert!(matches!(
        users
            .create_user(NewUser {
                username: rust_user.clone(),
                ..NewUser::default()
            })
            .await,
        Err(django_auth_core::users::UserError::UsernameTaken)
    ));
    let when = users.update_last_login(bob.pk()).await.unwrap();
    let row = call(peer, "get_user_row", json!({"pk": bob.pk()}));
    assert_eq!(
        row["last_login"].as_str().unwrap()[..19],
        when.format("%Y-%m-%dT%H:%M:%S").to_string()
    );

    // Django logs Alice in; our get_user accepts the session. Her new password (set here) logs it out.
    let login = call(
        peer,
        "login_session",
        json!({"username": django_user, "password": "s3cret pass"}),
    );
    let key = login["session_key"].as_str().unwrap();
    let session = store.load(Some(key)).await.unwrap();
    assert_eq!(session.user_pk().as_deref(), Some(alice.pk()));
    let user = users.get(alice.pk()).await.unwrap().unwrap();
    let auth_keys = dj_auth::session_auth(session.data());
    assert_eq!(
        dj_auth::get_user(
            auth_keys.as_ref(),
            &backends,
            Some(&user.for_session()),
            &hasher
        ),
        GetUser::Authenticated {
            user_pk: alice.pk().to_string()
        }
    );
    users
        .set_password(alice.pk(), "changed pass")
        .await
        .unwrap();
    let user = users.get(alice.pk()).await.unwrap().unwrap();
    assert_eq!(
        dj_auth::get_user(
            auth_keys.as_ref(),
            &backends,
            Some(&user.for_session()),
            &hasher
        ),
        GetUser::AnonymousFlush
    );
    assert_eq!(
        call(peer, "get_user", json!({"session_key": key, "save": false}))["anonymous"],
        json!(true)
    );

    // We log Bob in; Django's get_user accepts our session as its own.
    let bob = users.get(bob.pk()).await.unwrap().unwrap();
    let mut ours = store.load(None).await.unwrap();
    store
        .login(
            &mut ours,
            bob.pk(),
            dj_auth::MODEL_BACKEND,
            &hasher.get_session_auth_hash(&bob.password),
        )
        .await
        .unwrap();
    assert_eq!(store.save(&mut ours).await.unwrap(), SaveOutcome::Saved);
    let seen = call(
        peer,
        "get_user",
        json!({"session_key": ours.session_key().unwrap(), "save": false}),
    );
    assert_eq!(seen["pk"].to_string(), bob.pk(), "{seen}");

    // Deactivated here: Django refuses the login too.
    users.set_active(bob.pk(), false).await.unwrap();
    assert_eq!(
        call(
            peer,
            "authenticate",
            json!({"username": rust_user, "password": "another pass"})
        ),
        Value::Null
    );
    assert!(
        users
            .authenticate(&rust_user, "another pass")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_engine_round_trips_with_django() {
    let pg = PostgresServer::start().unwrap();
    let redis = RedisServer::start().unwrap();
    let mut migrated = false;
    for (engine, backend) in [
        ("cache", "django.core.cache.backends.redis.RedisCache"),
        ("cache", "django_redis.cache.RedisCache"),
        ("cached_db", "django.core.cache.backends.redis.RedisCache"),
        ("cached_db", "django_redis.cache.RedisCache"),
        ("db", "django.core.cache.backends.redis.RedisCache"),
        (
            "signed_cookies",
            "django.core.cache.backends.redis.RedisCache",
        ),
    ] {
        eprintln!("engine {engine}, cache backend {backend}");
        let env = Env::new(&pg.url(), &redis.url(), engine, backend);
        let settings = env.settings();
        let connections = settings.connect().unwrap();
        if !migrated {
            migrate::migrate(
                connections.database.as_ref().unwrap(),
                DefaultAutoField::BigAuto,
                false,
            )
            .await
            .unwrap();
            migrated = true;
        }
        let store = settings.session_store(&connections).unwrap();
        let users = settings.user_store(&connections).await.unwrap();
        let mut peer = env.peer();
        round_trip(
            &env,
            &store,
            &mut peer,
            matches!(engine, "cache" | "cached_db"),
        )
        .await;
        users_and_login(&users, &store, &mut peer).await;
    }
}

/// django-redis' `OPTIONS["PICKLE_VERSION"]`, `CACHE_PICKLE_VERSION` on both sides: unset,
/// `pickle.DEFAULT_PROTOCOL` (4 on the Pythons the venvs run, up to 3.13; 5 from 3.14); `5` or `-1`
/// (`HIGHEST_PROTOCOL`), 5. However the two sides are set, each reads the other's sessions; set alike, what
/// we write is, byte for byte, what django-redis writes for the same session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django_redis_pickle_version_is_djangos() {
    let pg = PostgresServer::start().unwrap();
    let redis = RedisServer::start().unwrap();
    let env_with = |pickle_version: &str| {
        let mut env = Env::new(
            &pg.url(),
            &redis.url(),
            "cache",
            "django_redis.cache.RedisCache",
        );
        if !pickle_version.is_empty() {
            env.vars
                .push(("CACHE_PICKLE_VERSION", pickle_version.to_string()));
        }
        env
    };
    let protocol = |pickle_version: &str| match pickle_version {
        "" | "4" => 4,
        _ => 5,
    };
    // (ours, the peer's)
    for (ours, theirs) in [
        ("", ""),
        ("4", "4"),
        ("5", "5"),
        ("-1", "-1"),
        ("", "5"),
        ("5", ""),
    ] {
        eprintln!("CACHE_PICKLE_VERSION: ours {ours:?}, django-redis' {theirs:?}");
        let settings = env_with(ours).settings();
        assert_eq!(settings.cache_flavor.pickle_protocol(), protocol(ours));
        let connections = settings.connect().unwrap();
        let store = settings.session_store(&connections).unwrap();
        let mut peer = env_with(theirs).peer();
        let raw = |peer: &mut Oracle, session_key: &str| {
            let full = call(peer, "cache_key", json!({ "session_key": session_key }));
            let stored = call(peer, "raw_cache_get", json!({ "key": full }));
            support::unhex(stored["hex"].as_str().expect("the session is in Redis"))
        };

        // Ours → django-redis, which reads it and, saving it unchanged, writes its own bytes.
        let mut session = store.load(None).await.unwrap();
        session.insert("name", "Zoë ☃");
        session.insert("n", 7i64);
        session.insert(
            "nested",
            from_json(&json!({"list": [1, 2.5, null, true], "s": "x"})),
        );
        assert_eq!(store.save(&mut session).await.unwrap(), SaveOutcome::Saved);
        let key = session.session_key().unwrap().to_string();
        let our_bytes = raw(&mut peer, &key);
        assert_eq!(our_bytes[..2], [0x80, protocol(ours)], "our pickle");
        let loaded = call(&mut peer, "session_load", json!({ "session_key": key }));
        assert_eq!(loaded["found"], json!(true), "{loaded}");
        assert_eq!(loaded["data"], data_json(&session));
        let saved = call(&mut peer, "session_update", json!({ "session_key": key }));
        assert_eq!(saved["ok"], json!(true), "{saved}");
        let their_bytes = raw(&mut peer, &key);
        assert_eq!(
            their_bytes[..2],
            [0x80, protocol(theirs)],
            "django-redis with PICKLE_VERSION {theirs:?} (unset: Python before 3.14 writes 4)"
        );
        if protocol(ours) == protocol(theirs) {
            assert_eq!(
                support::hex(&our_bytes),
                support::hex(&their_bytes),
                "the same session, pickled here and by django-redis"
            );
        }

        // django-redis → ours: read in its protocol, written back in ours.
        let created = call(
            &mut peer,
            "session_create",
            json!({"data": {"from": "django", "f": 0.1}}),
        );
        let django_key = created["session_key"].as_str().unwrap().to_string();
        assert_eq!(raw(&mut peer, &django_key)[..2], [0x80, protocol(theirs)]);
        let mut theirs_session = store.load(Some(&django_key)).await.unwrap();
        assert_eq!(
            data_json(&theirs_session),
            json!({"from": "django", "f": 0.1})
        );
        theirs_session.insert("by_rust", "yes");
        assert_eq!(
            store.save(&mut theirs_session).await.unwrap(),
            SaveOutcome::Saved
        );
        assert_eq!(raw(&mut peer, &django_key)[..2], [0x80, protocol(ours)]);
        let loaded = call(
            &mut peer,
            "session_load",
            json!({ "session_key": django_key }),
        );
        assert_eq!(
            loaded["data"],
            json!({"from": "django", "f": 0.1, "by_rust": "yes"})
        );
    }
}
