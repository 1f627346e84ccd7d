//! Redis Sentinel, as django-redis's `SentinelClient` uses it: the Sentinels (`REDIS_SENTINELS`, django-redis's
//! `SENTINELS`) name the current primary of a service (the host part of `REDIS_URL`, as django-redis reads
//! `LOCATION = "redis://mymaster/0"`), and every read and write goes to that primary.
//!
//! Reads go to the primary too, never to a replica: a replica answers from before its replication lag, so a
//! session logged out on the primary a moment ago would still be found there (django-redis's
//! `SentinelClient` reads from replicas unless told otherwise; we never do).
//!
//! [`SentinelPrimary`] is one multiplexed connection to the primary the Sentinels name, asked for again
//! when that connection fails: after a failover the old primary drops its clients (Sentinel sends it
//! `CLIENT KILL TYPE normal` as it demotes it) or stops answering, the request that saw it gets a 503, and
//! the next one asks the Sentinels, which by then name the new primary. A primary that answers `READONLY`
//! (demoted but still reachable) is left the same way. A Sentinel does not demote a live old primary at
//! once (it converts it when it next checks it, seconds later), and until then that server still takes
//! writes that the failover will throw away: so a watcher also asks a Sentinel every
//! [`WATCH_EVERY`] which primary it names, and leaves the connection as soon as that changes. The
//! discovery itself is redis-rs's
//! (`SentinelClient`: `SENTINEL MASTERS` on the first Sentinel that answers, then `ROLE` on the primary
//! it names, so a stale Sentinel cannot send writes to a replica).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{AsyncConnectionConfig, Cmd, ConnectionAddr, Pipeline, RedisError, RedisFuture, Value};

/// After a failed discovery, requests within this long fail at once instead of asking the Sentinels
/// again (one discovery at a time anyway; this keeps a queue of them from forming during an outage).
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// How often the watcher asks a Sentinel which primary it names (`SENTINEL GET-MASTER-ADDR-BY-NAME`).
pub const WATCH_EVERY: Duration = Duration::from_millis(250);

/// Where the Sentinels are and what to ask them: `REDIS_SENTINELS`, `REDIS_SENTINEL_PASSWORD`, and from
/// `REDIS_URL` the service name, the primary's username, password and database.
#[derive(Clone)]
pub struct SentinelConfig {
    /// `host:port` of each Sentinel.
    pub sentinels: Vec<(String, u16)>,
    /// The Sentinels' name for the primary (`mymaster`).
    pub service_name: String,
    /// `AUTH` for the Sentinels themselves (django-redis's `SENTINEL_KWARGS={"password": …}`).
    pub sentinel_password: Option<String>,
    /// The primary's ACL user and password, and database, from `REDIS_URL`.
    pub username: Option<String>,
    /// The primary's password from `REDIS_URL`; `None` when the URL has none.
    pub password: Option<String>,
    /// The database number from `REDIS_URL`'s path (`/0` when absent), selected on the primary.
    pub db: i64,
}

