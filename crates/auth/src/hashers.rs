//! `django.contrib.auth.hashers`: verify every value Django can leave in `auth_user.password`, and create
//! values Django accepts, with Django's exact `must_update` rules.
//!
//! The shape follows Django's module: a configured list of hashers ([`PasswordHashers`], Django's
//! `PASSWORD_HASHERS` setting, first = preferred) with `make_password`, `check_password`
//! (`verify_password` in Django ≥ 5.0), `identify_hasher`, `get_hasher`, and the free functions
//! [`is_password_usable`] and [`make_unusable_password`] (`make_password(None)`).
//!
//! # How a stored value is judged
//!
//! Django verifies by *re-encoding* the password with the stored parameters and comparing the **whole
//! string** in constant time (argon2: the C library decodes the string and compares the hash bytes). So a
//! stored value can only ever verify if it is exactly what Django's own encoder writes. This module therefore
//! parses each format strictly, in the canonical form Django (or, for argon2, the reference C library behind
//! argon2-cffi) produces:
//!
//! * a value that parses is re-encoded and compared, and its `must_update` is Django's;
//! * a value that cannot parse (truncated, bad base64, a non-canonical number, a salt Django refuses), that
//!   Django itself rejects with an exception (`n must be a power of 2`, `Invalid salt`, scrypt's
//!   `memory limit exceeded`), or whose work factors exceed the [`Limits`] is *malformed*: the answer is
//!   `(false, false)` after running the preferred hasher once, as Django does for unknown or unusable values.
//!   Where Django raises, or answers `(False, True)` for a value that can never verify, the Rust answer is
//!   `(false, false)`: `must_update` only matters when the password is correct (Django's setter runs only
//!   then), so nothing a user can observe changes, and a hostile value never reaches a hashing crate.
//!
//! # Limits
//!
//! A stored hash carries its own work factors, and some crates allocate or loop per those numbers (argon2
//! allocates `m` KiB, scrypt `128·r·n` bytes, bcrypt runs `2^cost` rounds, PBKDF2 `iterations`), or panic on
//! values the reference implementations reject. Everything is checked before any crate is called; see
//! [`Limits`] for the caps and why each was chosen. scrypt has no separate memory cap: Django calls
//! `hashlib.scrypt(maxmem=0)`, i.e. OpenSSL's default 32 MiB, and what Django cannot compute we reject
//! ([`scrypt_params_accepted_by_django`]).
//!
//! # Cost
//!
//! Hashing is deliberately slow (PBKDF2 at 1,500,000 iterations, Django 6.1's, is most of a second). The synchronous API
//! is the core; async services call [`PasswordHashers::check_password_blocking`] and
//! [`PasswordHashers::make_password_blocking`], which run on Tokio's blocking pool so they don't stall the
//! runtime's workers.

#[cfg(feature = "stores")]
use std::sync::Arc;

use base64::Engine;
use base64::engine::GeneralPurpose;
use base64::engine::general_purpose::{NO_PAD, STANDARD, STANDARD_NO_PAD};
use sha2::Digest;

use crate::crypto::{
    RANDOM_STRING_CHARS, RandomError, constant_time_compare, get_random_string, to_hex,
};

/// `django.contrib.auth.hashers.UNUSABLE_PASSWORD_PREFIX`: no encoder ever writes a value starting with `!`,
/// so such a value can never verify.
pub const UNUSABLE_PASSWORD_PREFIX: &str = "!";

/// `UNUSABLE_PASSWORD_SUFFIX_LENGTH`: the random tail of an unusable password (Django ticket #20079: a
/// constant `!` would make every unusable password equal, and the session hash derived from it guessable).
pub const UNUSABLE_PASSWORD_SUFFIX_LENGTH: usize = 40;

/// `BasePasswordHasher.salt_entropy`: the bits a salt must carry; 22 characters of `[a-zA-Z0-9]`.
pub const SALT_ENTROPY: u32 = 128;

/// argon2-cffi's `DEFAULT_HASH_LENGTH`, the hash length of Django's `Argon2PasswordHasher.params()`.
pub const ARGON2_HASH_LEN: usize = 32;

/// Django's default `PASSWORD_HASHERS` (identical in 4.2, 5.0, 5.1, 5.2, 6.0 and 6.1): PBKDF2 is preferred.
pub const DEFAULT_PASSWORD_HASHERS: [&str; 5] = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
];

/// Standard base64 as Python's `base64.b64encode` writes it (with padding); PBKDF2 and scrypt hashes.
const B64: GeneralPurpose = STANDARD;
/// argon2's PHC encoding: standard alphabet, no padding, and (like the C library's `from_base64`) the unused
/// trailing bits must be zero, so each byte string has exactly one accepted spelling.
const B64_NOPAD: GeneralPurpose = STANDARD_NO_PAD;
/// bcrypt's alphabet (`./A-Za-z0-9`) without padding and with strict trailing bits, exactly the engine
/// pyca/bcrypt decodes salts with (a salt it cannot decode is `ValueError: Invalid salt`).
const BCRYPT_B64: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::BCRYPT, NO_PAD);

/// One of Django's password hasher classes (`django.contrib.auth.hashers.*PasswordHasher`).
///
/// The variant names follow the class names; [`Hasher::algorithm`] is the class's `algorithm` attribute, the
/// prefix of the encoded value that [`PasswordHashers::identify_hasher`] routes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hasher {
    /// `PBKDF2PasswordHasher`: `pbkdf2_sha256$<iterations>$<salt>$<b64 hash>`, Django's default.
    Pbkdf2Sha256,
    /// `PBKDF2SHA1PasswordHasher`: as PBKDF2 with HMAC-SHA1 and a 20-byte hash; same iteration count.
    Pbkdf2Sha1,
    /// `Argon2PasswordHasher`: `argon2` + argon2-cffi's PHC string.
    Argon2,
    /// `BCryptSHA256PasswordHasher`: bcrypt over the 64 hex characters of SHA-256(password), which avoids
    /// bcrypt's 72-byte truncation (Django ticket #20138).
    BcryptSha256,
    /// `BCryptPasswordHasher`: bcrypt over the raw password (at most 72 bytes).
    Bcrypt,
    /// `ScryptPasswordHasher`: `scrypt$<n>$<salt>$<r>$<p>$<b64 hash>`.
    Scrypt,
    /// `MD5PasswordHasher`: `md5$<salt>$<hex md5(salt + password)>`; insecure, still in Django 6.1.
    Md5,
    /// `SHA1PasswordHasher`: `sha1$<salt>$<hex sha1(salt + password)>`; deprecated in 4.2, removed in 5.1.
    Sha1,
    /// `UnsaltedMD5PasswordHasher`: 32 hex characters, or `md5$$` + 32 hex; removed in 5.1.
    UnsaltedMd5,
    /// `UnsaltedSHA1PasswordHasher`: `sha1$$` + 40 hex; removed in 5.1.
    UnsaltedSha1,
}

impl Hasher {
    /// Every hasher this module implements.
    pub const ALL: [Hasher; 10] = [
        Hasher::Pbkdf2Sha256,
        Hasher::Pbkdf2Sha1,
        Hasher::Argon2,
        Hasher::BcryptSha256,
        Hasher::Bcrypt,
        Hasher::Scrypt,
        Hasher::Md5,
        Hasher::Sha1,
        Hasher::UnsaltedMd5,
        Hasher::UnsaltedSha1,
    ];

    /// The class's `algorithm` attribute (`"pbkdf2_sha256"`), the prefix of its encoded values.
    pub fn algorithm(self) -> &'static str {
        match self {
            Hasher::Pbkdf2Sha256 => "pbkdf2_sha256",
            Hasher::Pbkdf2Sha1 => "pbkdf2_sha1",
            Hasher::Argon2 => "argon2",
            Hasher::BcryptSha256 => "bcrypt_sha256",
            Hasher::Bcrypt => "bcrypt",
            Hasher::Scrypt => "scrypt",
            Hasher::Md5 => "md5",
            Hasher::Sha1 => "sha1",
            Hasher::UnsaltedMd5 => "unsalted_md5",
            Hasher::UnsaltedSha1 => "unsalted_sha1",
        }
    }

    /// The dotted path a `PASSWORD_HASHERS` entry uses for this class.
    pub fn dotted_path(self) -> &'static str {
        match self {
            Hasher::Pbkdf2Sha256 => "django.contrib.auth.hashers.PBKDF2PasswordHasher",
            Hasher::Pbkdf2Sha1 => "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
            Hasher::Argon2 => "django.contrib.auth.hashers.Argon2PasswordHasher",
            Hasher::BcryptSha256 => "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
            Hasher::Bcrypt => "django.contrib.auth.hashers.BCryptPasswordHasher",
            Hasher::Scrypt => "django.contrib.auth.hashers.ScryptPasswordHasher",
            Hasher::Md5 => "django.contrib.auth.hashers.MD5PasswordHasher",
            Hasher::Sha1 => "django.contrib.auth.hashers.SHA1PasswordHasher",
            Hasher::UnsaltedMd5 => "django.contrib.auth.hashers.UnsaltedMD5PasswordHasher",
            Hasher::UnsaltedSha1 => "django.contrib.auth.hashers.UnsaltedSHA1PasswordHasher",
        }
    }

    /// The hasher of a `PASSWORD_HASHERS` entry (Django's `import_string(hasher_path)`), if it is one of
    /// Django's own classes.
    pub fn from_dotted_path(path: &str) -> Option<Hasher> {
        Hasher::ALL.into_iter().find(|h| h.dotted_path() == path)
    }

    /// The hasher whose `algorithm` attribute is `name`.
    pub fn from_algorithm(name: &str) -> Option<Hasher> {
        Hasher::ALL.into_iter().find(|h| h.algorithm() == name)
    }
}

/// The work factors of Django's hasher classes (their class attributes), which decide both what
/// `make_password` writes and what `must_update` flags for an upgrade.
///
/// A Rust service must use the same numbers as the Django it shares `auth_user` with: otherwise each side
/// would "upgrade" every hash the other writes, on every login, and (since the session auth hash is derived
/// from the password hash) log the user out of every other session each time. Presets exist for each Django
/// version a peer may run; the fields are public so a project that overrides a class attribute in its own
/// hasher subclass can say so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkFactors {
    /// `PBKDF2PasswordHasher.iterations`, also used by `PBKDF2SHA1PasswordHasher` (a subclass).
    pub pbkdf2_iterations: u32,
    /// `Argon2PasswordHasher.time_cost` (passes).
    pub argon2_time_cost: u32,
    /// `Argon2PasswordHasher.memory_cost` (KiB).
    pub argon2_memory_cost: u32,
    /// `Argon2PasswordHasher.parallelism` (lanes).
    pub argon2_parallelism: u32,
    /// `BCryptSHA256PasswordHasher.rounds` / `BCryptPasswordHasher.rounds` (log2 of the cost).
    pub bcrypt_rounds: u32,
    /// `ScryptPasswordHasher.work_factor` (`n`, a power of two).
    pub scrypt_work_factor: u64,
    /// `ScryptPasswordHasher.block_size` (`r`).
    pub scrypt_block_size: u32,
    /// `ScryptPasswordHasher.parallelism` (`p`).
    pub scrypt_parallelism: u32,
}

impl WorkFactors {
    /// Django 4.2 LTS: PBKDF2 600,000 iterations, scrypt p = 1.
    pub const fn django_4_2() -> WorkFactors {
        WorkFactors {
            pbkdf2_iterations: 600_000,
            argon2_time_cost: 2,
            argon2_memory_cost: 102_400,
            argon2_parallelism: 8,
            bcrypt_rounds: 12,
            scrypt_work_factor: 1 << 14,
            scrypt_block_size: 8,
            scrypt_parallelism: 1,
        }
    }

    /// Django 5.0: PBKDF2 720,000 iterations, scrypt p = 1.
    pub const fn django_5_0() -> WorkFactors {
        WorkFactors {
            pbkdf2_iterations: 720_000,
            ..WorkFactors::django_4_2()
        }
    }

    /// Django 5.1: PBKDF2 870,000 iterations, scrypt p = 5 (so 4.2/5.0 scrypt hashes get upgraded).
    pub const fn django_5_1() -> WorkFactors {
        WorkFactors {
            pbkdf2_iterations: 870_000,
            scrypt_parallelism: 5,
            ..WorkFactors::django_4_2()
        }
    }

    /// Django 5.2 LTS: PBKDF2 1,000,000 iterations, scrypt n = 2^14, r = 8, p = 5, argon2 t = 2,
    /// m = 102400 KiB, p = 8, bcrypt 12 rounds.
    pub const fn django_5_2() -> WorkFactors {
        WorkFactors {
            pbkdf2_iterations: 1_000_000,
            ..WorkFactors::django_5_1()
        }
    }

