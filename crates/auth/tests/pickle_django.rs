//! The pickle codec against Python itself, through the Django oracle: what Django's cache backends store
//! (`RedisSerializer`, protocol 5; django-redis's `PickleSerializer`, protocol 4) reads in Rust and writes
//! back byte for byte; what Rust writes, Django loads as the very objects it stored, including the ones
//! Rust does not model; and a malicious pickle is only data.

mod support;

use django_auth_core::Value;
use django_auth_core::pickle::{Limits, dumps, loads, protocol};
use django_auth_core::value::Constructor;
use serde_json::{Map, json};
use support::*;

fn load(bytes: &[u8]) -> Value {
    loads(bytes, &Limits::default())
        .unwrap_or_else(|e| panic!("Rust cannot read {}: {e:?}", hex(bytes)))
}

struct Cases {
    /// name -> encoding ("redis_cache", "django_redis", "p4", "p5") -> bytes
    cases: Vec<(String, Map<String, serde_json::Value>)>,
    shared: Vec<String>,
}

fn cases() -> Cases {
    let answer = oracle().call("pickle.cases", json!({}), json!({}));
    assert_eq!(
        answer["protocols"],
        json!({"highest": 5, "default": 4}),
        "the pinned Python's pickle protocols"
    );
    let cases = answer["cases"]
        .as_object()
        .expect("cases")
        .iter()
        .map(|(name, encodings)| {
            (
                name.clone(),
                encodings.as_object().expect("encodings").clone(),
            )
        })
        .collect();
    let shared = answer["shared"]
        .as_array()
        .expect("shared")
        .iter()
        .map(|s| s.as_str().expect("name").to_string())
        .collect();
    Cases { cases, shared }
}

fn bytes_of(encodings: &Map<String, serde_json::Value>, which: &str) -> Vec<u8> {
    unhex(encodings[which].as_str().expect("hex"))
}

/// (a) Python → Rust → Python bytes: every case, as each serializer writes it, reads in Rust and Rust's
/// `dumps` at the same protocol gives back the same bytes (frames, memo, batches, big payloads and all).
#[test]
fn python_pickles_read_in_rust_and_write_back_byte_for_byte() {
    let Cases { cases, shared } = cases();
    assert!(cases.len() >= 40, "the oracle lost cases ({})", cases.len());
    let mut identical = 0;
    for (name, encodings) in &cases {
        for (which, proto) in [
            ("redis_cache", 5),
            ("django_redis", 4),
            ("p5", 5),
            ("p4", 4),
        ] {
            let python = bytes_of(encodings, which);
            assert_eq!(protocol(&python), Some(proto), "{name} {which}");
            let value = load(&python);
            let rust = dumps(&value, proto).expect("dumps");
            if shared.contains(name) {
                // Python shares an object by identity (`BINGET`); the tree writes it twice. Still equal.
                assert_ne!(rust, python, "{name} {which}: expected a shared reference");
                assert_eq!(load(&rust), value, "{name} {which}");
            } else {
                assert!(
                    rust == python,
                    "{name} {which}: Rust wrote\n{}\nPython wrote\n{}",
                    hex(&rust),
                    hex(&python)
                );
                identical += 1;
            }
        }
    }
    eprintln!(
        "{identical} pickles byte-identical ({} cases x 4 encodings)",
        cases.len()
    );
}

/// The serializers' bytes are plain `pickle.dumps` at protocol 5 (Django) and 4 (django-redis).
#[test]
fn django_serializers_are_pickle_protocol_5_and_4() {
    let Cases { cases, .. } = cases();
    for (name, encodings) in &cases {
        assert_eq!(
            bytes_of(encodings, "redis_cache"),
            bytes_of(encodings, "p5"),
            "{name}"
        );
        assert_eq!(
            bytes_of(encodings, "django_redis"),
            bytes_of(encodings, "p4"),
            "{name}"
        );
    }
}

