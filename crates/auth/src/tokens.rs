//! `django.contrib.auth.tokens.PasswordResetTokenGenerator` and the `uidb64` of reset links.

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::crypto::{Algorithm, constant_time_compare, salted_hmac_hex};
use crate::signing::Keys;

const KEY_SALT: &str = "django.contrib.auth.tokens.PasswordResetTokenGenerator";

/// `PASSWORD_RESET_TIMEOUT`'s default: three days.
pub const DEFAULT_PASSWORD_RESET_TIMEOUT: i64 = 259_200;

/// The user fields a reset token covers: changing any of them (a new password, a login, another email)
/// invalidates outstanding tokens, which is what makes them single-use.
#[derive(Clone, Debug)]
pub struct TokenUser<'a> {
    /// `str(user.pk)`.
    pub pk: &'a str,
    /// The encoded password (`auth_user.password`).
    pub password: &'a str,
    /// `user.last_login`, hashed to the second as a UTC wall-clock time; `None` (never logged in) hashes as
    /// empty.
    pub last_login: Option<DateTime<Utc>>,
    /// The field `EMAIL_FIELD` names (`email` by default); empty when unset.
    pub email: &'a str,
}

/// `PasswordResetTokenGenerator` with the settings it reads: `SECRET_KEY`, `SECRET_KEY_FALLBACKS`,
/// `PASSWORD_RESET_TIMEOUT` and, through `datetime.now()`, `TIME_ZONE`.
#[derive(Clone, Debug)]
pub struct PasswordResetTokenGenerator {
    /// `SECRET_KEY` makes tokens; it and `SECRET_KEY_FALLBACKS` check them.
    pub keys: Keys,
    /// `PASSWORD_RESET_TIMEOUT`, in seconds: how old a token may be and still pass.
    pub timeout: i64,
    /// Django's `_now()` is `datetime.now()`: the naive wall clock of `TIME_ZONE` (Django sets the process's
    /// `TZ` to it). Computing the timestamp in UTC instead would shift it by the zone's offset, so tokens
    /// would expire hours early or late compared with Django's.
    pub time_zone: Tz,
}

impl PasswordResetTokenGenerator {
    /// `make_token(user)` at `now`.
    pub fn make_token_at(&self, user: &TokenUser, now: DateTime<Utc>) -> String {
        self.make_token_with_timestamp(user, self.num_seconds(now), &self.keys.secret_key)
    }

    /// `check_token(user, token)` at `now`: the exact token for some key (current, then fallbacks; constant
    /// time), and no older than `PASSWORD_RESET_TIMEOUT` (an age equal to it still passes).
    pub fn check_token_at(&self, user: &TokenUser, token: &str, now: DateTime<Utc>) -> bool {
        let Some((ts_b36, _)) = token.split_once('-') else {
            return false;
        };
        if token.matches('-').count() != 1 {
            return false;
        }
        let Some(ts) = base36_to_int(ts_b36) else {
            return false;
        };
        let valid = self
            .keys
            .verification_keys()
            .any(|key| constant_time_compare(self.make_token_with_timestamp(user, ts, key), token));
        valid && self.num_seconds(now) - ts <= self.timeout
    }

