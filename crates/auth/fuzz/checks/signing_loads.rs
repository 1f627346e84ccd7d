// The property the `signing_loads` fuzz target checks, shared with the corpus replay test
// (`crates/auth/tests/fuzz_corpus_loads.rs`) so `cargo test` runs the same code on stable.
//
// Any input: no panic, bounded work. Whatever decodes re-encodes and decodes to the same data.

use django_auth_core::session::{self, SessionData};
use django_auth_core::signing::{self, Keys};
use django_auth_core::{Value, json};

pub const NOW: f64 = 1.7e9;

pub fn keys() -> Keys {
    Keys::new("fuzz-secret", vec!["old".into()])
}

fn round_trips(data: &SessionData) {
    let keys = keys();
    let again = session::encode_db_at(data, &keys, NOW).expect("decoded sessions re-encode");
    let (back, _) = session::decode_db(&again, &keys).expect("and decode");
    assert!(
        same(&back.to_value(), &data.to_value()),
        "db round trip changed the data"
    );
}

/// Equality where NaN equals NaN (a NaN in JSON is valid Python, and not equal to itself).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
        }
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
        }
        _ => a == b,
    }
}

pub fn check(data: &[u8]) {
    let keys = keys();
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok((value, _)) =
            signing::loads_at(text, &keys, session::SESSION_STORE_SALT, Some(100.0), NOW)
        {
            let _ = SessionData::from_value(value);
        }
        if let Ok((data, _)) = session::decode_db(text, &keys) {
            round_trips(&data);
        }
        if let Ok((data, _)) = session::decode_signed_cookie_at(text, &keys, 1_209_600, NOW) {
            round_trips(&data);
        }
        // What follows a matching signature, on its own: base64, inflate, JSON.
        if let Ok(bytes) = signing::decode_payload(text) {
            let _ = json::loads_latin1(&bytes);
        }
    }
    if let Ok(value) = json::loads_latin1(data)
        && let Ok(out) = json::dumps(&value, json::COMPACT)
    {
        let back = json::loads_latin1(out.as_bytes()).expect("our JSON reads back");
        assert!(same(&back, &value), "JSON round trip changed the value");
    }
    if let Ok(data) = session::decode_django_redis_json(data) {
        let out = session::encode_django_redis_json(&data).expect("re-encodes");
        let back = session::decode_django_redis_json(&out).expect("decodes");
        assert!(same(&back.to_value(), &data.to_value()));
    }
}