/// (b) Rust → Python: a session Rust rewrites (every case's value as Rust read it, plus keys Rust adds)
/// loads in Django as equal objects of the same types: read-modify-write keeps what Rust does not model.
#[test]
fn sessions_rust_rewrites_give_django_back_every_object() {
    let Cases { cases, .. } = cases();
    for (serializer, proto) in [("redis_cache", 5), ("django_redis", 4)] {
        let mut session = vec![(Value::from("_auth_user_id"), Value::from("1"))];
        let mut expected = Map::new();
        expected.insert("_auth_user_id".into(), json!({"json": "1"}));
        for (name, encodings) in &cases {
            session.push((
                Value::from(name.as_str()),
                load(&bytes_of(encodings, serializer)),
            ));
            expected.insert(name.clone(), json!({"case": name}));
        }
        session.push((Value::from("_rust_added"), Value::Int(42)));
        expected.insert("_rust_added".into(), json!({"json": 42}));
        let data = dumps(&Value::Dict(session), proto).expect("dumps");
        let answer = oracle().call(
            "pickle.check",
            json!({}),
            json!({"data": hex(&data), "expected": expected, "serializer": serializer}),
        );
        assert_eq!(answer["mismatches"], json!([]), "{serializer}");
        let keys: Vec<&str> = answer["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k.as_str().expect("str key"))
            .collect();
        assert_eq!(keys.first(), Some(&"_auth_user_id"));
        assert_eq!(keys.last(), Some(&"_rust_added"));
        assert_eq!(keys.len(), cases.len() + 2, "{serializer}");
    }
}

/// (c) A real login through Django's cache session engine: the bytes stored for the session are exactly
/// Rust's `dumps` of the same dict, at protocol 5 (Django's `RedisCache`, and the locmem cache) and 4
/// (django-redis); and Rust reads them as that dict.
#[test]
fn a_real_login_session_is_byte_identical_at_protocols_5_and_4() {
    let answer = oracle().call(
        "pickle.login_session",
        json!({}),
        json!({"password": "pbkdf2_sha256$1000000$abcdefghijklmnopqrstuv$ESUkIq3XvMIs+R/ZmdQSkE1EDQIVk18SzognBfgBuPQ="}),
    );
    let session = from_json(&answer["session"]);
    let Value::Dict(items) = &session else {
        panic!("not a dict: {session:?}")
    };
    let keys: Vec<_> = items
        .iter()
        .map(|(k, _)| k.as_str().expect("str"))
        .collect();
    assert_eq!(
        keys,
        ["_auth_user_id", "_auth_user_backend", "_auth_user_hash"]
    );
    let stored = unhex(answer["locmem"].as_str().expect("hex"));
    assert_eq!(stored, unhex(answer["redis_cache"].as_str().expect("hex")));
    assert_eq!(dumps(&session, 5).expect("dumps"), stored);
    assert_eq!(
        dumps(&session, 4).expect("dumps"),
        unhex(answer["django_redis"].as_str().expect("hex"))
    );
    assert_eq!(load(&stored), session);
}

/// (d) A pickle whose loading runs `os.system("touch <path>")` in Python is, in Rust, a description of
/// that call and nothing more: the file is never created.
#[test]
fn a_malicious_pickle_is_inert_data() {
    let path = std::env::temp_dir().join(format!("pickle-pwned-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let answer = oracle().call(
        "pickle.malicious",
        json!({}),
        json!({"path": path.to_str().expect("utf-8 path")}),
    );
    let command = Value::from(format!("touch {}", path.display()));
    for which in ["os_system_p5", "os_system_p0", "in_session"] {
        let bytes = unhex(answer[which].as_str().expect("hex"));
        let value = load(&bytes);
        let call = match &value {
            Value::Dict(items) => items[1].1.clone(),
            other => other.clone(),
        };
        let Value::Object(object) = &call else {
            panic!("{which}: {call:?}")
        };
        let Constructor::Reduce { callable, args } = &object.constructor else {
            panic!("{which}: {object:?}")
        };
        assert_eq!(
            callable,
            &Value::Global {
                module: "posix".into(),
                name: "system".into()
            },
            "{which}"
        );
        assert_eq!(args, &Value::Tuple(vec![command.clone()]), "{which}");
        // Writing it back is still only data.
        let again = dumps(&value, 5).expect("dumps");
        assert_eq!(load(&again), value);
    }
    assert!(!path.exists(), "the command ran");
}