impl std::fmt::Debug for SentinelConfig {
    // Never the passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelConfig")
            .field("sentinels", &self.sentinels)
            .field("service_name", &self.service_name)
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl SentinelConfig {
    /// Reads `REDIS_URL` as django-redis's `SentinelClient` does: `redis://[user:password@]service/db`.
    /// `sentinels` is `REDIS_SENTINELS`' comma list of `host:port`. Errors name the setting at fault.
    pub fn parse(
        url: &str,
        sentinels: &str,
        sentinel_password: Option<String>,
    ) -> Result<SentinelConfig, (&'static str, String)> {
        let sentinels = host_ports(sentinels, "REDIS_SENTINELS")?;
        let info = plain_redis_url(url, "a primary found through Sentinel")?;
        let service_name = match info.addr() {
            ConnectionAddr::Tcp(host, _) => host.clone(),
            _ => {
                return Err((
                    "REDIS_URL",
                    "with REDIS_SENTINELS, the host part is the Sentinel service name (redis://mymaster/0)"
                        .into(),
                ));
            }
        };
        let settings = info.redis_settings();
        Ok(SentinelConfig {
            sentinels,
            service_name,
            sentinel_password: sentinel_password.filter(|p| !p.is_empty()),
            username: settings.username().map(str::to_string),
            password: settings.password().map(str::to_string),
            db: settings.db(),
        })
    }
}

/// `REDIS_URL` where TLS is not supported yet (`to` says to what): a `redis://` URL, parsed.
pub(crate) fn plain_redis_url(
    url: &str,
    to: &str,
) -> Result<redis::ConnectionInfo, (&'static str, String)> {
    use redis::IntoConnectionInfo;
    if url.starts_with("rediss://") {
        return Err((
            "REDIS_URL",
            format!("TLS (rediss://) to {to} is not supported; use redis://"),
        ));
    }
    url.into_connection_info()
        .map_err(|e| ("REDIS_URL", format!("not a Redis URL ({:?})", e.kind())))
}

/// A comma list of `host:port` (`[v6]:port` too), for the setting `name`; at least one.
pub(crate) fn host_ports(
    list: &str,
    name: &'static str,
) -> Result<Vec<(String, u16)>, (&'static str, String)> {
    let parsed = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (host, port) = s
                .rsplit_once(':')
                .ok_or_else(|| (name, format!("{s:?}: expected host:port")))?;
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| (name, format!("{s:?}: not a port number")))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() {
                return Err((name, format!("{s:?}: no host")));
            }
            Ok((host.to_string(), port))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if parsed.is_empty() {
        return Err((name, "no host:port listed".into()));
    }
    Ok(parsed)
}

/// A connection to the primary the Sentinels name, found again after a failover. Cloning is cheap and
/// shares the connection; use it as any redis-rs async connection.
#[derive(Clone)]
pub struct SentinelPrimary {
    inner: Arc<Inner>,
}

struct Inner {
    /// redis-rs's discovery; one at a time.
    sentinel: tokio::sync::Mutex<SentinelClient>,
    /// What the watcher asks.
    config: SentinelConfig,
    watching: std::sync::atomic::AtomicBool,
    state: Mutex<State>,
    connection_config: AsyncConnectionConfig,
    connect_timeout: Duration,
    db: i64,
}

#[derive(Default)]
struct State {
    /// The current connection and its generation (so that a failure seen on an old connection does not
    /// drop a newer one).
    current: Option<(u64, MultiplexedConnection)>,
    /// The current connection's server, as the Sentinels named it.
    address: Option<(String, u16)>,
    generation: u64,
    last_failure: Option<Instant>,
    /// Deletions no replica acknowledged, to be done again on each primary the Sentinels name for a
    /// while (see [`SentinelPrimary::redo_after_failover`]).
    redo: Vec<Redo>,
    /// The next [`Redo::id`].
    redo_id: u64,
}

struct Redo {
    id: u64,
    at: Instant,
    /// The servers it was done again on (as the Sentinels named them).
    done_on: Vec<(String, u16)>,
    cmd: redis::Cmd,
}

/// How long an unacknowledged deletion is done again on each new primary.
const REDO_FOR: Duration = Duration::from_secs(60);
/// Most unacknowledged deletions kept (a minute of logouts while no replica answers); the oldest go first.
const MAX_REDO: usize = 100_000;

impl std::fmt::Debug for SentinelPrimary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelPrimary")
            .field("db", &self.inner.db)
            .finish_non_exhaustive()
    }
}

