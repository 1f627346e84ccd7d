//! `django.contrib.sessions.backends.cache` on Redis, as Django's `RedisCache` or django-redis store it.
//!
//! Key `KEY_PREFIX:VERSION:django.contrib.sessions.cache<key>` (no separator before the session key),
//! value the pickled dict, TTL the session's expiry age. Django's own update is `GET` then `SET`, which
//! resurrects a session deleted between the two; here the update is one Lua script that compares what is
//! stored with what was loaded and writes only if both still match, the `SET XX` of a compare-and-set.

use std::sync::LazyLock;

use chrono::Utc;

use super::{Raw, SessionBackend, Stored, Update, corrupted, ttl_millis};
use crate::connections::{Redis, StoreError};
use crate::pickle;
use crate::session::{self, Expiry, SessionData};

/// `CACHES["default"]["BACKEND"]` (and, for django-redis, its `OPTIONS["PICKLE_VERSION"]`): the two Redis
/// cache backends write the same key and the same pickle, except for the protocol and the TTL's unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheFlavor {
    /// `django.core.cache.backends.redis.RedisCache` (Django ≥ 4.0): `pickle.HIGHEST_PROTOCOL` (5, with no
    /// option to change it), `SET … EX <seconds>`.
    Django,
    /// `django_redis.cache.RedisCache`: `pickle.dumps(value, PICKLE_VERSION)`, `SET … PX <ms>`.
    DjangoRedis {
        /// The protocol django-redis' `PickleSerializer` writes: its `OPTIONS["PICKLE_VERSION"]`, else
        /// `pickle.DEFAULT_PROTOCOL`, which is 4 up to Python 3.13 and 5 from Python 3.14. 4 or 5, as
        /// [`CacheFlavor::django_redis`] makes it: the pickle writer refuses others, so every save would
        /// fail.
        pickle_protocol: u8,
    },
}

impl CacheFlavor {
    /// django-redis as it runs on Python 3.8 to 3.13 without `PICKLE_VERSION`: protocol 4.
    pub const DJANGO_REDIS: CacheFlavor = CacheFlavor::DjangoRedis { pickle_protocol: 4 };

    /// The dotted path Django's `CACHES` names it by (django-redis with its default protocol 4).
    pub fn from_backend(path: &str) -> Option<CacheFlavor> {
        match path {
            "django.core.cache.backends.redis.RedisCache" => Some(CacheFlavor::Django),
            "django_redis.cache.RedisCache" => Some(CacheFlavor::DJANGO_REDIS),
            _ => None,
        }
    }

    /// django-redis with `OPTIONS["PICKLE_VERSION"] = pickle_version`: `-1` (`pickle.HIGHEST_PROTOCOL`,
    /// 5 on every Python Django supports), `4` or `5`. Protocols 0 to 3, which django-redis also accepts,
    /// are not written here (`None`): no Django default writes them.
    pub fn django_redis(pickle_version: i64) -> Option<CacheFlavor> {
        let pickle_protocol = match pickle_version {
            -1 | 5 => 5,
            4 => 4,
            _ => return None,
        };
        Some(CacheFlavor::DjangoRedis { pickle_protocol })
    }

    /// The pickle protocol this backend writes a session with (any protocol is read).
    pub fn pickle_protocol(self) -> u8 {
        match self {
            CacheFlavor::Django => 5,
            CacheFlavor::DjangoRedis { pickle_protocol } => pickle_protocol,
        }
    }

    /// The `SET` expiry option and its value for an age, as each backend computes it: Django's
    /// `get_backend_timeout` gives whole seconds; django-redis gives `int(timeout * 1000)` milliseconds.
    fn expiry_arg(self, expiry: &Expiry) -> (&'static str, i64) {
        match self {
            CacheFlavor::Django => ("EX", expiry.age.max(0)),
            CacheFlavor::DjangoRedis { .. } => ("PX", ttl_millis(expiry)),
        }
    }
}

/// Sessions in a Django cache on Redis: the `cache` engine, and the cache half of `cached_db`.
#[derive(Clone, Debug)]
pub struct CacheSessions {
    redis: Redis,
    /// `CACHES["default"]["KEY_PREFIX"]` (`CACHE_KEY_PREFIX`).
    key_prefix: String,
    /// `CACHES["default"]["VERSION"]` (`CACHE_VERSION`).
    version: i64,
    /// `django.contrib.sessions.cache` or `django.contrib.sessions.cached_db`.
    engine_prefix: &'static str,
    flavor: CacheFlavor,
    limits: pickle::Limits,
}

/// Writes the new value only if the stored one is still the one loaded. Returns 1 when written, 0 when
/// the session is gone (never recreated), or the current value when another writer got there first.
static COMPARE_AND_SET: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if current ~= ARGV[1] then return {current} end
if tonumber(ARGV[4]) <= 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], ARGV[3], ARGV[4])
end
return 1
",
    )
});

