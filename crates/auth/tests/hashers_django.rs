//! Password hashers against a real Django (`tests/django/oracle/ops_hashers.py`), in both directions:
//! Django's hashes verify in Rust with Django's own (is_correct, must_update), Rust's hashes verify in
//! Django, and salted encodings are byte-identical.
//!
//! Most round trips use tiny work factors (Django: the `Fast*` subclasses of ops_hashers.py; Rust: the same
//! numbers in `WorkFactors`); the real defaults of the oracle's Django version run once per algorithm.

mod support;

use django_auth_core::hashers::{
    Hasher, HasherError, PasswordHashers, Verification, WorkFactors, is_password_usable,
    make_unusable_password,
};
use serde_json::{Value, json};
use support::*;

const PASSWORD: &str = "correct horse battery staple";

/// The passwords every round trip uses: ASCII, accents, emoji, empty, and 100 characters (150 bytes).
fn passwords() -> Vec<String> {
    vec![
        PASSWORD.to_string(),
        "é".to_string(),
        "😀🔐 mot de passe".to_string(),
        String::new(),
        format!("{}{}", "é".repeat(50), "x".repeat(50)),
    ]
}

/// The Rust twin of ops_hashers.py's `Fast*` classes.
fn fast_work_factors() -> WorkFactors {
    WorkFactors {
        pbkdf2_iterations: 1000,
        argon2_time_cost: 1,
        argon2_memory_cost: 64,
        argon2_parallelism: 2,
        bcrypt_rounds: 4,
        scrypt_work_factor: 16,
        scrypt_block_size: 8,
        scrypt_parallelism: 2,
    }
}

/// The `PASSWORD_HASHERS` entry Django uses for `hasher` in the fast configuration.
fn fast_django_path(hasher: Hasher) -> &'static str {
    match hasher {
        Hasher::Pbkdf2Sha256 => "oracle.ops_hashers.FastPBKDF2PasswordHasher",
        Hasher::Pbkdf2Sha1 => "oracle.ops_hashers.FastPBKDF2SHA1PasswordHasher",
        Hasher::Argon2 => "oracle.ops_hashers.FastArgon2PasswordHasher",
        Hasher::BcryptSha256 => "oracle.ops_hashers.FastBCryptSHA256PasswordHasher",
        Hasher::Bcrypt => "oracle.ops_hashers.FastBCryptPasswordHasher",
        Hasher::Scrypt => "oracle.ops_hashers.FastScryptPasswordHasher",
        // No work factor to shrink.
        other => other.dotted_path(),
    }
}

/// One configuration, stated once for both sides.
struct Config {
    rust: PasswordHashers,
    django: Value,
}

impl Config {
    /// `hashers` (first = preferred) with the fast work factors.
    fn fast(hashers: &[Hasher]) -> Config {
        let paths: Vec<&str> = hashers.iter().map(|&h| fast_django_path(h)).collect();
        Config {
            rust: PasswordHashers::new(
                hashers.iter().map(|h| h.dotted_path()),
                fast_work_factors(),
            )
            .unwrap(),
            django: json!({ "PASSWORD_HASHERS": paths }),
        }
    }

    /// `hashers` with Django's real classes, and the Rust preset of the oracle's Django version.
    fn real(hashers: &[Hasher], django_version: &str) -> Config {
        let work = WorkFactors::for_django_version(django_version)
            .unwrap_or_else(|| panic!("no WorkFactors preset for Django {django_version}"));
        let paths: Vec<&str> = hashers.iter().map(|h| h.dotted_path()).collect();
        Config {
            rust: PasswordHashers::new(&paths, work).unwrap(),
            django: json!({ "PASSWORD_HASHERS": paths }),
        }
    }

    fn django_make(&self, password: Option<&str>, salt: Option<&str>, hasher: Hasher) -> String {
        let args = json!({"password": password, "salt": salt, "hasher": hasher.algorithm()});
        let encoded = oracle().call("hashers.make_password", self.django.clone(), args);
        encoded.as_str().expect("a string").to_string()
    }

    /// Django's `verify_password` (4.2: the same logic), or the exception it raised.
    fn django_verify(&self, password: &str, encoded: &str) -> Result<Verification, String> {
        let args = json!({"password": password, "encoded": encoded});
        let answer = oracle().try_call("hashers.verify_password", self.django.clone(), args)?;
        let flag = |name: &str| answer[name].as_bool().expect("a bool");
        Ok(verdict(flag("is_correct"), flag("must_update")))
    }

