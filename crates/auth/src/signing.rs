//! `django.core.signing`: `Signer`, `TimestampSigner`, `dumps` and `loads`, byte for byte.

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};

use crate::crypto::{Algorithm, constant_time_compare, salted_hmac};
use crate::json;
use crate::value::Value;

/// Why a signed value was refused. `Display` gives Django's own messages.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SigningError {
    /// `BadSignature('No ":" found in value')`.
    #[error("No \"{0}\" found in value")]
    NoSeparator(char),
    /// `BadSignature('Signature "..." does not match')`. The signature itself is not kept: it would end up
    /// in logs.
    #[error("Signature does not match")]
    BadSignature,
    /// `SignatureExpired("Signature age X > Y seconds")`.
    #[error("Signature age {} > {} seconds", json::float_repr(*.age), json::float_repr(*.max_age))]
    Expired {
        /// Seconds between the signed timestamp and now.
        age: f64,
        /// The `max_age` the value was checked against, in seconds.
        max_age: f64,
    },
    /// The timestamp part is not base62.
    #[error("Bad timestamp")]
    BadTimestamp,
    /// The signature matched but the payload does not decode (base64, zlib or JSON).
    #[error("Signed payload does not decode: {0}")]
    BadPayload(String),
    /// The value is over our size limit (`MAX_SIGNED_LEN`); refused before any hashing.
    #[error("Signed value is too large")]
    TooLarge,
    /// The value to sign cannot be serialised (e.g. a `set` in JSON).
    #[error(transparent)]
    Json(#[from] json::JsonError),
}

/// The largest signed string we verify, and the most a compressed payload may inflate to. Django sets no
/// limit; cookies are at most 4 KiB and `django_session.session_data` rarely reaches 100 KiB, so 16 MiB only
/// stops abuse (a zlib bomb inflates 1000:1).
pub const MAX_SIGNED_LEN: usize = 16 * 1024 * 1024;

/// `SECRET_KEY` and `SECRET_KEY_FALLBACKS`: sign with the first, verify with any, in order.
#[derive(Clone)]
pub struct Keys {
    /// `SECRET_KEY`: signs everything, and is tried first when verifying.
    pub secret_key: String,
    /// `SECRET_KEY_FALLBACKS`: only verify, tried in order after `secret_key`.
    pub fallbacks: Vec<String>,
}

impl std::fmt::Debug for Keys {
    // Secrets never reach a log, not even through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Keys {{ secret_key: <hidden>, fallbacks: <{} hidden> }}",
            self.fallbacks.len()
        )
    }
}

impl Keys {
    /// `SECRET_KEY` and `SECRET_KEY_FALLBACKS` (possibly empty) as the settings give them.
    pub fn new(secret_key: impl Into<String>, fallbacks: Vec<String>) -> Keys {
        Keys {
            secret_key: secret_key.into(),
            fallbacks,
        }
    }

    /// `[SECRET_KEY, *SECRET_KEY_FALLBACKS]`, the order Django verifies in.
    pub fn verification_keys(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.secret_key.as_str()).chain(self.fallbacks.iter().map(String::as_str))
    }
}

/// Which key verified a value: Django treats a fallback match as valid but re-signs with the current key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyMatch {
    /// `SECRET_KEY` verified the value.
    Current,
    /// Index into `SECRET_KEY_FALLBACKS`.
    Fallback(usize),
}

