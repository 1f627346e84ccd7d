//! `django.contrib.sessions`: the session dict, its expiry, its keys, and each engine's encoding.
//!
//! The stores (Redis, PostgreSQL) build on this module; everything here is pure and byte-exact with
//! `SessionBase` and the engines' `encode`/`decode`.

use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};
use indexmap::IndexMap;

use crate::crypto::{self, Algorithm, RandomError};
use crate::json;
use crate::pickle::{self, PickleError};
use crate::signing::{self, KeyMatch, Keys, SigningError};
use crate::value::{Constructor, Value};

/// Why stored session data could not be read or written. Django logs the decode failures
/// (`SuspiciousSession` "Session data corrupted") and treats the session as empty; so do the stores,
/// counting each reason.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The cache engine's pickle could not be read (`pickle.loads`) or written (`pickle.dumps`).
    #[error("session pickle: {0}")]
    Pickle(#[from] PickleError),
    /// `signing.loads` refused the signed data (bad signature, expired, oversized or undecodable payload),
    /// or `signing.dumps` could not sign it.
    #[error("session signature: {0}")]
    Signing(#[from] SigningError),
    /// The JSON payload does not parse, or the session holds a value JSON cannot write (`JSONSerializer`).
    #[error("session JSON: {0}")]
    Json(#[from] json::JsonError),
    /// The payload decoded, but to something other than a dict with string keys.
    #[error("session data is not a dict of str keys")]
    NotADict,
    /// The legacy (< 3.1) format's own hash did not match.
    #[error("legacy session data hash mismatch")]
    LegacyHashMismatch,
    /// The data is neither signed (Django ≥ 3.1), nor the legacy `base64(hash:payload)`, nor valid UTF-8
    /// JSON where that is expected.
    #[error("session data is not in any known format")]
    Unrecognised,
    /// `_session_expiry` holds something Django could not compute an expiry from.
    #[error("_session_expiry is not a number, an aware ISO date or a datetime")]
    BadExpiry,
    /// The OS random source failed while making a new session key.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// The session dict (`SessionBase._session`), keys in insertion order, values any Python object.
#[derive(Clone, Default, PartialEq)]
pub struct SessionData {
    items: IndexMap<String, Value>,
}

impl std::fmt::Debug for SessionData {
    // Values can be credentials (`_auth_user_hash`, a session-stored CSRF secret): `{:?}` shows the keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionData")
            .field("keys", &self.items.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl SessionData {
    /// An empty session (`{}`).
    pub fn new() -> SessionData {
        SessionData::default()
    }

    /// `session.get(key)`: the value stored under `key`, or `None` when the key is absent.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.items.get(key)
    }

    /// `session[key] = value`: an existing key keeps its position, as in a Python dict.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        self.items.insert(key.into(), value.into());
    }

    /// `session.pop(key, None)`, keeping the order of the other keys.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.items.shift_remove(key)
    }

    /// `key in session`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.items.contains_key(key)
    }

    /// Whether the dict holds no key at all (`not session.keys()`).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `len(session)`: the number of keys.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// `session.clear()`: removes every key.
    pub fn clear(&mut self) {
        self.items.clear()
    }

    /// `session.items()`: each key and value, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.items.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The dict as a Python value, for the serializers.
    pub fn to_value(&self) -> Value {
        Value::Dict(
            self.items
                .iter()
                .map(|(k, v)| (Value::Str(k.clone()), v.clone()))
                .collect(),
        )
    }

    /// A decoded payload as a session: a dict whose keys are all `str` (what every Django session holds).
    pub fn from_value(value: Value) -> Result<SessionData, SessionError> {
        let Value::Dict(pairs) = value else {
            return Err(SessionError::NotADict);
        };
        let mut items = IndexMap::with_capacity(pairs.len());
        for (k, v) in pairs {
            let Value::Str(k) = k else {
                return Err(SessionError::NotADict);
            };
            items.insert(k, v);
        }
        Ok(SessionData { items })
    }
}

// ---------------------------------------------------------------------------------------------------------
// Session keys

/// `VALID_KEY_CHARS`: the alphabet of `_get_new_session_key`.
pub const VALID_KEY_CHARS: &str = "abcdefghijklmnopqrstuvwxyz0123456789";

/// `SessionBase._get_new_session_key()` without the store's collision check: 32 characters of `[a-z0-9]`
/// from the OS CSPRNG (`get_random_string(32, VALID_KEY_CHARS)`), about 165 bits.
pub fn get_new_session_key() -> Result<String, RandomError> {
    crypto::get_random_string(32, VALID_KEY_CHARS)
}

/// `SessionBase._validate_session_key`: Django accepts any incoming key of at least 8 characters; a key
/// that fails is treated as no key at all.
pub fn validate_session_key(key: &str) -> bool {
    key.chars().count() >= 8
}

/// Stricter than Django, for refusing a cookie before any store round trip: a key Django or we could have
/// made is 8 to 40 (`django_session.session_key` is `varchar(40)`) characters of `[a-z0-9]`. A key that
/// fails this cannot exist in any store, so the answer ("no session") is the same as Django's.
pub fn is_well_formed_session_key(key: &str) -> bool {
    (8..=40).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

// ---------------------------------------------------------------------------------------------------------
// Expiry

/// `SESSION_COOKIE_AGE` (default two weeks) and `SESSION_EXPIRE_AT_BROWSER_CLOSE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpirySettings {
    /// `SESSION_COOKIE_AGE`, in seconds (default 1,209,600: two weeks).
    pub cookie_age: i64,
    /// `SESSION_EXPIRE_AT_BROWSER_CLOSE` (default `false`): a session without its own expiry gets a
    /// browser-session cookie.
    pub expire_at_browser_close: bool,
}

impl Default for ExpirySettings {
    fn default() -> ExpirySettings {
        ExpirySettings {
            cookie_age: 1_209_600,
            expire_at_browser_close: false,
        }
    }
}

/// The session key `set_expiry` writes.
pub const EXPIRY_KEY: &str = "_session_expiry";

/// What `_session_expiry` holds, as `get_expiry_age`/`get_expiry_date` interpret it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum StoredExpiry {
    /// Absent, `None`, `0` or another falsy value: `SESSION_COOKIE_AGE` applies.
    Default,
    /// A number of seconds (`set_expiry(300)`); floats are truncated where Django turns them into a TTL.
    Seconds(i64),
    /// An aware date (`set_expiry(datetime)` stores `isoformat()`; Django ≤ 3.2 stored the `datetime`).
    Date(DateTime<FixedOffset>),
}