    /// `_num_seconds(dt)`: whole seconds since 2001-01-01 on the `TIME_ZONE` wall clock.
    pub fn num_seconds(&self, now: DateTime<Utc>) -> i64 {
        let local = now.with_timezone(&self.time_zone).naive_local();
        let epoch = NaiveDate::from_ymd_opt(2001, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or_default();
        (local - epoch).num_seconds()
    }

    /// `_make_token_with_timestamp(user, timestamp, secret)`: `base36(ts) + "-" +` every other hex character
    /// of the sha256 `salted_hmac` over `_make_hash_value`.
    fn make_token_with_timestamp(&self, user: &TokenUser, timestamp: i64, secret: &str) -> String {
        let hash = salted_hmac_hex(
            KEY_SALT,
            make_hash_value(user, timestamp).as_bytes(),
            secret,
            Algorithm::Sha256,
        );
        let every_other: String = hash.chars().step_by(2).collect();
        format!("{}-{every_other}", int_to_base36(timestamp))
    }
}

/// `_make_hash_value(user, timestamp)`: `f"{pk}{password}{login_timestamp}{timestamp}{email}"`, the login
/// timestamp being `str(last_login.replace(microsecond=0, tzinfo=None))`, the UTC wall clock.
pub fn make_hash_value(user: &TokenUser, timestamp: i64) -> String {
    let login = user
        .last_login
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default();
    format!(
        "{}{}{login}{timestamp}{}",
        user.pk, user.password, user.email
    )
}

/// `django.utils.http.int_to_base36` (lowercase `0-9a-z`).
pub fn int_to_base36(mut n: i64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if n <= 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    while n > 0 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// `django.utils.http.base36_to_int`: at most 13 characters (Django's guard against huge inputs). Only the
/// canonical lowercase form is accepted: any other spelling Python's `int(s, 36)` takes would give a token
/// that cannot equal the one Django makes, so the answer is the same.
pub fn base36_to_int(s: &str) -> Option<i64> {
    if s.is_empty()
        || s.len() > 13
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    {
        return None;
    }
    i64::from_str_radix(s, 36).ok()
}

/// `urlsafe_base64_encode(force_bytes(pk))`: the `uidb64` of reset links (`1` → `MQ`).
pub fn uid_encode(pk: &str) -> String {
    URL_SAFE_NO_PAD.encode(pk)
}

/// `urlsafe_base64_decode(uidb64).decode()`: the text `PasswordResetConfirmView` looks the user up by
/// (`get(pk=uid)`, which parses it as the model's key: see [`crate::user_model::PkKind::to_python`]);
/// `None` for anything that is not base64 of UTF-8 text.
pub fn uid_decode(uidb64: &str) -> Option<String> {
    // Room for any key Django makes (a text key of a few hundred characters), not for a megabyte.
    if uidb64.len() > 2048 {
        return None;
    }
    let trimmed = uidb64.trim_end_matches('=');
    let mut padded = trimmed.to_string();
    padded.push_str(&"=".repeat((4 - trimmed.len() % 4) % 4));
    let bytes = URL_SAFE.decode(padded).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const ENCODED: &str =
        "pbkdf2_sha256$1000000$abcdefghijklmnopqrstuv$ESUkIq3XvMIs+R/ZmdQSkE1EDQIVk18SzognBfgBuPQ=";

    fn generator() -> PasswordResetTokenGenerator {
        PasswordResetTokenGenerator {
            keys: Keys::new(
                "django-insecure-test-secret-key-0123456789",
                vec!["old-secret-key-1".into()],
            ),
            timeout: DEFAULT_PASSWORD_RESET_TIMEOUT,
            time_zone: Tz::UTC,
        }
    }

    #[test]
    fn vectors_from_the_map() {
        let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let mut user = TokenUser {
            pk: "1",
            password: ENCODED,
            last_login: None,
            email: "alice@example.com",
        };
        let g = generator();
        assert_eq!(g.num_seconds(now), 725_760_000);
        assert_eq!(
            g.make_token_at(&user, now),
            "c03k00-060bb97484efd5913c45c2f77b1498fe"
        );
        user.last_login = Some(
            Utc.with_ymd_and_hms(2023, 12, 31, 12, 34, 56).unwrap()
                + chrono::Duration::milliseconds(789),
        );
        let token = g.make_token_at(&user, now);
        assert_eq!(token, "c03k00-1a5f8b275b3d97bb7138bfa2bc7cd708");
        assert!(g.check_token_at(&user, &token, now + chrono::Duration::seconds(259_200)));
        assert!(!g.check_token_at(&user, &token, now + chrono::Duration::seconds(259_201)));
        assert!(g.check_token_at(&user, "c03k00-fb7e07264e63a8328f2ef402a75c4d0e", now));
        assert!(!g.check_token_at(&user, "c03k00-fb7e07264e63a8328f2ef402a75c4d0e-", now));
        assert!(!g.check_token_at(&user, "C03K00-1a5f8b275b3d97bb7138bfa2bc7cd708", now));
    }

    #[test]
    fn uidb64() {
        assert_eq!(uid_encode("1"), "MQ");
        assert_eq!(uid_encode("12345"), "MTIzNDU");
        assert_eq!(uid_decode("MTIzNDU").as_deref(), Some("12345"));
        assert_eq!(uid_decode("MQ==").as_deref(), Some("1"));
        assert_eq!(uid_decode("!!"), None);
        assert_eq!(uid_decode("YQ").as_deref(), Some("a")); // the key type decides
        let uuid = "0f0e2f3a-6c4b-4d2e-9a1b-3c4d5e6f7a8b";
        assert_eq!(uid_decode(&uid_encode(uuid)).as_deref(), Some(uuid));
    }
}
