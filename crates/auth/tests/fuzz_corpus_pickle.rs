//! Replays the `pickle_loads` fuzz corpus (seeds from Python and any crash found since) through the fuzz
//! target's own check, so a regression fails `cargo test` without a nightly toolchain; and asserts what
//! the named seeds must decode to.

#[path = "../fuzz/checks/pickle_loads.rs"]
mod checks;

use std::path::PathBuf;
use std::time::Instant;

use django_auth_core::Value;
use django_auth_core::pickle::{Limits, loads, protocol};
use django_auth_core::value::Constructor;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/pickle_loads")
}

fn seed(name: &str) -> Vec<u8> {
    std::fs::read(corpus().join(name)).expect("seed file")
}

fn load(name: &str) -> Result<Value, String> {
    loads(&seed(name), &Limits::default()).map_err(|e| format!("{e:?}"))
}

#[test]
fn every_corpus_input_passes_the_fuzz_check() {
    let start = Instant::now();
    let mut n = 0;
    for entry in std::fs::read_dir(corpus()).expect("corpus dir") {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read");
        checks::check(&data);
        checks::check_with(&data, &Limits::default());
        n += 1;
    }
    assert!(n >= 30, "the corpus lost its seeds ({n} files)");
    assert!(
        start.elapsed().as_secs() < 5,
        "the corpus took {:?}",
        start.elapsed()
    );
}

#[test]
fn the_login_session_reads_the_same_from_every_protocol() {
    let login = load("login_redis_cache").expect("Django's RedisCache pickle");
    let Value::Dict(items) = &login else {
        panic!("{login:?}")
    };
    assert_eq!(items[0], (Value::from("_auth_user_id"), Value::from("1")));
    assert_eq!(protocol(&seed("login_redis_cache")), Some(5));
    assert_eq!(protocol(&seed("login_django_redis")), Some(4));
    for other in [
        "login_django_redis",
        "login_p0",
        "login_p1",
        "login_p2",
        "login_p3",
    ] {
        assert_eq!(load(other).as_ref(), Ok(&login), "{other}");
    }
    assert_eq!(protocol(&seed("login_p0")), None);
}

#[test]
fn malicious_seeds_are_inert_objects() {
    for name in ["os_system_p5", "os_system_p0"] {
        let value = load(name).expect("loads as data");
        let Value::Object(object) = &value else {
            panic!("{name}: {value:?}")
        };
        assert!(
            matches!(
                &object.constructor,
                Constructor::Reduce { callable: Value::Global { module, name }, .. }
                    if module == "posix" && name == "system"
            ),
            "{name}: {object:?}"
        );
    }
    assert!(load("eval_in_session").is_ok());
}

#[test]
fn a_repeated_session_key_reads_as_python_reads_it() {
    // {"_auth_user_id": "1", "_auth_user_id": "2"}: Python's dict keeps the last value.
    assert_eq!(
        load("duplicate_keys"),
        Ok(Value::Dict(vec![(
            Value::from("_auth_user_id"),
            Value::from("2")
        )]))
    );
}

#[test]
fn hostile_seeds_are_refused() {
    for (name, error) in [
        // Cut in half: the FRAME header announces more bytes than are left.
        ("truncated", "LengthTooLarge"),
        ("frame_too_long", "LengthTooLarge"),
        ("huge_binunicode8", "LengthTooLarge"),
        ("deep_lists", "TooDeep"),
        ("deep_marks", "TooDeep"),
        ("memo_doubling", "TooManyNodes"),
        ("cycle", "Cycle"),
        ("persid", "Unsupported"),
        ("ext1", "Unsupported"),
    ] {
        let got = load(name).expect_err(name);
        assert!(got.starts_with(error), "{name}: {got}");
    }
}

/// The fuzzer's first timeout (878 bytes of frozensets nested through `DUP`, 5.7 million executions in):
/// each level's uniqueness check re-hashed every level below it, 170 ms of work. The hashing budget
/// (`HASH_WORK_PER_NODE` visits per node of `max_nodes`) refuses it, at the fuzz limits and the default.
#[test]
fn nested_frozensets_exhaust_the_hashing_budget() {
    use django_auth_core::pickle::{HASH_WORK_PER_NODE, PickleError};
    for limits in [checks::fuzz_limits(), Limits::default()] {
        match loads(&seed("hash_nested_frozensets"), &limits) {
            Err(PickleError::TooMuchHashing { limit }) => {
                assert_eq!(limit, limits.max_nodes * HASH_WORK_PER_NODE)
            }
            other => panic!("{:?}", other.map(|_| "a value")),
        }
    }
}
