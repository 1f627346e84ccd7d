//! Property tests: the round trips that must hold for every input, not only for the golden vectors.

use django_auth_core::Value;
use django_auth_core::csrf;
use django_auth_core::json;
use django_auth_core::signing::{self, Keys, Signer, TimestampSigner};
use proptest::prelude::*;

/// JSON-representable values (what Django's JSON serializer can carry), floats finite.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::None),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::Float),
        any::<String>().prop_map(Value::Str),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::List),
            prop::collection::vec((any::<String>(), inner), 0..8).prop_map(|pairs| {
                // A Python dict has unique keys; keep the first occurrence.
                let mut seen = std::collections::HashSet::new();
                Value::Dict(
                    pairs
                        .into_iter()
                        .filter(|(k, _)| seen.insert(k.clone()))
                        .map(|(k, v)| (Value::Str(k), v))
                        .collect(),
                )
            }),
        ]
    })
}

fn csrf_string() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]{32}"
}

proptest! {
    #[test]
    fn json_escapes_to_ascii_and_round_trips(s in any::<String>()) {
        let out = json::dumps(&Value::Str(s.clone()), json::COMPACT).unwrap();
        prop_assert!(out.bytes().all(|b| (0x20..0x7f).contains(&b)), "not printable ASCII: {out}");
        prop_assert_eq!(json::loads_latin1(out.as_bytes()).unwrap(), Value::Str(s));
    }

    #[test]
    fn float_repr_round_trips(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
        let repr = json::float_repr(f);
        prop_assert_eq!(repr.parse::<f64>().unwrap().to_bits(), f.to_bits(), "{}", repr);
    }

    #[test]
    fn json_values_round_trip(v in json_value()) {
        for seps in [json::COMPACT, json::SPACED] {
            let out = json::dumps(&v, seps).unwrap();
            prop_assert_eq!(json::loads_latin1(out.as_bytes()).unwrap(), v.clone());
        }
    }

    #[test]
    fn signing_round_trips_and_detects_tampering(
        value in any::<String>(),
        salt in any::<String>(),
        key in any::<String>(),
        flip in any::<prop::sample::Index>(),
    ) {
        let signer = Signer::new(Keys::new(key.clone(), vec![]), salt.clone());
        let signed = signer.sign(&value);
        prop_assert_eq!(signer.unsign(&signed).unwrap(), value.as_str());
        // Changing any one byte of the signature breaks it.
        let sig_start = signed.rfind(':').unwrap() + 1;
        let mut bytes = signed.clone().into_bytes();
        let i = sig_start + flip.index(bytes.len() - sig_start);
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        prop_assert!(signer.unsign(&tampered).is_err());
        // Another key never verifies it.
        let other = Signer::new(Keys::new(format!("{key}x"), vec![]), salt);
        prop_assert!(other.unsign(&signed).is_err());
    }

    #[test]
    fn dumps_loads_round_trip(v in json_value(), compress in any::<bool>(), t in 0i64..4_000_000_000) {
        let keys = Keys::new("k", vec!["old".into()]);
        let signed = signing::dumps_at(&v, &keys, "salt", compress, t as f64).unwrap();
        let (back, _) = signing::loads_at(&signed, &keys, "salt", Some(10.0), t as f64 + 10.0).unwrap();
        prop_assert_eq!(back, v);
        prop_assert!(signing::loads_at(&signed, &keys, "salt", Some(10.0), t as f64 + 11.0).is_err());
    }

    #[test]
    fn timestamps_round_trip(n in (i64::MIN + 1)..i64::MAX) {
        prop_assert_eq!(signing::b62_decode(&signing::b62_encode(n)), Some(n));
        let ts = TimestampSigner::new(Keys::new("k", vec![]), "s");
        prop_assert!(ts.unsign_at(&ts.sign_at("v", 0.0), None, 0.0).is_ok());
    }

    #[test]
    fn csrf_masking_round_trips(secret in csrf_string(), mask in csrf_string()) {
        let token = csrf::mask_cipher_secret_with(&secret, &mask);
        prop_assert_eq!(token.len(), 64);
        prop_assert!(csrf::check_token_format(&token).is_ok());
        prop_assert_eq!(csrf::unmask_cipher_token(&token), secret.clone());
        prop_assert!(csrf::does_token_match(&token, &secret));
        prop_assert!(csrf::does_token_match(&secret, &secret));
    }

    #[test]
    fn csrf_never_matches_another_secret(a in csrf_string(), b in csrf_string(), mask in csrf_string()) {
        prop_assume!(a != b);
        prop_assert!(!csrf::does_token_match(&csrf::mask_cipher_secret_with(&a, &mask), &b));
    }
}
