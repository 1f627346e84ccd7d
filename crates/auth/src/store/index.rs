//! The per-user index of sessions, for "list my sessions" and "log out everywhere".
//!
//! Django keeps no such index: finding a user's sessions means decoding every session. Here each user has
//! a sorted set in Redis under `KEY_PREFIX:VERSION:django_rs.user_sessions.<pk>`, a key no Django cache
//! user reads, whose members are session keys scored by their expiry (milliseconds since the epoch). The
//! set itself expires with its last session, and members past their expiry are pruned on every write, so
//! it never outlives what it indexes. Sessions Django created join it the first time our services load
//! them.

use std::sync::LazyLock;

use chrono::{DateTime, TimeZone, Utc};

use super::unix_millis;
use crate::connections::{Redis, StoreError};
use crate::session;

/// The engine prefix of the index keys (after `KEY_PREFIX:VERSION:`).
pub const USER_INDEX_PREFIX: &str = "django_rs.user_sessions.";

/// Adds a session (or raises its score: `GT` never lowers one, so a late background join carrying an older
/// expiry cannot shorten what a save recorded), drops expired members, and makes the set expire with its
/// last member.
static ADD: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
return 1
",
    )
});

/// The per-user session index in Redis: one sorted set per user of session keys scored by expiry.
#[derive(Clone, Debug)]
pub struct UserIndex {
    redis: Redis,
    key_prefix: String,
    version: i64,
}

/// One indexed session. The key is a credential: show users a digest of it, never the key.
#[derive(Clone, PartialEq, Eq)]
pub struct UserSession {
    /// The session key: a credential, never to be shown (see [`UserSession::id`]).
    pub session_key: String,
    /// When the session expires, as last recorded in the index (millisecond precision).
    pub expire_date: DateTime<Utc>,
    /// What the session's activity record says (filled when listing; `None` before our services saw it).
    pub meta: Option<crate::idle::SessionMeta>,
}

impl UserSession {
    /// An opaque, stable name for the session that pages and the api can show and send back: 128 bits of
    /// a SHA-256 over the key. It reveals nothing of the key, which remains the only credential.
    pub fn id(&self) -> String {
        session_id(&self.session_key)
    }
}

/// See [`UserSession::id`].
pub fn session_id(session_key: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::new()
        .chain_update(b"django_rs.session_id:")
        .chain_update(session_key.as_bytes())
        .finalize();
    crate::crypto::to_hex(&digest[..16])
}

impl std::fmt::Debug for UserSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSession")
            .field("expire_date", &self.expire_date)
            .finish_non_exhaustive()
    }
}

impl UserIndex {
    /// The index on `redis`, its keys under the cache's `KEY_PREFIX` and `VERSION` as Django builds them.
    pub fn new(redis: Redis, key_prefix: &str, version: i64) -> UserIndex {
        UserIndex {
            redis,
            key_prefix: key_prefix.to_string(),
            version,
        }
    }

    /// The user's set, keyed by `str(pk)` as `_auth_user_id` holds it.
    fn key(&self, user_pk: &str) -> String {
        session::cache_key(&self.key_prefix, self.version, USER_INDEX_PREFIX, user_pk)
    }

    /// Records `session_key` as the user's until `expire_date` (never lowering a recorded expiry), prunes
    /// expired members, and makes the set expire with its last member.
    pub async fn add(
        &self,
        user_pk: &str,
        session_key: &str,
        expire_date: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut connection = self.redis.connection();
        self.redis
            .run(
                ADD.key(self.key(user_pk))
                    .arg(session_key)
                    .arg(unix_millis(expire_date))
                    .arg(unix_millis(Utc::now()))
                    .invoke_async::<i64>(&mut connection),
            )
            .await?;
        Ok(())
    }

    /// Drops `session_key` from the user's set (`ZREM`); a key that is not there is no error.
    pub async fn remove(&self, user_pk: &str, session_key: &str) -> Result<(), StoreError> {
        self.redis
            .query::<i64>(redis::cmd("ZREM").arg(self.key(user_pk)).arg(session_key))
            .await?;
        Ok(())
    }

    /// The indexed sessions that have not expired, soonest expiry first. The caller checks each still
    /// exists and still belongs to the user.
    pub async fn members(&self, user_pk: &str) -> Result<Vec<UserSession>, StoreError> {
        let now = unix_millis(Utc::now());
        let entries: Vec<(String, f64)> = self
            .redis
            .query(
                redis::cmd("ZRANGE")
                    .arg(self.key(user_pk))
                    .arg(format!("({now}"))
                    .arg("+inf")
                    .arg("BYSCORE")
                    .arg("WITHSCORES"),
            )
            .await?;
        Ok(entries
            .into_iter()
            .filter_map(|(session_key, score)| {
                let expire_date = Utc.timestamp_millis_opt(score as i64).single()?;
                Some(UserSession {
                    session_key,
                    expire_date,
                    meta: None,
                })
            })
            .collect())
    }
}