    /// Django's real `check_password` with a setter: (is_correct, setter called).
    fn django_check(&self, password: &str, encoded: &str) -> (bool, bool) {
        let args = json!({"password": password, "encoded": encoded});
        let answer = oracle().call("hashers.check_password", self.django.clone(), args);
        (
            answer["is_correct"].as_bool().unwrap(),
            answer["setter_called"].as_bool().unwrap(),
        )
    }

    /// `identify_hasher(encoded).must_update(encoded)` in Django.
    fn django_must_update(&self, encoded: &str) -> bool {
        let args = json!({"encoded": encoded});
        oracle()
            .call("hashers.must_update", self.django.clone(), args)
            .as_bool()
            .unwrap()
    }

    /// Rust and Django give the same (is_correct, must_update) for `password` against `encoded`, Django's
    /// setter runs exactly when both are true, and both agree on `must_update(encoded)`.
    fn assert_same_verdict(&self, password: &str, encoded: &str) -> Verification {
        let django = self
            .django_verify(password, encoded)
            .expect("Django verifies");
        let rust = self.rust.check_password(password, encoded);
        assert_eq!(rust, django, "verify_password({password:?}, {encoded:?})");
        let (is_correct, setter_called) = self.django_check(password, encoded);
        assert_eq!(
            is_correct, rust.is_correct,
            "check_password({password:?}, {encoded:?})"
        );
        assert_eq!(setter_called, rust.is_correct && rust.must_update);
        let must_update = self.rust.must_update(encoded).unwrap();
        assert_eq!(
            must_update,
            self.django_must_update(encoded),
            "must_update({encoded:?})"
        );
        rust
    }
}

/// The hashers the oracle's Django version has: the default five, bcrypt, md5, and on 4.2 the ones 5.1
/// removed.
fn algorithms(django_version: &str) -> Vec<Hasher> {
    let mut all = vec![
        Hasher::Pbkdf2Sha256,
        Hasher::Pbkdf2Sha1,
        Hasher::Argon2,
        Hasher::BcryptSha256,
        Hasher::Scrypt,
        Hasher::Bcrypt,
        Hasher::Md5,
    ];
    if django_version == "4.2" {
        all.extend([Hasher::Sha1, Hasher::UnsaltedMd5, Hasher::UnsaltedSha1]);
    }
    all
}

/// `all` with `first` moved to the front (the preferred hasher).
fn with_preferred(first: Hasher, all: &[Hasher]) -> Vec<Hasher> {
    let mut list = vec![first];
    list.extend(all.iter().copied().filter(|&h| h != first));
    list
}

fn verdict(is_correct: bool, must_update: bool) -> Verification {
    Verification {
        is_correct,
        must_update,
    }
}

fn django_version() -> String {
    oracle().django_version()
}

/// bcrypt reads at most 72 bytes, and pyca/bcrypt 5 refuses longer passwords (tested separately).
fn fits(hasher: Hasher, password: &str) -> bool {
    hasher != Hasher::Bcrypt || password.len() <= 72
}

#[test]
fn djangos_hashes_verify_in_rust_with_djangos_verdict() {
    let version = django_version();
    let all = algorithms(&version);
    for &algorithm in &all {
        // Preferred: must_update is the hasher's own rule. Not preferred: always an upgrade.
        let others = with_preferred(
            if algorithm == Hasher::Md5 {
                Hasher::Pbkdf2Sha256
            } else {
                Hasher::Md5
            },
            &all,
        );
        for config in [
            Config::fast(&with_preferred(algorithm, &all)),
            Config::fast(&others),
        ] {
            for password in passwords().iter().filter(|p| fits(algorithm, p)) {
                let encoded = config.django_make(Some(password), None, algorithm);
                let answer = config.assert_same_verdict(password, &encoded);
                assert!(answer.is_correct, "{algorithm:?} {password:?}");
                let wrong = config.assert_same_verdict(&format!("{password}!"), &encoded);
                assert!(!wrong.is_correct);
            }
        }
    }
}