fn stored_expiry(data: &SessionData) -> Result<StoredExpiry, SessionError> {
    let Some(value) = data.get(EXPIRY_KEY) else {
        return Ok(StoredExpiry::Default);
    };
    if value.is_falsy() {
        return Ok(StoredExpiry::Default);
    }
    match value {
        Value::Int(i) => Ok(StoredExpiry::Seconds(*i)),
        Value::Bool(true) => Ok(StoredExpiry::Seconds(1)),
        Value::Float(f) if f.is_finite() => Ok(StoredExpiry::Seconds(f.trunc() as i64)),
        // `datetime.fromisoformat(expiry)`; a naive date would make Django raise TypeError against the aware
        // `timezone.now()`, so it is refused here rather than guessed.
        Value::Str(s) => DateTime::parse_from_rfc3339(s)
            .map(StoredExpiry::Date)
            .map_err(|_| SessionError::BadExpiry),
        other => pickled_datetime(other)
            .map(StoredExpiry::Date)
            .ok_or(SessionError::BadExpiry),
    }
}

/// The expiry of a session, computed as `SessionBase` does at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expiry {
    /// `get_expiry_age()`: seconds left; the cookie's Max-Age and the cache TTL. May be ≤ 0 (expired).
    pub age: i64,
    /// `get_expiry_date()`: the `django_session.expire_date`.
    pub date: DateTime<Utc>,
    /// `get_expire_at_browser_close()`: the cookie has neither Max-Age nor expires.
    pub at_browser_close: bool,
}