/// Deletes the key only if it still holds the given value.
static COMPARE_AND_DELETE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

impl CacheSessions {
    /// The `cache` engine.
    pub fn new(redis: Redis, key_prefix: &str, version: i64, flavor: CacheFlavor) -> CacheSessions {
        CacheSessions::with_engine_prefix(
            redis,
            key_prefix,
            version,
            flavor,
            session::CACHE_KEY_PREFIX,
        )
    }

    pub(crate) fn with_engine_prefix(
        redis: Redis,
        key_prefix: &str,
        version: i64,
        flavor: CacheFlavor,
        engine_prefix: &'static str,
    ) -> CacheSessions {
        CacheSessions {
            redis,
            key_prefix: key_prefix.to_string(),
            version,
            engine_prefix,
            flavor,
            limits: pickle::Limits::default(),
        }
    }

    /// The Redis connection the sessions are stored on.
    pub fn redis(&self) -> &Redis {
        &self.redis
    }

    /// Which cache backend's format (`RedisCache` or django-redis) this store reads and writes.
    pub fn flavor(&self) -> CacheFlavor {
        self.flavor
    }

    /// The Redis key Django's cache uses for this session.
    pub fn cache_key(&self, session_key: &str) -> String {
        session::cache_key(
            &self.key_prefix,
            self.version,
            self.engine_prefix,
            session_key,
        )
    }

    /// The stored session, or the unreadable bytes handed back (no copy is made either way).
    fn decode(&self, raw: Vec<u8>, pttl: Option<i64>) -> Result<Stored, Vec<u8>> {
        match session::decode_cache(&raw, &self.limits) {
            Ok((data, _protocol)) => Ok(Stored {
                data,
                raw: Raw::Bytes(raw),
                // PTTL is -1 for a key without expiry, -2 for a missing one.
                expire_date: pttl
                    .filter(|ms| *ms >= 0)
                    .and_then(chrono::Duration::try_milliseconds)
                    .and_then(|d| Utc::now().checked_add_signed(d)),
            }),
            Err(e) => {
                corrupted(self.engine_prefix, &e);
                Err(raw)
            }
        }
    }

    fn encode(&self, data: &SessionData) -> Result<Vec<u8>, StoreError> {
        Ok(session::encode_cache(data, self.flavor.pickle_protocol())?)
    }

    /// `cache.set(key, data, age)`: how `cached_db` caches a session it has just created.
    pub(crate) async fn set(
        &self,
        session_key: &str,
        data: &SessionData,
        expiry: &Expiry,
    ) -> Result<(), StoreError> {
        let value = self.encode(data)?;
        let key = self.cache_key(session_key);
        let (unit, ttl) = self.flavor.expiry_arg(expiry);
        if ttl <= 0 {
            self.redis.query::<()>(redis::cmd("DEL").arg(&key)).await?;
        } else {
            self.redis
                .query::<()>(redis::cmd("SET").arg(&key).arg(&value).arg(unit).arg(ttl))
                .await?;
        }
        Ok(())
    }

    /// What the cache holds for a session, telling a miss from unreadable bytes (which `cached_db` must
    /// overwrite rather than keep re-reading).
    pub(crate) async fn read(&self, session_key: &str) -> Result<CacheRead, StoreError> {
        let key = self.cache_key(session_key);
        let mut connection = self.redis.connection();
        let (raw, pttl): (Option<Vec<u8>>, i64) = self
            .redis
            .run(
                redis::pipe()
                    .cmd("GET")
                    .arg(&key)
                    .cmd("PTTL")
                    .arg(&key)
                    .query_async(&mut connection),
            )
            .await?;
        Ok(match raw {
            None => CacheRead::Missing,
            Some(raw) => match self.decode(raw, Some(pttl)) {
                Ok(stored) => CacheRead::Found(stored),
                Err(raw) => CacheRead::Corrupt(raw),
            },
        })
    }

    /// Refills the cache from the database: only where the cache is empty (`SET NX`), or where it still
    /// holds the unreadable bytes `replacing`. Returns what was written, if anything.
    pub(crate) async fn fill(
        &self,
        session_key: &str,
        data: &SessionData,
        expiry: &Expiry,
        replacing: Option<&[u8]>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self.encode(data)?;
        let (unit, ttl) = self.flavor.expiry_arg(expiry);
        if ttl <= 0 {
            return Ok(None);
        }
        let key = self.cache_key(session_key);
        let mut connection = self.redis.connection();
        let written = match replacing {
            None => {
                let answer: Option<String> = self
                    .redis
                    .run(
                        redis::cmd("SET")
                            .arg(&key)
                            .arg(&value)
                            .arg("NX")
                            .arg(unit)
                            .arg(ttl)
                            .query_async(&mut connection),
                    )
                    .await?;
                answer.is_some()
            }
            Some(bad) => {
                let answer: redis::Value = self
                    .redis
                    .run(
                        COMPARE_AND_SET
                            .key(&key)
                            .arg(bad)
                            .arg(&value)
                            .arg(unit)
                            .arg(ttl)
                            .invoke_async(&mut connection),
                    )
                    .await?;
                answer == redis::Value::Int(1)
            }
        };
        Ok(written.then_some(value))
    }

