//! `django.contrib.sessions.backends.signed_cookies`: the cookie is the session, signed with
//! `SECRET_KEY` (verified with the fallbacks too) and valid for `SESSION_COOKIE_AGE` from its timestamp.
//! Nothing is stored, so nothing can be deleted server-side: a logout only drops the cookie, exactly as
//! with Django.

use super::{Raw, SessionBackend, Stored, Update};
use crate::connections::StoreError;
use crate::session::{self, Expiry, SessionData};
use crate::signing::{self, Keys};

/// Sessions in the `signed_cookies` engine: the session key is the signed, compressed session itself.
#[derive(Clone, Debug)]
pub struct SignedCookieSessions {
    keys: Keys,
    /// `SESSION_COOKIE_AGE`, the `max_age` of `signing.loads` (a custom `set_expiry` does not change it).
    cookie_age: i64,
}

impl SignedCookieSessions {
    /// The engine signing with `keys` and accepting cookies up to `cookie_age` seconds
    /// (`SESSION_COOKIE_AGE`) old.
    pub fn new(keys: Keys, cookie_age: i64) -> SignedCookieSessions {
        SignedCookieSessions { keys, cookie_age }
    }
}

impl SessionBackend for SignedCookieSessions {
    /// A cookie that fails to verify or has expired is an empty new session (Django calls `create()`).
    async fn load(&self, cookie: &str) -> Result<Option<Stored>, StoreError> {
        match session::decode_signed_cookie_at(cookie, &self.keys, self.cookie_age, signing::now())
        {
            Ok((data, _which)) => Ok(Some(Stored::new(data, Raw::Nothing))),
            // Django's `load()` makes a new session without a word; we count why.
            Err(e) => {
                crate::metrics::record_decode_failure(crate::metrics::DecodeFailure::of(&e));
                Ok(None)
            }
        }
    }

    async fn create(
        &self,
        _cookie: &str,
        data: &SessionData,
        _expiry: &Expiry,
    ) -> Result<Option<Stored>, StoreError> {
        Ok(Some(Stored::new(data.clone(), Raw::Nothing)))
    }

    async fn update(
        &self,
        _cookie: &str,
        _expected: &Stored,
        data: &SessionData,
        _expiry: &Expiry,
    ) -> Result<Update, StoreError> {
        Ok(Update::Saved(Stored::new(data.clone(), Raw::Nothing)))
    }

    async fn delete(&self, _cookie: &str) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn exists(&self, _cookie: &str) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn clear_expired(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// `_get_session_key()`: the signed session itself.
    fn new_session_key(&self, data: &SessionData) -> Result<String, StoreError> {
        Ok(session::encode_signed_cookie_at(
            data,
            &self.keys,
            signing::now(),
        )?)
    }

    fn key_is_data(&self) -> bool {
        true
    }
}
