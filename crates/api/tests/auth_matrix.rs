//! The auth matrix of issue 5: each way a session cookie can be, or fail to be, a logged-in user, one test
//! each. Every session is made by the real Django peer (its `login`), then altered as the case needs,
//! through Django (its ORM, `logout`, `set_expiry`, the session store) or by writing bytes straight into
//! Redis. The api answers the session; real Django answers a twin of it (the same user, made and altered the
//! same way) through its own `SessionMiddleware` and `AuthenticationMiddleware` (the peer's
//! `django_request`). Both must agree: the same user or anonymous, the session flushed exactly when
//! Django's `get_user` flushes it, the same `Set-Cookie`. Anything but a valid session is a 401 with Django
//! REST framework's body, never a 500 nor a hang.
//!
//! One Redis, one PostgreSQL, one api per session engine and one Django peer per configuration serve every
//! test of the file: each is started the first time a test needs it and kept for the rest of the run (a
//! `OnceLock`). The apis run on threads of their own, with their own runtimes, because each test's runtime
//! ends with the test. Tests run in parallel, so each one works on users of its own.
//!
//! Two service bugs were found this way and fixed: the activity record was written into sessions whose user
//! `get_user` refused (`user_deleted`, `user_inactive`, `backend_not_in_authentication_backends`: a 401
//! re-saved the session with a renewed expiry), and a signed cookie that no longer loads was deleted where
//! Django re-issues an empty signed session (`expired_signed_cookie`).

#[path = "../../auth/tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use api::startup::Application;
use django_auth_core::migrate::{self, DefaultAutoField};
use django_auth_core::settings::Settings;
use serde_json::{Value, json};
use support::{Oracle, hex, unhex};
use testkit::{PostgresServer, RedisServer};

/// The api's `SECRET_KEY`, and the one every Django of the file runs with except [`Django::OldKeyOnly`].
const NEW_KEY: &str = "auth-matrix-secret-key-new";
/// The key before rotation: `SECRET_KEY_FALLBACKS` of the api and of the main peers.
const OLD_KEY: &str = "auth-matrix-secret-key-old";
/// Not Django's default, so a session sent under `sessionid` is sent under the wrong name.
const COOKIE: &str = "shared_session_id";
/// `SESSION_COOKIE_AGE`, Django's default.
const COOKIE_AGE: u64 = 1_209_600;
const MODEL_BACKEND: &str = "django.contrib.auth.backends.ModelBackend";
/// What `Set-Cookie` says to drop a cookie (Django's `delete_cookie`).
const EPOCH: &str = "expires=Thu, 01 Jan 1970 00:00:00 GMT";

fn not_authenticated() -> Value {
    json!({"detail": "Authentication credentials were not provided."})
}

// --- the servers --------------------------------------------------------------------------------------------

struct Servers {
    _redis: RedisServer,
    _postgres: PostgresServer,
}

/// The servers, for the exit handler to stop (statics are never dropped).
static SERVERS: Mutex<Option<Servers>> = Mutex::new(None);

unsafe extern "C" {
    /// C's `atexit`: the test harness returns from `main` (or calls `exit`) when the tests are done, which
    /// runs these handlers. Without it the Redis and PostgreSQL of the file would outlive it, with their
    /// temporary directories.
    safe fn atexit(handler: extern "C" fn()) -> std::ffi::c_int;
}

extern "C" fn stop_servers() {
    let servers = SERVERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    drop(servers);
}

struct Urls {
    redis: String,
    database: String,
}

/// Redis and PostgreSQL, started once, with Django's tables made by `django_auth_core::migrate` (as `portal migrate`
/// would; the peers find nothing to do).
fn urls() -> &'static Urls {
    static URLS: OnceLock<Urls> = OnceLock::new();
    URLS.get_or_init(|| {
        let redis = RedisServer::start().expect("starting redis-server");
        let postgres = PostgresServer::start().expect("starting PostgreSQL");
        let urls = Urls {
            redis: redis.url(),
            database: postgres.url(),
        };
        *SERVERS.lock().unwrap_or_else(PoisonError::into_inner) = Some(Servers {
            _redis: redis,
            _postgres: postgres,
        });
        assert_eq!(atexit(stop_servers), 0, "atexit");
        let settings = settings(&vars_with(&urls, Engine::Cache));
        // On a thread of its own: the caller may be inside a test's runtime, which cannot block on another.
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    runtime().block_on(async {
                        let connections = settings.connect().expect("connections");
                        migrate::migrate(
                            connections.database.as_ref().expect("DATABASE_URL"),
                            DefaultAutoField::BigAuto,
                            false,
                        )
                        .await
                        .expect("migrate");
                    })
                })
                .join()
                .expect("migrate");
        });
        urls
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Engine {
    Cache,
    Db,
    SignedCookies,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Cache => "cache",
            Engine::Db => "db",
            Engine::SignedCookies => "signed_cookies",
        }
    }
}

