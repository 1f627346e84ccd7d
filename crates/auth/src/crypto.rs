//! `django.utils.crypto`: `salted_hmac`, `constant_time_compare`, `get_random_string`.

use hmac::digest::block_buffer::Eager;
use hmac::digest::core_api::{
    BlockSizeUser, BufferKindUser, CoreProxy, FixedOutputCore, UpdateCore,
};
use hmac::digest::typenum::{IsLess, Le, NonZero, U256};
use hmac::digest::{Digest, HashMarker, KeyInit};
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

/// The hash functions `salted_hmac` and `Signer` accept (`hashlib.<name>` in Django).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Django's historical default; still the default of `salted_hmac` itself.
    Sha1,
    /// SHA-256: the algorithm of `Signer` (Django ≥ 3.1) and of `get_session_auth_hash`.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl Algorithm {
    /// The name Django uses (`"sha256"`), as in `Signer(algorithm="sha256")`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// The algorithm for a `hashlib` name (`"sha1"`, `"sha256"`, `"sha512"`), the inverse of `name`;
    /// `None` for any other name.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "sha1" => Some(Algorithm::Sha1),
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

/// `django.utils.crypto.salted_hmac(key_salt, value, secret, algorithm=...)`, returning the raw digest.
///
/// The HMAC key is `H(key_salt + secret)`, a plain hash and not an HMAC: this is what makes every Django
/// signature depend on both the salt and the secret, and it is the part a reimplementation most often gets
/// wrong.
pub fn salted_hmac(key_salt: &[u8], value: &[u8], secret: &[u8], algorithm: Algorithm) -> Vec<u8> {
    SaltedHmac::new(key_salt, secret, algorithm).mac(value)
}

/// `salted_hmac` with the key derived once: for a fixed salt and secret (the session auth hash, checked on
/// every request), deriving `H(key_salt + secret)` and the HMAC pads again each time would double the work.
#[derive(Clone)]
pub struct SaltedHmac(Keyed);

#[derive(Clone)]
enum Keyed {
    Sha1(Hmac<sha1::Sha1>),
    Sha256(Hmac<sha2::Sha256>),
    Sha512(Hmac<sha2::Sha512>),
}

impl SaltedHmac {
    /// Hashes `key_salt + secret` with `algorithm` into the HMAC key, as `salted_hmac` does on every call.
    pub fn new(key_salt: &[u8], secret: &[u8], algorithm: Algorithm) -> SaltedHmac {
        fn keyed<D>(key_salt: &[u8], secret: &[u8]) -> Hmac<D>
        where
            D: Digest + BlockSizeUser + CoreProxy,
            D::Core: HashMarker
                + UpdateCore
                + FixedOutputCore
                + BufferKindUser<BufferKind = Eager>
                + Default
                + Clone,
            <D::Core as BlockSizeUser>::BlockSize: IsLess<U256>,
            Le<<D::Core as BlockSizeUser>::BlockSize, U256>: NonZero,
        {
            let mut hasher = D::new();
            hasher.update(key_salt);
            hasher.update(secret);
            let key = hasher.finalize();
            let Ok(mac) = <Hmac<D> as KeyInit>::new_from_slice(&key) else {
                unreachable!("HMAC accepts keys of any length")
            };
            mac
        }
        SaltedHmac(match algorithm {
            Algorithm::Sha1 => Keyed::Sha1(keyed(key_salt, secret)),
            Algorithm::Sha256 => Keyed::Sha256(keyed(key_salt, secret)),
            Algorithm::Sha512 => Keyed::Sha512(keyed(key_salt, secret)),
        })
    }

    /// The digest of `value` under this salt and secret.
    pub fn mac(&self, value: &[u8]) -> Vec<u8> {
        fn run<M: Mac + Clone>(mac: &M, value: &[u8]) -> Vec<u8> {
            let mut mac = mac.clone();
            mac.update(value);
            mac.finalize().into_bytes().to_vec()
        }
        match &self.0 {
            Keyed::Sha1(m) => run(m, value),
            Keyed::Sha256(m) => run(m, value),
            Keyed::Sha512(m) => run(m, value),
        }
    }
}

/// `salted_hmac(...).hexdigest()`.
pub fn salted_hmac_hex(key_salt: &str, value: &[u8], secret: &str, algorithm: Algorithm) -> String {
    to_hex(&salted_hmac(
        key_salt.as_bytes(),
        value,
        secret.as_bytes(),
        algorithm,
    ))
}

/// `django.utils.crypto.constant_time_compare`: compares in time independent of where the inputs differ
/// (the length may leak, as in Django's `hmac.compare_digest`).
pub fn constant_time_compare(a: impl AsRef<[u8]>, b: impl AsRef<[u8]>) -> bool {
    a.as_ref().ct_eq(b.as_ref()).into()
}

/// Lowercase hex, as Python's `hexdigest()`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// `[a-zA-Z0-9]`, Django's `RANDOM_STRING_CHARS`, in Django's order (the order matters to CSRF masking).
pub const RANDOM_STRING_CHARS: &str =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// The operating system's CSPRNG failed; nothing safe can be generated.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomError(String);

/// `django.utils.crypto.get_random_string(length, allowed_chars)`: uniform choices from the OS CSPRNG
/// (Django uses `secrets.choice`). Rejection sampling keeps the choice unbiased for any alphabet size.
pub fn get_random_string(length: usize, allowed_chars: &str) -> Result<String, RandomError> {
    let alphabet: Vec<char> = allowed_chars.chars().collect();
    assert!(
        !alphabet.is_empty() && alphabet.len() <= 256,
        "alphabet of 1..=256 characters"
    );
    let n = alphabet.len();
    // Largest multiple of n that fits in a byte: bytes at or above it are rejected.
    let limit = 256 - (256 % n);
    let mut out = String::with_capacity(length);
    let mut count = 0;
    let mut buf = [0u8; 64];
    while count < length {
        getrandom::fill(&mut buf).map_err(|e| RandomError(e.to_string()))?;
        for &b in buf.iter().filter(|&&b| (b as usize) < limit) {
            out.push(alphabet[b as usize % n]);
            count += 1;
            if count == length {
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salted_hmac_matches_djangos_vectors() {
        // ../shared/django-wire-formats.md 1.1 (the oracle tests recheck these against a live Django).
        assert_eq!(
            salted_hmac_hex("salt", b"value", "secret", Algorithm::Sha1),
            "a82be9ba6efe61405ee8d2e8a3781c37e103360a"
        );
        assert_eq!(
            salted_hmac_hex("salt", b"value", "secret", Algorithm::Sha256),
            "debaddcd9ecbaab181289870baf8af49b0af0a7050d620d1a63f1e69bd87ceb8"
        );
    }

    #[test]
    fn random_strings_use_only_the_alphabet_and_differ() {
        let a = get_random_string(32, "abc0").unwrap();
        let b = get_random_string(32, "abc0").unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| "abc0".contains(c)));
        assert_ne!(a, b);
    }
}
