//! `django.contrib.sessions.backends.cached_db`: the `django_session` row is the truth, Redis a
//! write-through cache under `KEY_PREFIX:VERSION:django.contrib.sessions.cached_db<key>`.
//!
//! Django writes the row, then `cache.set`. Two writers can reach the cache in the opposite order to their
//! database commits and leave the older dict cached. Here the cache is only overwritten if it still holds
//! what this writer loaded; otherwise its key is deleted and the next read refills it from the row. A
//! failed cache write is logged, not raised, as in Django 5.1+.

use chrono::Utc;

use super::cache::{CacheFlavor, CacheRead, CacheSessions};
use super::db::{DbSessions, Row};
use super::{Raw, SessionBackend, Stored, Update};
use crate::connections::{Redis, StoreError};
use crate::session::{self, Expiry, SessionData};

/// Sessions in the `cached_db` engine: the `django_session` row, with a Redis copy under the
/// `django.contrib.sessions.cached_db` prefix that is filled on read and kept in step on write.
#[derive(Clone, Debug)]
pub struct CachedDbSessions {
    cache: CacheSessions,
    db: DbSessions,
}

impl CachedDbSessions {
    /// The `cached_db` engine: `db` for the rows, and a cache on `redis` with Django's key (`key_prefix`,
    /// `version`) and `flavor`'s pickle format.
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

    /// The Redis half, keyed `KEY_PREFIX:VERSION:django.contrib.sessions.cached_db<key>`.
    pub fn cache(&self) -> &CacheSessions {
        &self.cache
    }

    async fn refill(&self, session_key: &str, row: &Row, replacing: Option<&[u8]>) {
        let expiry = Expiry {
            age: (row.expire_date - Utc::now()).num_seconds(),
            date: row.expire_date,
            at_browser_close: false,
        };
        let written = match self
            .cache
            .fill(session_key, &row.stored.data, &expiry, replacing)
            .await
        {
            Ok(Some(written)) => written,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "Error saving to cache");
                return;
            }
        };
        let still_there = match self.db.load_row(session_key).await {
            Ok(Some(now)) => now.stored.raw == row.stored.raw,
            Ok(None) => false,
            Err(_) => false,
        };
        if !still_there {
            if let Err(e) = self.cache.compare_and_delete(session_key, &written).await {
                tracing::warn!(error = %e, "Error deleting from cache");
            }
        }
    }

    async fn forget(&self, session_key: &str) {
        if let Err(e) = self.cache.delete(session_key).await {
            tracing::warn!(error = %e, "Error deleting from cache");
        }
    }
}

impl SessionBackend for CachedDbSessions {
    /// The cache, else the row, and the cache refilled with the row's remaining age.
    ///
    /// Django's refill is an unconditional `cache.set`: a logout (row and cache deleted) landing between
    /// its read of the row and its `set` puts the deleted session back in the cache, where read-only
    /// requests keep finding it until the TTL ends. Here the refill only fills an empty (or unreadable)
    /// cache, then reads the row again, and takes back what it wrote if the row is gone or changed.
    async fn load(&self, session_key: &str) -> Result<Option<Stored>, StoreError> {
        let replacing = match self.cache.read(session_key).await {
            Ok(CacheRead::Found(stored)) => return Ok(Some(stored)),
            Ok(CacheRead::Missing) => Some(None),
            Ok(CacheRead::Corrupt(bad)) => Some(Some(bad)),
            // Django's `cache.get` raising falls through to the database the same way; Redis being down,
            // the refill is not attempted.
            Err(e) => {
                tracing::warn!(error = %e, "Error reading from cache");
                None
            }
        };
        let Some(row) = self.db.load_row(session_key).await? else {
            return Ok(None);
        };
        if let Some(replacing) = replacing {
            self.refill(session_key, &row, replacing.as_deref()).await;
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
        if let Err(e) = self.cache.set(session_key, data, expiry).await {
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

    async fn delete(&self, session_key: &str) -> Result<bool, StoreError> {
        let existed = self.db.delete(session_key).await?;
        self.cache.delete(session_key).await?;
        Ok(existed)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::{Database, DatabaseConfig, RedisConfig};
    use crate::migrate::{DefaultAutoField, migrate};
    use crate::signing::Keys;
    use std::time::Duration;

    /// The race Django loses, step by step: a reader misses the cache and reads the row; a logout deletes
    /// row and cache; the reader's refill then runs. It must not leave the deleted session cached.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refill_after_a_logout_takes_itself_back() {
        let pg = testkit::PostgresServer::start().unwrap();
        let redis_server = testkit::RedisServer::start().unwrap();
        let db = Database::connect(&DatabaseConfig {
            url: pg.url(),
            pool_size: 2,
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            transaction_pooling: false,
        })
        .unwrap();
        migrate(&db, DefaultAutoField::BigAuto, false)
            .await
            .unwrap();
        let redis = Redis::connect(&RedisConfig {
            url: redis_server.url(),
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
            ca_certs: None,
            ..RedisConfig::new("")
        })
        .unwrap();
        let sessions = CachedDbSessions::new(
            redis.clone(),
            "",
            1,
            CacheFlavor::Django,
            DbSessions::new(db, Keys::new("k", vec![])),
        );
        let mut data = SessionData::new();
        data.insert("_auth_user_id", "1");
        let expiry = session::expiry(&data, &Default::default(), Utc::now()).unwrap();
        let key = "r".repeat(32);
        sessions
            .create(&key, &data, &expiry)
            .await
            .unwrap()
            .unwrap();
        sessions.cache.delete(&key).await.unwrap();

        // The reader's first half: a cache miss, then the row.
        let row = sessions.db.load_row(&key).await.unwrap().unwrap();
        // The logout.
        assert!(sessions.delete(&key).await.unwrap());
        // The reader's second half.
        sessions.refill(&key, &row, None).await;
        let cached: Option<Vec<u8>> = redis
            .query(redis::cmd("GET").arg(sessions.cache.cache_key(&key)))
            .await
            .unwrap();
        assert_eq!(cached, None, "the logged-out session is back in the cache");
        assert!(sessions.load(&key).await.unwrap().is_none());

        // And without a logout, the refill stays.
        sessions
            .create(&key, &data, &expiry)
            .await
            .unwrap()
            .unwrap();
        sessions.cache.delete(&key).await.unwrap();
        let row = sessions.db.load_row(&key).await.unwrap().unwrap();
        sessions.refill(&key, &row, None).await;
        assert!(matches!(
            sessions.cache.read(&key).await.unwrap(),
            CacheRead::Found(_)
        ));
    }
}