/// The settings both sides share (the api reads them as Django's names; the peer is a Django project on
/// the same variables).
fn vars_with(urls: &Urls, engine: Engine) -> Vec<(&'static str, String)> {
    vec![
        ("SECRET_KEY", NEW_KEY.into()),
        ("SECRET_KEY_FALLBACKS", json!([OLD_KEY]).to_string()),
        ("SESSION_ENGINE", engine.name().into()),
        ("SESSION_COOKIE_NAME", COOKIE.into()),
        ("SESSION_COOKIE_AGE", COOKIE_AGE.to_string()),
        ("REDIS_URL", urls.redis.clone()),
        ("DATABASE_URL", urls.database.clone()),
        // The fastest hasher Django ships: the matrix is about sessions, not password hashing.
        (
            "PASSWORD_HASHERS",
            "django.contrib.auth.hashers.MD5PasswordHasher".into(),
        ),
        ("ALLOWED_HOSTS", "127.0.0.1".into()),
    ]
}

fn vars(engine: Engine) -> Vec<(&'static str, String)> {
    vars_with(urls(), engine)
}

fn settings(vars: &[(&'static str, String)]) -> Settings {
    let map: HashMap<&str, String> = vars.iter().cloned().collect();
    Settings::from_lookup(|name| map.get(name).cloned()).expect("settings")
}

/// The api on `engine`, serving on a thread of its own for the rest of the run; its `/api/v1` URL.
fn api_base(engine: Engine) -> &'static str {
    static APIS: [OnceLock<String>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    APIS[engine as usize].get_or_init(|| {
        let settings = settings(&vars(engine));
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(format!("api-{}", engine.name()))
            .spawn(move || {
                runtime().block_on(async move {
                    let application = Application::build(settings, "127.0.0.1:0")
                        .await
                        .expect("the api starts");
                    sender.send(application.address()).expect("address");
                    application.run_until_stopped().await.expect("the api runs");
                })
            })
            .expect("the api's thread");
        let address = receiver
            .recv()
            .expect("the api started (see its panic above)");
        format!("http://{address}/api/v1")
    })
}

// --- the Djangos ---------------------------------------------------------------------------------------------

/// The peer Djangos: one per engine with the api's settings, and two for the key rotation.
#[derive(Clone, Copy, Debug)]
enum Django {
    /// The api's settings (`SECRET_KEY` new, old in `SECRET_KEY_FALLBACKS`), cache engine.
    Cache,
    Db,
    SignedCookies,
    /// Before the rotation: `SECRET_KEY` old, no fallbacks.
    OldKeyOnly,
    /// After the rotation, once the old key is dropped: `SECRET_KEY` new, no fallbacks.
    NewKeyOnly,
}

impl Django {
    fn engine(self) -> Engine {
        match self {
            Django::Db => Engine::Db,
            Django::SignedCookies => Engine::SignedCookies,
            Django::Cache | Django::OldKeyOnly | Django::NewKeyOnly => Engine::Cache,
        }
    }

    fn of(engine: Engine) -> Django {
        match engine {
            Engine::Cache => Django::Cache,
            Engine::Db => Django::Db,
            Engine::SignedCookies => Django::SignedCookies,
        }
    }

    fn peer(self) -> MutexGuard<'static, Oracle> {
        static PEERS: [OnceLock<Mutex<Oracle>>; 5] = [
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
        ];
        PEERS[self as usize]
            .get_or_init(|| {
                let mut vars = vars(self.engine());
                let mut set = |name: &str, value: &str| {
                    for (n, v) in vars.iter_mut() {
                        if *n == name {
                            *v = value.to_string();
                        }
                    }
                };
                match self {
                    Django::OldKeyOnly => {
                        set("SECRET_KEY", OLD_KEY);
                        set("SECRET_KEY_FALLBACKS", "");
                    }
                    Django::NewKeyOnly => set("SECRET_KEY_FALLBACKS", ""),
                    _ => {}
                }
                let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
                Mutex::new(Oracle::peer(&env))
            })
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// One peer op (Django's exception fails the test, with its traceback).
    fn call(self, op: &str, args: Value) -> Value {
        self.peer().call(op, json!({}), args)
    }

    /// Django's `SessionStore(key).load()`: the data, or `None` when Django finds no session.
    fn load(self, key: &str) -> Option<Value> {
        let loaded = self.call("session_load", json!({ "session_key": key }));
        (loaded["found"] == json!(true)).then(|| loaded["data"].clone())
    }

    /// What real Django answers a request carrying `Cookie: <cookie_header>` (its middleware and
    /// `get_user`; see the peer's `django_request`).
    fn request(self, cookie_header: &str) -> DjangoAnswer {
        let answer = self.call("django_request", json!({ "cookie_header": cookie_header }));
        DjangoAnswer {
            status: answer["status"].as_u64().expect("status") as u16,
            pk: answer["pk"].as_i64(),
            flushed: answer["flushed"] == json!(true),
            cycled: answer["cycled"] == json!(true),
            set_cookie: strings(&answer["set_cookie"]),
        }
    }

    /// The full Redis key of a cache-engine session, as Django's cache makes it.
    fn cache_key(self, key: &str) -> String {
        let full = self.call("cache_key", json!({ "session_key": key }));
        full.as_str().expect("a key").to_string()
    }

    /// The bytes Redis holds for a cache-engine session (`None` when there are none).
    fn raw(self, key: &str) -> Option<Vec<u8>> {
        let raw = self.call("raw_cache_get", json!({ "key": self.cache_key(key) }));
        raw["hex"].as_str().map(unhex)
    }

    /// Puts `bytes` where the cache-engine session `key` is, for a day.
    fn write_raw(self, key: &str, bytes: &[u8]) {
        self.write_raw_at(&self.cache_key(key), bytes);
    }

    /// Puts `bytes` under the full Redis key `full`, for a day.
    fn write_raw_at(self, full: &str, bytes: &[u8]) {
        self.call(
            "raw_cache_set",
            json!({ "key": full, "hex": hex(bytes), "ttl_ms": 86_400_000 }),
        );
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("a string").to_string())
        .collect()
}

#[derive(Debug)]
struct DjangoAnswer {
    status: u16,
    pk: Option<i64>,
    flushed: bool,
    cycled: bool,
    set_cookie: Vec<String>,
}

struct User {
    username: String,
    password: String,
    pk: i64,
}

/// A user of this test alone (tests run at the same time on one database), created by Django.
fn new_user(label: &str) -> User {
    new_user_with(label, json!({}))
}

fn new_user_with(label: &str, extra: Value) -> User {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let username = format!("{label}{}", COUNT.fetch_add(1, Ordering::Relaxed));
    let password = format!("{username} password 1");
    let mut args = json!({"username": username, "password": password});
    if let (Some(args), Some(extra)) = (args.as_object_mut(), extra.as_object()) {
        args.extend(extra.clone());
    }
    let pk = Django::Cache.call("create_user", args);
    User {
        username,
        password,
        pk: pk.as_i64().expect("a pk"),
    }
}

/// `authenticate` + `login` on `django`: the new session's key (for signed_cookies, the cookie itself).
fn login(django: Django, user: &User) -> String {
    login_with(django, user, json!({}))
}

fn login_with(django: Django, user: &User, extra: Value) -> String {
    let mut args = json!({"username": user.username, "password": user.password});
    if let (Some(args), Some(extra)) = (args.as_object_mut(), extra.as_object()) {
        args.extend(extra.clone());
    }
    let session = django.call("login_session", args);
    session["session_key"]
        .as_str()
        .expect("a session key")
        .to_string()
}

fn session_cookie(key: &str) -> String {
    format!("{COOKIE}={key}")
}

// --- the api -------------------------------------------------------------------------------------------------

#[derive(Debug)]
struct ApiAnswer {
    status: u16,
    content_type: String,
    body: Value,
    set_cookie: Vec<String>,
}

impl ApiAnswer {
    /// The user the api answered with (its `id`), if any.
    fn pk(&self) -> Option<i64> {
        if self.status == 200 {
            self.body["id"].as_i64()
        } else {
            None
        }
    }
}

/// `GET /api/v1/me` on the api of `engine` with `Cookie: <cookie_header>`, within 10 s.
async fn me(engine: Engine, cookie_header: &str) -> ApiAnswer {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client");
    let response = client
        .get(format!("{}/me", api_base(engine)))
        .header("Cookie", cookie_header)
        .send()
        .await
        .unwrap_or_else(|e| panic!("no answer within 10 s for {cookie_header:?}: {e}"));
    let header = |name| {
        response
            .headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().expect("ASCII").to_string())
            .collect::<Vec<_>>()
    };
    let set_cookie = header("set-cookie");
    let content_type = header("content-type").join(",");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("a body");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    ApiAnswer {
        status,
        content_type,
        body,
        set_cookie,
    }
}

/// The api's answer for the session `key` must be its user `pk`.
async fn assert_user(engine: Engine, key: &str, pk: i64) -> ApiAnswer {
    let answer = me(engine, &session_cookie(key)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.pk(), Some(pk), "{answer:?}");
    answer
}

/// The api must answer DRF's 401, in JSON.
fn assert_401(answer: &ApiAnswer, case: &str) {
    assert_eq!(answer.status, 401, "{case}: {answer:?}");
    assert_eq!(answer.body, not_authenticated(), "{case}");
    assert!(
        answer.content_type.starts_with("application/json"),
        "{case}: {answer:?}"
    );
}

/// A `Set-Cookie` value with what legitimately differs between two correct answers blanked: the value of a
/// cookie that is set (a random session key, or a timestamped signed cookie) and the date of its
/// `expires`. An emptied cookie (`""`) and the epoch date of a deletion are kept.
fn shape(set_cookie: &str) -> String {
    set_cookie
        .split("; ")
        .enumerate()
        .map(|(i, part)| match part.split_once('=') {
            Some((name, value)) if i == 0 && value != "\"\"" => format!("{name}=<value>"),
            Some(("expires", _)) if part != EPOCH => "expires=<date>".to_string(),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn shapes(set_cookie: &[String]) -> Vec<String> {
    set_cookie.iter().map(|c| shape(c)).collect()
}

/// The value a `Set-Cookie` gives the session cookie.
fn cookie_value(set_cookie: &[String]) -> Option<String> {
    set_cookie.iter().find_map(|c| {
        let (name, value) = c.split(';').next()?.split_once('=')?;
        (name == COOKIE).then(|| value.to_string())
    })
}

/// The refusal, both sides: the api answers `api_key` with DRF's 401; real Django, asked the same with the
/// twin `django_key`, finds no user either, and both send the same `Set-Cookie` (Django's
/// `SessionMiddleware` drops the cookie exactly when the session ended up empty). Returns Django's answer,
/// for the case to check what `get_user` did.
async fn refused_like_django(
    engine: Engine,
    api_key: &str,
    django_key: &str,
    case: &str,
) -> DjangoAnswer {
    let api = me(engine, &session_cookie(api_key)).await;
    let django = Django::of(engine).request(&session_cookie(django_key));
    assert_401(&api, case);
    assert_eq!(
        django.status, 401,
        "{case}: Django found a user: {django:?}"
    );
    assert_eq!(
        shapes(&api.set_cookie),
        shapes(&django.set_cookie),
        "{case}: Set-Cookie, the api's {:?}, Django's {:?}",
        api.set_cookie,
        django.set_cookie
    );
    django
}

/// Django deletes the session cookie: one `Set-Cookie` naming it, emptied, dated at the epoch.
fn assert_cookie_deleted(set_cookie: &[String], case: &str) {
    assert_eq!(set_cookie.len(), 1, "{case}: {set_cookie:?}");
    assert!(
        set_cookie[0].starts_with(&format!("{COOKIE}=\"\"; {EPOCH}; Max-Age=0")),
        "{case}: {set_cookie:?}"
    );
}

/// Where `get_user` flushes (the auth hash matches no key): Django flushed its twin, and the api's session
/// is gone from the store as well, its cookie deleted.
fn assert_flushed_like_django(django: &DjangoAnswer, engine: Engine, api_key: &str, case: &str) {
    assert!(django.flushed, "{case}: Django did not flush: {django:?}");
    assert_cookie_deleted(&django.set_cookie, case);
    let store = Django::of(engine);
    assert_eq!(store.load(api_key), None, "{case}: the api did not flush");
    assert_eq!(
        store.call("session_exists", json!({ "session_key": api_key })),
        json!(false),
        "{case}: the api did not delete the session"
    );
}

/// Where `get_user` only answers anonymous (nothing to verify the session against): Django did not flush,
/// sent no cookie, and the api's session is still there, unchanged.
fn assert_kept_like_django(
    django: &DjangoAnswer,
    engine: Engine,
    api_key: &str,
    before: &Value,
    case: &str,
) {
    assert!(!django.flushed, "{case}: Django flushed: {django:?}");
    assert!(django.set_cookie.is_empty(), "{case}: {django:?}");
    assert_eq!(
        Django::of(engine).load(api_key).as_ref(),
        Some(before),
        "{case}: the api changed or deleted a session Django keeps"
    );
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// A directory of this test alone, removed however the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Scratch {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "auth-matrix-{label}-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&path).expect("a scratch directory");
        Scratch(path)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

// --- the matrix ----------------------------------------------------------------------------------------------

/// A live Django session is its user: the api answers that user's `auth_user` row (never the password), as
/// Django answers the same request with the same user. The api's one addition is its activity record
/// (`_django_rs_session`, for the portal's sessions page; DESIGN.md, `idle`), written at the first request
/// and then at most once a minute: it keeps the session key and every key Django wrote, and a second request
/// rewrites nothing and sets no cookie, as Django.
#[tokio::test]
async fn valid() {
    let ann = new_user_with(
        "ann",
        json!({"email": "ann@example.com", "is_staff": false}),
    );
    let bob = new_user_with(
        "bob",
        json!({"email": "bob@example.org", "is_staff": true, "is_superuser": true}),
    );
    for (user, email, staff) in [
        (&ann, "ann@example.com", false),
        (&bob, "bob@example.org", true),
    ] {
        let key = login(Django::Cache, user);
        let made = Django::Cache.load(&key).expect("Django's session");

        let answer = assert_user(Engine::Cache, &key, user.pk).await;
        let row = Django::Cache.call("get_user_row", json!({ "pk": user.pk }));
        let body = &answer.body;
        assert_eq!(body["username"], json!(user.username));
        assert_eq!(body["email"], json!(email));
        assert_eq!(body["is_staff"], json!(staff));
        assert_eq!(body["is_superuser"], json!(staff));
        assert_eq!(body["first_name"], row["first_name"]);
        assert_eq!(body["last_name"], row["last_name"]);
        let when = |v: &Value| {
            chrono::DateTime::parse_from_rfc3339(v.as_str().expect("a date")).expect("ISO 8601")
        };
        // `login` set last_login; the api shows the row's, to the microsecond.
        assert_eq!(when(&body["last_login"]), when(&row["last_login"]));
        assert_eq!(when(&body["date_joined"]), when(&row["date_joined"]));
        let mut fields: Vec<&String> = body.as_object().expect("an object").keys().collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "date_joined",
                "email",
                "first_name",
                "id",
                "is_staff",
                "is_superuser",
                "last_login",
                "last_name",
                "username"
            ]
        );
        assert!(
            !body
                .to_string()
                .contains(row["password"].as_str().expect("a hash"))
        );

        // The same key (a valid session is never cycled), and Django's keys as Django wrote them.
        if !answer.set_cookie.is_empty() {
            assert_eq!(answer.set_cookie.len(), 1, "{answer:?}");
            assert_eq!(cookie_value(&answer.set_cookie), Some(key.clone()));
        }
        let mut kept = Django::Cache.load(&key).expect("the session");
        kept.as_object_mut()
            .expect("a dict")
            .remove("_django_rs_session");
        assert_eq!(kept, made);

        let stored = Django::Cache.raw(&key);
        let again = assert_user(Engine::Cache, &key, user.pk).await;
        assert!(again.set_cookie.is_empty(), "{again:?}");
        assert_eq!(
            Django::Cache.raw(&key),
            stored,
            "a second request rewrote the session"
        );

        let django = Django::Cache.request(&session_cookie(&key));
        assert_eq!((django.status, django.pk), (200, Some(user.pk)));
        assert!(!django.flushed && !django.cycled && django.set_cookie.is_empty());
    }
}

/// Cache engine: expiry is the cache entry's TTL (Django's `cache.set(key, data, get_expiry_age())`; its
/// `load` never looks at the data's `_session_expiry`). A session Django gave 2 s (`set_expiry(2)`) is
/// the user until Redis drops it, then anonymous, like for Django.
#[tokio::test]
async fn expired_cache_session() {
    let user = new_user("expiring");
    let (a, b) = (login(Django::Cache, &user), login(Django::Cache, &user));
    for key in [&a, &b] {
        let set = Django::Cache.call(
            "session_set_expiry",
            json!({"session_key": key, "value": 2}),
        );
        assert_eq!(set["expiry_age"], json!(2));
    }
    let ttl = Django::Cache.call(
        "raw_cache_get",
        json!({ "key": Django::Cache.cache_key(&a) }),
    )["pttl"]
        .as_i64()
        .expect("a TTL");
    assert!((0..=2000).contains(&ttl), "Django's TTL: {ttl} ms");
    assert_user(Engine::Cache, &a, user.pk).await;

    let deadline = Instant::now() + Duration::from_secs(10);
    while Django::Cache.raw(&a).is_some() || Django::Cache.raw(&b).is_some() {
        assert!(Instant::now() < deadline, "Redis kept an expired session");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let django = refused_like_django(Engine::Cache, &a, &b, "expired").await;
    assert!(!django.flushed);
    assert_cookie_deleted(&django.set_cookie, "expired");
}

/// db engine: expiry is the row's `expire_date` (Django's `load` filters `expire_date__gt=now()`). The
/// session's time passes (its row moved into the past, its data untouched): the row is still there, but it
/// is no user, for the api as for Django.
#[tokio::test]
async fn expired_db_session() {
    let user = new_user("rowexpired");
    let (a, b) = (login(Django::Db, &user), login(Django::Db, &user));
    assert_user(Engine::Db, &a, user.pk).await;
    for key in [&a, &b] {
        let changed = Django::Db.call(
            "session_expire_row",
            json!({"session_key": key, "seconds_ago": 60}),
        );
        assert_eq!(changed, json!(1));
    }
    let django = refused_like_django(Engine::Db, &a, &b, "expired row").await;
    assert!(!django.flushed);
    assert_cookie_deleted(&django.set_cookie, "expired row");
    assert_eq!(Django::Db.load(&a), None);
}

/// signed_cookies engine: the session is the cookie, and its age is its signature's timestamp (Django's
/// `loads(max_age=SESSION_COOKIE_AGE)`). Django signs one session a minute inside the age and one a minute
/// past it: the first is the user, the second is not.
///
/// Django answers the expired cookie with a new, empty signed session (`signed_cookies.SessionStore.load`
/// calls `create()`, which marks it modified while the key is kept, so `SessionMiddleware` saves `{}` and
/// sets it); so must the api.
#[tokio::test]
async fn expired_signed_cookie() {
    let user = new_user("oldcookie");
    let now = unix_now();
    let young = login_with(
        Django::SignedCookies,
        &user,
        json!({ "signed_at": now - COOKIE_AGE + 60 }),
    );
    let old = login_with(
        Django::SignedCookies,
        &user,
        json!({ "signed_at": now - COOKIE_AGE - 60 }),
    );
    assert_user(Engine::SignedCookies, &young, user.pk).await;
    let django = Django::SignedCookies.request(&session_cookie(&young));
    assert_eq!((django.status, django.pk), (200, Some(user.pk)));

    // Stateless: the very same cookie goes to both.
    let django = refused_like_django(Engine::SignedCookies, &old, &old, "expired cookie").await;
    assert!(!django.flushed);
}

/// `django.contrib.auth.logout` ends the session: the api sees no user (and, as Django, drops the cookie).
#[tokio::test]
async fn logged_out() {
    let user = new_user("leaving");
    let (a, b) = (login(Django::Cache, &user), login(Django::Cache, &user));
    assert_user(Engine::Cache, &a, user.pk).await;
    for key in [&a, &b] {
        let out = Django::Cache.call("logout", json!({ "session_key": key }));
        assert_eq!(out["session_key_after"], Value::Null);
    }
    let django = refused_like_django(Engine::Cache, &a, &b, "logged out").await;
    assert!(!django.flushed);
    assert_cookie_deleted(&django.set_cookie, "logged out");
    assert_eq!(Django::Cache.load(&a), None);
}

/// A password changed through Django's ORM changes the session auth hash: the old session matches no key,
/// so `get_user` flushes it. The api flushes it as well (gone from Redis, cookie deleted); a login with the
/// new password is the user again.
#[tokio::test]
async fn password_changed() {
    let mut user = new_user("rotating");
    let (a, b) = (login(Django::Cache, &user), login(Django::Cache, &user));
    assert_user(Engine::Cache, &a, user.pk).await;
    user.password = format!("{} changed", user.password);
    Django::Cache.call(
        "set_password",
        json!({"username": user.username, "password": user.password}),
    );
    let django = refused_like_django(Engine::Cache, &a, &b, "password changed").await;
    assert_flushed_like_django(&django, Engine::Cache, &a, "password changed");
    assert_eq!(Django::Cache.raw(&a), None, "the session's bytes are gone");

    let again = login(Django::Cache, &user);
    assert_user(Engine::Cache, &again, user.pk).await;
}

/// A deleted user (`user.delete()`): `ModelBackend.get_user` finds nobody, so there is nothing to check the
/// hash against: anonymous, and the session is left alone, as Django leaves it: no write, no cookie, its
/// expiry where it was. (The api reached the user before, through a third session; the two compared have
/// never been to the api, so the api's first-request activity record cannot hide a write.)
///
/// Django writes nothing to the session of a deleted user; neither may the api (no activity record, no
/// `Set-Cookie` with a renewed expiry).
#[tokio::test]
async fn user_deleted() {
    let user = new_user("deleted");
    let (a, b, c) = (
        login(Django::Cache, &user),
        login(Django::Cache, &user),
        login(Django::Cache, &user),
    );
    assert_user(Engine::Cache, &c, user.pk).await;
    let before = Django::Cache.load(&a).expect("the session");
    Django::Cache.call("delete_user", json!({ "username": user.username }));
    let django = refused_like_django(Engine::Cache, &a, &b, "user deleted").await;
    assert_kept_like_django(&django, Engine::Cache, &a, &before, "user deleted");
}

/// An inactive user: `ModelBackend.get_user` refuses them (`user_can_authenticate`), anonymous without a
/// flush or any write, so the same session is the user again once reactivated (within its original
/// expiry), for the api as for Django. (Reached through a third session first, as in `user_deleted`.)
///
/// As `user_deleted`; here a renewed expiry would matter, since the session becomes the user again when
/// they are reactivated.
#[tokio::test]
async fn user_inactive() {
    let user = new_user("inactive");
    let (a, b, c) = (
        login(Django::Cache, &user),
        login(Django::Cache, &user),
        login(Django::Cache, &user),
    );
    assert_user(Engine::Cache, &c, user.pk).await;
    let before = Django::Cache.load(&a).expect("the session");
    let active = |is_active: bool| {
        Django::Cache.call(
            "set_user_active",
            json!({"username": user.username, "is_active": is_active}),
        )
    };
    active(false);
    let django = refused_like_django(Engine::Cache, &a, &b, "user inactive").await;
    assert_kept_like_django(&django, Engine::Cache, &a, &before, "user inactive");

    active(true);
    assert_user(Engine::Cache, &a, user.pk).await;
    let django = Django::Cache.request(&session_cookie(&b));
    assert_eq!((django.status, django.pk), (200, Some(user.pk)));
}

/// A session logged in through a backend the settings do not list (`_auth_user_backend` is not in
/// `AUTHENTICATION_BACKENDS`): Django does not even look the user up; anonymous, session kept.
///
/// As `user_deleted`: the session is left alone.
#[tokio::test]
async fn backend_not_in_authentication_backends() {
    let user = new_user("otherbackend");
    let (a, b) = (login(Django::Cache, &user), login(Django::Cache, &user));
    for key in [&a, &b] {
        let loaded = Django::Cache.load(key).expect("the session");
        assert_eq!(loaded["_auth_user_backend"], json!(MODEL_BACKEND));
        Django::Cache.call(
            "session_update",
            json!({
                "session_key": key,
                "set": {"_auth_user_backend": "django.contrib.auth.backends.RemoteUserBackend"},
            }),
        );
    }
    let before = Django::Cache.load(&a).expect("the session");
    let django = refused_like_django(Engine::Cache, &a, &b, "backend not listed").await;
    assert_kept_like_django(&django, Engine::Cache, &a, &before, "backend not listed");
}

/// No `_auth_user_hash` in the session: `get_user` cannot verify it and flushes it; so does the api.
#[tokio::test]
async fn hash_missing() {
    let user = new_user("nohash");
    let (a, b) = (login(Django::Cache, &user), login(Django::Cache, &user));
    for key in [&a, &b] {
        let updated = Django::Cache.call(
            "session_update",
            json!({"session_key": key, "delete": ["_auth_user_hash"]}),
        );
        assert_eq!(updated["data"]["_auth_user_id"], json!(user.pk.to_string()));
        assert!(updated["data"].get("_auth_user_hash").is_none());
    }
    let django = refused_like_django(Engine::Cache, &a, &b, "hash missing").await;
    assert_flushed_like_django(&django, Engine::Cache, &a, "hash missing");
}

/// An `_auth_user_hash` that matches neither `SECRET_KEY` nor a fallback: one character off, empty, and
/// values of the wrong type (Django compares `force_bytes` of whatever is there, and flushes; a null hash is
/// "no hash"). The api flushes each, as Django.
#[tokio::test]
async fn hash_wrong() {
    let user = new_user("badhash");
    let probe = login(Django::Cache, &user);
    let good = Django::Cache.load(&probe).expect("the session")["_auth_user_hash"]
        .as_str()
        .expect("a hash")
        .to_string();
    let mut off_by_one = good.clone();
    let last = if good.ends_with('0') { "1" } else { "0" };
    off_by_one.replace_range(good.len() - 1.., last);
    for wrong in [json!(off_by_one), json!(""), json!(12345), Value::Null] {
        let case = format!("hash {wrong}");
        let (a, b) = (login(Django::Cache, &user), login(Django::Cache, &user));
        for key in [&a, &b] {
            Django::Cache.call(
                "session_update",
                json!({"session_key": key, "set": {"_auth_user_hash": wrong}}),
            );
        }
        let django = refused_like_django(Engine::Cache, &a, &b, &case).await;
        assert_flushed_like_django(&django, Engine::Cache, &a, &case);
    }
}

/// Key rotation: a session made by a Django whose `SECRET_KEY` was the old key, sent to the api (new key,
/// old key in `SECRET_KEY_FALLBACKS`), is its user; as Django does, the api cycles the session key (a new
/// cookie; the old key no longer loads) and re-makes the auth hash with the new key, so that a Django
/// that has dropped the fallback accepts the session too. The api writes what Django writes for the twin.
#[tokio::test]
async fn fallback_key() {
    let user = new_user("rotated");
    let (a, b, c) = (
        login(Django::OldKeyOnly, &user),
        login(Django::OldKeyOnly, &user),
        login(Django::OldKeyOnly, &user),
    );
    let new_hash = Django::Cache.call("session_auth_hash", json!({ "pk": user.pk }));
    let old_hash = Django::OldKeyOnly.call("session_auth_hash", json!({ "pk": user.pk }));
    assert_ne!(new_hash, old_hash);
    assert_eq!(
        Django::Cache.load(&a).expect("the session")["_auth_user_hash"],
        old_hash
    );
    // Without the fallback, Django flushes such a session: the fallback is what this case is about.
    let strict = Django::NewKeyOnly.request(&session_cookie(&c));
    assert_eq!(strict.status, 401);
    assert!(strict.flushed, "{strict:?}");

    let api = assert_user(Engine::Cache, &a, user.pk).await;
    let django = Django::Cache.request(&session_cookie(&b));
    assert_eq!((django.status, django.pk), (200, Some(user.pk)));
    assert!(django.cycled && !django.flushed, "{django:?}");
    assert_eq!(
        shapes(&api.set_cookie),
        shapes(&django.set_cookie),
        "the api's {:?}, Django's {:?}",
        api.set_cookie,
        django.set_cookie
    );
    let new_a = cookie_value(&api.set_cookie).expect("the api set a new session cookie");
    let new_b = cookie_value(&django.set_cookie).expect("Django set a new session cookie");
    assert_ne!(new_a, a, "the session key was not cycled");
    assert_eq!(new_a.len(), 32);

    assert_eq!(Django::Cache.load(&a), None, "the old key still loads");
    assert_eq!(
        Django::Cache.call("session_exists", json!({ "session_key": a })),
        json!(false)
    );
    let mut data = Django::Cache
        .load(&new_a)
        .expect("the new key loads in Django");
    // The api's activity record (see `valid`) aside, the session is what Django made of its twin.
    let record = data
        .as_object_mut()
        .expect("a dict")
        .remove("_django_rs_session");
    assert!(record.is_some(), "{data}");
    assert_eq!(
        data,
        json!({
            "_auth_user_id": user.pk.to_string(),
            "_auth_user_backend": MODEL_BACKEND,
            "_auth_user_hash": new_hash,
        })
    );
    assert_eq!(Some(data), Django::Cache.load(&new_b));

    let seen = Django::NewKeyOnly.call("get_user", json!({ "session_key": new_a }));
    assert_eq!(seen["pk"], json!(user.pk));
    assert_eq!(
        (&seen["flushed"], &seen["cycled"]),
        (&json!(false), &json!(false))
    );
    // Done once: the api now takes the session as it is.
    let again = assert_user(Engine::Cache, &new_a, user.pk).await;
    assert!(again.set_cookie.is_empty(), "{again:?}");
}

/// Bytes in Redis that are no pickle at all, where Django's login session was: Django's cache `load` fails
/// and the session is a new, empty one (cookie deleted, nothing flushed); so for the api. Then valid pickles
/// that are not a session dict, on which Django itself crashes (a `TypeError` in `get_user`, a 500): the
/// api answers 401.
#[tokio::test]
async fn garbage_blob() {
    let user = new_user("garbage");
    let mut noise = Vec::with_capacity(64);
    let mut state: u32 = 0x2545_f491;
    for _ in 0..64 {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        noise.push(state.to_le_bytes()[0]);
    }
    let blobs: [(&str, &[u8]); 5] = [
        ("text", b"this is not a session"),
        ("empty", b""),
        ("noise", &noise),
        (
            "json",
            br#"{"_auth_user_id": "1", "_auth_user_backend": "x"}"#,
        ),
        // A protocol 5 header and a frame length far past the end.
        (
            "huge frame",
            b"\x80\x05\x95\xff\xff\xff\xff\xff\xff\xff\x7f",
        ),
    ];
    for (case, blob) in blobs {
        let (a, b) = (login(Django::Cache, &user), login(Django::Cache, &user));
        Django::Cache.write_raw(&a, blob);
        Django::Cache.write_raw(&b, blob);
        let django = refused_like_django(Engine::Cache, &a, &b, case).await;
        assert!(!django.flushed, "{case}");
        assert_cookie_deleted(&django.set_cookie, case);
    }

    let not_a_dict: [(&str, &[u8]); 4] = [
        // RedisCache stores an int as its digits (and reads digits back as an int).
        ("an int", b"12345"),
        // pickle.dumps([1, 2], protocol=5)
        (
            "a list",
            b"\x80\x05\x95\t\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01K\x02e.",
        ),
        // pickle.dumps("x", protocol=5)
        (
            "a str",
            b"\x80\x05\x95\x05\x00\x00\x00\x00\x00\x00\x00\x8c\x01x\x94.",
        ),
        // pickle.dumps(None, protocol=5): a cache miss for Django
        ("None", b"\x80\x05N."),
    ];
    for (case, blob) in not_a_dict {
        let a = login(Django::Cache, &user);
        Django::Cache.write_raw(&a, blob);
        let api = me(Engine::Cache, &session_cookie(&a)).await;
        assert_401(&api, case);
        assert_cookie_deleted(&api.set_cookie, case);
    }
}

/// Django's own pickle of a login session, cut short at every length: no cut is a session (the api answers
/// 401 to each, never a 500), and for a few of them real Django, given the same cut, agrees.
#[tokio::test]
async fn truncated_pickle() {
    let user = new_user("truncated");
    let a = login(Django::Cache, &user);
    let whole = Django::Cache.raw(&a).expect("Django's pickle");
    assert_eq!(
        &whole[..2],
        b"\x80\x05",
        "RedisCache pickles with protocol 5"
    );
    assert_eq!(whole.last(), Some(&b'.'), "STOP");
    assert_user(Engine::Cache, &a, user.pk).await;

    let full = Django::Cache.cache_key(&a);
    for cut in 1..whole.len() {
        Django::Cache.write_raw_at(&full, &whole[..cut]);
        let api = me(Engine::Cache, &session_cookie(&a)).await;
        assert_401(&api, &format!("cut at {cut} of {}", whole.len()));
    }
    for cut in [1, 2, whole.len() / 2, whole.len() - 1] {
        let case = format!("Django, cut at {cut}");
        let (a, b) = (login(Django::Cache, &user), login(Django::Cache, &user));
        Django::Cache.write_raw(&a, &whole[..cut]);
        Django::Cache.write_raw(&b, &whole[..cut]);
        let django = refused_like_django(Engine::Cache, &a, &b, &case).await;
        assert!(!django.flushed, "{case}");
    }
}

/// A pickle that runs `touch <marker>` when Python unpickles it (`__reduce__` to `os.system`), put where a
/// session was. Real Django, reading its twin, runs it (its marker appears; Django then fails on the result,
/// a 500). The api runs nothing (its marker never appears) and answers 401. The same payload as one more
/// value in Django's own login dict is not run either.
#[tokio::test]
async fn hostile_pickle() {
    let user = new_user("hostile");
    let scratch = Scratch::new("hostile");
    let api_marker = scratch.path("api-ran-it");
    let django_marker = scratch.path("django-ran-it");
    let (a, b) = (login(Django::Cache, &user), login(Django::Cache, &user));
    let payload = |marker: &Path| {
        let hex = Django::Cache.call("hostile_pickle", json!({ "marker": path_str(marker) }));
        unhex(hex.as_str().expect("hex"))
    };
    Django::Cache.write_raw(&a, &payload(&api_marker));
    Django::Cache.write_raw(&b, &payload(&django_marker));

    let api = me(Engine::Cache, &session_cookie(&a)).await;
    assert!(!api_marker.exists(), "the api ran the pickle's code");
    assert_401(&api, "hostile pickle");
    assert_cookie_deleted(&api.set_cookie, "hostile pickle");

    let django = Django::Cache.peer().try_call(
        "django_request",
        json!({}),
        json!({ "cookie_header": session_cookie(&b) }),
    );
    assert!(
        django_marker.exists(),
        "the payload must be one Python runs: {django:?}"
    );
    let error = django.expect_err("Django cannot use os.system's result as a session");
    assert!(error.starts_with("TypeError"), "{error}");
    assert!(!api_marker.exists());

    // The payload inside Django's real login dict, as one more value: a session that would run code and
    // then log its user in.
    let c = login(Django::Cache, &user);
    let embedded_marker = scratch.path("api-ran-embedded");
    let hex = Django::Cache.call(
        "hostile_pickle",
        json!({ "marker": path_str(&embedded_marker), "session_key": c }),
    );
    Django::Cache.write_raw(&c, &unhex(hex.as_str().expect("hex")));
    let api = me(Engine::Cache, &session_cookie(&c)).await;
    assert!(!embedded_marker.exists(), "the api ran the pickle's code");
    // The pickle codec keeps what it does not model as inert data (DESIGN.md, "Pickle"), which is also how
    // a session holding an app's own objects stays readable; so the session's auth keys decide, and they
    // are this user's. (Django would run the payload, then answer the same user.)
    assert_eq!(api.status, 200, "{api:?}");
    assert_eq!(api.pk(), Some(user.pk));
    assert!(!embedded_marker.exists());
}

/// A valid session sent under another cookie name (Django's default `sessionid`, while both sides use
/// `SESSION_COOKIE_NAME=shared_session_id`) is no session at all: 401, no cookie touched, the session kept;
/// under the right name it is the user.
#[tokio::test]
async fn wrong_cookie_name() {
    let user = new_user("misnamed");
    let a = login(Django::Cache, &user);
    let before = Django::Cache.load(&a).expect("the session");
    let header = format!("sessionid={a}");
    let api = me(Engine::Cache, &header).await;
    assert_401(&api, "wrong cookie name");
    assert!(api.set_cookie.is_empty(), "{api:?}");
    let django = Django::Cache.request(&header);
    assert_eq!(django.status, 401);
    assert!(django.set_cookie.is_empty(), "{django:?}");
    assert_eq!(Django::Cache.load(&a), Some(before));

    assert_user(Engine::Cache, &a, user.pk).await;
}