#[test]
fn rusts_hashes_verify_in_django() {
    let version = django_version();
    let all = algorithms(&version);
    for &algorithm in &all {
        let config = Config::fast(&with_preferred(algorithm, &all));
        for password in passwords().iter().filter(|p| fits(algorithm, p)) {
            let encoded = config.rust.make_password(password).unwrap();
            assert_eq!(
                config.assert_same_verdict(password, &encoded),
                verdict(true, false),
                "{algorithm:?}: {encoded}"
            );
            assert!(!config.assert_same_verdict("wrong", &encoded).is_correct);
            let identified = oracle().call(
                "hashers.identify",
                config.django.clone(),
                json!({"encoded": encoded}),
            );
            assert_eq!(identified, algorithm.algorithm());
        }
    }
}

#[test]
fn make_password_with_salt_is_byte_identical() {
    let version = django_version();
    let all = algorithms(&version);
    let config = Config::fast(&all);
    let salted = [
        Hasher::Pbkdf2Sha256,
        Hasher::Pbkdf2Sha1,
        Hasher::Argon2,
        Hasher::Scrypt,
        Hasher::Md5,
        Hasher::Sha1,
    ];
    for algorithm in salted.into_iter().filter(|h| all.contains(h)) {
        for salt in ["abcdefghijklmnopqrstuv", "shortsalt", "sälté-ünïcode"] {
            for password in passwords() {
                let rust = config
                    .rust
                    .make_password_with_salt(&password, salt, Some(algorithm))
                    .unwrap();
                let django = config.django_make(Some(&password), Some(salt), algorithm);
                assert_eq!(
                    rust, django,
                    "{algorithm:?} salt {salt:?} password {password:?}"
                );
            }
        }
    }
    // bcrypt takes a bcrypt salt, whose version and cost win over the configured ones.
    for algorithm in [Hasher::BcryptSha256, Hasher::Bcrypt] {
        for salt in [
            "$2b$04$abcdefghijklmnopqrstuu",
            "$2a$05$0123456789ABCDEFGHIJKO",
            "$2y$04$..............................",
            "$2b$04$abcdefghijklmnopqrstuuIGNOREDREST",
        ] {
            for password in passwords().iter().filter(|p| fits(algorithm, p)) {
                let rust = config
                    .rust
                    .make_password_with_salt(password, salt, Some(algorithm))
                    .unwrap();
                let django = config.django_make(Some(password), Some(salt), algorithm);
                assert_eq!(
                    rust, django,
                    "{algorithm:?} salt {salt:?} password {password:?}"
                );
            }
        }
    }
    if version == "4.2" {
        for algorithm in [Hasher::UnsaltedMd5, Hasher::UnsaltedSha1] {
            for password in passwords() {
                let rust = config
                    .rust
                    .make_password_with_salt(&password, "", Some(algorithm))
                    .unwrap();
                assert_eq!(rust, config.django_make(Some(&password), None, algorithm));
            }
        }
    }
}

#[test]
fn real_default_work_factors_once_per_algorithm() {
    let version = django_version();
    let all = algorithms(&version);
    // Django's default list first (PBKDF2 preferred), then the extras.
    let config = Config::real(&all, &version);
    for &algorithm in &all {
        let django_made = config.django_make(Some(PASSWORD), None, algorithm);
        let answer = config.assert_same_verdict(PASSWORD, &django_made);
        assert_eq!(answer, verdict(true, algorithm != Hasher::Pbkdf2Sha256));
    }
    // The preferred hasher at this version's work factors: Django neither rejects nor upgrades Rust's hash.
    let rust_made = config.rust.make_password(PASSWORD).unwrap();
    let answer = config.assert_same_verdict(PASSWORD, &rust_made);
    assert_eq!(answer, verdict(true, false), "{rust_made}");
    // Every other algorithm at its real work factors, made by Rust: Django verifies it, would re-save it
    // with PBKDF2 (the preferred hasher), and its own hasher finds nothing to upgrade.
    for &algorithm in all.iter().filter(|&&h| h != Hasher::Pbkdf2Sha256) {
        let encoded = config
            .rust
            .make_password_with_salt(PASSWORD, "", Some(algorithm))
            .unwrap();
        let (is_correct, setter_called) = config.django_check(PASSWORD, &encoded);
        assert!(is_correct && setter_called, "{algorithm:?}: {encoded}");
        assert_eq!(
            config.rust.must_update(&encoded).unwrap(),
            config.django_must_update(&encoded),
            "{encoded}"
        );
    }
}