/// `get_expiry_age()`, `get_expiry_date()` and `get_expire_at_browser_close()` together.
///
/// `set_expiry(0)` means "at browser close" for the cookie, yet the stored age is still
/// `SESSION_COOKIE_AGE`: Django's `if not expiry` treats 0 as absent. The age of a date is
/// `delta.days * 86400 + delta.seconds`, i.e. whole seconds rounded down.
pub fn expiry(
    data: &SessionData,
    settings: &ExpirySettings,
    now: DateTime<Utc>,
) -> Result<Expiry, SessionError> {
    let stored = stored_expiry(data)?;
    // A number of seconds no date can hold (from a setting or a stored `_session_expiry`) is refused, not
    // a panic.
    let after = |seconds: i64| {
        Duration::try_seconds(seconds)
            .and_then(|d| now.checked_add_signed(d))
            .ok_or(SessionError::BadExpiry)
    };
    let (age, date) = match stored {
        StoredExpiry::Default => (settings.cookie_age, after(settings.cookie_age)?),
        StoredExpiry::Seconds(s) => (s, after(s)?),
        StoredExpiry::Date(d) => {
            let delta = d.with_timezone(&Utc) - now;
            let micros = delta.num_microseconds().unwrap_or(i64::MAX);
            (micros.div_euclid(1_000_000), d.with_timezone(&Utc))
        }
    };
    let at_browser_close = match data.get(EXPIRY_KEY) {
        None | Some(Value::None) => settings.expire_at_browser_close,
        // `expiry == 0`: true for 0, 0.0 and False.
        Some(Value::Int(0)) | Some(Value::Bool(false)) => true,
        Some(Value::Float(f)) => *f == 0.0,
        Some(_) => false,
    };
    Ok(Expiry {
        age,
        date,
        at_browser_close,
    })
}

/// The argument of `SessionBase.set_expiry(value)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SetExpiry {
    /// `set_expiry(None)`: back to the global policy (the key is removed).
    Default,
    /// `set_expiry(int)`; `0` means at browser close.
    Seconds(i64),
    /// `set_expiry(datetime)`, stored as `isoformat()` (`2030-01-02T03:04:05+00:00`).
    Date(DateTime<Utc>),
}

/// `SessionBase.set_expiry(value)`.
pub fn set_expiry(data: &mut SessionData, value: SetExpiry) {
    match value {
        SetExpiry::Default => {
            data.remove(EXPIRY_KEY);
        }
        SetExpiry::Seconds(s) => data.insert(EXPIRY_KEY, Value::Int(s)),
        SetExpiry::Date(d) => data.insert(EXPIRY_KEY, Value::Str(python_isoformat(d))),
    }
}