impl SentinelPrimary {
    /// Prepares the connection without making it (the first call asks the Sentinels).
    pub fn new(
        config: &SentinelConfig,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Result<SentinelPrimary, RedisError> {
        let addresses = config
            .sentinels
            .iter()
            .map(|(host, port)| ConnectionAddr::Tcp(host.clone(), *port));
        let mut builder = SentinelClientBuilder::new(
            addresses,
            &config.service_name,
            SentinelServerType::Master,
        )?
        .set_client_to_redis_db(config.db);
        if let Some(username) = &config.username {
            builder = builder.set_client_to_redis_username(username);
        }
        if let Some(password) = &config.password {
            builder = builder.set_client_to_redis_password(password);
        }
        if let Some(password) = &config.sentinel_password {
            builder = builder.set_client_to_sentinel_password(password);
        }
        Ok(SentinelPrimary {
            inner: Arc::new(Inner {
                sentinel: tokio::sync::Mutex::new(builder.build()?),
                config: config.clone(),
                watching: std::sync::atomic::AtomicBool::new(false),
                state: Mutex::new(State::default()),
                connection_config: AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(Some(response_timeout)),
                connect_timeout,
                db: config.db,
            }),
        })
    }

    fn current(&self) -> Option<(u64, MultiplexedConnection, (String, u16))> {
        let state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match (&state.current, &state.address) {
            (Some((generation, connection)), Some(address)) => {
                Some((*generation, connection.clone(), address.clone()))
            }
            _ => None,
        }
    }

    /// The current connection, or a new one to the primary the Sentinels name now; with its generation
    /// and its server.
    async fn get(&self) -> Result<(u64, MultiplexedConnection, (String, u16)), RedisError> {
        if let Some(current) = self.current() {
            return Ok(current);
        }
        // Started from here, on the caller's runtime, once; it ends when the last clone is dropped.
        if !self
            .inner
            .watching
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tokio::spawn(watch(Arc::downgrade(&self.inner)));
        }
        let mut sentinel = self.inner.sentinel.lock().await;
        // Another request may have connected while this one waited.
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let failed_recently = self
            .inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .last_failure
            .is_some_and(|at| at.elapsed() < RETRY_AFTER);
        if failed_recently {
            return Err(no_primary(
                "the Sentinels named no reachable primary a moment ago",
            ));
        }
        let discovered = self.discover(&mut sentinel).await;
        let (connection, address) = match discovered {
            Ok(found) => found,
            Err(e) => {
                self.inner
                    .state
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .last_failure = Some(Instant::now());
                // Whatever the Sentinels said (no primary known, a primary that is not one, no Sentinel
                // reachable), it is an outage until they name a primary that answers.
                tracing::warn!(
                    target: "django_auth_core::sentinel",
                    "no primary from the Sentinels: {:?}{}",
                    e.kind(),
                    e.detail().map(|d| format!(" ({d})")).unwrap_or_default()
                );
                return Err(RedisError::from((
                    redis::ErrorKind::Io,
                    "no primary",
                    format!("{:?}", e.kind()),
                )));
            }
        };
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.generation += 1;
        state.current = Some((state.generation, connection.clone()));
        state.address = Some(address.clone());
        state.last_failure = None;
        Ok((state.generation, connection, address))
    }

    async fn discover(
        &self,
        sentinel: &mut SentinelClient,
    ) -> Result<(MultiplexedConnection, (String, u16)), RedisError> {
        let client = tokio::time::timeout(self.inner.connect_timeout, sentinel.async_get_client())
            .await
            .map_err(|_| no_primary("no Sentinel answered within the connect timeout"))??;
        let address = match client.get_connection_info().addr() {
            ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
            _ => {
                return Err(no_primary(
                    "the Sentinels named a primary that is not host:port",
                ));
            }
        };
        let connection = client
            .get_multiplexed_async_connection_with_config(&self.inner.connection_config)
            .await?;
        tracing::info!(
            target: "django_auth_core::sentinel",
            "connected to the primary the Sentinels name, port {}",
            address.1
        );
        Ok((connection, address))
    }

    /// The server of the current connection, as the Sentinels named it (none between connections).
    pub fn address(&self) -> Option<(String, u16)> {
        self.inner.address()
    }

    /// Leaves the current connection: the next call asks the Sentinels again.
    pub fn forget(&self) {
        self.inner.forget();
    }