#[test]
fn fast_hashes_are_upgraded_under_the_real_defaults() {
    // A hash made with other work factors (a peer on another Django version, or an old hash): both sides
    // must flag it for upgrade, through each hasher's own must_update.
    let version = django_version();
    let all = algorithms(&version);
    let fast = Config::fast(&all);
    for &algorithm in &all {
        let encoded = fast.django_make(Some(PASSWORD), None, algorithm);
        let real = Config::real(&with_preferred(algorithm, &all), &version);
        let answer = real.assert_same_verdict(PASSWORD, &encoded);
        let has_work_factor = !matches!(
            algorithm,
            Hasher::Md5 | Hasher::Sha1 | Hasher::UnsaltedMd5 | Hasher::UnsaltedSha1
        );
        assert_eq!(answer, verdict(true, has_work_factor), "{encoded}");
    }
}

#[test]
fn higher_work_factors_are_upgraded_too() {
    // Django's test is `!=`, not `<`: a hash stronger than configured (from a newer peer Django) is re-made
    // at the configured work factors too.
    let version = django_version();
    let all = algorithms(&version);
    let stronger = WorkFactors {
        pbkdf2_iterations: 1001,
        argon2_time_cost: 2,
        argon2_memory_cost: 128,
        argon2_parallelism: 4,
        bcrypt_rounds: 5,
        scrypt_work_factor: 32,
        scrypt_block_size: 9,
        scrypt_parallelism: 3,
    };
    let maker = PasswordHashers::new(all.iter().map(|h| h.dotted_path()), stronger).unwrap();
    let with_work_factor = [
        Hasher::Pbkdf2Sha256,
        Hasher::Pbkdf2Sha1,
        Hasher::Argon2,
        Hasher::BcryptSha256,
        Hasher::Bcrypt,
        Hasher::Scrypt,
    ];
    for algorithm in with_work_factor {
        let encoded = maker
            .make_password_with_salt(PASSWORD, "", Some(algorithm))
            .unwrap();
        let config = Config::fast(&with_preferred(algorithm, &all));
        let answer = config.assert_same_verdict(PASSWORD, &encoded);
        assert_eq!(answer, verdict(true, true), "{encoded}");
        config.assert_same_verdict("wrong", &encoded);
    }
    // Each argon2 and scrypt parameter on its own.
    let argon2 = Config::fast(&with_preferred(Hasher::Argon2, &all));
    let scrypt = Config::fast(&with_preferred(Hasher::Scrypt, &all));
    let fast = fast_work_factors();
    for (config, hasher, work) in [
        (
            &argon2,
            Hasher::Argon2,
            WorkFactors {
                argon2_time_cost: 2,
                ..fast
            },
        ),
        (
            &argon2,
            Hasher::Argon2,
            WorkFactors {
                argon2_memory_cost: 72,
                ..fast
            },
        ),
        (
            &argon2,
            Hasher::Argon2,
            WorkFactors {
                argon2_parallelism: 1,
                ..fast
            },
        ),
        (
            &scrypt,
            Hasher::Scrypt,
            WorkFactors {
                scrypt_work_factor: 8,
                ..fast
            },
        ),
        (
            &scrypt,
            Hasher::Scrypt,
            WorkFactors {
                scrypt_block_size: 4,
                ..fast
            },
        ),
        (
            &scrypt,
            Hasher::Scrypt,
            WorkFactors {
                scrypt_parallelism: 1,
                ..fast
            },
        ),
    ] {
        let maker = PasswordHashers::new([hasher.dotted_path()], work).unwrap();
        let encoded = maker.make_password(PASSWORD).unwrap();
        let answer = config.assert_same_verdict(PASSWORD, &encoded);
        assert_eq!(answer, verdict(true, true), "{encoded}");
    }
}

#[test]
fn argon2_forms_django_never_writes_verify_in_both() {
    let version = django_version();
    let all = algorithms(&version);
    for config in [
        Config::fast(&with_preferred(Hasher::Argon2, &all)),
        Config::fast(&all),
    ] {
        for (kind, version, salt, hash_len) in [
            ("i", 16, "saltsaltsaltsalt", 32),
            ("i", 19, "saltsaltsaltsalt", 32),
            ("d", 16, "saltsaltsaltsalt", 32),
            ("d", 19, "saltsaltsaltsalt", 32),
            ("id", 16, "abcdefghijklmnopqrstuv", 32),
            ("id", 19, "abcdefghijklmnopqrstuv", 16),
            ("id", 19, "abcdefghijklmnopqrstuv", 64),
        ] {
            let args = json!({"password": PASSWORD, "salt": salt, "type": kind, "version": version,
                "time_cost": 1, "memory_cost": 64, "parallelism": 2, "hash_len": hash_len});
            let encoded = oracle().call("hashers.argon2_raw", json!({}), args);
            let encoded = encoded.as_str().unwrap();
            for password in [PASSWORD, "wrong"] {
                config.assert_same_verdict(password, encoded);
                if version == 16 {
                    // Without "v=": what argon2 1.2 wrote, version 0x10 by default.
                    config.assert_same_verdict(password, &encoded.replace("$v=16", ""));
                }
            }
            assert!(config.rust.check_password(PASSWORD, encoded).is_correct);
        }
    }
}