    /// Django 6.0: PBKDF2 1,200,000 iterations; the other hashers as in 5.2.
    pub const fn django_6_0() -> WorkFactors {
        WorkFactors {
            pbkdf2_iterations: 1_200_000,
            ..WorkFactors::django_5_2()
        }
    }

    /// Django 6.1: PBKDF2 1,500,000 iterations; the other hashers as in 5.2.
    pub const fn django_6_1() -> WorkFactors {
        WorkFactors {
            pbkdf2_iterations: 1_500_000,
            ..WorkFactors::django_5_2()
        }
    }

    /// The Django versions with a preset, oldest first: what `DJANGO_VERSION` accepts.
    pub const DJANGO_VERSIONS: [&'static str; 6] = ["4.2", "5.0", "5.1", "5.2", "6.0", "6.1"];

    /// The preset for a Django `"major.minor"` (one of [`WorkFactors::DJANGO_VERSIONS`]), as
    /// `django.get_version()` starts.
    pub fn for_django_version(major_minor: &str) -> Option<WorkFactors> {
        match major_minor {
            "4.2" => Some(WorkFactors::django_4_2()),
            "5.0" => Some(WorkFactors::django_5_0()),
            "5.1" => Some(WorkFactors::django_5_1()),
            "5.2" => Some(WorkFactors::django_5_2()),
            "6.0" => Some(WorkFactors::django_6_0()),
            "6.1" => Some(WorkFactors::django_6_1()),
            _ => None,
        }
    }
}

impl Default for WorkFactors {
    /// The newest Django's that the tests prove (6.1).
    fn default() -> WorkFactors {
        WorkFactors::django_6_1()
    }
}

/// Caps on the work factors a *stored* value may ask for. Django has none: a hostile or corrupted
/// `auth_user.password` could make it allocate gigabytes or hash for hours. A value beyond a cap is
/// malformed (no match); the configured [`WorkFactors`] must lie within the caps, so every hash this module
/// writes it can also verify.
///
/// The defaults leave one to two orders of magnitude of headroom above Django's defaults, so that a peer
/// Django which raised its work factors keeps working, while bounding the cost of one verification to
/// seconds and about a GiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest encoded value considered, in bytes. Default 4096: Django's `password` column is
    /// `varchar(128)` and its encoders stay below 128 characters; the cap bounds base64 decoding and
    /// argon2's hash length (the C library allows any length up to the string's).
    pub max_encoded_len: usize,
    /// Most PBKDF2 iterations. Default 100,000,000: 100× Django 5.2, 66× Django 6.1's 1,500,000; Django
    /// has raised the count by about 20% a year, so this lasts decades, and bounds a hostile value to
    /// roughly a minute of CPU. (0 is always malformed: Django would substitute its own count and the
    /// re-encoded string could never match.)
    pub max_pbkdf2_iterations: u32,
    /// Most argon2 memory, in KiB (the crate allocates it all at once). Default 1,048,576 (1 GiB): 10×
    /// Django's 102,400 and libsodium's "sensitive" level.
    pub max_argon2_memory_cost: u32,
    /// Most argon2 work, memory × passes in KiB (the time is proportional to it). Default 4,194,304
    /// (4 GiB·passes), 20× Django's 204,800; it also caps the passes at 524,288 for the minimum memory.
    pub max_argon2_work: u64,
    /// Most argon2 lanes. Default 255: Django uses 8; lanes are computed one after another here, and the
    /// reference library allows 2^24 - 1.
    pub max_argon2_parallelism: u32,
    /// Most bcrypt rounds (log2 cost). Default 16, 16× the work of Django's 12 (a few seconds); bcrypt
    /// itself allows 31 (2^31 rounds, hours).
    pub max_bcrypt_rounds: u32,
    /// Most scrypt work `n·r·p`. Default 2^23 (8,388,608), 12.8× Django 5.2's 655,360. Memory needs no cap
    /// of ours: OpenSSL's 32 MiB `maxmem`, which Django uses, already bounds `n·r` and `p·r`, but not their
    /// product, which can reach hours of CPU within 32 MiB.
    pub max_scrypt_work: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_encoded_len: 4096,
            max_pbkdf2_iterations: 100_000_000,
            max_argon2_memory_cost: 1 << 20,
            max_argon2_work: 1 << 22,
            max_argon2_parallelism: 255,
            max_bcrypt_rounds: 16,
            max_scrypt_work: 1 << 23,
        }
    }
}

/// A `PASSWORD_HASHERS` list or work factor that Django would not accept, or that [`Limits`] forbids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not one of Django's hasher classes (Django: `ImportError` from `import_string`).
    #[error("unknown password hasher {0:?} in PASSWORD_HASHERS")]
    UnknownHasher(String),
    /// An empty list (Django: `IndexError` from `get_hashers()[0]` on the first use).
    #[error("PASSWORD_HASHERS is empty; the first entry is the preferred hasher")]
    NoHashers,
    /// A work factor the algorithm, Django's OpenSSL, or the [`Limits`] reject.
    #[error("invalid work factor {name} = {value}: {reason}")]
    InvalidWorkFactor {
        /// The [`WorkFactors`] field.
        name: &'static str,
        /// Its value.
        value: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Why a password could not be hashed (the errors Django's `make_password` raises), or a blocking task
/// failed.
#[derive(Debug, thiserror::Error)]
pub enum HasherError {
    /// `get_hasher` found no hasher of that algorithm in the configured list (Django's `ValueError`).
    #[error(
        "Unknown password hashing algorithm '{0}'. Did you specify it in the PASSWORD_HASHERS setting?"
    )]
    UnknownAlgorithm(String),
    /// `BasePasswordHasher._check_encode_args`: PBKDF2, scrypt and the salted digests need a salt without
    /// `$`, the field separator.
    #[error("salt must be provided and cannot contain $.")]
    InvalidSalt,
    /// The unsalted hashers take no salt.
    #[error("salt must be empty.")]
    SaltMustBeEmpty,
    /// argon2 needs at least 8 bytes of salt (argon2-cffi's `HashingError: Salt is too short`).
    #[error("argon2 salt is too short (at least 8 bytes)")]
    Argon2SaltTooShort,
    /// A bcrypt salt that pyca/bcrypt's `hashpw` rejects (`ValueError: Invalid salt`): not
    /// `$2a|2b|2x|2y$<cost 4..=31>$<22 bcrypt-base64 characters>`.
    #[error("Invalid salt")]
    InvalidBcryptSalt,
    /// bcrypt reads at most 72 bytes; pyca/bcrypt ≥ 5.0 raises rather than silently truncating.
    #[error("password cannot be longer than 72 bytes ({0} bytes); use BCryptSHA256PasswordHasher")]
    PasswordTooLong(usize),
    /// A work factor beyond the [`Limits`] (only reachable through an explicit bcrypt salt).
    #[error("work factor beyond the configured limits: {0}")]
    LimitExceeded(&'static str),
    /// The encoded value is not one this configuration can read (for [`PasswordHashers::must_update`]).
    #[error("malformed or unsupported encoded password")]
    Malformed,
    /// The operating system's random generator failed.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// A hashing crate refused parameters that were checked beforehand (a bug, not an input problem).
    #[error("password hashing failed: {0}")]
    Backend(String),
    /// The blocking task could not run: no Tokio runtime, or it panicked or was cancelled.
    #[error("password hashing task failed: {0}")]
    Task(String),
}

/// The answer of Django's `verify_password(password, encoded)` (5.0+; 4.2 inlines the same logic in
/// `check_password`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verification {
    /// The password matches.
    pub is_correct: bool,
    /// The stored value should be re-made with the preferred hasher: Django's `check_password` calls its
    /// setter (`set_password` + `save(update_fields=["password"])`) when this and `is_correct` hold. Doing
    /// so changes the password hash, hence the session auth hash of the user's other sessions.
    pub must_update: bool,
}

impl Verification {
    const NO: Verification = Verification {
        is_correct: false,
        must_update: false,
    };
}

/// `django.contrib.auth.hashers.is_password_usable`: false only for values made by
/// `set_unusable_password()` (`!` + 40 random characters), which no password can ever match.
pub fn is_password_usable(encoded: &str) -> bool {
    !encoded.starts_with(UNUSABLE_PASSWORD_PREFIX)
}

/// `make_password(None)`: `!` + 40 random `[a-zA-Z0-9]`, what `User.set_unusable_password()` stores.
pub fn make_unusable_password() -> Result<String, HasherError> {
    Ok(format!(
        "{UNUSABLE_PASSWORD_PREFIX}{}",
        get_random_string(UNUSABLE_PASSWORD_SUFFIX_LENGTH, RANDOM_STRING_CHARS)?
    ))
}

/// The algorithm name `identify_hasher` routes an encoded value to, whether or not that hasher is
/// configured: `"unsalted_md5"` for 32 characters without `$` or 37 starting with `md5$$`,
/// `"unsalted_sha1"` for 46 starting with `sha1$$`, otherwise the text before the first `$`.
///
/// Lengths are Python's `len()`, in characters. The special cases exist because ancient Django stored bare
/// MD5 hex digests and accepted an empty salt.
pub fn identify_algorithm(encoded: &str) -> &str {
    let chars = encoded.chars().count();
    if (chars == 32 && !encoded.contains('$')) || (chars == 37 && encoded.starts_with("md5$$")) {
        "unsalted_md5"
    } else if chars == 46 && encoded.starts_with("sha1$$") {
        "unsalted_sha1"
    } else {
        encoded
            .split_once('$')
            .map_or(encoded, |(algorithm, _)| algorithm)
    }
}

/// `must_update_salt(salt, 128)`: whether `salt` (its length in characters) carries fewer than 128 bits, as
/// Django counts them: `len(salt) * log2(62) < 128`, true below 22 characters. Django raised the salt from
/// 12 characters in 3.1 and upgrades older hashes with this.
fn must_update_salt(salt_chars: usize) -> bool {
    (salt_chars as f64) * alphabet_bits() < f64::from(SALT_ENTROPY)
}

fn alphabet_bits() -> f64 {
    (RANDOM_STRING_CHARS.chars().count() as f64).log2()
}

/// `BasePasswordHasher.salt()`: `ceil(128 / log2(62))` = 22 characters of `[a-zA-Z0-9]`.
fn new_salt() -> Result<String, RandomError> {
    let chars = (f64::from(SALT_ENTROPY) / alphabet_bits()).ceil() as usize;
    get_random_string(chars, RANDOM_STRING_CHARS)
}

/// Whether Python's `hashlib.scrypt(n=n, r=r, p=p, maxmem=0, dklen=64)`, which Django calls, accepts the
/// parameters: hashlib checks that `n` is a power of two > 1, then OpenSSL's `EVP_PBE_scrypt` (3.0,
/// `crypto/evp/pbe_scrypt.c` and `providers/implementations/kdfs/scrypt.c`) checks, with `maxmem = 0`
/// meaning its default `SCRYPT_MAX_MEM` of 32 MiB:
///
/// * `r, p ≥ 1` and `≤ 2^32 - 1`; `p·r ≤ 2^30 - 1`;
/// * `n < 2^(16·r)` when `16·r ≤ 63`;
/// * `Blen = 128·r·p ≤ INT_MAX`, `Vlen = 128·r·(n + 2)` without overflow, and `Blen + Vlen ≤ 32 MiB`.
///
/// So `n = 2^15, r = 8` is rejected by Django itself (it needs 3 KiB more than 32 MiB); such a value makes
/// Django raise `ValueError: memory limit exceeded`, and here it is malformed.
pub fn scrypt_params_accepted_by_django(n: u64, r: u64, p: u64) -> bool {
    const SCRYPT_PR_MAX: u64 = (1 << 30) - 1;
    const SCRYPT_MAX_MEM: u64 = 32 * 1024 * 1024;
    if n < 2 || !n.is_power_of_two() || r == 0 || p == 0 {
        return false;
    }
    if r > u64::from(u32::MAX) || p > u64::from(u32::MAX) || p > SCRYPT_PR_MAX / r {
        return false;
    }
    if 16 * r <= 63 && n >= 1u64 << (16 * r) {
        return false;
    }
    // p·r < 2^30, so this cannot overflow.
    let blen = p * 128 * r;
    if blen > i32::MAX as u64 {
        return false;
    }
    let limit = u64::MAX / (32 * 4);
    if n + 2 > limit / r {
        return false;
    }
    let vlen = 32 * r * (n + 2) * 4;
    blen <= u64::MAX - vlen && blen + vlen <= SCRYPT_MAX_MEM
}