/// `django.core.signing.b64_encode`: URL-safe base64 with the `=` padding stripped.
pub fn b64_encode(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// `django.core.signing.b64_decode`: adds back the padding and decodes URL-safe base64. Python's decoder
/// also skips characters outside the alphabet; that only matters after a signature matched, so we reject
/// them instead of guessing.
pub fn b64_decode(s: &[u8]) -> Result<Vec<u8>, base64::DecodeError> {
    let mut padded = s.to_vec();
    padded.resize(s.len() + (4 - s.len() % 4) % 4, b'=');
    URL_SAFE.decode(padded)
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `django.core.signing.b62_encode`: digits `0-9A-Za-z` (uppercase before lowercase), `-` for negatives.
pub fn b62_encode(n: i64) -> String {
    if n == 0 {
        return "0".into();
    }
    let mut m = n.unsigned_abs();
    let mut digits = Vec::new();
    while m > 0 {
        digits.push(BASE62[(m % 62) as usize]);
        m /= 62;
    }
    if n < 0 {
        digits.push(b'-');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// `django.core.signing.b62_decode`; `None` for characters outside the alphabet or overflow.
pub fn b62_decode(s: &str) -> Option<i64> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for c in digits.bytes() {
        let d = BASE62.iter().position(|&x| x == c)? as i64;
        n = n.checked_mul(62)?.checked_add(d)?;
    }
    Some(if negative { -n } else { n })
}

/// The current Unix time in seconds, as `time.time()`.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `django.core.signing.Signer`.
///
/// The signature is `b64_encode(salted_hmac(salt + "signer", value, key, algorithm))`; signing uses the
/// current key, verification tries the current key and then each fallback.
#[derive(Clone, Debug)]
pub struct Signer {
    keys: Keys,
    sep: char,
    salt: String,
    algorithm: Algorithm,
}

impl Signer {
    /// `Signer(key=..., salt=...)` with Django's defaults: separator `:` and sha256. The default salt of a
    /// Django `Signer` is `"django.core.signing.Signer"` (its class path); pass it explicitly.
    pub fn new(keys: Keys, salt: impl Into<String>) -> Signer {
        Signer {
            keys,
            sep: ':',
            salt: salt.into(),
            algorithm: Algorithm::Sha256,
        }
    }

    /// `Signer(algorithm=...)`. sha1 is what Django ≤ 3.0 signed with; it is only ever used when asked for.
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> Signer {
        self.algorithm = algorithm;
        self
    }

    /// `Signer(sep=...)`. Django refuses separators made of `[A-z0-9-_=]`, which would be ambiguous with
    /// the base64 signature; so do we (returns `None`).
    pub fn with_sep(mut self, sep: char) -> Option<Signer> {
        let ambiguous =
            sep.is_ascii_alphanumeric() || ('['..='`').contains(&sep) || "-_=".contains(sep);
        if ambiguous {
            return None;
        }
        self.sep = sep;
        Some(self)
    }

    /// The keys this signer signs and verifies with.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// `Signer.signature(value, key)`.
    pub fn signature(&self, value: &str, key: &str) -> String {
        let key_salt = format!("{}signer", self.salt);
        b64_encode(&salted_hmac(
            key_salt.as_bytes(),
            value.as_bytes(),
            key.as_bytes(),
            self.algorithm,
        ))
    }

    /// `Signer.sign(value)`: `value + sep + signature`, always with the current key.
    pub fn sign(&self, value: &str) -> String {
        format!(
            "{value}{}{}",
            self.sep,
            self.signature(value, &self.keys.secret_key)
        )
    }

    /// `Signer.unsign(signed_value)`: splits at the last separator and compares the signature, in constant
    /// time, against each key in turn.
    pub fn unsign<'a>(&self, signed: &'a str) -> Result<&'a str, SigningError> {
        self.unsign_with_key(signed).map(|(value, _)| value)
    }

    /// Like `unsign`, also telling which key matched.
    pub fn unsign_with_key<'a>(
        &self,
        signed: &'a str,
    ) -> Result<(&'a str, KeyMatch), SigningError> {
        if signed.len() > MAX_SIGNED_LEN {
            return Err(SigningError::TooLarge);
        }
        let (value, sig) = signed
            .rsplit_once(self.sep)
            .ok_or(SigningError::NoSeparator(self.sep))?;
        for (i, key) in self.keys.verification_keys().enumerate() {
            if constant_time_compare(sig, self.signature(value, key)) {
                let which = if i == 0 {
                    KeyMatch::Current
                } else {
                    KeyMatch::Fallback(i - 1)
                };
                return Ok((value, which));
            }
        }
        Err(SigningError::BadSignature)
    }
}

/// `django.core.signing.TimestampSigner`: `value:ts62:signature`, the signature covering `value:ts62`.
#[derive(Clone, Debug)]
pub struct TimestampSigner {
    signer: Signer,
}

impl TimestampSigner {
    /// Django's default salt here is `"django.core.signing.TimestampSigner"`; `dumps` uses
    /// `"django.core.signing"`. Pass the one the Django side uses.
    pub fn new(keys: Keys, salt: impl Into<String>) -> TimestampSigner {
        TimestampSigner {
            signer: Signer::new(keys, salt),
        }
    }

    /// A `TimestampSigner` over an already configured `Signer`, keeping its keys, salt, separator and
    /// algorithm.
    pub fn from_signer(signer: Signer) -> TimestampSigner {
        TimestampSigner { signer }
    }

    /// `TimestampSigner.sign(value)` at the current time.
    pub fn sign(&self, value: &str) -> String {
        self.sign_at(value, now())
    }

    /// `sign` at a given Unix time; the timestamp is `int(time.time())`, truncated.
    pub fn sign_at(&self, value: &str, unix_time: f64) -> String {
        let ts = b62_encode(unix_time.trunc() as i64);
        self.signer.sign(&format!("{value}{}{ts}", self.signer.sep))
    }

