//! `django.contrib.sessions.backends.cached_db`: the `django_session` row is the truth, Redis a
//! write-through cache under `KEY_PREFIX:VERSION:django.contrib.sessions.cached_db<key>`.
//!
//! Django writes the row, then `cache.set`. Two writers can reach the cache in the opposite order to their
//! database commits and leave the older dict cached. Here the cache is only overwritten if it still holds
//! what this writer loaded; otherwise its key is deleted and the next read refills it from the row. A
//! failed cache write is logged, not raised, as in Django 5.1+.

use chrono::Utc;

use super::cache::{CacheFlavor, CacheSessions};
use super::db::DbSessions;
use super::{Raw, SessionBackend, Stored, Update};
use crate::connections::{Redis, StoreError};
use crate::session::{self, Expiry, ExpirySettings, SessionData};

#[derive(Clone, Debug)]
pub struct CachedDbSessions {
    cache: CacheSessions,
    db: DbSessions,
}

impl CachedDbSessions {
    pub fn new(
        redis: Redis,
        key_prefix: &str,
        version: i64,
        flavor: CacheFlavor,
        db: DbSessions,
    ) -> CachedDbSessions {
        CachedDbSessions {
            cache: CacheSessions::with_engine_prefix(
                redis,
                key_prefix,
                version,
                flavor,
                session::CACHED_DB_KEY_PREFIX,
            ),
            db,
        }
    }

    pub fn cache(&self) -> &CacheSessions {
        &self.cache
    }

    async fn forget(&self, session_key: &str) {
        if let Err(e) = self.cache.delete(session_key).await {
            tracing::warn!(error = %e, "Error deleting from cache");
        }
    }
}

impl SessionBackend for CachedDbSessions {
    /// The cache, else the row (and the cache refilled with the row's remaining age, unless another
    /// writer refilled it first).
    async fn load(&self, session_key: &str) -> Result<Option<Stored>, StoreError> {
        match self.cache.load(session_key).await {
            Ok(Some(stored)) => return Ok(Some(stored)),
            Ok(None) => {}
            // Django's `cache.get` raising falls through to the database the same way.
            Err(e) => tracing::warn!(error = %e, "Error reading from cache"),
        }
        let Some(row) = self.db.load_row(session_key).await? else {
            return Ok(None);
        };
        let age = (row.expire_date - Utc::now()).num_seconds();
        let expiry = Expiry {
            age,
            date: row.expire_date,
            at_browser_close: ExpirySettings::default().expire_at_browser_close,
        };
        if let Err(e) = self
            .cache
            .set(session_key, &row.stored.data, &expiry, true)
            .await
        {
            tracing::warn!(error = %e, "Error saving to cache");
        }
        Ok(Some(row.stored))
    }

    async fn create(
        &self,
        session_key: &str,
        data: &SessionData,
        expiry: &Expiry,
    ) -> Result<Option<Stored>, StoreError> {
        let Some(stored) = self.db.create(session_key, data, expiry).await? else {
            return Ok(None);
        };
        if let Err(e) = self.cache.set(session_key, data, expiry, false).await {
            tracing::warn!(error = %e, "Error saving to cache");
        }
        Ok(Some(stored))
    }

    async fn update(
        &self,
        session_key: &str,
        expected: &Stored,
        data: &SessionData,
        expiry: &Expiry,
    ) -> Result<Update, StoreError> {
        match self.db.update(session_key, expected, data, expiry).await? {
            Update::Saved(db_stored) => {
                if matches!(expected.raw, Raw::Bytes(_)) {
                    match self.cache.update(session_key, expected, data, expiry).await {
                        Ok(Update::Saved(cached)) => return Ok(Update::Saved(cached)),
                        Ok(_) => self.forget(session_key).await,
                        Err(e) => {
                            tracing::warn!(error = %e, "Error saving to cache");
                            self.forget(session_key).await;
                        }
                    }
                } else {
                    self.forget(session_key).await;
                }
                Ok(Update::Saved(db_stored))
            }
            Update::Missing => {
                self.forget(session_key).await;
                Ok(Update::Missing)
            }
            conflict @ Update::Conflict(_) => Ok(conflict),
        }
    }

    async fn delete(&self, session_key: &str) -> Result<(), StoreError> {
        self.db.delete(session_key).await?;
        self.cache.delete(session_key).await
    }

    /// `cache_key in cache or super().exists(session_key)`.
    async fn exists(&self, session_key: &str) -> Result<bool, StoreError> {
        if self.cache.exists(session_key).await.unwrap_or(false) {
            return Ok(true);
        }
        self.db.exists(session_key).await
    }

    async fn clear_expired(&self) -> Result<u64, StoreError> {
        self.db.clear_expired().await
    }
}