/// A decimal exactly as Python's `"%d" % n` writes it (and as the argon2 C library's `decode_decimal`
/// accepts): ASCII digits, no sign, no leading zero unless the number is 0. Django re-encodes with `%d`
/// and compares whole strings, so any other spelling of the number can never verify.
fn canonical_decimal(s: &str) -> Option<u64> {
    let canonical = !s.is_empty()
        && s.len() <= 20
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s.len() == 1 || !s.starts_with('0'));
    if canonical { s.parse().ok() } else { None }
}

/// A stored value, parsed and checked against the limits: everything verification needs.
enum Parsed<'a> {
    Pbkdf2 {
        hasher: Hasher,
        iterations: u32,
        salt: &'a str,
    },
    Argon2(Argon2Hash),
    Bcrypt {
        hasher: Hasher,
        version: &'a str,
        cost: u32,
        salt: [u8; 16],
    },
    Scrypt {
        n: u64,
        salt: &'a str,
        r: u32,
        p: u32,
    },
    Salted {
        hasher: Hasher,
        salt: &'a str,
    },
    Unsalted(Hasher),
}

/// An argon2 PHC string as the reference C library's `decode_string` reads it.
struct Argon2Hash {
    algorithm: argon2::Algorithm,
    /// The `v=` field; `None` for the argon2 1.2 format without it, which means version 0x10.
    version: Option<u32>,
    m: u32,
    t: u32,
    p: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

/// The configured hashers: Django's `PASSWORD_HASHERS` (first = preferred) with its work factors.
///
/// `get_hashers()`, `get_hasher()`, `identify_hasher()`, `make_password()`, `check_password()` /
/// `verify_password()` hang off it, as Django's module functions read the setting.
#[derive(Clone, Debug)]
pub struct PasswordHashers {
    hashers: Vec<Hasher>,
    work_factors: WorkFactors,
    limits: Limits,
}

impl Default for PasswordHashers {
    /// Django's defaults: [`DEFAULT_PASSWORD_HASHERS`] with [`WorkFactors::default`] (the newest Django's).
    fn default() -> PasswordHashers {
        PasswordHashers {
            hashers: vec![
                Hasher::Pbkdf2Sha256,
                Hasher::Pbkdf2Sha1,
                Hasher::Argon2,
                Hasher::BcryptSha256,
                Hasher::Scrypt,
            ],
            work_factors: WorkFactors::default(),
            limits: Limits::default(),
        }
    }
}

impl PasswordHashers {
    /// Django's `get_hashers()` for a `PASSWORD_HASHERS` list of dotted paths, with the work factors of the
    /// peer Django's version and the default [`Limits`].
    pub fn new<I, S>(
        password_hashers: I,
        work_factors: WorkFactors,
    ) -> Result<PasswordHashers, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        PasswordHashers::with_limits(password_hashers, work_factors, Limits::default())
    }

    /// As [`PasswordHashers::new`], with explicit [`Limits`].
    pub fn with_limits<I, S>(
        password_hashers: I,
        work_factors: WorkFactors,
        limits: Limits,
    ) -> Result<PasswordHashers, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let hashers = password_hashers
            .into_iter()
            .map(|path| {
                let path = path.as_ref();
                Hasher::from_dotted_path(path)
                    .ok_or_else(|| ConfigError::UnknownHasher(path.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if hashers.is_empty() {
            return Err(ConfigError::NoHashers);
        }
        validate_work_factors(&work_factors, &limits)?;
        Ok(PasswordHashers {
            hashers,
            work_factors,
            limits,
        })
    }

    /// `get_hashers()`, in the configured order.
    pub fn hashers(&self) -> &[Hasher] {
        &self.hashers
    }

    /// `get_hasher("default")`: the first configured hasher, which `make_password` uses and which decides
    /// `must_update`.
    pub fn preferred(&self) -> Hasher {
        self.hashers[0]
    }

    /// The configured work factors.
    pub fn work_factors(&self) -> &WorkFactors {
        &self.work_factors
    }

    /// The configured limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// `get_hasher(algorithm)`: `"default"` is the preferred hasher, any other name must be the `algorithm`
    /// of a configured hasher.
    pub fn get_hasher(&self, algorithm: &str) -> Result<Hasher, HasherError> {
        if algorithm == "default" {
            return Ok(self.preferred());
        }
        self.hashers
            .iter()
            .copied()
            .find(|h| h.algorithm() == algorithm)
            .ok_or_else(|| HasherError::UnknownAlgorithm(algorithm.to_string()))
    }

    /// `identify_hasher(encoded)`: `get_hasher(name)` for [`identify_algorithm`]'s name. A hasher that is
    /// not configured is an error, which is how Django retires an algorithm: its hashes stop verifying.
    ///
    /// As in Django, a value starting `default$` identifies as the preferred hasher (`get_hasher("default")`);
    /// its `decode` then refuses the prefix, so such a value never verifies.
    pub fn identify_hasher(&self, encoded: &str) -> Result<Hasher, HasherError> {
        self.get_hasher(identify_algorithm(encoded))
    }

    /// `make_password(password)`: the preferred hasher with a fresh salt.
    pub fn make_password(&self, raw: &str) -> Result<String, HasherError> {
        self.make_password_with_salt(raw, "", None)
    }

    /// `make_password(password, salt, hasher)`: `hasher` is `None` for the preferred one (Django's
    /// `"default"`), or a configured hasher; an empty `salt` means a fresh one (Django's
    /// `salt = salt or hasher.salt()`).
    ///
    /// The salt is what Django's `encode` takes: a string for PBKDF2, scrypt and the salted digests (non-empty,
    /// without `$`); for argon2 any string of at least 8 bytes (its bytes are the salt); for bcrypt a bcrypt
    /// salt such as `"$2b$12$abcdefghijklmnopqrstuu"`, whose cost wins over the configured rounds, as in
    /// Django; none for the unsalted hashers. Used by the golden-vector tests.
    pub fn make_password_with_salt(
        &self,
        raw: &str,
        salt: &str,
        hasher: Option<Hasher>,
    ) -> Result<String, HasherError> {
        let hasher = match hasher {
            None => self.preferred(),
            Some(h) => self.get_hasher(h.algorithm())?,
        };
        let generated;
        let salt = if salt.is_empty() {
            generated = self.new_salt_for(hasher)?;
            generated.as_str()
        } else {
            salt
        };
        self.encode(hasher, raw, salt)
    }

    /// `verify_password(password, encoded)` (Django ≥ 5.0; `check_password` in 4.2):
    ///
    /// * an unusable, unknown-algorithm or malformed value: run the preferred hasher once on a random
    ///   password, so that a missing user or hasher takes as long as a wrong password (Django #20760), and
    ///   answer `(false, false)`;
    /// * `must_update = hasher_changed || preferred.must_update(encoded)`, where `hasher_changed` means the
    ///   value's algorithm is not the preferred one;
    /// * `is_correct`: re-encode and compare the whole string in constant time;
    /// * if wrong, and the algorithm is the preferred one but its work factor differs, `harden_runtime` runs
    ///   the missing work (PBKDF2: the missing iterations; bcrypt: the missing rounds) so that the response
    ///   time does not reveal that the stored hash is old.
    ///
    /// `must_update` per hasher: PBKDF2 when the iterations differ (also when higher: the test is `!=`) or
    /// the salt is under 22 characters; argon2 when the type, version, hash length, `m`, `t` or `p` differ
    /// or the salt is under 22 bytes; bcrypt when the rounds differ; scrypt when `n`, `r` or `p` differ;
    /// salted MD5/SHA-1 when the salt is weak; never for the unsalted ones.
    pub fn check_password(&self, raw: &str, encoded: &str) -> Verification {
        match self.try_verify(raw, encoded) {
            Some(verification) => verification,
            None => {
                // Django: make_password(get_random_string(UNUSABLE_PASSWORD_SUFFIX_LENGTH)); its outcome is
                // irrelevant, only the time it takes.
                if let Ok(random) =
                    get_random_string(UNUSABLE_PASSWORD_SUFFIX_LENGTH, RANDOM_STRING_CHARS)
                {
                    let _ = self.make_password(&random);
                }
                Verification::NO
            }
        }
    }

    /// `identify_hasher(encoded).must_update(encoded)`: whether the value's own hasher, with the configured
    /// work factors, would upgrade it (without the `hasher_changed` of [`PasswordHashers::check_password`]).
    pub fn must_update(&self, encoded: &str) -> Result<bool, HasherError> {
        let hasher = self.identify_hasher(encoded)?;
        let parsed = self.parse(hasher, encoded).ok_or(HasherError::Malformed)?;
        Ok(self.must_update_parsed(&parsed))
    }

    #[cfg(feature = "stores")]
    /// [`PasswordHashers::check_password`] on Tokio's blocking thread pool (`spawn_blocking`), so that an
    /// async service's worker threads keep serving requests while the hash is computed. Must be awaited
    /// inside a Tokio runtime ([`HasherError::Task`] otherwise).
    pub async fn check_password_blocking(
        self: Arc<Self>,
        raw: String,
        encoded: String,
    ) -> Result<Verification, HasherError> {
        run_blocking(move || self.check_password(&raw, &encoded)).await
    }

    #[cfg(feature = "stores")]
    /// [`PasswordHashers::make_password`] on Tokio's blocking thread pool.
    pub async fn make_password_blocking(
        self: Arc<Self>,
        raw: String,
    ) -> Result<String, HasherError> {
        run_blocking(move || self.make_password(&raw)).await?
    }

    // --- verification ------------------------------------------------------------------------------------

    fn try_verify(&self, raw: &str, encoded: &str) -> Option<Verification> {
        if !is_password_usable(encoded) {
            return None;
        }
        let hasher = self.identify_hasher(encoded).ok()?;
        let parsed = self.parse(hasher, encoded)?;
        let hasher_changed = hasher != self.preferred();
        let must_update = hasher_changed || self.must_update_parsed(&parsed);
        let is_correct = self.verify_parsed(&parsed, raw, encoded)?;
        if !is_correct && !hasher_changed && must_update {
            self.harden_runtime(&parsed, raw);
        }
        Some(Verification {
            is_correct,
            must_update,
        })
    }

    /// Parses `encoded` as `hasher`'s format; `None` when it is malformed or beyond the limits.
    fn parse<'a>(&self, hasher: Hasher, encoded: &'a str) -> Option<Parsed<'a>> {
        if encoded.len() > self.limits.max_encoded_len {
            return None;
        }
        match hasher {
            Hasher::Pbkdf2Sha256 | Hasher::Pbkdf2Sha1 => {
                // PBKDF2PasswordHasher.decode: encoded.split("$", 3); the hash part may hold anything.
                let mut parts = encoded.splitn(4, '$');
                let (algorithm, iterations, salt, _hash) =
                    (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
                let iterations = u32::try_from(canonical_decimal(iterations)?).ok()?;
                let valid = algorithm == hasher.algorithm()
                    && (1..=self.limits.max_pbkdf2_iterations).contains(&iterations)
                    && !salt.is_empty();
                valid.then_some(Parsed::Pbkdf2 {
                    hasher,
                    iterations,
                    salt,
                })
            }
            Hasher::Argon2 => self.parse_argon2(encoded).map(Parsed::Argon2),
            Hasher::BcryptSha256 | Hasher::Bcrypt => self.parse_bcrypt(hasher, encoded),
            Hasher::Scrypt => {
                // ScryptPasswordHasher.decode: exactly six `$`-separated fields.
                let parts: Vec<&str> = encoded.split('$').collect();
                let ["scrypt", n, salt, r, p, _hash] = parts[..] else {
                    return None;
                };
                let (n, r, p) = (
                    canonical_decimal(n)?,
                    canonical_decimal(r)?,
                    canonical_decimal(p)?,
                );
                if salt.is_empty()
                    || !scrypt_params_accepted_by_django(n, r, p)
                    || n.checked_mul(r)?.checked_mul(p)? > self.limits.max_scrypt_work
                {
                    return None;
                }
                let (r, p) = (u32::try_from(r).ok()?, u32::try_from(p).ok()?);
                Some(Parsed::Scrypt { n, salt, r, p })
            }
            Hasher::Md5 | Hasher::Sha1 => {
                // MD5PasswordHasher.decode: encoded.split("$", 2); an empty salt makes encode() raise.
                let mut parts = encoded.splitn(3, '$');
                let (algorithm, salt, _hash) = (parts.next()?, parts.next()?, parts.next()?);
                (algorithm == hasher.algorithm() && !salt.is_empty())
                    .then_some(Parsed::Salted { hasher, salt })
            }
            Hasher::UnsaltedMd5 => {
                let bare = encoded.strip_prefix("md5$$").unwrap_or(encoded);
                (bare.chars().count() == 32 && !bare.contains('$'))
                    .then_some(Parsed::Unsalted(hasher))
            }
            Hasher::UnsaltedSha1 => (encoded.chars().count() == 46
                && encoded.starts_with("sha1$$"))
            .then_some(Parsed::Unsalted(hasher)),
        }
    }

    /// argon2-cffi's `PasswordHasher.verify` hands `"$" + rest` to the reference C library's
    /// `argon2_verify`, which reads exactly
    /// `$<argon2id|argon2i|argon2d>[$v=<u32>]$m=<u32>,t=<u32>,p=<u32>$<b64 salt>$<b64 hash>` and nothing
    /// after it. The `v=` field is optional (argon2 1.2 strings, as old argon2-cffi wrote them, lack it;
    /// they mean version 0x10). Decimals have no sign and no leading zeros; base64 has no padding and zero
    /// trailing bits. Then `validate_inputs`: salt ≥ 8 bytes, hash ≥ 4 bytes, `t ≥ 1`, `m ≥ 8·p`,
    /// `1 ≤ p ≤ 2^24 - 1`.
    ///
    /// Not read here although the C library would: versions other than 0x10 and 0x13 (the Rust crate only
    /// has those two; no argon2 release wrote others), NUL bytes (a `text` column cannot hold them), and
    /// anything beyond the [`Limits`].
    fn parse_argon2(&self, encoded: &str) -> Option<Argon2Hash> {
        let rest = encoded.strip_prefix("argon2$")?;
        // argon2-cffi picks the type from the first 9 bytes: "$argon2i$", "$argon2d$" or "$argon2id".
        let (algorithm, rest) = if let Some(rest) = rest.strip_prefix("argon2id") {
            (argon2::Algorithm::Argon2id, rest)
        } else if rest.starts_with("argon2i$") {
            (argon2::Algorithm::Argon2i, &rest["argon2i".len()..])
        } else if rest.starts_with("argon2d$") {
            (argon2::Algorithm::Argon2d, &rest["argon2d".len()..])
        } else {
            return None;
        };
        let (version, rest) = match rest.strip_prefix("$v=") {
            Some(after) => {
                let end = after
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(after.len());
                (
                    Some(u32::try_from(canonical_decimal(&after[..end])?).ok()?),
                    &after[end..],
                )
            }
            None => (None, rest),
        };
        let rest = rest.strip_prefix("$m=")?;
        let (params, rest) = rest.split_once('$')?;
        let mut kv = params.split(',');
        let m = kv.next().and_then(canonical_decimal)?;
        let t = kv.next()?.strip_prefix("t=").and_then(canonical_decimal)?;
        let p = kv.next()?.strip_prefix("p=").and_then(canonical_decimal)?;
        if kv.next().is_some() {
            return None;
        }
        let (salt, hash) = rest.split_once('$')?;
        let (salt, hash) = (B64_NOPAD.decode(salt).ok()?, B64_NOPAD.decode(hash).ok()?);
        let (m, t, p) = (
            u32::try_from(m).ok()?,
            u32::try_from(t).ok()?,
            u32::try_from(p).ok()?,
        );
        let limits = &self.limits;
        let valid = salt.len() >= 8
            && hash.len() >= 4
            && t >= 1
            && p >= 1
            && p <= limits.max_argon2_parallelism.min(0x00FF_FFFF)
            && u64::from(m) >= 8 * u64::from(p)
            && m <= limits.max_argon2_memory_cost
            && u64::from(m) * u64::from(t) <= limits.max_argon2_work
            && matches!(version, None | Some(0x10) | Some(0x13));
        valid.then_some(Argon2Hash {
            algorithm,
            version,
            m,
            t,
            p,
            salt,
            hash,
        })
    }

    /// The only values Django's bcrypt hashers can verify are what pyca/bcrypt's `hashpw` returns after the
    /// algorithm prefix: `<algorithm>$$<2a|2b|2x|2y>$<2-digit cost>$<22 salt><31 hash>` (the whole string is
    /// compared). Its salt must decode (pyca raises `Invalid salt` otherwise) and its cost be 4..=31 and
    /// within the limits.
    fn parse_bcrypt<'a>(&self, hasher: Hasher, encoded: &'a str) -> Option<Parsed<'a>> {
        let data = encoded
            .strip_prefix(hasher.algorithm())?
            .strip_prefix('$')?;
        let bytes = data.as_bytes();
        if !data.is_ascii()
            || bytes.len() != 60
            || bytes[0] != b'$'
            || bytes[3] != b'$'
            || bytes[6] != b'$'
        {
            return None;
        }
        let version = &data[1..3];
        bcrypt_version(version)?;
        // Two digits ("%02d", so a cost below 10 has a leading zero).
        if !bytes[4..6].iter().all(u8::is_ascii_digit) {
            return None;
        }
        let cost: u32 = data[4..6].parse().ok()?;
        let salt: [u8; 16] = BCRYPT_B64.decode(&data[7..29]).ok()?.try_into().ok()?;
        ((4..=31).contains(&cost) && cost <= self.limits.max_bcrypt_rounds).then_some(
            Parsed::Bcrypt {
                hasher,
                version,
                cost,
                salt,
            },
        )
    }