    /// `TimestampSigner.unsign(value, max_age=...)` at the current time.
    pub fn unsign<'a>(
        &self,
        signed: &'a str,
        max_age: Option<f64>,
    ) -> Result<&'a str, SigningError> {
        self.unsign_at(signed, max_age, now()).map(|(v, _)| v)
    }

    /// `unsign` at a given Unix time, also telling which key matched. An age equal to `max_age` is still
    /// valid, and a timestamp in the future is accepted, as in Django.
    pub fn unsign_at<'a>(
        &self,
        signed: &'a str,
        max_age: Option<f64>,
        unix_time: f64,
    ) -> Result<(&'a str, KeyMatch), SigningError> {
        let (with_ts, which) = self.signer.unsign_with_key(signed)?;
        let (value, ts) = with_ts
            .rsplit_once(self.signer.sep)
            .ok_or(SigningError::NoSeparator(self.signer.sep))?;
        let ts = b62_decode(ts).ok_or(SigningError::BadTimestamp)?;
        if let Some(max_age) = max_age {
            let age = unix_time - ts as f64;
            if age > max_age {
                return Err(SigningError::Expired { age, max_age });
            }
        }
        Ok((value, which))
    }
}

/// The default salt of `django.core.signing.dumps`/`loads`.
pub const DUMPS_SALT: &str = "django.core.signing";

/// The payload `dumps` signs: `b64(json)` or, compressed, `"." + b64(zlib(json))`.
///
/// Compression is used only when it saves at least two bytes (`len(c) < len(data) - 1`), as Django decides.
/// zlib is the C library at level 6, as CPython's `zlib.compress`, so our output matches Django's bytes.
pub fn encode_payload(data: &[u8], compress: bool) -> String {
    if compress {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
        if std::io::Write::write_all(&mut encoder, data).is_ok() {
            if let Ok(compressed) = encoder.finish() {
                if compressed.len() + 1 < data.len() {
                    return format!(".{}", b64_encode(&compressed));
                }
            }
        }
    }
    b64_encode(data)
}

/// The inverse of `encode_payload`: base64, then inflate when the payload starts with `.`, with the
/// inflated size capped at `MAX_SIGNED_LEN`.
pub fn decode_payload(payload: &str) -> Result<Vec<u8>, SigningError> {
    let bad = |e: &dyn std::fmt::Display| SigningError::BadPayload(e.to_string());
    match payload.strip_prefix('.') {
        Some(compressed) => {
            let raw = b64_decode(compressed.as_bytes()).map_err(|e| bad(&e))?;
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(&raw[..])
                .take(MAX_SIGNED_LEN as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| bad(&e))?;
            if out.len() > MAX_SIGNED_LEN {
                return Err(SigningError::TooLarge);
            }
            Ok(out)
        }
        None => b64_decode(payload.as_bytes()).map_err(|e| bad(&e)),
    }
}

/// `django.core.signing.dumps(obj, key, salt, compress=...)` with the JSON serializer, at a given time.
pub fn dumps_at(
    obj: &Value,
    keys: &Keys,
    salt: &str,
    compress: bool,
    unix_time: f64,
) -> Result<String, SigningError> {
    let data = json::dumps(obj, json::COMPACT)?;
    let payload = encode_payload(data.as_bytes(), compress);
    Ok(TimestampSigner::new(keys.clone(), salt).sign_at(&payload, unix_time))
}

/// `django.core.signing.dumps` at the current time.
pub fn dumps(obj: &Value, keys: &Keys, salt: &str, compress: bool) -> Result<String, SigningError> {
    dumps_at(obj, keys, salt, compress, now())
}

/// `django.core.signing.loads(s, key, salt, max_age=...)` with the JSON serializer (read as latin-1), at a
/// given time; also tells which key matched.
pub fn loads_at(
    signed: &str,
    keys: &Keys,
    salt: &str,
    max_age: Option<f64>,
    unix_time: f64,
) -> Result<(Value, KeyMatch), SigningError> {
    let (payload, which) =
        TimestampSigner::new(keys.clone(), salt).unsign_at(signed, max_age, unix_time)?;
    let data = decode_payload(payload)?;
    let value = json::loads_latin1(&data).map_err(|e| SigningError::BadPayload(e.to_string()))?;
    Ok((value, which))
}