    /// Remembers a deletion (an idempotent `DEL` of a key nothing writes again) that no replica
    /// acknowledged: for a minute the watcher does it again on each primary the Sentinels name, the
    /// current one included, since a primary's copy is thrown away when it is demoted (the replica it
    /// would have reached was being promoted). Which server the deletion reached is not trusted: the
    /// connection may have moved while its `WAIT` ran. A redo that fails is tried again.
    pub fn redo_after_failover(&self, cmd: &redis::Cmd) {
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.redo.retain(|r| r.at.elapsed() < REDO_FOR);
        if state.redo.len() >= MAX_REDO {
            let excess = state.redo.len() + 1 - MAX_REDO;
            state.redo.drain(..excess);
            tracing::warn!(
                target: "django_auth_core::sentinel",
                "more than {MAX_REDO} deletions without a replica in a minute: the oldest will not be redone after a failover"
            );
        }
        state.redo_id += 1;
        let id = state.redo_id;
        state.redo.push(Redo {
            id,
            at: Instant::now(),
            done_on: Vec::new(),
            cmd: cmd.clone(),
        });
    }

    /// Leaves the connection of `generation` after `error`, if it means the primary is gone or demoted.
    fn check<T>(&self, generation: u64, result: &Result<T, RedisError>) {
        let Err(error) = result else { return };
        if !primary_lost(error) {
            return;
        }
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state
            .current
            .as_ref()
            .is_some_and(|(g, _)| *g == generation)
        {
            state.current = None;
            state.address = None;
            tracing::warn!(
                target: "django_auth_core::sentinel",
                "the primary's connection failed ({:?}{}); asking the Sentinels again",
                error.kind(),
                error.code().map(|c| format!(" {c}")).unwrap_or_default()
            );
        }
    }
}

impl Inner {
    fn forget(&self) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.current = None;
        state.address = None;
    }

    fn address(&self) -> Option<(String, u16)> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .address
            .clone()
    }
}

/// Every [`WATCH_EVERY`], asks the first Sentinel that answers which primary it names; when that is not
/// the server of the current connection, leaves the connection (the next call finds the new primary).
async fn watch(inner: std::sync::Weak<Inner>) {
    let mut sentinels: Vec<(ConnectionAddr, Option<MultiplexedConnection>)> = match inner.upgrade()
    {
        Some(inner) => inner
            .config
            .sentinels
            .iter()
            .map(|(host, port)| (ConnectionAddr::Tcp(host.clone(), *port), None))
            .collect(),
        None => return,
    };
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let Some(inner) = inner.upgrade() else { return };
        redo_on_new_primary(&inner).await;
        let Some(current) = inner.address() else {
            continue;
        };
        for (address, connection) in &mut sentinels {
            match named_primary(&inner, address, connection).await {
                Ok(Some(named)) => {
                    if named != current {
                        tracing::warn!(
                            target: "django_auth_core::sentinel",
                            "the Sentinels now name the primary on port {}; leaving port {}",
                            named.1,
                            current.1
                        );
                        inner.forget();
                    }
                    break;
                }
                // This Sentinel does not know the service (or says nothing useful): ask the next.
                Ok(None) => {}
                Err(_) => *connection = None,
            }
        }
    }
}

/// Does again, in one pipeline on the primary now connected (connecting first if needed), the
/// unacknowledged deletions not yet redone on that server.
async fn redo_on_new_primary(inner: &Arc<Inner>) {
    let pending = {
        let mut state = inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.redo.retain(|r| r.at.elapsed() < REDO_FOR);
        state.redo.len()
    };
    if pending == 0 {
        return;
    }
    let mut primary = SentinelPrimary {
        inner: inner.clone(),
    };
    // Connects first if needed, through `ConnectionLike`, whose boxed future is `Send` (`get` would make
    // this future recursive); then the connection and its server, read together.
    if redis::cmd("PING")
        .query_async::<redis::Value>(&mut primary)
        .await
        .is_err()
    {
        return;
    }
    let Some((generation, mut connection, address)) = primary.current() else {
        return;
    };
    let (ids, pipe) = {
        let state = inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut pipe = redis::pipe();
        let mut ids = Vec::new();
        for redo in state.redo.iter().filter(|r| !r.done_on.contains(&address)) {
            pipe.add_command(redo.cmd.clone()).ignore();
            ids.push(redo.id);
        }
        (ids, pipe)
    };
    if ids.is_empty() {
        return;
    }
    let result = pipe.query_async::<()>(&mut connection).await;
    primary.check(generation, &result);
    if result.is_err() {
        // Kept: tried again at the next watch.
        return;
    }
    let mut state = inner
        .state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for redo in state.redo.iter_mut().filter(|r| ids.contains(&r.id)) {
        redo.done_on.push(address.clone());
    }
    tracing::info!(
        target: "django_auth_core::sentinel",
        "did again on the primary on port {} {} deletions no replica acknowledged",
        address.1,
        ids.len()
    );
}