    /// `hasher.must_update(encoded)` with the configured work factors.
    fn must_update_parsed(&self, parsed: &Parsed<'_>) -> bool {
        let w = &self.work_factors;
        match parsed {
            Parsed::Pbkdf2 {
                iterations, salt, ..
            } => *iterations != w.pbkdf2_iterations || must_update_salt(salt.chars().count()),
            Parsed::Argon2(h) => {
                // argon2-cffi's extract_parameters inserts "v=18" when the field is missing (sic), so a
                // version-less string always differs from the current parameters (version 19).
                h.algorithm != argon2::Algorithm::Argon2id
                    || h.version.unwrap_or(18) != 0x13
                    || h.hash.len() != ARGON2_HASH_LEN
                    || h.t != w.argon2_time_cost
                    || h.m != w.argon2_memory_cost
                    || h.p != w.argon2_parallelism
                    // Django decodes the salt as latin-1: one character per byte.
                    || must_update_salt(h.salt.len())
            }
            Parsed::Bcrypt { cost, .. } => *cost != w.bcrypt_rounds,
            Parsed::Scrypt { n, r, p, .. } => {
                *n != w.scrypt_work_factor
                    || *r != w.scrypt_block_size
                    || *p != w.scrypt_parallelism
            }
            Parsed::Salted { salt, .. } => must_update_salt(salt.chars().count()),
            // BasePasswordHasher.must_update: False.
            Parsed::Unsalted(_) => false,
        }
    }

    /// `hasher.verify(password, encoded)`; `None` where Django raises (a bcrypt password over 72 bytes).
    fn verify_parsed(&self, parsed: &Parsed<'_>, raw: &str, encoded: &str) -> Option<bool> {
        let reencoded = match parsed {
            Parsed::Pbkdf2 {
                hasher,
                iterations,
                salt,
            } => pbkdf2_encode(*hasher, raw, salt, *iterations),
            Parsed::Argon2(h) => {
                // The C library compares the hash bytes; the rest of the string is its input.
                let version = match h.version {
                    Some(0x13) => argon2::Version::V0x13,
                    _ => argon2::Version::V0x10,
                };
                let params = argon2::Params::new(h.m, h.t, h.p, Some(h.hash.len())).ok()?;
                let hash =
                    argon2_raw(h.algorithm, version, params, raw.as_bytes(), &h.salt).ok()?;
                return Some(constant_time_compare(&hash, &h.hash));
            }
            Parsed::Bcrypt {
                hasher,
                version,
                cost,
                salt,
            } => bcrypt_encode(*hasher, raw, *cost, *salt, version).ok()?,
            Parsed::Scrypt { n, salt, r, p } => scrypt_encode(raw, salt, *n, *r, *p).ok()?,
            Parsed::Salted { hasher, salt } => salted_encode(*hasher, raw, salt),
            Parsed::Unsalted(hasher) => {
                let stored = match hasher {
                    // UnsaltedMD5PasswordHasher.verify strips the "md5$$" of the 37-character form.
                    Hasher::UnsaltedMd5 => encoded.strip_prefix("md5$$").unwrap_or(encoded),
                    _ => encoded,
                };
                return Some(constant_time_compare(stored, unsalted_encode(*hasher, raw)));
            }
        };
        Some(constant_time_compare(encoded, reencoded))
    }

    /// `hasher.harden_runtime(password, encoded)`: only PBKDF2 and bcrypt do anything (argon2 and scrypt:
    /// "too complicated to implement a sensible hardening algorithm").
    fn harden_runtime(&self, parsed: &Parsed<'_>, raw: &str) {
        match parsed {
            Parsed::Pbkdf2 {
                hasher,
                iterations,
                salt,
            } => {
                // extra_iterations = self.iterations - decoded["iterations"], run if positive.
                if let Some(extra) = self
                    .work_factors
                    .pbkdf2_iterations
                    .checked_sub(*iterations)
                    .filter(|&e| e > 0)
                {
                    let _ = pbkdf2_encode(*hasher, raw, salt, extra);
                }
            }
            Parsed::Bcrypt {
                hasher,
                version,
                cost,
                salt,
            } => {
                // diff = 2 ** (self.rounds - rounds) - 1 encodes at the stored cost.
                if let Some(shift) = self.work_factors.bcrypt_rounds.checked_sub(*cost) {
                    for _ in 1..(1u64 << shift.min(63)) {
                        let _ = bcrypt_encode(*hasher, raw, *cost, *salt, version);
                    }
                }
            }
            _ => {}
        }
    }

    // --- encoding ----------------------------------------------------------------------------------------

    /// `hasher.salt()`.
    fn new_salt_for(&self, hasher: Hasher) -> Result<String, HasherError> {
        match hasher {
            Hasher::Bcrypt | Hasher::BcryptSha256 => {
                // bcrypt.gensalt(self.rounds): "$2b$" + "%02d" + "$" + 22 characters for 16 random bytes.
                let mut salt = [0u8; 16];
                getrandom::fill(&mut salt).map_err(|e| HasherError::Backend(e.to_string()))?;
                Ok(format!(
                    "$2b${:02}${}",
                    self.work_factors.bcrypt_rounds,
                    BCRYPT_B64.encode(salt)
                ))
            }
            Hasher::UnsaltedMd5 | Hasher::UnsaltedSha1 => Ok(String::new()),
            _ => Ok(new_salt()?),
        }
    }

    /// `hasher.encode(password, salt)`.
    fn encode(&self, hasher: Hasher, raw: &str, salt: &str) -> Result<String, HasherError> {
        let w = &self.work_factors;
        match hasher {
            Hasher::Pbkdf2Sha256 | Hasher::Pbkdf2Sha1 => {
                check_encode_args(salt)?;
                Ok(pbkdf2_encode(hasher, raw, salt, w.pbkdf2_iterations))
            }
            Hasher::Argon2 => {
                // Argon2PasswordHasher.encode does not call _check_encode_args: any salt of 8+ bytes.
                if salt.len() < 8 {
                    return Err(HasherError::Argon2SaltTooShort);
                }
                let (m, t, p) = (
                    w.argon2_memory_cost,
                    w.argon2_time_cost,
                    w.argon2_parallelism,
                );
                let params = argon2::Params::new(m, t, p, Some(ARGON2_HASH_LEN))
                    .map_err(|e| HasherError::Backend(e.to_string()))?;
                let hash = argon2_raw(
                    argon2::Algorithm::Argon2id,
                    argon2::Version::V0x13,
                    params,
                    raw.as_bytes(),
                    salt.as_bytes(),
                )?;
                Ok(format!(
                    "argon2$argon2id$v=19$m={m},t={t},p={p}${}${}",
                    B64_NOPAD.encode(salt.as_bytes()),
                    B64_NOPAD.encode(hash)
                ))
            }
            Hasher::Bcrypt | Hasher::BcryptSha256 => {
                let (version, cost, salt_bytes) = parse_bcrypt_salt(salt)?;
                if !(4..=31).contains(&cost) {
                    return Err(HasherError::InvalidBcryptSalt);
                }
                if cost > self.limits.max_bcrypt_rounds {
                    return Err(HasherError::LimitExceeded("bcrypt rounds"));
                }
                bcrypt_encode(hasher, raw, cost, salt_bytes, version)
            }
            Hasher::Scrypt => {
                check_encode_args(salt)?;
                scrypt_encode(
                    raw,
                    salt,
                    w.scrypt_work_factor,
                    w.scrypt_block_size,
                    w.scrypt_parallelism,
                )
            }
            Hasher::Md5 | Hasher::Sha1 => {
                check_encode_args(salt)?;
                Ok(salted_encode(hasher, raw, salt))
            }
            Hasher::UnsaltedMd5 | Hasher::UnsaltedSha1 => {
                if !salt.is_empty() {
                    return Err(HasherError::SaltMustBeEmpty);
                }
                Ok(unsalted_encode(hasher, raw))
            }
        }
    }
}