/// `django.core.signing.loads` at the current time.
pub fn loads(
    signed: &str,
    keys: &Keys,
    salt: &str,
    max_age: Option<f64>,
) -> Result<Value, SigningError> {
    loads_at(signed, keys, salt, max_age, now()).map(|(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: f64 = 1_700_000_000.0;

    fn keys(k: &str) -> Keys {
        Keys::new(k, vec![])
    }

    #[test]
    fn base62_matches_django() {
        for (n, s) in [
            (0, "0"),
            (1, "1"),
            (61, "z"),
            (62, "10"),
            (3843, "zz"),
            (3844, "100"),
            (-1, "-1"),
            (1_700_000_000, "1r31eq"),
        ] {
            assert_eq!(b62_encode(n), s);
            assert_eq!(b62_decode(s), Some(n));
        }
        assert_eq!(b62_decode("!"), None);
        assert_eq!(b62_decode(""), None);
        assert_eq!(b62_decode("zzzzzzzzzzzzzzzzzzzzzzzzz"), None);
    }

    #[test]
    fn signer_vectors() {
        let s = Signer::new(keys("secret-a"), "django.core.signing.Signer");
        assert_eq!(
            s.sign("hello"),
            "hello:FIi_TTTDpMktXPEPrh3D8wM_15dWKdDKfZqUTa27aDY"
        );
        let s = Signer::new(keys("secret-a"), "my.salt").with_algorithm(Algorithm::Sha1);
        assert_eq!(s.sign("hello"), "hello:CCjdcUvbcvotbRSy7I3kfL-mxbo");
        let s = Signer::new(keys("secret-a"), "x").with_sep('/').unwrap();
        assert_eq!(s.sign("v"), "v/LVJGPLOrnsKyaLAryw7-ucnlI-3JODH1FafuSvB8IeA");
        assert!(Signer::new(keys("k"), "x").with_sep('a').is_none());
        assert!(Signer::new(keys("k"), "x").with_sep('^').is_none());
    }

    #[test]
    fn timestamp_signer_max_age_boundary() {
        let s = TimestampSigner::new(keys("secret-a"), "my.salt");
        let signed = s.sign_at("hello", T + 0.75);
        assert_eq!(
            signed,
            "hello:1r31eq:fBjepEgGShDOzPo_Ev_pws4Kcxkb4JWcEhBCwvHrufo"
        );
        assert_eq!(
            s.unsign_at(&signed, Some(100.0), T + 100.0).unwrap().0,
            "hello"
        );
        assert_eq!(
            s.unsign_at(&signed, Some(99.0), T + 100.0)
                .unwrap_err()
                .to_string(),
            "Signature age 100.0 > 99.0 seconds"
        );
    }

    #[test]
    fn fallback_keys_verify_but_never_sign() {
        let old = dumps_at(
            &Value::Dict(vec![("x".into(), Value::Int(1))]),
            &keys("old-secret-key-1"),
            "s",
            false,
            T,
        )
        .unwrap();
        assert_eq!(
            old,
            "eyJ4IjoxfQ:1r31eq:RSuXkgypLXD8WGm96zehuqve100uSzieyifp8mv8UbQ"
        );
        let rotated = Keys::new("new", vec!["other".into(), "old-secret-key-1".into()]);
        let (_, which) = loads_at(&old, &rotated, "s", None, T).unwrap();
        assert_eq!(which, KeyMatch::Fallback(1));
        assert_eq!(
            loads_at(&old, &keys("new"), "s", None, T).unwrap_err(),
            SigningError::BadSignature
        );
        let fresh = dumps_at(&Value::Int(1), &rotated, "s", false, T).unwrap();
        assert_eq!(
            loads_at(&fresh, &keys("new"), "s", None, T).unwrap().1,
            KeyMatch::Current
        );
    }

    #[test]
    fn compression_only_when_it_pays() {
        let v = Value::Dict(vec![
            ("data".into(), "a".repeat(100).into()),
            (
                "list".into(),
                Value::List((0..20).map(Value::Int).collect()),
            ),
        ]);
        assert_eq!(
            dumps_at(&v, &keys("secret-a"), "my.salt", true, T).unwrap(),
            ".eJy9yLkNgDAQRcFeNn4B37fdCiJYiQSJDGeI3qEKJpzbdp9uw_wHhp3HNW2sCyIQSWQKlUZHXwoFFFFCGRVUUUN9e17hQDWf:1r31eq:ZVhnb7g1A1vXulUYUhb_OXyVU97vXklTHprk-fNokH0"
        );
        assert_eq!(
            dumps_at(&"hi".into(), &keys("secret-a"), "my.salt", true, T).unwrap(),
            "ImhpIg:1r31eq:OZha3Rfl_oc8a0-S_QUydcVsYpV0ApYNww4Y1juYneU"
        );
    }

    #[test]
    fn zlib_bombs_stop_at_the_limit() {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut encoder, &vec![b' '; MAX_SIGNED_LEN + 10]).unwrap();
        let payload = format!(".{}", b64_encode(&encoder.finish().unwrap()));
        assert_eq!(
            decode_payload(&payload).unwrap_err(),
            SigningError::TooLarge
        );
    }
}
