//! `make bench`: what every authenticated request costs in the shared crate, beside the same work done by
//! Django in the same run.
//!
//! - `cache_decode_and_verify`: unpickle a typical login session (as Django's `RedisCache` stores it), read
//!   the auth keys and check `_auth_user_hash` against the user's password: the CPU part of `get_user`.
//! - `db_loads`: `SessionBase.decode` of a `db`/`cached_db` row (signature check, inflate, JSON).
//!
//! After criterion's own report, the same operations run in Python (`tests/django/bench.py`, with the
//! interpreter `DJANGO_PYTHON` names) and the ratios are printed.

use std::process::Command;
use std::time::Duration;

use django_auth_core::auth::{SessionAuthHasher, get_session_auth_hash, session_auth};
use django_auth_core::pickle::Limits;
use django_auth_core::session::{self, SessionData};
use django_auth_core::signing::Keys;
use std::hint::black_box;

use criterion::Criterion;

mod common;
use common::criterion_mean_ns;

const ENCODED: &str =
    "pbkdf2_sha256$1000000$abcdefghijklmnopqrstuv$ESUkIq3XvMIs+R/ZmdQSkE1EDQIVk18SzognBfgBuPQ=";
const SECRET: &str = "django-insecure-test-secret-key-0123456789";

fn login_session() -> SessionData {
    let mut s = SessionData::new();
    django_auth_core::auth::set_session_auth(
        &mut s,
        "1",
        django_auth_core::auth::MODEL_BACKEND,
        &get_session_auth_hash(ENCODED, SECRET),
    );
    s
}

fn main() {
    let keys = Keys::new(SECRET, vec!["old-secret-key-1".into()]);
    let blob = session::encode_cache(&login_session(), 5).expect("pickle");
    let row = session::encode_db(&login_session(), &keys).expect("encode");
    let limits = Limits::default();
    // Built once at start-up, as a service does.
    let hasher = SessionAuthHasher::new(&keys);

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    c.bench_function("cache_decode_and_verify", |b| {
        b.iter(|| {
            let (data, _) = session::decode_cache(black_box(&blob), &limits).expect("decode");
            let auth = session_auth(&data).expect("logged in");
            hasher
                .verify(auth.hash.as_deref(), black_box(ENCODED))
                .expect("verified")
        })
    });
    // The two halves of the first benchmark, to see where its time goes.
    c.bench_function("part_pickle_decode", |b| {
        b.iter(|| session::decode_cache(black_box(&blob), &limits).expect("decode"))
    });
    c.bench_function("part_auth_hash_verify", |b| {
        let hash = get_session_auth_hash(ENCODED, SECRET);
        b.iter(|| {
            hasher
                .verify(Some(black_box(&hash)), black_box(ENCODED))
                .expect("verified")
        })
    });
    c.bench_function("db_loads", |b| {
        b.iter(|| session::decode_db(black_box(&row), &keys).expect("decode"))
    });
    c.final_summary();
    compare_with_django();
}

fn compare_with_django() {
    let root = common::workspace_root();
    let python = common::django_python();
    let output = Command::new(&python)
        .arg("bench.py")
        .current_dir(root.join("tests/django"))
        .output();
    let django: serde_json::Value = match output {
        Ok(out) if out.status.success() => {
            serde_json::from_slice(&out.stdout).expect("bench.py prints JSON")
        }
        Ok(out) => panic!("bench.py failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => panic!("cannot run {}: {e}", python.display()),
    };
    println!(
        "\n{:<26} {:>12} {:>12} {:>8}",
        "operation", "rust (ns)", "django (ns)", "ratio"
    );
    for name in ["cache_decode_and_verify", "db_loads"] {
        let rust = criterion_mean_ns(name).expect("criterion estimate");
        let py = django[name].as_f64().expect("python timing");
        println!("{name:<26} {rust:>12.0} {py:>12.0} {:>7.1}x", py / rust);
    }
}