/// Refuses work factors the algorithms reject (Django would raise on `make_password`) or that exceed the
/// limits (the hashes written could not be verified here).
fn validate_work_factors(w: &WorkFactors, limits: &Limits) -> Result<(), ConfigError> {
    fn check(
        ok: bool,
        name: &'static str,
        value: impl Into<u64>,
        reason: &'static str,
    ) -> Result<(), ConfigError> {
        if ok {
            Ok(())
        } else {
            Err(ConfigError::InvalidWorkFactor {
                name,
                value: value.into(),
                reason,
            })
        }
    }
    let i = w.pbkdf2_iterations;
    check(i >= 1, "pbkdf2_iterations", i, "must be at least 1")?;
    check(
        i <= limits.max_pbkdf2_iterations,
        "pbkdf2_iterations",
        i,
        "above Limits::max_pbkdf2_iterations",
    )?;
    let (m, t, p) = (
        w.argon2_memory_cost,
        w.argon2_time_cost,
        w.argon2_parallelism,
    );
    check(t >= 1, "argon2_time_cost", t, "must be at least 1")?;
    check(p >= 1, "argon2_parallelism", p, "must be at least 1")?;
    check(
        p <= limits.max_argon2_parallelism.min(0x00FF_FFFF),
        "argon2_parallelism",
        p,
        "above the limit",
    )?;
    check(
        u64::from(m) >= 8 * u64::from(p),
        "argon2_memory_cost",
        m,
        "must be at least 8 KiB per lane",
    )?;
    check(
        m <= limits.max_argon2_memory_cost,
        "argon2_memory_cost",
        m,
        "above Limits::max_argon2_memory_cost",
    )?;
    let work = u64::from(m) * u64::from(t);
    check(
        work <= limits.max_argon2_work,
        "argon2_memory_cost",
        m,
        "memory × time above Limits::max_argon2_work",
    )?;
    let rounds = w.bcrypt_rounds;
    check(
        (4..=31).contains(&rounds),
        "bcrypt_rounds",
        rounds,
        "bcrypt accepts 4..=31",
    )?;
    check(
        rounds <= limits.max_bcrypt_rounds,
        "bcrypt_rounds",
        rounds,
        "above Limits::max_bcrypt_rounds",
    )?;
    let (n, r, p) = (
        w.scrypt_work_factor,
        u64::from(w.scrypt_block_size),
        u64::from(w.scrypt_parallelism),
    );
    check(
        scrypt_params_accepted_by_django(n, r, p),
        "scrypt_work_factor",
        n,
        "n, r, p rejected by hashlib.scrypt (n a power of 2 > 1, 32 MiB maxmem)",
    )?;
    let work = n.checked_mul(r).and_then(|nr| nr.checked_mul(p));
    check(
        work.is_some_and(|work| work <= limits.max_scrypt_work),
        "scrypt_work_factor",
        n,
        "n·r·p above Limits::max_scrypt_work",
    )?;
    Ok(())
}

/// `BasePasswordHasher._check_encode_args`: `$` separates the fields, so a salt containing it could never be
/// decoded again.
fn check_encode_args(salt: &str) -> Result<(), HasherError> {
    if salt.is_empty() || salt.contains('$') {
        Err(HasherError::InvalidSalt)
    } else {
        Ok(())
    }
}

/// `PBKDF2PasswordHasher.encode`: `"%s$%d$%s$%s" % (algorithm, iterations, salt, b64encode(hash))`, the hash
/// `pbkdf2_hmac(digest, password_utf8, salt_utf8, iterations)` with the digest's own length.
fn pbkdf2_encode(hasher: Hasher, raw: &str, salt: &str, iterations: u32) -> String {
    let hash = if hasher == Hasher::Pbkdf2Sha1 {
        let mut out = [0u8; 20];
        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(raw.as_bytes(), salt.as_bytes(), iterations, &mut out);
        B64.encode(out)
    } else {
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(raw.as_bytes(), salt.as_bytes(), iterations, &mut out);
        B64.encode(out)
    };
    format!("{}${iterations}${salt}${hash}", hasher.algorithm())
}

/// The raw argon2 hash (`params.output_len()` bytes), the parameters already checked against the limits:
/// the crate allocates all of `m` KiB at once.
fn argon2_raw(
    algorithm: argon2::Algorithm,
    version: argon2::Version,
    params: argon2::Params,
    password: &[u8],
    salt: &[u8],
) -> Result<Vec<u8>, HasherError> {
    let mut out = vec![0u8; params.output_len().unwrap_or(ARGON2_HASH_LEN)];
    argon2::Argon2::new(algorithm, version, params)
        .hash_password_into(password, salt, &mut out)
        .map_err(|e| HasherError::Backend(e.to_string()))?;
    Ok(out)
}

fn bcrypt_version(tag: &str) -> Option<bcrypt::Version> {
    match tag {
        "2a" => Some(bcrypt::Version::TwoA),
        "2b" => Some(bcrypt::Version::TwoB),
        "2x" => Some(bcrypt::Version::TwoX),
        "2y" => Some(bcrypt::Version::TwoY),
        _ => None,
    }
}

/// pyca/bcrypt 5's `hashpw` reading of its `salt` argument: the non-empty `$`-separated fields must be a
/// version (`2a`, `2b`, `2x`, `2y`), a cost (Rust `u32` parsing) and at least 22 characters whose first 22
/// decode to the 16-byte salt. Anything else is `ValueError: Invalid salt`.
fn parse_bcrypt_salt(salt: &str) -> Result<(&str, u32, [u8; 16]), HasherError> {
    let fields: Vec<&str> = salt.split('$').filter(|f| !f.is_empty()).collect();
    let [version, cost, rest] = fields[..] else {
        return Err(HasherError::InvalidBcryptSalt);
    };
    bcrypt_version(version).ok_or(HasherError::InvalidBcryptSalt)?;
    let cost: u32 = cost.parse().map_err(|_| HasherError::InvalidBcryptSalt)?;
    let head = rest
        .as_bytes()
        .get(..22)
        .ok_or(HasherError::InvalidBcryptSalt)?;
    let salt = BCRYPT_B64
        .decode(head)
        .ok()
        .and_then(|s| <[u8; 16]>::try_from(s).ok());
    Ok((version, cost, salt.ok_or(HasherError::InvalidBcryptSalt)?))
}

/// `BCryptSHA256PasswordHasher.encode` / `BCryptPasswordHasher.encode`: `algorithm + "$" + hashpw(pw, salt)`,
/// where the SHA-256 variant first replaces the password by the 64 lowercase hex characters of its SHA-256
/// (hex, not raw bytes: raw digests may contain NUL, which bcrypt implementations treat as the end).
fn bcrypt_encode(
    hasher: Hasher,
    raw: &str,
    cost: u32,
    salt: [u8; 16],
    version: &str,
) -> Result<String, HasherError> {
    let version = bcrypt_version(version).ok_or(HasherError::InvalidBcryptSalt)?;
    let prehashed;
    let password: &[u8] = if hasher == Hasher::BcryptSha256 {
        prehashed = to_hex(&sha2::Sha256::digest(raw.as_bytes()));
        prehashed.as_bytes()
    } else {
        raw.as_bytes()
    };
    // pyca/bcrypt ≥ 5.0 raises instead of truncating (older versions truncated silently).
    if password.len() > 72 {
        return Err(HasherError::PasswordTooLong(password.len()));
    }
    let parts =
        bcrypt::hash_with_salt(password, cost, salt).map_err(|_| HasherError::InvalidBcryptSalt)?;
    Ok(format!(
        "{}${}",
        hasher.algorithm(),
        parts.format_for_version(version)
    ))
}

/// `ScryptPasswordHasher.encode`: `"%s$%d$%s$%d$%d$%s" % (algorithm, n, salt, r, p, b64encode(hash))`, the
/// hash `hashlib.scrypt(password_utf8, salt=salt_utf8, n, r, p, maxmem=0, dklen=64)`.
fn scrypt_encode(raw: &str, salt: &str, n: u64, r: u32, p: u32) -> Result<String, HasherError> {
    if !scrypt_params_accepted_by_django(n, u64::from(r), u64::from(p)) {
        return Err(HasherError::Backend(
            "scrypt parameters rejected by hashlib.scrypt".into(),
        ));
    }
    let log_n =
        u8::try_from(n.trailing_zeros()).map_err(|e| HasherError::Backend(e.to_string()))?;
    let params =
        scrypt::Params::new(log_n, r, p, 64).map_err(|e| HasherError::Backend(e.to_string()))?;
    let mut out = [0u8; 64];
    scrypt::scrypt(raw.as_bytes(), salt.as_bytes(), &params, &mut out)
        .map_err(|e| HasherError::Backend(e.to_string()))?;
    Ok(format!("scrypt${n}${salt}${r}${p}${}", B64.encode(out)))
}

/// `MD5PasswordHasher.encode` / `SHA1PasswordHasher.encode`: `"%s$%s$%s" % (algorithm, salt,
/// hexdigest(salt + password))`.
fn salted_encode(hasher: Hasher, raw: &str, salt: &str) -> String {
    let input = format!("{salt}{raw}");
    let digest = if hasher == Hasher::Sha1 {
        to_hex(&sha1::Sha1::digest(input.as_bytes()))
    } else {
        to_hex(&md5::Md5::digest(input.as_bytes()))
    };
    format!("{}${salt}${digest}", hasher.algorithm())
}

/// `UnsaltedMD5PasswordHasher.encode` (the bare hex digest) / `UnsaltedSHA1PasswordHasher.encode`
/// (`"sha1$$" + hexdigest`).
fn unsalted_encode(hasher: Hasher, raw: &str) -> String {
    if hasher == Hasher::UnsaltedSha1 {
        format!("sha1$${}", to_hex(&sha1::Sha1::digest(raw.as_bytes())))
    } else {
        to_hex(&md5::Md5::digest(raw.as_bytes()))
    }
}