    /// Deletes the cached value only if it is still `expected` (what this process wrote).
    pub(crate) async fn compare_and_delete(
        &self,
        session_key: &str,
        expected: &[u8],
    ) -> Result<(), StoreError> {
        let mut connection = self.redis.connection();
        self.redis
            .run(
                COMPARE_AND_DELETE
                    .key(self.cache_key(session_key))
                    .arg(expected)
                    .invoke_async::<i64>(&mut connection),
            )
            .await?;
        Ok(())
    }
}

/// [`CacheSessions::read`]'s answer.
pub(crate) enum CacheRead {
    Found(Stored),
    Missing,
    Corrupt(Vec<u8>),
}

impl SessionBackend for CacheSessions {
    async fn load(&self, session_key: &str) -> Result<Option<Stored>, StoreError> {
        Ok(match self.read(session_key).await? {
            CacheRead::Found(stored) => Some(stored),
            CacheRead::Missing | CacheRead::Corrupt(_) => None,
        })
    }

    async fn create(
        &self,
        session_key: &str,
        data: &SessionData,
        expiry: &Expiry,
    ) -> Result<Option<Stored>, StoreError> {
        let value = self.encode(data)?;
        let (unit, ttl) = self.flavor.expiry_arg(expiry);
        // Django's `add` with a timeout of 0 stores nothing; an already-expired session is the same.
        if ttl > 0 {
            let created: Option<String> = self
                .redis
                .query(
                    redis::cmd("SET")
                        .arg(self.cache_key(session_key))
                        .arg(&value)
                        .arg("NX")
                        .arg(unit)
                        .arg(ttl),
                )
                .await?;
            if created.is_none() {
                return Ok(None);
            }
        }
        Ok(Some(Stored::new(data.clone(), Raw::Bytes(value))))
    }

    async fn update(
        &self,
        session_key: &str,
        expected: &Stored,
        data: &SessionData,
        expiry: &Expiry,
    ) -> Result<Update, StoreError> {
        let expected_raw: &[u8] = match &expected.raw {
            Raw::Bytes(b) => b,
            // Loaded from elsewhere (cached_db's database): only an absent key can match.
            Raw::Text(_) | Raw::Nothing => &[],
        };
        let value = self.encode(data)?;
        let (unit, ttl) = self.flavor.expiry_arg(expiry);
        let mut connection = self.redis.connection();
        let answer: redis::Value = self
            .redis
            .run(
                COMPARE_AND_SET
                    .key(self.cache_key(session_key))
                    .arg(expected_raw)
                    .arg(&value)
                    .arg(unit)
                    .arg(ttl)
                    .invoke_async(&mut connection),
            )
            .await?;
        Ok(match answer {
            redis::Value::Int(1) => Update::Saved(Stored::new(data.clone(), Raw::Bytes(value))),
            redis::Value::Array(mut current) => match current.pop() {
                Some(redis::Value::BulkString(raw)) => match self.decode(raw, None) {
                    Ok(stored) => Update::Conflict(stored),
                    // Overwritten with something unreadable: for Django that is a missing session.
                    Err(_) => Update::Missing,
                },
                _ => return Err(unexpected_reply()),
            },
            redis::Value::Int(0) => Update::Missing,
            _ => return Err(unexpected_reply()),
        })
    }

    /// Acknowledged by a replica before it returns ([`Redis::delete_acknowledged`]): every logout,
    /// `cycle_key` and idle-timeout flush deletes through here.
    async fn delete(&self, session_key: &str) -> Result<bool, StoreError> {
        self.redis
            .delete_acknowledged(&self.cache_key(session_key))
            .await
    }

    async fn exists(&self, session_key: &str) -> Result<bool, StoreError> {
        self.redis
            .query(redis::cmd("EXISTS").arg(self.cache_key(session_key)))
            .await
    }

    /// Redis expires sessions itself (Django's cache engine does nothing here either).
    async fn clear_expired(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
}

fn unexpected_reply() -> StoreError {
    StoreError::Server {
        service: "redis",
        reason: "unexpected reply to the compare-and-set script".into(),
    }
}