#[test]
fn malformed_values_never_verify_in_either() {
    let version = django_version();
    let all = algorithms(&version);
    let b = "abcdefghijklmnopqrstuu0sDWleciW5uGBGYwxpcgAsh9WK4bWNy";
    let argon2 =
        |params: &str, salt: &str, hash: &str| format!("argon2$argon2id${params}${salt}${hash}");
    let salt16 = "c2FsdHNhbHRzYWx0c2FsdA";
    let hash32 = "gIX6E8tH7CkRhJUEDmOTO61imAN+STeO15ugF6dwmSE";
    // Only values Django rejects quickly: none asks it for real work.
    let corpus = [
        String::new(),
        "!abc".into(),
        "default$x".into(),
        "unknown$1$2$3".into(),
        "pbkdf2_sha256$1000".into(),
        "pbkdf2_sha256$1000$$7g09gCC/g1P5ACeEb8xx77VaL+guiGRutJE6Ai8cR90=".into(),
        "pbkdf2_sha256$-5$abcdefghijklmnopqrstuv$x".into(),
        "pbkdf2_sha256$abc$abcdefghijklmnopqrstuv$x".into(),
        "pbkdf2_sha1$1000".into(),
        argon2("v=19$m=999999999999,t=2,p=8", salt16, hash32),
        argon2("v=19$m=102400,t=0,p=8", salt16, hash32),
        argon2("v=19$m=64,t=1,p=9", salt16, hash32),
        argon2("v=19$m=102400,t=2,p=0", salt16, hash32),
        argon2("v=019$m=64,t=1,p=1", salt16, hash32),
        argon2("v=19$m=64,t=1,p=1", "c2FsdHNhbHRzYWx0c2FsdA=", hash32),
        argon2("v=19$m=64,t=1,p=1", "c2FsdHNhbHRzYWx0c2FsdB", hash32),
        argon2("v=19$m=64,t=1,p=1", "!!!!", hash32),
        argon2("v=19$m=64,t=1,p=1", "c2FsdA", hash32),
        argon2("v=19$m=64,t=1,p=1", salt16, "gIX6"),
        argon2("v=19$m=64,t=1,p=1", salt16, &format!("{hash32}$")),
        "argon2$argon2x$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$gIX6E8tH7CkRhJUEDmOTO61imAN+STeO15ugF6dwmSE".into(),
        "scrypt$16385$abcdefghijklmnopqrstuv$8$1$U2pW".into(),
        "scrypt$1$abcdefghijklmnopqrstuv$8$1$U2pW".into(),
        "scrypt$1099511627776$abcdefghijklmnopqrstuv$8$1$U2pW".into(),
        "scrypt$32768$abcdefghijklmnopqrstuv$8$1$U2pW".into(),
        "scrypt$65536$abcdefghijklmnopqrstuv$1$1$U2pW".into(),
        "scrypt$16$abcdefghijklmnopqrstuv$8$-1$U2pW".into(),
        "scrypt$16$$8$1$U2pW".into(),
        "scrypt$16$abcdefghijklmnopqrstuv$8$1".into(),
        "scrypt$16$abcdefghijklmnopqrstuv$8$1$U2pW$extra".into(),
        format!("bcrypt$$2b$99${b}"),
        format!("bcrypt$$2b$03${b}"),
        format!("bcrypt$$2b$32${b}"),
        format!("bcrypt_sha256$$2c$04${b}"),
        format!("bcrypt$$2b$04$!bcdefghijklmnopqrstuu{}", &b[22..]),
        format!("bcrypt$$2b$04$abcdefghijklmnopqrstu\u{e9}{}", &b[22..]),
        format!("bcrypt$2b$04${b}"),
        "bcrypt$$".into(),
        "md5$$abc".into(),
        "md5$abc".into(),
        "sha1$$abf7aad6438836dbe526aa231abde2d0eef74d4".into(),
    ];
    let configs = [
        Config::fast(&all),
        Config::fast(&with_preferred(Hasher::Argon2, &all)),
        Config::fast(&with_preferred(Hasher::Bcrypt, &all)),
        Config::fast(&with_preferred(Hasher::Scrypt, &all)),
    ];
    for config in &configs {
        for encoded in &corpus {
            let rust = config.rust.check_password(PASSWORD, encoded);
            assert_eq!(rust, verdict(false, false), "{encoded:?}");
            // Django raises or says "no match" (its must_update may say True for a value that can never
            // verify; it has no effect then).
            if let Ok(django) = config.django_verify(PASSWORD, encoded) {
                assert!(!django.is_correct, "Django verified {encoded:?}");
            }
        }
    }
}