/// `datetime.isoformat()` of an aware UTC datetime: microseconds only when non-zero, offset `+00:00`.
pub fn python_isoformat(d: DateTime<Utc>) -> String {
    if d.timestamp_subsec_micros() == 0 {
        d.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        d.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

/// A pickled `datetime.datetime` with a `datetime.timezone` (or pytz UTC) tzinfo, as Django ≤ 3.2 stored
/// `_session_expiry` in cache sessions: `datetime(b"<10 bytes>", tz)`. Read, never executed.
fn pickled_datetime(value: &Value) -> Option<DateTime<FixedOffset>> {
    let (callable, args) = reduce_parts(value)?;
    if !is_global(callable, "datetime", "datetime") {
        return None;
    }
    let Value::Tuple(args) = args else {
        return None;
    };
    let (Some(Value::Bytes(b)), Some(tz)) = (args.first(), args.get(1)) else {
        return None;
    };
    if b.len() != 10 {
        return None;
    }
    let year = i32::from(b[0]) * 256 + i32::from(b[1]);
    let micro = (u32::from(b[7]) << 16) | (u32::from(b[8]) << 8) | u32::from(b[9]);
    let offset = pickled_tz_offset(tz)?;
    offset
        .with_ymd_and_hms(
            year,
            b[2].into(),
            b[3].into(),
            b[4].into(),
            b[5].into(),
            b[6].into(),
        )
        .single()?
        .checked_add_signed(Duration::microseconds(micro.into()))
}

fn pickled_tz_offset(tz: &Value) -> Option<FixedOffset> {
    if let Some((callable, args)) = reduce_parts(tz) {
        if is_global(callable, "pytz", "_UTC") {
            return FixedOffset::east_opt(0);
        }
        if is_global(callable, "datetime", "timezone") {
            let Value::Tuple(args) = args else {
                return None;
            };
            let (delta_callable, delta_args) = reduce_parts(args.first()?)?;
            if !is_global(delta_callable, "datetime", "timedelta") {
                return None;
            }
            let Value::Tuple(parts) = delta_args else {
                return None;
            };
            let days = parts.first().and_then(Value::as_i64).unwrap_or(0);
            let secs = parts.get(1).and_then(Value::as_i64).unwrap_or(0);
            return FixedOffset::east_opt(i32::try_from(days * 86_400 + secs).ok()?);
        }
    }
    None
}

fn reduce_parts(value: &Value) -> Option<(&Value, &Value)> {
    match value {
        Value::Object(o) => match &o.constructor {
            Constructor::Reduce { callable, args } => Some((callable, args)),
            _ => None,
        },
        _ => None,
    }
}

fn is_global(value: &Value, module_name: &str, global_name: &str) -> bool {
    matches!(value, Value::Global { module, name } if module == module_name && name == global_name)
}

// ---------------------------------------------------------------------------------------------------------
// Engine encodings

/// `SessionBase.key_salt` for every built-in engine: `"django.contrib.sessions." + "SessionStore"`.
pub const SESSION_STORE_SALT: &str = "django.contrib.sessions.SessionStore";
/// The salt of the `signed_cookies` engine's `signing.dumps`.
pub const SIGNED_COOKIES_SALT: &str = "django.contrib.sessions.backends.signed_cookies";

/// `KEY_PREFIX` of the `cache` engine (`django.contrib.sessions.backends.cache`).
pub const CACHE_KEY_PREFIX: &str = "django.contrib.sessions.cache";
/// `KEY_PREFIX` of the `cached_db` engine.
pub const CACHED_DB_KEY_PREFIX: &str = "django.contrib.sessions.cached_db";

/// The Redis key of a session: `default_key_func(engine_prefix + session_key, KEY_PREFIX, VERSION)`, i.e.
/// `f"{key_prefix}:{version}:{engine_prefix}{session_key}"`. There is no separator between the engine
/// prefix and the session key: `:1:django.contrib.sessions.cache<key>`. Django's `RedisCache` and
/// django-redis build the same key.
pub fn cache_key(key_prefix: &str, version: i64, engine_prefix: &str, session_key: &str) -> String {
    format!("{key_prefix}:{version}:{engine_prefix}{session_key}")
}

/// The cache engine's value: the session dict pickled, as Django's `RedisCache` (protocol 5) or
/// django-redis (protocol 4) stores it. Returns the protocol, so a rewrite can keep it.
pub fn decode_cache(
    data: &[u8],
    limits: &pickle::Limits,
) -> Result<(SessionData, Option<u8>), SessionError> {
    let value = pickle::loads(data, limits)?;
    Ok((SessionData::from_value(value)?, pickle::protocol(data)))
}

/// The cache engine's value for a session, pickled at `protocol` (4 or 5) exactly as CPython writes it.
pub fn encode_cache(data: &SessionData, protocol: u8) -> Result<Vec<u8>, SessionError> {
    Ok(pickle::dumps(&data.to_value(), protocol)?)
}

/// `SessionBase.encode(session_dict)` at a given time: the `db`/`cached_db`/`file` engines'
/// `session_data`, i.e. `signing.dumps(dict, salt=key_salt, compress=True)`.
pub fn encode_db_at(
    data: &SessionData,
    keys: &Keys,
    unix_time: f64,
) -> Result<String, SessionError> {
    Ok(signing::dumps_at(
        &data.to_value(),
        keys,
        SESSION_STORE_SALT,
        true,
        unix_time,
    )?)
}

/// `SessionBase.encode` at the current time.
pub fn encode_db(data: &SessionData, keys: &Keys) -> Result<String, SessionError> {
    encode_db_at(data, keys, signing::now())
}

/// `SessionBase.decode(session_data)`: `signing.loads` with no `max_age` (the row's `expire_date` decides),
/// falling back to the pre-3.1 format as Django 3.1–3.2 did, so sessions from an old Django still read.
pub fn decode_db(session_data: &str, keys: &Keys) -> Result<(SessionData, KeyMatch), SessionError> {
    match signing::loads_at(session_data, keys, SESSION_STORE_SALT, None, signing::now()) {
        Ok((value, which)) => Ok((SessionData::from_value(value)?, which)),
        Err(signing_error) => match decode_legacy(session_data, keys) {
            Ok(found) => Ok(found),
            Err(SessionError::Unrecognised) => Err(signing_error.into()),
            Err(other) => Err(other),
        },
    }
}

/// `SessionBase._legacy_decode` (Django < 3.1): `base64(hash + ":" + serialized)` with the standard
/// alphabet and padding, `hash = salted_hmac("django.contrib.sessionsSessionStore", serialized)` in sha1
/// hex (no dot in that salt). JSON payloads, and pickled ones from `PickleSerializer`, read through the
/// safe pickle reader.
pub fn decode_legacy(
    session_data: &str,
    keys: &Keys,
) -> Result<(SessionData, KeyMatch), SessionError> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(session_data.trim())
        .map_err(|_| SessionError::Unrecognised)?;
    let colon = raw
        .iter()
        .position(|&b| b == b':')
        .ok_or(SessionError::Unrecognised)?;
    let (hash, serialized) = (&raw[..colon], &raw[colon + 1..]);
    if hash.len() != 40 {
        return Err(SessionError::Unrecognised);
    }
    let which = keys
        .verification_keys()
        .enumerate()
        .find(|(_, key)| {
            let expected = crypto::salted_hmac_hex(
                "django.contrib.sessionsSessionStore",
                serialized,
                key,
                Algorithm::Sha1,
            );
            crypto::constant_time_compare(hash, expected)
        })
        .map(|(i, _)| {
            if i == 0 {
                KeyMatch::Current
            } else {
                KeyMatch::Fallback(i - 1)
            }
        })
        .ok_or(SessionError::LegacyHashMismatch)?;
    let value = if serialized.first() == Some(&0x80) {
        pickle::loads(serialized, &pickle::Limits::default())?
    } else {
        json::loads_latin1(serialized)?
    };
    Ok((SessionData::from_value(value)?, which))
}

/// The `signed_cookies` engine's cookie value at a given time:
/// `signing.dumps(dict, compress=True, salt="django.contrib.sessions.backends.signed_cookies")` with the
/// plain `SECRET_KEY` (not the `django.http.cookies` key of `set_signed_cookie`).
pub fn encode_signed_cookie_at(
    data: &SessionData,
    keys: &Keys,
    unix_time: f64,
) -> Result<String, SessionError> {
    Ok(signing::dumps_at(
        &data.to_value(),
        keys,
        SIGNED_COOKIES_SALT,
        true,
        unix_time,
    )?)
}

/// The `signed_cookies` engine's `load()`: `signing.loads(cookie, max_age=SESSION_COOKIE_AGE)`. A custom
/// `set_expiry` is not what decides validity here, exactly as in Django (ticket #19201).
pub fn decode_signed_cookie_at(
    cookie: &str,
    keys: &Keys,
    cookie_age: i64,
    unix_time: f64,
) -> Result<(SessionData, KeyMatch), SessionError> {
    let (value, which) = signing::loads_at(
        cookie,
        keys,
        SIGNED_COOKIES_SALT,
        Some(cookie_age as f64),
        unix_time,
    )?;
    Ok((SessionData::from_value(value)?, which))
}

/// django-redis's `JSONSerializer` value: `json.dumps(value, cls=DjangoJSONEncoder).encode()`, with Python's
/// default separators (`", "`, `": "`) and `ensure_ascii`; read back as UTF-8.
pub fn encode_django_redis_json(data: &SessionData) -> Result<Vec<u8>, SessionError> {
    Ok(json::dumps(&data.to_value(), json::SPACED)?.into_bytes())
}

/// The inverse of `encode_django_redis_json` (`json.loads(value.decode())`).
pub fn decode_django_redis_json(data: &[u8]) -> Result<SessionData, SessionError> {
    let text = std::str::from_utf8(data).map_err(|_| SessionError::Unrecognised)?;
    SessionData::from_value(json::loads_str(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> SessionData {
        let mut s = SessionData::new();
        s.insert("_auth_user_id", "1");
        s.insert(
            "_auth_user_backend",
            "django.contrib.auth.backends.ModelBackend",
        );
        s.insert(
            "_auth_user_hash",
            "0d00fe7cc42a4b051a24843251944d3fab8fb64fd364c54bcce7e775ae9b4b3e",
        );
        s
    }

    fn keys() -> Keys {
        Keys::new(
            "django-insecure-test-secret-key-0123456789",
            vec!["old-secret-key-1".into()],
        )
    }

    #[test]
    fn db_encoding_matches_the_vector() {
        const T: f64 = 1_700_000_000.0;
        assert_eq!(
            encode_db_at(&d(), &keys(), T).unwrap(),
            ".eJxVjMsOgjAUBf-la9OU9paCS_d-A7mvWtRAQmFl_HclYaHbMzPnZQbc1jJsVZdhFHM2jTn9boT80GkHcsfpNluep3UZye6KPWi111n0eTncv4OCtXxrJ85lTczgEcjFBj10EHxsegAJGanL1EKW0AJHIGZNmlJE7QkoqHl_AOGWOFM:1r31eq:4qm8sMQlfqxMEu-KG7DJLovaGGKmunt0v7uA_h9p88U"
        );
        let mut foo = SessionData::new();
        foo.insert("foo", "bar");
        assert_eq!(
            encode_db_at(&foo, &keys(), T).unwrap(),
            "eyJmb28iOiJiYXIifQ:1r31eq:eNiQ4TlkzN9VT3oz0qmI27sgGsOYaOOMKR4UQqKoQg0"
        );
        assert_eq!(
            encode_db_at(&SessionData::new(), &keys(), T).unwrap(),
            "e30:1r31eq:YmchwJdTLBsJUx9OLfzIXNAvQvDu8Vee6P6QakyjvHI"
        );
    }

    #[test]
    fn legacy_format_reads() {
        let legacy = "ZGVmM2EzZDc4YzVjMTI2M2ZkMDk3ODFiMzg3NzgxZjkyNzA2NDJmZjp7Il9hdXRoX3VzZXJfaWQiOiIxIiwiX2F1dGhfdXNlcl9iYWNrZW5kIjoiZGphbmdvLmNvbnRyaWIuYXV0aC5iYWNrZW5kcy5Nb2RlbEJhY2tlbmQiLCJfYXV0aF91c2VyX2hhc2giOiIwZDAwZmU3Y2M0MmE0YjA1MWEyNDg0MzI1MTk0NGQzZmFiOGZiNjRmZDM2NGM1NGJjY2U3ZTc3NWFlOWI0YjNlIn0=";
        let (data, which) = decode_db(legacy, &keys()).unwrap();
        assert_eq!(data, d());
        assert_eq!(which, KeyMatch::Current);
        let wrong = Keys::new("another", vec![]);
        assert!(matches!(
            decode_db(legacy, &wrong),
            Err(SessionError::LegacyHashMismatch)
        ));
        assert!(matches!(
            decode_db("garbage", &wrong),
            Err(SessionError::Signing(_))
        ));
    }

    #[test]
    fn expiry_follows_django() {
        let settings = ExpirySettings::default();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut s = SessionData::new();
        let e = expiry(&s, &settings, now).unwrap();
        assert_eq!((e.age, e.at_browser_close), (1_209_600, false));
        set_expiry(&mut s, SetExpiry::Seconds(300));
        assert_eq!(expiry(&s, &settings, now).unwrap().age, 300);
        set_expiry(&mut s, SetExpiry::Seconds(0));
        let e = expiry(&s, &settings, now).unwrap();
        assert_eq!((e.age, e.at_browser_close), (1_209_600, true));
        set_expiry(
            &mut s,
            SetExpiry::Date(now + Duration::milliseconds(90_500)),
        );
        assert_eq!(
            s.get(EXPIRY_KEY).unwrap().as_str(),
            Some("2026-01-01T00:01:30.500000+00:00")
        );
        let e = expiry(&s, &settings, now).unwrap();
        assert_eq!((e.age, e.at_browser_close), (90, false));
        set_expiry(&mut s, SetExpiry::Date(now - Duration::milliseconds(500)));
        assert_eq!(expiry(&s, &settings, now).unwrap().age, -1);
        s.insert(EXPIRY_KEY, "2026-01-01T00:00:00");
        assert!(matches!(
            expiry(&s, &settings, now),
            Err(SessionError::BadExpiry)
        ));
        set_expiry(&mut s, SetExpiry::Default);
        let close = ExpirySettings {
            expire_at_browser_close: true,
            ..settings
        };
        assert!(expiry(&s, &close, now).unwrap().at_browser_close);
    }

    #[test]
    fn session_keys() {
        let k = get_new_session_key().unwrap();
        assert_eq!(k.len(), 32);
        assert!(is_well_formed_session_key(&k));
        assert!(validate_session_key("12345678") && !validate_session_key("1234567"));
        assert!(
            !is_well_formed_session_key("ABCDEFGHIJ")
                && !is_well_formed_session_key(&"a".repeat(41))
        );
    }
}
