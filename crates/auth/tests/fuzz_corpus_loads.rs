//! Replays the `signing_loads` fuzz corpus (seeds and any crash found since) through the fuzz target's own
//! check, so a regression fails `cargo test` without a nightly toolchain; and asserts what the named seeds
//! must decode to.

#[path = "../fuzz/checks/signing_loads.rs"]
mod checks;

use std::path::PathBuf;

use django_auth_core::session;
use django_auth_core::signing::{SigningError, decode_payload};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/signing_loads")
}

fn seed(name: &str) -> String {
    std::fs::read_to_string(corpus().join(name)).expect("seed file")
}

#[test]
fn every_corpus_input_passes_the_fuzz_check() {
    let mut n = 0;
    for entry in std::fs::read_dir(corpus()).expect("corpus dir") {
        let path = entry.expect("entry").path();
        checks::check(&std::fs::read(&path).expect("read"));
        n += 1;
    }
    assert!(n >= 18, "the corpus lost its seeds ({n} files)");
}

#[test]
fn seeds_decode_as_django_made_them() {
    let keys = checks::keys();
    let (login, _) = session::decode_db(&seed("db_login"), &keys).expect("Django's session row");
    assert_eq!(
        login.get("_auth_user_id").and_then(|v| v.as_str()),
        Some("1")
    );
    let (_, which) = session::decode_db(&seed("db_old_key"), &keys).expect("fallback key");
    assert_eq!(which, django_auth_core::signing::KeyMatch::Fallback(0));
    let (cookie, _) =
        session::decode_signed_cookie_at(&seed("signed_cookie"), &keys, 1_209_600, checks::NOW)
            .unwrap();
    assert_eq!(cookie, login);
    for refused in [
        "tampered",
        "truncated",
        "no_separator",
        "bad_timestamp",
        "legacy",
        "legacy_pickle",
    ] {
        assert!(
            session::decode_db(&seed(refused), &keys).is_err(),
            "{refused}"
        );
    }
    assert_eq!(
        decode_payload(&seed("payload_bomb")).unwrap_err(),
        SigningError::TooLarge
    );
    assert!(
        django_auth_core::json::loads_latin1(&decode_payload(&seed("payload_deep_json")).unwrap())
            .is_err()
    );
}
