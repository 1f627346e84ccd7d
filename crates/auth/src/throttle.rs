//! Slowing down password guessing: failed logins are counted per username and per client address over a
//! window, and once either count reaches its limit, logins for that username (or from that address) are
//! refused until the window ends, with the same answer whether or not the username exists.
//!
//! Django has no such rule of its own (django-axes adds one, with `AXES_FAILURE_LIMIT` and
//! `AXES_COOLOFF_TIME`); the settings here are `LOGIN_FAILURE_LIMIT`, `LOGIN_ADDRESS_FAILURE_LIMIT` and
//! `LOGIN_FAILURE_WINDOW`. The counters live in Redis when one is configured, so every portal process
//! shares them; without Redis (the `db` engine alone) they are kept per process.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use sha2::Digest;

use crate::connections::{Redis, StoreError};

/// The limits. A limit of 0 turns that counter off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// `LOGIN_FAILURE_LIMIT` (default 10): failures for one username within the window.
    pub per_username: u64,
    /// `LOGIN_ADDRESS_FAILURE_LIMIT` (default 100): failures from one client address within the window.
    pub per_address: u64,
    /// `LOGIN_FAILURE_WINDOW` (seconds, default 900): counted from the first failure.
    pub window: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> ThrottleSettings {
        ThrottleSettings {
            per_username: 10,
            per_address: 100,
            window: Duration::from_secs(900),
        }
    }
}

/// Counts a failure and starts the window at the first one (called with one key at a time).
static FAILED: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 1
",
    )
});

/// Each key's count and remaining time in milliseconds (called with one key at a time).
static STATUS: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local out = {}
for i, key in ipairs(KEYS) do
  out[#out + 1] = tonumber(redis.call('GET', key) or '0')
  out[#out + 1] = redis.call('PTTL', key)
end
return out
",
    )
});

#[derive(Clone, Debug)]
enum Counters {
    Redis { redis: Redis, prefix: String },
    Memory(Arc<Mutex<HashMap<String, (u64, Instant)>>>),
}

/// The login throttle of a service.
#[derive(Clone, Debug)]
pub struct LoginThrottle {
    settings: ThrottleSettings,
    counters: Counters,
}

/// A refusal: try again after this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttled {
    /// Time left until the longest exhausted window ends (in Redis, at least one second).
    pub retry_after: Duration,
}

impl LoginThrottle {
    /// Counters in Redis under `KEY_PREFIX:VERSION:django_rs.login_failures.…` (a key Django never reads).
    pub fn redis(settings: ThrottleSettings, redis: Redis, key_prefix: &str, version: i64) -> Self {
        LoginThrottle {
            settings,
            counters: Counters::Redis {
                redis,
                prefix: crate::session::cache_key(
                    key_prefix,
                    version,
                    "django_rs.login_failures.",
                    "",
                ),
            },
        }
    }

    /// Counters in this process only.
    pub fn memory(settings: ThrottleSettings) -> Self {
        LoginThrottle {
            settings,
            counters: Counters::Memory(Arc::default()),
        }
    }

    /// The counters that apply, with their limits. Usernames are compared case-insensitively (a guesser
    /// gains nothing by changing case) and hashed, so no username reaches Redis in clear.
    fn keys(&self, username: &str, address: &str) -> Vec<(String, u64)> {
        let digest = |kind: &str, value: &str| {
            let hash = sha2::Sha256::new()
                .chain_update(value.as_bytes())
                .finalize();
            format!("{kind}.{}", crate::crypto::to_hex(&hash[..16]))
        };
        let mut keys = Vec::new();
        if self.settings.per_username > 0 {
            keys.push((
                digest("u", &username.to_lowercase()),
                self.settings.per_username,
            ));
        }
        if self.settings.per_address > 0 && !address.is_empty() {
            keys.push((digest("a", address), self.settings.per_address));
        }
        keys
    }