#[test]
fn identify_hasher_agrees() {
    let version = django_version();
    let all = algorithms(&version);
    let config = Config::fast(&all);
    let values = [
        "9cc2ae8a1ba7a93da39b46fc1019c481".to_string(),
        "md5$$9cc2ae8a1ba7a93da39b46fc1019c481".into(),
        "sha1$$abf7aad6438836dbe526aa231abde2d0eef74d42".into(),
        "é".repeat(32),
        "md5$$".to_string() + &"é".repeat(32),
        "md5$$abc".into(),
        "sha1$$abc".into(),
        "pbkdf2_sha256$x".into(),
        "argon2".into(),
        "default$x".into(),
        "default".into(),
        "unsalted_md5$x".into(),
        "crypt$$abc".into(),
        "".into(),
        "$".into(),
    ];
    for encoded in values {
        let django = oracle()
            .try_call(
                "hashers.identify",
                config.django.clone(),
                json!({"encoded": encoded}),
            )
            .map(|a| a.as_str().unwrap().to_string());
        let rust = config
            .rust
            .identify_hasher(&encoded)
            .map(|h| h.algorithm().to_string());
        match (&django, &rust) {
            (Ok(d), Ok(r)) => assert_eq!(d, r, "{encoded:?}"),
            (Err(d), Err(HasherError::UnknownAlgorithm(_))) => {
                assert!(d.starts_with("ValueError"), "{d}")
            }
            _ => panic!("{encoded:?}: Django {django:?}, Rust {rust:?}"),
        }
    }
}

#[test]
fn unusable_passwords_agree() {
    let config = Config::fast(&algorithms(&django_version()));
    let rust_made = make_unusable_password().unwrap();
    let usable = oracle().call(
        "hashers.is_password_usable",
        json!({}),
        json!({"encoded": rust_made}),
    );
    assert_eq!(usable, false);
    config.assert_unusable(&rust_made);
    let django_made = config.django_make(None, None, Hasher::Pbkdf2Sha256);
    assert_eq!(django_made.len(), rust_made.len());
    assert!(!is_password_usable(&django_made));
    config.assert_unusable(&django_made);
}

impl Config {
    fn assert_unusable(&self, encoded: &str) {
        let no = verdict(false, false);
        for password in ["", encoded, PASSWORD] {
            assert_eq!(self.rust.check_password(password, encoded), no);
            assert_eq!(self.django_verify(password, encoded), Ok(no));
        }
    }
}

#[test]
fn bcrypt_passwords_over_72_bytes_fail_in_both() {
    let version = django_version();
    let config = Config::fast(&with_preferred(Hasher::Bcrypt, &algorithms(&version)));
    let long = "é".repeat(37); // 74 bytes
    let django = oracle().try_call(
        "hashers.make_password",
        config.django.clone(),
        json!({"password": long, "hasher": "bcrypt"}),
    );
    assert!(django.unwrap_err().starts_with("ValueError"));
    assert!(matches!(
        config.rust.make_password(&long),
        Err(HasherError::PasswordTooLong(74))
    ));
    // A hash of the first 72 bytes: Django (pyca/bcrypt 5) raises for the long password, Rust says no.
    let encoded = config.django_make(Some(&"é".repeat(36)), None, Hasher::Bcrypt);
    assert!(
        config
            .django_verify(&long, &encoded)
            .unwrap_err()
            .starts_with("ValueError")
    );
    assert_eq!(
        config.rust.check_password(&long, &encoded),
        verdict(false, false)
    );
    assert!(
        config
            .rust
            .check_password(&"é".repeat(36), &encoded)
            .is_correct
    );
}