#[cfg(feature = "stores")]
/// Runs CPU-heavy work on the current Tokio runtime's blocking pool.
async fn run_blocking<T, F>(work: F) -> Result<T, HasherError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let handle =
        tokio::runtime::Handle::try_current().map_err(|e| HasherError::Task(e.to_string()))?;
    handle
        .spawn_blocking(work)
        .await
        .map_err(|e| HasherError::Task(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "correct horse battery staple";

    // ../shared/django-wire-formats.md 6.3 (ran on Django; password PASSWORD, salt "abcdefghijklmnopqrstuv").
    const PBKDF2_4_2: &str =
        "pbkdf2_sha256$600000$abcdefghijklmnopqrstuv$/J0CpZ3vcK9I1h75JC/iU/sNXIXDOUp63J0kPWutYKA=";
    const PBKDF2_5_0: &str =
        "pbkdf2_sha256$720000$abcdefghijklmnopqrstuv$x00J3PDqUaldgnay5qHSvDpf/yJIBA8odZH+A+C234U=";
    const PBKDF2_5_1: &str =
        "pbkdf2_sha256$870000$abcdefghijklmnopqrstuv$nLaaNAHPq9cd/Mf08k4ly5iaFIUeqnqdisVgx2Uf3LU=";
    const PBKDF2_5_2: &str =
        "pbkdf2_sha256$1000000$abcdefghijklmnopqrstuv$ESUkIq3XvMIs+R/ZmdQSkE1EDQIVk18SzognBfgBuPQ=";
    const PBKDF2_1000: &str =
        "pbkdf2_sha256$1000$abcdefghijklmnopqrstuv$7g09gCC/g1P5ACeEb8xx77VaL+guiGRutJE6Ai8cR90=";
    const PBKDF2_SHA1_4_2: &str =
        "pbkdf2_sha1$600000$abcdefghijklmnopqrstuv$1iVLfcmCGZp5akz0FkImCUDaJwo=";
    const PBKDF2_SHA1_5_2: &str =
        "pbkdf2_sha1$1000000$abcdefghijklmnopqrstuv$ss3q3qinv6BEYlYNebQ5M700144=";
    /// Salt "saltsaltsaltsalt": 16 bytes, a weak salt for Django.
    const ARGON2: &str = "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdHNhbHRzYWx0c2FsdA$gIX6E8tH7CkRhJUEDmOTO61imAN+STeO15ugF6dwmSE";
    const BCRYPT_SHA256: &str =
        "bcrypt_sha256$$2b$12$abcdefghijklmnopqrstuuuNrZ4CeoNrvGcIepBB1WStSdG4Wu4DG";
    const BCRYPT: &str = "bcrypt$$2b$12$abcdefghijklmnopqrstuu0sDWleciW5uGBGYwxpcgAsh9WK4bWNy";
    const SCRYPT_5_2: &str = "scrypt$16384$abcdefghijklmnopqrstuv$8$5$0x1euWQz3QqrUM8IkOPN/T1sMJMcuGOUkELzaC9B0usV7G4g73yHSeW5n40Lj4Pc+G1YRkJ7RuZcBwfNQRIxhg==";
    const SCRYPT_4_2: &str = "scrypt$16384$abcdefghijklmnopqrstuv$8$1$U2pWL479uGOB7KsqQhJW01/X6NmjLKQnE7sEVseJ3W4Zxv5l7cyIM1cR8Il5Q7Ae/KxrvTRDdv4cvsrnJJB9KA==";
    const MD5: &str = "md5$abcdefghijklmnopqrstuv$522df62df99c6b41d6d951844a353d1c";
    const SHA1: &str = "sha1$abcdefghijklmnopqrstuv$ce85a1ae8efd9ec333fc35ee45d663a9d2098c8f";
    const UNSALTED_MD5: &str = "9cc2ae8a1ba7a93da39b46fc1019c481";
    const UNSALTED_MD5_PREFIXED: &str = "md5$$9cc2ae8a1ba7a93da39b46fc1019c481";
    const UNSALTED_SHA1: &str = "sha1$$abf7aad6438836dbe526aa231abde2d0eef74d42";

    // Ran on Django 5.2: make_password(PASSWORD, "abcdefghijklmnopqrstuv", "argon2"), a 22-byte salt.
    const ARGON2_STRONG_SALT: &str = "argon2$argon2id$v=19$m=102400,t=2,p=8$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dg$c1VUQUv16l773W3itExDSXltC+IQKDRfkGyByMzPIVM";
    // Ran with argon2-cffi 25.1 `low_level.hash_secret` (salt "saltsaltsaltsalt", m=64, t=1, p=1), as
    // older argon2-cffi versions and other tools leave them; the v-less one is the v=16 one without "$v=16".
    const ARGON2_OLDER_FORMS: [&str; 6] = [
        "argon2$argon2i$v=16$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$ePtfNi94yPMHVcVQdthAbi/SDQQk3eJiZDDjz3FlkN4",
        "argon2$argon2i$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$ePtfNi94yPMHVcVQdthAbi/SDQQk3eJiZDDjz3FlkN4",
        "argon2$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$DBCU1Oqpm8bJijsFjSkm7wHmerLl7WSGV64A/yKzjdo",
        "argon2$argon2d$v=16$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$SYThelEKu3e02LuHoeQ9qdHMvLvF4LV35rQnHZyoB+4",
        "argon2$argon2d$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aF7C/V4b6SlmeRKpZLTokguJwPc3nNCrBRZwFSDSzSs",
        "argon2$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$Vmt0CrPdnua8O5IAkqihm+5n2s1qK+vxwosYXk5yZUk",
    ];
    // hash_len 16 and p = 2: verifies, but is not Django's shape.
    const ARGON2_SHORT_HASH: &str =
        "argon2$argon2id$v=19$m=64,t=1,p=2$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dg$mt/VZ0Cp5VXBUpw0dpc4uQ";
    // Ran on Django 5.2: PBKDF2PasswordHasher().encode(PASSWORD, salt, iterations).
    const PBKDF2_WEAK_SALT: &str =
        "pbkdf2_sha256$1000000$abcdefghijklmnopqrstu$ewTkUKnQetBU416ZBHaFciSHSX6laKQv1k3lb0+K47Y=";
    const BCRYPT_SHA256_COST_4: &str =
        "bcrypt_sha256$$2b$04$abcdefghijklmnopqrstuuaBT8mpw5tGdD3eO40znWcQP/dT9hEVK";

    const EXTRA: [Hasher; 5] = [
        Hasher::Bcrypt,
        Hasher::Md5,
        Hasher::Sha1,
        Hasher::UnsaltedMd5,
        Hasher::UnsaltedSha1,
    ];

    /// Django's default list plus `extra`, `preferred` moved to the front when given.
    fn configured(
        work: WorkFactors,
        preferred: Option<Hasher>,
        extra: &[Hasher],
    ) -> PasswordHashers {
        let mut list: Vec<Hasher> = PasswordHashers::default().hashers().to_vec();
        list.extend_from_slice(extra);
        if let Some(first) = preferred {
            list.retain(|&h| h != first);
            list.insert(0, first);
        }
        PasswordHashers::new(list.iter().map(|h| h.dotted_path()), work).unwrap()
    }

    /// Work factors that keep tests fast (the oracle tests use the same ones on the Django side).
    fn fast() -> WorkFactors {
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

    fn v(is_correct: bool, must_update: bool) -> Verification {
        Verification {
            is_correct,
            must_update,
        }
    }

    #[test]
    fn every_documented_vector_verifies_with_djangos_must_update_under_5_2_and_4_2() {
        // (encoded, must_update under 5.2, must_update under 4.2), PBKDF2 preferred as by default.
        let cases = [
            (PBKDF2_4_2, true, false),
            (PBKDF2_5_0, true, true),
            (PBKDF2_5_1, true, true),
            (PBKDF2_5_2, false, true),
            (PBKDF2_1000, true, true),
            (PBKDF2_SHA1_4_2, true, true),
            (PBKDF2_SHA1_5_2, true, true),
            (ARGON2, true, true),
            (BCRYPT_SHA256, true, true),
            (BCRYPT, true, true),
            (SCRYPT_5_2, true, true),
            (SCRYPT_4_2, true, true),
            (MD5, true, true),
            (SHA1, true, true),
            (UNSALTED_MD5, true, true),
            (UNSALTED_MD5_PREFIXED, true, true),
            (UNSALTED_SHA1, true, true),
        ];
        let django_5_2 = configured(WorkFactors::django_5_2(), None, &EXTRA);
        let django_4_2 = configured(WorkFactors::django_4_2(), None, &EXTRA);
        for (encoded, on_5_2, on_4_2) in cases {
            assert_eq!(
                django_5_2.check_password(PASSWORD, encoded),
                v(true, on_5_2),
                "5.2: {encoded}"
            );
            assert_eq!(
                django_4_2.check_password(PASSWORD, encoded),
                v(true, on_4_2),
                "4.2: {encoded}"
            );
        }
    }

    #[test]
    fn each_hasher_as_preferred_applies_its_own_must_update() {
        // (preferred, encoded, must_update under 5.2, under 4.2)
        let cases = [
            (Hasher::Pbkdf2Sha256, PBKDF2_WEAK_SALT, true, true),
            (Hasher::Pbkdf2Sha1, PBKDF2_SHA1_5_2, false, true),
            (Hasher::Pbkdf2Sha1, PBKDF2_SHA1_4_2, true, false),
            (Hasher::Argon2, ARGON2, true, true),
            (Hasher::Argon2, ARGON2_STRONG_SALT, false, false),
            (Hasher::BcryptSha256, BCRYPT_SHA256, false, false),
            (Hasher::BcryptSha256, BCRYPT_SHA256_COST_4, true, true),
            (Hasher::Bcrypt, BCRYPT, false, false),
            (Hasher::Scrypt, SCRYPT_5_2, false, true),
            (Hasher::Scrypt, SCRYPT_4_2, true, false),
            (Hasher::Md5, MD5, false, false),
            (Hasher::Sha1, SHA1, false, false),
            (Hasher::UnsaltedMd5, UNSALTED_MD5, false, false),
            (Hasher::UnsaltedMd5, UNSALTED_MD5_PREFIXED, false, false),
            (Hasher::UnsaltedSha1, UNSALTED_SHA1, false, false),
        ];
        for (preferred, encoded, on_5_2, on_4_2) in cases {
            for (work, expected) in [
                (WorkFactors::django_5_2(), on_5_2),
                (WorkFactors::django_4_2(), on_4_2),
            ] {
                let hashers = configured(work, Some(preferred), &EXTRA);
                assert_eq!(
                    hashers.check_password(PASSWORD, encoded),
                    v(true, expected),
                    "{encoded}"
                );
                assert_eq!(hashers.must_update(encoded).unwrap(), expected, "{encoded}");
            }
        }
    }

    #[test]
    fn argon2_forms_argon2_cffi_can_leave_verify() {
        let argon2_first = configured(WorkFactors::django_5_2(), Some(Hasher::Argon2), &[]);
        for encoded in ARGON2_OLDER_FORMS.into_iter().chain([ARGON2_SHORT_HASH]) {
            // Not Django's type, version, parameters or hash length: verified, then upgraded.
            assert_eq!(
                argon2_first.check_password(PASSWORD, encoded),
                v(true, true),
                "{encoded}"
            );
            assert_eq!(
                argon2_first.check_password("wrong", encoded),
                v(false, true),
                "{encoded}"
            );
        }
        // The version-less form means version 0x10: the same hash as v=16 ...
        assert_eq!(
            ARGON2_OLDER_FORMS[1],
            ARGON2_OLDER_FORMS[0].replace("$v=16", "")
        );
        // ... and not the v=19 one.
        let v19_hash_without_version = ARGON2_OLDER_FORMS[2].replace("$v=19", "");
        assert_eq!(
            argon2_first.check_password(PASSWORD, &v19_hash_without_version),
            v(false, true)
        );
    }

    #[test]
    fn wrong_passwords_do_not_verify() {
        let hashers = configured(WorkFactors::django_5_2(), None, &EXTRA);
        for encoded in [
            PBKDF2_5_2,
            ARGON2,
            BCRYPT_SHA256,
            BCRYPT,
            SCRYPT_5_2,
            MD5,
            SHA1,
            UNSALTED_MD5,
            UNSALTED_MD5_PREFIXED,
            UNSALTED_SHA1,
        ] {
            for wrong in [
                "",
                "correct horse battery stapl",
                "Correct horse battery staple",
                "é😀",
            ] {
                let expected = v(false, encoded != PBKDF2_5_2);
                assert_eq!(
                    hashers.check_password(wrong, encoded),
                    expected,
                    "{wrong:?} against {encoded}"
                );
            }
        }
    }

    #[test]
    fn retired_hashers_verify_only_when_configured() {
        let default = PasswordHashers::default();
        for encoded in [
            BCRYPT,
            MD5,
            SHA1,
            UNSALTED_MD5,
            UNSALTED_MD5_PREFIXED,
            UNSALTED_SHA1,
        ] {
            assert_eq!(
                default.check_password(PASSWORD, encoded),
                v(false, false),
                "{encoded}"
            );
            assert!(matches!(
                default.must_update(encoded),
                Err(HasherError::UnknownAlgorithm(_))
            ));
        }
        // Salted SHA-1 enabled does not enable the unsalted form (identify_hasher routes it elsewhere).
        let sha1_only = configured(
            WorkFactors::django_4_2(),
            None,
            &[Hasher::Sha1, Hasher::Md5],
        );
        assert_eq!(sha1_only.check_password(PASSWORD, SHA1), v(true, true));
        assert_eq!(sha1_only.check_password(PASSWORD, MD5), v(true, true));
        assert_eq!(
            sha1_only.check_password(PASSWORD, UNSALTED_SHA1),
            v(false, false)
        );
        assert_eq!(
            sha1_only.check_password(PASSWORD, UNSALTED_MD5),
            v(false, false)
        );
        assert_eq!(
            sha1_only.check_password(PASSWORD, UNSALTED_MD5_PREFIXED),
            v(false, false)
        );
    }

    #[test]
    fn identify_algorithm_follows_djangos_rules() {
        assert_eq!(identify_algorithm(UNSALTED_MD5), "unsalted_md5");
        assert_eq!(identify_algorithm(UNSALTED_MD5_PREFIXED), "unsalted_md5");
        assert_eq!(identify_algorithm(UNSALTED_SHA1), "unsalted_sha1");
        // Lengths count characters, as Python's len(): 32 non-ASCII characters are "unsalted_md5".
        assert_eq!(identify_algorithm(&"é".repeat(32)), "unsalted_md5");
        assert_eq!(identify_algorithm(&"a".repeat(31)), &"a".repeat(31));
        // md5$$ with the wrong length is salted md5 (with an empty salt, which never verifies).
        assert_eq!(identify_algorithm("md5$$abc"), "md5");
        assert_eq!(identify_algorithm(PBKDF2_5_2), "pbkdf2_sha256");
        assert_eq!(identify_algorithm(BCRYPT), "bcrypt");
        assert_eq!(identify_algorithm(""), "");
        let hashers = PasswordHashers::default();
        assert_eq!(hashers.identify_hasher(ARGON2).unwrap(), Hasher::Argon2);
        // get_hasher("default") is the preferred hasher: "default$…" identifies, then never verifies.
        assert_eq!(
            hashers.identify_hasher("default$x").unwrap(),
            Hasher::Pbkdf2Sha256
        );
        assert!(
            matches!(hashers.identify_hasher("md5$a$b"), Err(HasherError::UnknownAlgorithm(a)) if a == "md5")
        );
    }

    /// Values that can never verify, that Django rejects with an exception, or beyond the limits.
    fn malformed_corpus() -> Vec<String> {
        let salt16 = "c2FsdHNhbHRzYWx0c2FsdA";
        let hash = "gIX6E8tH7CkRhJUEDmOTO61imAN+STeO15ugF6dwmSE";
        let bcrypt_tail = "abcdefghijklmnopqrstuu0sDWleciW5uGBGYwxpcgAsh9WK4bWNy";
        let mut corpus: Vec<String> = [
            "",
            "!abc",
            "!",
            "default",
            "default$x",
            "unknown$1$2$3",
            "$",
            "$$$$$$",
            // PBKDF2: truncated, empty salt, zero/negative/non-canonical/overflowing/over-cap iterations.
            "pbkdf2_sha256",
            "pbkdf2_sha256$",
            "pbkdf2_sha256$1000",
            "pbkdf2_sha256$1000$abcdefghijklmnopqrstuv",
            "pbkdf2_sha256$1000$$7g09gCC/g1P5ACeEb8xx77VaL+guiGRutJE6Ai8cR90=",
            "pbkdf2_sha256$0$abcdefghijklmnopqrstuv$7g09gCC/g1P5ACeEb8xx77VaL+guiGRutJE6Ai8cR90=",
            "pbkdf2_sha256$-1000$abcdefghijklmnopqrstuv$x",
            "pbkdf2_sha256$+1000$abcdefghijklmnopqrstuv$7g09gCC/g1P5ACeEb8xx77VaL+guiGRutJE6Ai8cR90=",
            "pbkdf2_sha256$01000$abcdefghijklmnopqrstuv$7g09gCC/g1P5ACeEb8xx77VaL+guiGRutJE6Ai8cR90=",
            "pbkdf2_sha256$1_000$abcdefghijklmnopqrstuv$7g09gCC/g1P5ACeEb8xx77VaL+guiGRutJE6Ai8cR90=",
            "pbkdf2_sha256$ 1000$abcdefghijklmnopqrstuv$x",
            "pbkdf2_sha256$99999999999999999999999$abcdefghijklmnopqrstuv$x",
            "pbkdf2_sha256$4294967296$abcdefghijklmnopqrstuv$x",
            "pbkdf2_sha256$100000001$abcdefghijklmnopqrstuv$x",
            "pbkdf2_sha1$abc$def$ghi",
            // argon2: overflowing/over-cap/zero parameters, m < 8p, unknown versions, bad base64, short
            // salt or hash, stray fields, wrong type names.
            "argon2",
            "argon2$",
            "argon2$argon2id",
            "argon2$argon2id$v=19$m=102400,t=2,p=8",
            "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdHNhbHRzYWx0c2FsdA",
            "argon2$argon2x$v=19$m=102400,t=2,p=8$c2FsdHNhbHRzYWx0c2FsdA$x",
            "argon2$$argon2id$v=19$m=102400,t=2,p=8$c2FsdHNhbHRzYWx0c2FsdA$gIX6E8tH7CkRhJUEDmOTO61imAN+STeO15ugF6dwmSE",
        ]
        .map(String::from)
        .to_vec();
        for params in [
            "v=19$m=999999999999,t=2,p=8",
            "v=19$m=4294967295,t=2,p=8",
            "v=19$m=4294967296,t=2,p=8",
            "v=19$m=2000000,t=1,p=8",
            "v=19$m=102400,t=4294967295,p=8",
            "v=19$m=102400,t=100,p=8",
            "v=19$m=102400,t=0,p=8",
            "v=19$m=102400,t=2,p=0",
            "v=19$m=64,t=2,p=9",
            "v=19$m=102400,t=2,p=16777216",
            "v=19$m=102400,t=2,p=256",
            "v=18$m=102400,t=2,p=8",
            "v=0$m=102400,t=2,p=8",
            "v=019$m=102400,t=2,p=8",
            "v=$m=102400,t=2,p=8",
            "v=19$m=0102400,t=2,p=8",
            "v=19$m=102400,t=2,p=8,x=1",
            "v=19$t=2,m=102400,p=8",
            "v=19$m=102400,t=2",
            "v=19$m=-1,t=2,p=8",
        ] {
            corpus.push(format!("argon2$argon2id${params}${salt16}${hash}"));
        }
        for (salt, hash) in [
            ("c2FsdHNhbHRzYWx0c2FsdA=", hash),
            ("c2FsdHNhbHRzYWx0c2FsdA==", hash),
            ("c2FsdHNhbHRzYWx0c2FsdB", hash),
            ("c2FsdHNhbHRzYWx0c2Fsd", hash),
            ("!!!!", hash),
            ("c2FsdA", hash),
            ("", hash),
            (salt16, "gIX6"),
            (salt16, ""),
            (salt16, "gIX6E8tH7CkRhJUEDmOTO61imAN+STeO15ugF6dwmSF"),
            (salt16, "gIX6E8tH7CkRhJUEDmOTO61imAN+STeO15ugF6dwmSE$"),
            (salt16, "gIX6E8tH7CkRhJUEDmOTO61imAN+STeO15ugF6dwmSE\0"),
            (salt16, "gIX6E8tH7CkRhJUEDmOTO61imAN+STeO15ugF6dwmSE "),
        ] {
            corpus.push(format!(
                "argon2$argon2id$v=19$m=102400,t=2,p=8${salt}${hash}"
            ));
        }
        // scrypt: n not a power of two, too small or enormous, Django's 32 MiB, zero r/p, missing/extra
        // fields, empty salt, over the work cap.
        for (n, r, p) in [
            ("16385", "8", "1"),
            ("1", "8", "1"),
            ("0", "8", "1"),
            ("1099511627776", "8", "1"),
            ("18446744073709551616", "8", "1"),
            ("32768", "8", "1"),
            ("65536", "1", "1"),
            ("16384", "0", "1"),
            ("16384", "8", "0"),
            ("16384", "8", "4294967296"),
            ("16384", "8", "100000000"),
            ("2", "1", "262144"),
            ("16384", "8", "128"),
            ("016384", "8", "1"),
            ("16384", "-8", "1"),
        ] {
            corpus.push(format!(
                "scrypt${n}$abcdefghijklmnopqrstuv${r}${p}$U2pWL479uGOB7KsqQhJW01"
            ));
        }
        corpus.extend(
            [
                "scrypt$16384$abcdefghijklmnopqrstuv$8$1",
                "scrypt$16384$$8$1$U2pWL479uGOB7KsqQhJW01",
                "scrypt$16384$abcdefghijklmnopqrstuv$8$1$U2pW$extra",
                "scrypt",
            ]
            .map(String::from),
        );
        // bcrypt: cost outside 4..=31 or above the cap, unknown version, wrong shape, bad salt.
        for head in [
            "$2b$99$", "$2b$03$", "$2b$32$", "$2b$17$", "$2b$1$", "$2b$+4$", "$2c$12$", "$2$12$",
        ] {
            corpus.push(format!("bcrypt${head}{bcrypt_tail}"));
            corpus.push(format!("bcrypt_sha256${head}{bcrypt_tail}"));
        }
        corpus.extend([
            format!("bcrypt$2b$12${bcrypt_tail}"),
            format!("bcrypt$$$2b$12${bcrypt_tail}"),
            format!("bcrypt$$2b$12${}", &bcrypt_tail[..40]),
            format!("bcrypt$$2b$12${bcrypt_tail}x"),
            format!("bcrypt$$2b$12$!bcdefghijklmnopqrstuu{}", &bcrypt_tail[22..]),
            format!("bcrypt$$2b$12$abcdefghijklmnopqrstuv{}", &bcrypt_tail[22..]),
            format!("bcrypt$$2b$12$abcdefghijklmnopqrstué{}", &bcrypt_tail[23..]),
            "bcrypt".into(),
            "bcrypt$".into(),
            "bcrypt$$".into(),
        ]);
        // md5/sha1 with an empty salt or missing fields, unsalted shapes of the wrong length.
        corpus.extend(
            [
                "md5$$abc",
                "md5$abc",
                "md5",
                "sha1$$abf7aad6438836dbe526aa231abde2d0eef74d4",
                "sha1$$abf7aad6438836dbe526aa231abde2d0eef74d421",
                "sha1$x",
                "unsalted_md5$9cc2ae8a1ba7a93da39b46fc1019c481",
                "unsalted_sha1$abf7aad6438836dbe526aa231abde2d0eef74d42",
            ]
            .map(String::from),
        );
        corpus.push(format!(
            "pbkdf2_sha256$1000$abcdefghijklmnopqrstuv${}",
            "A".repeat(5000)
        ));
        corpus
    }

    #[test]
    fn malformed_and_hostile_values_are_no_match_without_panic() {
        for preferred in [
            Hasher::Pbkdf2Sha256,
            Hasher::Argon2,
            Hasher::Bcrypt,
            Hasher::Scrypt,
            Hasher::Md5,
        ] {
            let hashers = configured(fast(), Some(preferred), &EXTRA);
            for encoded in malformed_corpus() {
                for raw in [PASSWORD, ""] {
                    assert_eq!(
                        hashers.check_password(raw, &encoded),
                        v(false, false),
                        "{encoded:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn hostile_bcrypt_cost_under_the_default_configuration() {
        let hashers = configured(WorkFactors::django_5_2(), None, &[Hasher::Bcrypt]);
        let cost_99 = BCRYPT.replace("$12$", "$99$");
        assert_eq!(hashers.check_password(PASSWORD, &cost_99), v(false, false));
        assert!(matches!(
            hashers.must_update(&cost_99),
            Err(HasherError::Malformed)
        ));
    }

    #[test]
    fn values_that_parse_but_do_not_match_keep_djangos_must_update() {
        let hashers = configured(WorkFactors::django_5_2(), None, &EXTRA);
        // A damaged hash part is still decoded by Django (PBKDF2 never decodes it): no match, and the
        // must_update of its parameters.
        let damaged = PBKDF2_1000.replace("7g09", "7g0!");
        assert_eq!(hashers.check_password(PASSWORD, &damaged), v(false, true));
        let damaged = PBKDF2_5_2.replace("ESUk", "ESU");
        assert_eq!(hashers.check_password(PASSWORD, &damaged), v(false, false));
        let uppercase = UNSALTED_MD5.to_uppercase();
        assert_eq!(hashers.check_password(PASSWORD, &uppercase), v(false, true));
    }

    #[test]
    fn unusable_passwords() {
        let unusable = make_unusable_password().unwrap();
        assert_eq!(unusable.len(), 1 + UNUSABLE_PASSWORD_SUFFIX_LENGTH);
        assert!(unusable.starts_with('!'));
        assert!(!is_password_usable(&unusable));
        assert_ne!(unusable, make_unusable_password().unwrap());
        assert!(is_password_usable(PBKDF2_5_2));
        assert!(is_password_usable(""));
        let hashers = configured(fast(), None, &[]);
        assert_eq!(hashers.check_password("", &unusable), v(false, false));
        assert_eq!(
            hashers.check_password(&unusable, &unusable),
            v(false, false)
        );
    }

    #[test]
    fn make_password_with_salt_reproduces_djangos_vectors() {
        let hashers = configured(WorkFactors::django_5_2(), None, &EXTRA);
        let salt = "abcdefghijklmnopqrstuv";
        let make = |salt: &str, hasher| {
            hashers
                .make_password_with_salt(PASSWORD, salt, Some(hasher))
                .unwrap()
        };
        assert_eq!(make(salt, Hasher::Pbkdf2Sha256), PBKDF2_5_2);
        assert_eq!(make(salt, Hasher::Pbkdf2Sha1), PBKDF2_SHA1_5_2);
        assert_eq!(make("saltsaltsaltsalt", Hasher::Argon2), ARGON2);
        assert_eq!(make(salt, Hasher::Argon2), ARGON2_STRONG_SALT);
        assert_eq!(
            make("$2b$12$abcdefghijklmnopqrstuu", Hasher::BcryptSha256),
            BCRYPT_SHA256
        );
        // The salt's cost wins over the configured rounds, as in Django.
        assert_eq!(
            make("$2b$04$abcdefghijklmnopqrstuu", Hasher::BcryptSha256),
            BCRYPT_SHA256_COST_4
        );
        assert_eq!(
            make("$2b$12$abcdefghijklmnopqrstuu", Hasher::Bcrypt),
            BCRYPT
        );
        assert_eq!(make(salt, Hasher::Scrypt), SCRYPT_5_2);
        assert_eq!(make(salt, Hasher::Md5), MD5);
        assert_eq!(make(salt, Hasher::Sha1), SHA1);
        assert_eq!(make("", Hasher::UnsaltedMd5), UNSALTED_MD5);
        assert_eq!(make("", Hasher::UnsaltedSha1), UNSALTED_SHA1);
        let django_4_2 = configured(WorkFactors::django_4_2(), None, &[]);
        let make_4_2 = |hasher| {
            django_4_2
                .make_password_with_salt(PASSWORD, salt, Some(hasher))
                .unwrap()
        };
        assert_eq!(make_4_2(Hasher::Pbkdf2Sha256), PBKDF2_4_2);
        assert_eq!(make_4_2(Hasher::Scrypt), SCRYPT_4_2);
    }

    #[test]
    fn make_password_refuses_what_django_refuses() {
        let hashers = configured(fast(), None, &EXTRA);
        let make =
            |salt: &str, hasher| hashers.make_password_with_salt(PASSWORD, salt, Some(hasher));
        for hasher in [
            Hasher::Pbkdf2Sha256,
            Hasher::Pbkdf2Sha1,
            Hasher::Scrypt,
            Hasher::Md5,
            Hasher::Sha1,
        ] {
            assert!(
                matches!(make("a$b", hasher), Err(HasherError::InvalidSalt)),
                "{hasher:?}"
            );
        }
        assert!(matches!(
            make("short", Hasher::Argon2),
            Err(HasherError::Argon2SaltTooShort)
        ));
        assert!(matches!(
            make("x", Hasher::UnsaltedMd5),
            Err(HasherError::SaltMustBeEmpty)
        ));
        for bad in [
            "abcdefghijklmnopqrstuv",
            "$2b$99$abcdefghijklmnopqrstuu",
            "$2z$12$abcdefghijklmnopqrstuu",
        ] {
            assert!(
                matches!(
                    make(bad, Hasher::Bcrypt),
                    Err(HasherError::InvalidBcryptSalt)
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            make("$2b$20$abcdefghijklmnopqrstuu", Hasher::Bcrypt),
            Err(HasherError::LimitExceeded(_))
        ));
        // bcrypt reads 72 bytes at most; pyca/bcrypt 5 refuses longer passwords, bcrypt_sha256 does not care.
        let long = "x".repeat(73);
        let bcrypt_first = configured(fast(), Some(Hasher::Bcrypt), &[]);
        assert!(matches!(
            bcrypt_first.make_password(&long),
            Err(HasherError::PasswordTooLong(73))
        ));
        assert!(bcrypt_first.make_password(&"x".repeat(72)).is_ok());
        let encoded = hashers
            .make_password_with_salt(&long, "", Some(Hasher::BcryptSha256))
            .unwrap();
        assert_eq!(hashers.check_password(&long, &encoded), v(true, true));
        let not_configured = configured(fast(), None, &[]);
        assert!(matches!(
            not_configured.make_password_with_salt(PASSWORD, "", Some(Hasher::Md5)),
            Err(HasherError::UnknownAlgorithm(a)) if a == "md5"
        ));
    }

    #[test]
    fn a_bcrypt_password_over_72_bytes_is_no_match_as_with_pyca_bcrypt_5() {
        let hashers = configured(fast(), Some(Hasher::Bcrypt), &[]);
        let encoded = hashers.make_password(&"x".repeat(72)).unwrap();
        assert_eq!(
            hashers.check_password(&"x".repeat(72), &encoded),
            v(true, false)
        );
        assert_eq!(
            hashers.check_password(&"x".repeat(73), &encoded),
            v(false, false)
        );
    }

    #[test]
    fn make_password_round_trips_in_djangos_formats() {
        let passwords = [
            "",
            PASSWORD,
            "é",
            "😀 emoji",
            &"long password ".repeat(8),
            "nul\0byte",
        ];
        for preferred in Hasher::ALL {
            let hashers = configured(fast(), Some(preferred), &EXTRA);
            for raw in passwords {
                if preferred == Hasher::Bcrypt && raw.len() > 72 {
                    continue;
                }
                let encoded = hashers.make_password(raw).unwrap();
                assert_eq!(
                    hashers.identify_hasher(&encoded).unwrap(),
                    preferred,
                    "{encoded}"
                );
                assert_eq!(
                    hashers.check_password(raw, &encoded),
                    v(true, false),
                    "{raw:?} {encoded}"
                );
                assert!(!hashers.check_password("wrong", &encoded).is_correct);
                assert!(!hashers.must_update(&encoded).unwrap());
            }
        }
        let hashers = configured(fast(), Some(Hasher::Argon2), &[]);
        let encoded = hashers.make_password(PASSWORD).unwrap();
        let prefix = "argon2$argon2id$v=19$m=64,t=1,p=2$";
        assert!(encoded.starts_with(prefix), "{encoded}");
        let (salt, hash) = encoded[prefix.len()..].split_once('$').unwrap();
        let salt = B64_NOPAD.decode(salt).unwrap();
        assert_eq!(salt.len(), 22);
        assert!(
            salt.iter()
                .all(|b| RANDOM_STRING_CHARS.as_bytes().contains(b))
        );
        assert_eq!(B64_NOPAD.decode(hash).unwrap().len(), ARGON2_HASH_LEN);
        let pbkdf2 = configured(fast(), None, &[])
            .make_password(PASSWORD)
            .unwrap();
        let salt = pbkdf2.split('$').nth(2).unwrap();
        assert_eq!(salt.len(), 22);
        let bcrypt = configured(fast(), Some(Hasher::BcryptSha256), &[])
            .make_password(PASSWORD)
            .unwrap();
        assert!(
            bcrypt.starts_with("bcrypt_sha256$$2b$04$")
                && bcrypt.len() == "bcrypt_sha256$".len() + 60
        );
    }

    #[test]
    fn salts_carry_128_bits_as_django_counts_them() {
        assert_eq!(new_salt().unwrap().len(), 22);
        assert!(must_update_salt(21));
        assert!(!must_update_salt(22));
        assert!(must_update_salt(0));
    }

    #[test]
    fn scrypt_parameters_follow_openssls_32_mib_rule() {
        // Checked against Python's hashlib.scrypt(maxmem=0) on OpenSSL 3.0.
        for (n, r, p, ok) in [
            (1 << 14, 8, 5, true),
            (1 << 14, 8, 1, true),
            (1 << 15, 8, 1, false),
            (2, 1, 1, true),
            (1 << 15, 1, 1, true),
            (1 << 16, 1, 1, false),
            (1 << 16, 2, 1, true),
            (1 << 14, 15, 1, true),
            (1 << 14, 16, 1, false),
            (16, 1, 262_000, true),
            (16, 1, 262_143, false),
            (1 << 17, 1, 1, false),
            (16385, 8, 1, false),
            (1, 8, 1, false),
            (0, 8, 1, false),
            (16, 0, 1, false),
            (16, 8, 0, false),
            (1 << 63, 8, 1, false),
            (16, u64::MAX, 1, false),
        ] {
            assert_eq!(
                scrypt_params_accepted_by_django(n, r, p),
                ok,
                "n={n} r={r} p={p}"
            );
        }
    }

    #[test]
    fn configuration_mirrors_password_hashers() {
        assert_eq!(
            PasswordHashers::default().hashers(),
            PasswordHashers::new(DEFAULT_PASSWORD_HASHERS, WorkFactors::default())
                .unwrap()
                .hashers()
        );
        assert_eq!(PasswordHashers::default().preferred(), Hasher::Pbkdf2Sha256);
        assert_eq!(
            PasswordHashers::new(["myproject.hashers.MyHasher"], WorkFactors::default())
                .unwrap_err(),
            ConfigError::UnknownHasher("myproject.hashers.MyHasher".into())
        );
        assert_eq!(
            PasswordHashers::new(Vec::<String>::new(), WorkFactors::default()).unwrap_err(),
            ConfigError::NoHashers
        );
        for hasher in Hasher::ALL {
            assert_eq!(Hasher::from_dotted_path(hasher.dotted_path()), Some(hasher));
            assert_eq!(Hasher::from_algorithm(hasher.algorithm()), Some(hasher));
        }
        for preset in WorkFactors::DJANGO_VERSIONS {
            let work = WorkFactors::for_django_version(preset).unwrap();
            assert!(
                PasswordHashers::new(DEFAULT_PASSWORD_HASHERS, work).is_ok(),
                "{preset}"
            );
        }
        assert_eq!(WorkFactors::django_5_0().pbkdf2_iterations, 720_000);
        assert_eq!(WorkFactors::django_5_1().pbkdf2_iterations, 870_000);
        assert_eq!(WorkFactors::django_5_1().scrypt_parallelism, 5);
        assert_eq!(WorkFactors::django_5_0().scrypt_parallelism, 1);
        // The installed Djangos' `PBKDF2PasswordHasher.iterations` (hashers_django proves them per run).
        assert_eq!(WorkFactors::django_5_2().pbkdf2_iterations, 1_000_000);
        assert_eq!(WorkFactors::django_6_0().pbkdf2_iterations, 1_200_000);
        assert_eq!(WorkFactors::django_6_1().pbkdf2_iterations, 1_500_000);
        assert_eq!(WorkFactors::default(), WorkFactors::django_6_1());
        assert_eq!(WorkFactors::for_django_version("6.2"), None);
        let invalid = [
            WorkFactors {
                pbkdf2_iterations: 0,
                ..fast()
            },
            WorkFactors {
                pbkdf2_iterations: 100_000_001,
                ..fast()
            },
            WorkFactors {
                bcrypt_rounds: 3,
                ..fast()
            },
            WorkFactors {
                bcrypt_rounds: 17,
                ..fast()
            },
            WorkFactors {
                scrypt_work_factor: 1000,
                ..fast()
            },
            WorkFactors {
                scrypt_work_factor: 1 << 15,
                ..WorkFactors::django_5_2()
            },
            WorkFactors {
                argon2_memory_cost: 15,
                ..fast()
            },
            WorkFactors {
                argon2_time_cost: 0,
                ..fast()
            },
            WorkFactors {
                argon2_memory_cost: 2 << 20,
                ..fast()
            },
        ];
        for work in invalid {
            assert!(
                matches!(
                    PasswordHashers::new(DEFAULT_PASSWORD_HASHERS, work),
                    Err(ConfigError::InvalidWorkFactor { .. })
                ),
                "{work:?}"
            );
        }
    }

    #[test]
    fn the_blocking_api_runs_on_tokios_blocking_pool() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let hashers = Arc::new(configured(fast(), None, &[]));
        runtime.block_on(async {
            let encoded = hashers
                .clone()
                .make_password_blocking("é😀".into())
                .await
                .unwrap();
            let verification = hashers
                .clone()
                .check_password_blocking("é😀".into(), encoded)
                .await
                .unwrap();
            assert_eq!(verification, v(true, false));
        });
        // Outside a runtime: an error, not a panic.
        let future = hashers.check_password_blocking("x".into(), PBKDF2_1000.into());
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut context) {
            std::task::Poll::Ready(Err(HasherError::Task(_))) => {}
            other => panic!("expected a Task error, got {other:?}"),
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Any text after a known algorithm prefix: never a panic, never a match for a password that
            /// was not hashed.
            #[test]
            fn arbitrary_values_never_panic(
                prefix in prop::sample::select(vec![
                    "", "pbkdf2_sha256$", "pbkdf2_sha1$1000$", "argon2$argon2id$v=19$m=", "argon2$argon2i$",
                    "bcrypt$$2b$", "bcrypt_sha256$$2b$04$", "scrypt$", "scrypt$16$", "md5$", "sha1$$", "md5$$",
                ]),
                rest in "[ -~é😀\\$]{0,80}",
                raw in "[ -~é]{0,20}",
            ) {
                let hashers = configured(fast(), None, &EXTRA);
                let encoded = format!("{prefix}{rest}");
                let verification = hashers.check_password(&raw, &encoded);
                prop_assert!(!verification.is_correct || verification.must_update || hashers.must_update(&encoded).is_ok());
                let _ = hashers.must_update(&encoded);
            }
        }
    }
}