    /// Before checking a password: `Err(Throttled)` when this username or address is locked out.
    pub async fn check(
        &self,
        username: &str,
        address: &str,
    ) -> Result<Result<(), Throttled>, StoreError> {
        let keys = self.keys(username, address);
        let mut wait = Duration::ZERO;
        match &self.counters {
            Counters::Redis { redis, prefix } => {
                if keys.is_empty() {
                    return Ok(Ok(()));
                }
                let status: Vec<Vec<i64>> = per_counter(&keys, |key| {
                    let mut connection = redis.connection();
                    let key = format!("{prefix}{key}");
                    async move {
                        redis
                            .run(STATUS.key(key).invoke_async(&mut connection))
                            .await
                    }
                })
                .await?;
                for ((_, limit), pair) in keys.iter().zip(&status) {
                    if let [count, ttl] = pair[..] {
                        if count as u64 >= *limit {
                            wait = wait.max(Duration::from_millis(ttl.max(1000) as u64));
                        }
                    }
                }
            }
            Counters::Memory(map) => {
                let map = map.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                for (key, limit) in &keys {
                    if let Some((count, start)) = map.get(key) {
                        let end = *start + self.settings.window;
                        if *count >= *limit && end > now {
                            wait = wait.max(end - now);
                        }
                    }
                }
            }
        }
        Ok(if wait.is_zero() {
            Ok(())
        } else {
            Err(Throttled { retry_after: wait })
        })
    }

    /// After a wrong password (or an unknown username: counted the same way).
    pub async fn failed(&self, username: &str, address: &str) -> Result<(), StoreError> {
        let keys = self.keys(username, address);
        match &self.counters {
            Counters::Redis { redis, prefix } => {
                if keys.is_empty() {
                    return Ok(());
                }
                let window = self.settings.window.as_millis() as u64;
                per_counter(&keys, |key| {
                    let mut connection = redis.connection();
                    let key = format!("{prefix}{key}");
                    async move {
                        redis
                            .run(
                                FAILED
                                    .key(key)
                                    .arg(window)
                                    .invoke_async::<i64>(&mut connection),
                            )
                            .await
                    }
                })
                .await?;
            }
            Counters::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let window = self.settings.window;
                map.retain(|_, (_, start)| *start + window > now);
                for (key, _) in keys {
                    map.entry(key).or_insert((0, now)).0 += 1;
                }
            }
        }
        Ok(())
    }

    /// After a successful login: the username's failures are forgotten (the address's are not, so one good
    /// account does not reset a guesser's budget).
    pub async fn succeeded(&self, username: &str) -> Result<(), StoreError> {
        let Some((key, _)) = self
            .keys(username, "")
            .into_iter()
            .find(|(k, _)| k.starts_with("u."))
        else {
            return Ok(());
        };
        match &self.counters {
            Counters::Redis { redis, prefix } => {
                redis
                    .query::<i64>(redis::cmd("DEL").arg(format!("{prefix}{key}")))
                    .await?;
            }
            Counters::Memory(map) => {
                map.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
            }
        }
        Ok(())
    }
}

/// One call per counter, the two at once. On a Redis Cluster the username's and the address's counters live
/// on different shards, so no script may name both; sent together on the multiplexed connection (or to
/// their two shards) they still cost one round trip, as one script did.
async fn per_counter<T, F, Fut>(keys: &[(String, u64)], call: F) -> Result<Vec<T>, StoreError>
where
    F: Fn(&str) -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    match keys {
        [(a, _), (b, _)] => {
            let (a, b) = tokio::try_join!(call(a), call(b))?;
            Ok(vec![a, b])
        }
        _ => {
            let mut out = Vec::with_capacity(keys.len());
            for (key, _) in keys {
                out.push(call(key).await?);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_counters() {
        let throttle = LoginThrottle::memory(ThrottleSettings {
            per_username: 3,
            per_address: 5,
            window: Duration::from_secs(60),
        });
        for _ in 0..2 {
            throttle.failed("Alice", "10.0.0.1").await.unwrap();
        }
        assert_eq!(throttle.check("alice", "10.0.0.2").await.unwrap(), Ok(()));
        throttle.failed("ALICE", "10.0.0.1").await.unwrap();
        let refused = throttle
            .check("alice", "10.0.0.9")
            .await
            .unwrap()
            .unwrap_err();
        assert!(refused.retry_after > Duration::from_secs(50));
        // Another username from the same address still has budget (3 of 5 used)...
        assert_eq!(throttle.check("bob", "10.0.0.1").await.unwrap(), Ok(()));
        throttle.failed("bob", "10.0.0.1").await.unwrap();
        throttle.failed("carol", "10.0.0.1").await.unwrap();
        // ...until the address reaches its limit.
        assert!(throttle.check("dave", "10.0.0.1").await.unwrap().is_err());
        throttle.succeeded("alice").await.unwrap();
        assert_eq!(throttle.check("alice", "10.0.0.2").await.unwrap(), Ok(()));
    }
}
