//! Redis Cluster (`REDIS_CLUSTER_NODES`): redis-rs's cluster client, which learns the slots from the seed
//! nodes, follows `MOVED` and `ASK`, and finds a shard's new primary after its replica takes over.
//!
//! Every command we send names one key, and every script touches only the key it is given (the session's
//! compare-and-set, the per-user index, each throttle counter), so no operation needs two slots; a
//! pipeline's commands all name the same key. Reads go to primaries, as with Sentinel.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::ConnectionLike;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

/// After a failed first connection, requests within this long fail at once.
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// `REDIS_CLUSTER_NODES` and the credentials from `REDIS_URL`.
#[derive(Clone)]
pub struct ClusterConfig {
    /// `host:port` of the seed nodes.
    pub nodes: Vec<(String, u16)>,
    /// The ACL username from `REDIS_URL`, sent to every node; `None` when unset.
    pub username: Option<String>,
    /// The password from `REDIS_URL`, sent to every node; `None` when unset.
    pub password: Option<String>,
}

impl std::fmt::Debug for ClusterConfig {
    // Never the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

impl ClusterConfig {
    /// `nodes` is `REDIS_CLUSTER_NODES`' comma list of `host:port`; `url`, `REDIS_URL` if set, gives the
    /// username and password only (a cluster has one database, 0). Errors name the setting at fault.
    pub fn parse(nodes: &str, url: Option<&str>) -> Result<ClusterConfig, (&'static str, String)> {
        let nodes = crate::sentinel::host_ports(nodes, "REDIS_CLUSTER_NODES")?;
        let (username, password) = match url {
            None => (None, None),
            Some(url) => {
                let info = crate::sentinel::plain_redis_url(url, "a Redis Cluster")?;
                let settings = info.redis_settings();
                if settings.db() != 0 {
                    return Err(("REDIS_URL", "a Redis Cluster has only database 0".into()));
                }
                (
                    settings.username().map(str::to_string),
                    settings.password().map(str::to_string),
                )
            }
        };
        Ok(ClusterConfig {
            nodes,
            username,
            password,
        })
    }
}

/// A connection to a Redis Cluster, made at the first call (and again after a failed first attempt).
/// Cloning is cheap and shares the connection; use it as any redis-rs async connection.
#[derive(Clone)]
pub struct ClusterNodes {
    inner: Arc<Inner>,
}

struct Inner {
    client: ClusterClient,
    connection: Mutex<Option<ClusterConnection>>,
    connecting: tokio::sync::Mutex<Option<Instant>>,
    connect_timeout: Duration,
}

impl std::fmt::Debug for ClusterNodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNodes").finish_non_exhaustive()
    }
}

impl ClusterNodes {
    /// Prepares the connection without making it.
    pub fn new(
        config: &ClusterConfig,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Result<ClusterNodes, RedisError> {
        let nodes: Vec<String> = config
            .nodes
            .iter()
            .map(|(host, port)| {
                if host.contains(':') {
                    format!("redis://[{host}]:{port}")
                } else {
                    format!("redis://{host}:{port}")
                }
            })
            .collect();
        let mut builder = ClusterClientBuilder::new(nodes)
            .connection_timeout(connect_timeout)
            .response_timeout(response_timeout)
            // A few quick retries (a MOVED after a failover, a slot map being refreshed); the deadline
            // of `Redis::run` bounds the whole call anyway.
            .retries(3)
            .min_retry_wait(10)
            .max_retry_wait(200);
        if let Some(username) = &config.username {
            builder = builder.username(username);
        }
        if let Some(password) = &config.password {
            builder = builder.password(password);
        }
        Ok(ClusterNodes {
            inner: Arc::new(Inner {
                client: builder.build()?,
                connection: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(None),
                connect_timeout,
            }),
        })
    }

    fn current(&self) -> Option<ClusterConnection> {
        self.inner
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn get(&self) -> Result<ClusterConnection, RedisError> {
        if let Some(connection) = self.current() {
            return Ok(connection);
        }
        let mut last_failure = self.inner.connecting.lock().await;
        if let Some(connection) = self.current() {
            return Ok(connection);
        }
        if last_failure.is_some_and(|at| at.elapsed() < RETRY_AFTER) {
            return Err(unavailable("no cluster node answered a moment ago".into()));
        }
        let connected = tokio::time::timeout(
            self.inner.connect_timeout,
            self.inner.client.get_async_connection(),
        )
        .await
        .map_err(|_| unavailable("no cluster node answered within the connect timeout".into()))
        .and_then(|r| r.map_err(|e| unavailable(format!("{:?}", e.kind()))));
        match connected {
            Ok(connection) => {
                *last_failure = None;
                *self
                    .inner
                    .connection
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(connection.clone());
                Ok(connection)
            }
            Err(e) => {
                *last_failure = Some(Instant::now());
                Err(e)
            }
        }
    }
}

fn unavailable(detail: String) -> RedisError {
    RedisError::from((redis::ErrorKind::Io, "redis cluster", detail))
}

impl ConnectionLike for ClusterNodes {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move { self.get().await?.req_packed_command(cmd).await })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            self.get()
                .await?
                .req_packed_commands(cmd, offset, count)
                .await
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_and_credentials() {
        let config = ClusterConfig::parse(
            "127.0.0.1:7000,127.0.0.1:7001",
            Some("redis://app:s3cret@ignored/0"),
        )
        .unwrap();
        assert_eq!(config.nodes.len(), 2);
        assert_eq!(config.username.as_deref(), Some("app"));
        assert_eq!(config.password.as_deref(), Some("s3cret"));
        assert!(!format!("{config:?}").contains("s3cret"));
        for (nodes, url, setting) in [
            ("", None, "REDIS_CLUSTER_NODES"),
            ("h", None, "REDIS_CLUSTER_NODES"),
            ("h:7000", Some("redis://h/1"), "REDIS_URL"),
            ("h:7000", Some("rediss://h/0"), "REDIS_URL"),
        ] {
            assert_eq!(ClusterConfig::parse(nodes, url).unwrap_err().0, setting);
        }
    }
}
