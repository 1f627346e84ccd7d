//! A real Django as the oracle of the golden-vector tests: the one oracle process of a test binary, and
//! conversions between the oracle's JSON and our values. The processes themselves are `testkit::django`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use django_auth_core::store::{SaveOutcome, Session, SessionStore};

use serde_json::{Value, json};

#[allow(unused_imports)]
pub use testkit::django::{Oracle, python, workspace_root};

/// The one oracle process of this test binary (tests run in parallel threads; requests are serialised).
pub fn oracle() -> MutexGuard<'static, Oracle> {
    static ORACLE: OnceLock<Mutex<Oracle>> = OnceLock::new();
    ORACLE
        .get_or_init(|| Mutex::new(Oracle::start()))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A Python value as the oracle's JSON carries it (insertion order kept).
pub fn to_json(value: &django_auth_core::Value) -> Value {
    use django_auth_core::Value as V;
    match value {
        V::None => Value::Null,
        V::Bool(b) => json!(b),
        V::Int(i) => json!(i),
        V::Float(f) => json!(f),
        V::Str(s) => json!(s),
        V::List(items) | V::Tuple(items) => Value::Array(items.iter().map(to_json).collect()),
        V::Dict(items) => Value::Object(
            items
                .iter()
                .map(|(k, v)| (k.as_str().expect("str keys").to_string(), to_json(v)))
                .collect(),
        ),
        other => panic!("not JSON: {other:?}"),
    }
}

/// The inverse of `to_json`.
pub fn from_json(value: &Value) -> django_auth_core::Value {
    use django_auth_core::Value as V;
    match value {
        Value::Null => V::None,
        Value::Bool(b) => V::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => V::Int(i),
            None => V::Float(n.as_f64().expect("number")),
        },
        Value::String(s) => V::Str(s.clone()),
        Value::Array(items) => V::List(items.iter().map(from_json).collect()),
        Value::Object(map) => V::Dict(
            map.iter()
                .map(|(k, v)| (V::Str(k.clone()), from_json(v)))
                .collect(),
        ),
    }
}

/// A session dict from the oracle's JSON.
pub fn session_from_json(value: &Value) -> django_auth_core::session::SessionData {
    django_auth_core::session::SessionData::from_value(from_json(value)).expect("a dict")
}

/// Logs user `pk` in on `session` as `django.contrib.auth.login()` does (with a placeholder auth hash).
pub async fn log_in(store: &SessionStore, session: &mut Session, pk: &str) {
    store
        .login(
            session,
            pk,
            django_auth_core::auth::MODEL_BACKEND,
            &"0".repeat(64),
        )
        .await
        .unwrap();
}

/// The two races Django loses, on any engine: 100 writers adding their own key to one logged-in session at
/// once keep all 100 keys; then 100 more writers race a logout, and once it is done the session stays
/// deleted (no writer resurrects it). Returns the session key, now gone.
pub async fn writers_and_a_logout(store: Arc<SessionStore>, label: &str) -> String {
    let mut session = store.load(None).await.unwrap();
    log_in(&store, &mut session, "1").await;
    assert_eq!(store.save(&mut session).await.unwrap(), SaveOutcome::Saved);
    let key = session.session_key().unwrap().to_string();

    let mut writers = Vec::new();
    for i in 0..100 {
        let (store, key) = (store.clone(), key.clone());
        writers.push(tokio::spawn(async move {
            let mut session = store.load(Some(&key)).await.unwrap();
            session.insert(format!("writer{i}"), i as i64);
            store.save(&mut session).await.unwrap()
        }));
    }
    for writer in writers {
        assert_eq!(writer.await.unwrap(), SaveOutcome::Saved, "{label}");
    }
    let merged = store.load(Some(&key)).await.unwrap();
    for i in 0..100 {
        assert_eq!(
            merged.get(&format!("writer{i}")),
            Some(&django_auth_core::Value::Int(i)),
            "{label}: writer{i}'s key was lost"
        );
    }
    assert_eq!(merged.user_pk().as_deref(), Some("1"), "{label}");

    let mut writers = Vec::new();
    let mut logout = None;
    for i in 0..100 {
        if i == 50 {
            let (store, key) = (store.clone(), key.clone());
            logout = Some(tokio::spawn(async move {
                let mut session = store.load(Some(&key)).await.unwrap();
                store.logout(&mut session).await.unwrap();
            }));
        }
        let (store, key) = (store.clone(), key.clone());
        writers.push(tokio::spawn(async move {
            let mut session = store.load(Some(&key)).await.unwrap();
            // Loaded after the logout: a new, empty session, which must not take the old key.
            session.session_key()?;
            session.insert(format!("late{i}"), i as i64);
            Some(store.save(&mut session).await.unwrap())
        }));
    }
    let mut outcomes = HashMap::new();
    for writer in writers {
        *outcomes
            .entry(format!("{:?}", writer.await.unwrap()))
            .or_insert(0) += 1;
    }
    if let Some(logout) = logout {
        logout.await.unwrap();
    }
    eprintln!("{label}: writers racing a logout: {outcomes:?}");
    assert!(!store.exists(&key).await.unwrap(), "{label}: resurrected");
    assert_eq!(
        store.load(Some(&key)).await.unwrap().session_key(),
        None,
        "{label}: resurrected"
    );
    key
}

/// Deterministic forms of the races, on any engine: requests that loaded a session before a logout can
/// neither save it back nor cycle it to a new key afterwards.
pub async fn stale_requests_after_a_logout(store: &SessionStore, label: &str) {
    let mut session = store.load(None).await.unwrap();
    log_in(store, &mut session, "3").await;
    assert_eq!(store.save(&mut session).await.unwrap(), SaveOutcome::Saved);
    let key = session.session_key().unwrap().to_string();

    let mut stale = Vec::new();
    for _ in 0..10 {
        stale.push(store.load(Some(&key)).await.unwrap());
    }
    let mut cycling = store.load(Some(&key)).await.unwrap();
    let mut logout = store.load(Some(&key)).await.unwrap();
    store.logout(&mut logout).await.unwrap();

    for (i, mut session) in stale.into_iter().enumerate() {
        session.insert("late", i as i64);
        assert_eq!(
            store.save(&mut session).await.unwrap(),
            SaveOutcome::Interrupted,
            "{label}: a stale save went through"
        );
    }
    assert_eq!(
        store.cycle_key(&mut cycling).await.unwrap(),
        SaveOutcome::Interrupted,
        "{label}: cycle_key copied a deleted session"
    );
    assert_eq!(cycling.session_key(), None, "{label}");
    assert!(cycling.data().is_empty(), "{label}");
    assert!(!store.exists(&key).await.unwrap(), "{label}: resurrected");
    assert!(
        store.user_sessions("3").await.unwrap().is_empty(),
        "{label}: a session of user 3 survived"
    );
}