/// `SENTINEL GET-MASTER-ADDR-BY-NAME` on one Sentinel, connecting first if needed.
async fn named_primary(
    inner: &Inner,
    address: &ConnectionAddr,
    connection: &mut Option<MultiplexedConnection>,
) -> Result<Option<(String, u16)>, RedisError> {
    if connection.is_none() {
        let mut settings = redis::RedisConnectionInfo::default();
        if let Some(password) = &inner.config.sentinel_password {
            settings = settings.set_password(password);
        }
        let info = redis::IntoConnectionInfo::into_connection_info(address.clone())?
            .set_redis_settings(settings);
        let client = redis::Client::open(info)?;
        *connection = Some(
            client
                .get_multiplexed_async_connection_with_config(&inner.connection_config)
                .await?,
        );
    }
    let Some(connection) = connection.as_mut() else {
        return Ok(None);
    };
    let named: Option<(String, String)> = tokio::time::timeout(
        inner.connect_timeout,
        redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(&inner.config.service_name)
            .query_async(connection),
    )
    .await
    .map_err(|_| no_primary("the Sentinel did not answer"))??;
    Ok(named.and_then(|(host, port)| port.parse().ok().map(|port| (host, port))))
}

/// Whether an error means this connection no longer reaches a usable primary.
pub(crate) fn primary_lost(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || matches!(
            error.code(),
            Some("READONLY" | "MASTERDOWN" | "LOADING" | "NOREPLICAS")
        )
}

fn no_primary(reason: &'static str) -> RedisError {
    RedisError::from((redis::ErrorKind::Io, "no primary", reason.to_string()))
}

impl ConnectionLike for SentinelPrimary {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let (generation, mut connection, _) = self.get().await?;
            let result = connection.req_packed_command(cmd).await;
            self.check(generation, &result);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let (generation, mut connection, _) = self.get().await?;
            let result = connection.req_packed_commands(cmd, offset, count).await;
            self.check(generation, &result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_names_the_service_as_django_redis_reads_it() {
        let config = SentinelConfig::parse(
            "redis://:s3cret@mymaster/2",
            "127.0.0.1:26379, [::1]:26380",
            Some("sentinel-pass".into()),
        )
        .unwrap();
        assert_eq!(config.service_name, "mymaster");
        assert_eq!(config.db, 2);
        assert_eq!(config.password.as_deref(), Some("s3cret"));
        assert_eq!(
            config.sentinels,
            vec![("127.0.0.1".into(), 26379), ("::1".into(), 26380)]
        );
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("sentinel-pass"),
            "{debug}"
        );
    }

    #[test]
    fn bad_lists_name_the_setting() {
        for (url, sentinels, setting) in [
            ("redis://mymaster/0", "", "REDIS_SENTINELS"),
            ("redis://mymaster/0", "host", "REDIS_SENTINELS"),
            ("redis://mymaster/0", "host:0", "REDIS_SENTINELS"),
            ("redis://mymaster/0", ":26379", "REDIS_SENTINELS"),
            ("rediss://mymaster/0", "h:26379", "REDIS_URL"),
            ("redis+unix:///tmp/redis.sock", "h:26379", "REDIS_URL"),
            ("nonsense", "h:26379", "REDIS_URL"),
        ] {
            let (name, _) = SentinelConfig::parse(url, sentinels, None).unwrap_err();
            assert_eq!(name, setting, "{url} {sentinels}");
        }
    }
}
