//! The two connections the stores need: Redis (Django's `CACHES["default"]`) and PostgreSQL (Django's
//! `DATABASES["default"]`), each with timeouts that hold during an outage.
//!
//! Both connect lazily: a service starts while Redis or PostgreSQL is down, answers 503 meanwhile, and
//! serves again as soon as the server is back, without a restart. Every call is bounded by a deadline, so
//! an outage costs a request at most the configured timeout, never a hang.

use std::future::Future;
use std::time::Duration;

use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::cluster::{ClusterConfig, ClusterNodes};
use crate::sentinel::{SentinelConfig, SentinelPrimary};

/// A store could not do its work. The services answer 503 for `Unavailable` and 500-free messages for the
/// rest; no variant carries a secret, a session key or a URL with a password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis or PostgreSQL refused, dropped the connection, or did not answer within the timeout.
    #[error("{service} unavailable: {reason}")]
    Unavailable {
        /// `"redis"` or `"postgresql"`.
        service: &'static str,
        /// What failed, without secrets (e.g. a timeout or a connection error's kind).
        reason: String,
    },
    /// The server answered with an error that retrying won't fix (a wrong type, a missing table, an ACL
    /// refusal). The message is the server's, which names no value we sent.
    #[error("{service} error: {reason}")]
    Server {
        /// `"redis"` or `"postgresql"`.
        service: &'static str,
        /// The error as the server gave it (Redis's code and detail, PostgreSQL's message).
        reason: String,
    },
    /// A setting (a URL, a timeout) that cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// A session could not be encoded (a value the engine's format cannot hold).
    #[error(transparent)]
    Encode(#[from] crate::session::SessionError),
    /// `create()` found every fresh key taken: Django's "Unable to create a new session key. It is likely
    /// that the cache is unavailable."
    #[error("unable to create a new session key")]
    CreateFailed,
    /// A session update lost the compare-and-set race too many times in a row.
    #[error("session update kept conflicting with other writers")]
    Contention,
    /// Listing a user's sessions needs the per-user index, which lives in Redis.
    #[error("the per-user session index needs REDIS_URL and a cache or cached_db engine")]
    NoIndex,
}

impl StoreError {
    /// Whether this is `Unavailable` (the server is down or slow), which services answer with 503.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

// ---------------------------------------------------------------------------------------------------------
// Redis

/// How to reach Redis: `REDIS_URL` (`redis://`, `rediss://`, `user:password@`, `/db`),
/// `REDIS_SOCKET_CONNECT_TIMEOUT` / `REDIS_SOCKET_TIMEOUT` (django-redis's `SOCKET_CONNECT_TIMEOUT` and
/// `SOCKET_TIMEOUT` options), and for `rediss://` with a private CA, `REDIS_SSL_CA_CERTS` (redis-py's
/// `ssl_ca_certs`: a PEM file; without it the system's trusted roots are used, as redis-py does).
/// With `REDIS_SENTINELS`, the primary is the one the Sentinels name ([`crate::sentinel`]).
#[derive(Clone)]
pub struct RedisConfig {
    /// The primary's URL (with Sentinel, `redis://service/db`).
    pub url: String,
    /// How long to wait for a connection (`REDIS_SOCKET_CONNECT_TIMEOUT`, default 1 s).
    pub connect_timeout: Duration,
    /// How long to wait for a reply to a command (`REDIS_SOCKET_TIMEOUT`, default 1 s); a call is bounded
    /// by both timeouts together.
    pub response_timeout: Duration,
    /// `REDIS_SSL_CA_CERTS`: a PEM file of the CAs that `rediss://` servers are checked against; `None` uses
    /// the system's trusted roots.
    pub ca_certs: Option<std::path::PathBuf>,
    /// `REDIS_SENTINELS` and the rest of the Sentinel setup, when the primary is found through them.
    pub sentinel: Option<SentinelConfig>,
    /// `REDIS_CLUSTER_NODES`, for a Redis Cluster ([`crate::cluster`]).
    pub cluster: Option<ClusterConfig>,
    /// How many replicas must have a deletion before it is acknowledged (`WAIT`): `REDIS_WAIT_REPLICAS`.
    /// `None`: one if the primary has a replica connected, else none.
    pub wait_replicas: Option<u32>,
    /// `WAIT`'s timeout: `REDIS_WAIT_TIMEOUT`.
    pub wait_timeout: Duration,
}

impl RedisConfig {
    /// One Redis at `url`, with the settings' defaults: 1 s timeouts, `WAIT` for one replica when the
    /// primary has one, for at most 0.5 s.
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
            ca_certs: None,
            sentinel: None,
            cluster: None,
            wait_replicas: None,
            wait_timeout: Duration::from_millis(500),
        }
    }
}

impl std::fmt::Debug for RedisConfig {
    // The URL may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.url))
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("ca_certs", &self.ca_certs)
            .field("sentinel", &self.sentinel)
            .field("cluster", &self.cluster)
            .field("wait_replicas", &self.wait_replicas)
            .field("wait_timeout", &self.wait_timeout)
            .finish()
    }
}

/// One Redis connection handle, whatever the deployment: a single server (redis-rs's `ConnectionManager`,
/// which reconnects to the same address) or the primary the Sentinels name. Use it as any redis-rs async
/// connection, under [`Redis::run`].
#[derive(Clone)]
pub enum RedisConnection {
    /// One server at `REDIS_URL`, through redis-rs's reconnecting `ConnectionManager`.
    Single(ConnectionManager),
    /// The primary the Sentinels of `REDIS_SENTINELS` name.
    Sentinel(SentinelPrimary),
    /// A Redis Cluster reached through `REDIS_CLUSTER_NODES`.
    Cluster(ClusterNodes),
}

impl redis::aio::ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            RedisConnection::Single(c) => c.req_packed_command(cmd),
            RedisConnection::Sentinel(c) => c.req_packed_command(cmd),
            RedisConnection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            RedisConnection::Single(c) => c.req_packed_commands(cmd, offset, count),
            RedisConnection::Sentinel(c) => c.req_packed_commands(cmd, offset, count),
            RedisConnection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConnection::Single(c) => c.get_db(),
            RedisConnection::Sentinel(c) => c.get_db(),
            RedisConnection::Cluster(c) => c.get_db(),
        }
    }
}

/// A shared, self-healing Redis connection: every request is multiplexed on one connection, made again in
/// the background after a failure (to the same server, or to the primary the Sentinels name now).
/// Deletions that end a login go through a second connection and are acknowledged by a replica first
/// ([`Redis::delete_acknowledged`]). Cloning is cheap.
#[derive(Clone)]
pub struct Redis {
    connection: RedisConnection,
    /// For acknowledged writes only: `WAIT` blocks the connection it is sent on, so it must not hold up
    /// the requests multiplexed on the main one.
    acknowledged: RedisConnection,
    /// The deadline of one call: connect plus response. The manager has its own timeouts; this one also
    /// covers its reconnection attempts, so a call never outlives it.
    deadline: Duration,
    wait_replicas: Option<u32>,
    wait_timeout: Duration,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("deadline", &self.deadline)
            .field("wait_replicas", &self.wait_replicas)
            .field("wait_timeout", &self.wait_timeout)
            .finish()
    }
}

const REDIS: &str = "redis";
pub(crate) const POSTGRES: &str = "postgresql";

impl Redis {
    /// Prepares the connection without making it (the first call connects). Needs a Tokio runtime.
    pub fn connect(config: &RedisConfig) -> Result<Redis, StoreError> {
        let deadline = config
            .connect_timeout
            .saturating_add(config.response_timeout);
        let (connection, acknowledged) = match (&config.sentinel, &config.cluster) {
            (_, Some(cluster)) => {
                let nodes = || {
                    ClusterNodes::new(cluster, config.connect_timeout, config.response_timeout)
                        .map(RedisConnection::Cluster)
                        .map_err(|e| {
                            StoreError::Config(format!("REDIS_CLUSTER_NODES: {}", e.kind_name()))
                        })
                };
                (nodes()?, nodes()?)
            }
            (Some(sentinel), None) => {
                let primary = || {
                    SentinelPrimary::new(sentinel, config.connect_timeout, config.response_timeout)
                        .map(RedisConnection::Sentinel)
                        .map_err(|e| {
                            StoreError::Config(format!("REDIS_SENTINELS: {}", e.kind_name()))
                        })
                };
                (primary()?, primary()?)
            }
            (None, None) => {
                let client = Self::client(config)?;
                let manager_config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(config.connect_timeout))
                    .set_response_timeout(Some(config.response_timeout))
                    // One quick retry; the deadline below bounds the whole call anyway.
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(100));
                let manager = || {
                    ConnectionManager::new_lazy_with_config(client.clone(), manager_config.clone())
                        .map(RedisConnection::Single)
                        .map_err(|e| StoreError::Config(format!("redis: {}", e.kind_name())))
                };
                (manager()?, manager()?)
            }
        };
        Ok(Redis {
            connection,
            acknowledged,
            deadline,
            wait_replicas: config.wait_replicas,
            wait_timeout: config.wait_timeout,
        })
    }

    fn client(config: &RedisConfig) -> Result<redis::Client, StoreError> {
        // rustls needs one process-wide crypto provider; choosing it here means a second provider enabled by
        // some other dependency cannot make the first `rediss://` connection panic. An already installed
        // provider is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
        match &config.ca_certs {
            None => redis::Client::open(config.url.as_str())
                .map_err(|e| StoreError::Config(format!("REDIS_URL: {}", e.kind_name()))),
            Some(path) => {
                let root_cert = std::fs::read(path).map_err(|e| {
                    StoreError::Config(format!("REDIS_SSL_CA_CERTS {}: {e}", path.display()))
                })?;
                if !String::from_utf8_lossy(&root_cert).contains("-----BEGIN CERTIFICATE-----") {
                    return Err(StoreError::Config(format!(
                        "REDIS_SSL_CA_CERTS {}: no PEM certificate in it",
                        path.display()
                    )));
                }
                redis::Client::build_with_tls(
                    config.url.as_str(),
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(root_cert),
                    },
                )
                .map_err(|e| StoreError::Config(format!("REDIS_SSL_CA_CERTS: {}", e.kind_name())))
            }
        }
    }

    /// A connection handle for one call or pipeline; use it with [`Redis::run`].
    pub fn connection(&self) -> RedisConnection {
        self.connection.clone()
    }

    /// Deletes `key`, which ends a login (a session's deletion: logout, `cycle_key`, "log out
    /// everywhere", an idle-timeout flush), and returns only once a replica has the deletion too (`WAIT`),
    /// so that a failover right after it cannot bring the session back; whether the key was there. How
    /// many replicas: `REDIS_WAIT_REPLICAS`, by default one when the primary has one connected (`ROLE`),
    /// none otherwise. The `DEL` and the `WAIT` go in pipelines that name `key`, so that on a cluster
    /// they reach the shard that holds it.
    ///
    /// A `WAIT` that times out still returns (the user is logged out on the primary), logs it and counts
    /// it in [`crate::metrics::redis_wait_timeouts`].
    ///
    /// Behind Sentinel, during a failover, the `DEL` may reach a primary being replaced, or another server
    /// than the one the session was read from (this connection and the main one find the new primary
    /// each in its own time). A `WAIT` says nothing then: a `DEL` of a key that is not there is not
    /// replicated, and `WAIT` counts the replicas that have this client's earlier writes. So when no
    /// replica acknowledged, or nothing was deleted while the main connection is on another server, the
    /// Sentinels are asked again and the deletion repeated on the primary they name; if that is still not
    /// acknowledged, it is done on the main connection's server too, and again on each primary the
    /// Sentinels name for the next minute ([`SentinelPrimary::redo_after_failover`]).
    pub async fn delete_acknowledged(&self, key: &str) -> Result<bool, StoreError> {
        let mut delete = redis::cmd("DEL");
        delete.arg(key);
        let (deleted, shortfall) = self.write_and_wait::<i64>(&delete, key).await?;
        let (deleted, shortfall) = match (&self.acknowledged, &self.connection) {
            (RedisConnection::Sentinel(primary), RedisConnection::Sentinel(main))
                if shortfall.is_some() || (deleted == 0 && main.address() != primary.address()) =>
            {
                primary.forget();
                let (again, shortfall) = self.write_and_wait::<i64>(&delete, key).await?;
                let mut deleted = deleted + again;
                if shortfall.is_some() || (again == 0 && main.address() != primary.address()) {
                    // Where the session was read, at once; then on each primary for a minute.
                    if let Ok(there) = self.query::<i64>(&delete).await {
                        deleted += there;
                    }
                    primary.redo_after_failover(&delete);
                }
                (deleted, shortfall)
            }
            _ => (deleted, shortfall),
        };
        if let Some((acknowledged, wanted)) = shortfall {
            crate::metrics::record_redis_wait_timeout();
            tracing::warn!(
                target: "django_auth_core::redis",
                "a deletion reached {acknowledged} of {wanted} replicas within {:?}; done on the primary only",
                self.wait_timeout
            );
        }
        Ok(deleted > 0)
    }

    /// The write, then `WAIT` on the same connection; with how many replicas acknowledged of how many
    /// wanted, if fewer.
    async fn write_and_wait<T: redis::FromRedisValue>(
        &self,
        write: &redis::Cmd,
        key: &str,
    ) -> Result<(T, Option<(i64, u32)>), StoreError> {
        let mut connection = self.acknowledged.clone();
        let timeout_ms = u64::try_from(self.wait_timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let wait_deadline = self.deadline.saturating_add(self.wait_timeout);
        let wait = |n: u32| {
            let mut wait = redis::cmd("WAIT");
            wait.arg(n).arg(timeout_ms);
            wait
        };
        match self.wait_replicas {
            Some(0) => Ok((self.run(write.query_async(&mut connection)).await?, None)),
            Some(wanted) => {
                let (answer, acknowledged): (T, i64) = self
                    .run_within(
                        wait_deadline,
                        redis::pipe()
                            .add_command(write.clone())
                            .add_command(wait(wanted))
                            .query_async(&mut connection),
                    )
                    .await?;
                let shortfall =
                    (acknowledged < i64::from(wanted)).then_some((acknowledged, wanted));
                Ok((answer, shortfall))
            }
            None => {
                let (answer, role): (T, redis::Value) = self
                    .run(
                        redis::pipe()
                            .add_command(write.clone())
                            .cmd("ROLE")
                            .query_async(&mut connection),
                    )
                    .await?;
                if connected_replicas(&role) == 0 {
                    return Ok((answer, None));
                }
                // `EXISTS key` only routes the `WAIT` to the key's shard on a cluster.
                let (_, acknowledged): (i64, i64) = self
                    .run_within(
                        wait_deadline,
                        redis::pipe()
                            .cmd("EXISTS")
                            .arg(key)
                            .add_command(wait(1))
                            .query_async(&mut connection),
                    )
                    .await?;
                Ok((answer, (acknowledged < 1).then_some((acknowledged, 1))))
            }
        }
    }

    /// Runs a Redis future under the deadline, mapping failures to [`StoreError`].
    pub async fn run<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        self.run_within(self.deadline, call).await
    }

    async fn run_within<T>(
        &self,
        deadline: Duration,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        let result = match tokio::time::timeout(deadline, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(redis_error(&e)),
            Err(_) => Err(StoreError::Unavailable {
                service: REDIS,
                reason: format!("no answer within {deadline:?}"),
            }),
        };
        if let Err(e) = &result {
            crate::metrics::record_store_error(e);
        }
        result
    }

    /// `PING`: whether Redis answers within the deadline (for readiness checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.query::<String>(&redis::cmd("PING")).await.map(|_| ())
    }

    /// Runs one command.
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut connection = self.connection();
        self.run(cmd.query_async(&mut connection)).await
    }
}

trait KindName {
    fn kind_name(&self) -> String;
}

impl KindName for redis::RedisError {
    /// The error's category only: redis-rs's messages can quote the URL it was given.
    fn kind_name(&self) -> String {
        format!("{:?}", self.kind())
    }
}

/// The number of replicas in a `ROLE` reply of a primary (`["master", offset, [[ip, port, offset], …]]`).
fn connected_replicas(role: &redis::Value) -> usize {
    match role {
        redis::Value::Array(parts) => match parts.get(2) {
            Some(redis::Value::Array(replicas)) => replicas.len(),
            _ => 0,
        },
        _ => 0,
    }
}

fn redis_error(e: &redis::RedisError) -> StoreError {
    // A failover in progress (a demoted primary, none elected yet; on a cluster, a slot still redirected
    // to its dead primary or being moved) is an outage too: 503, not an error.
    if crate::sentinel::primary_lost(e)
        || matches!(
            e.kind(),
            redis::ErrorKind::Io | redis::ErrorKind::ClusterConnectionNotFound
        )
        || matches!(e.code(), Some("MOVED" | "ASK" | "TRYAGAIN" | "CLUSTERDOWN"))
    {
        StoreError::Unavailable {
            service: REDIS,
            reason: e.kind_name(),
        }
    } else {
        // A server error: its code and detail (e.g. "NOAUTH Authentication required", "WRONGTYPE ...").
        StoreError::Server {
            service: REDIS,
            reason: match (e.code(), e.detail()) {
                (Some(code), Some(detail)) => format!("{code} {detail}"),
                (Some(code), None) => code.to_string(),
                _ => e.kind_name(),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// PostgreSQL

/// How to reach PostgreSQL: `DATABASE_URL` (`postgres://user:password@host:port/name`, with libpq's
/// parameters, TLS's among them: [`crate::libpq`]), the pool size (`DATABASE_POOL_SIZE`),
/// `DATABASE_CONNECT_TIMEOUT` / `DATABASE_TIMEOUT` (Django's `OPTIONS["connect_timeout"]` and a per-query
/// deadline), and `DATABASE_TRANSACTION_POOLING` (behind PgBouncer or another pooler in transaction mode).
#[derive(Clone)]
pub struct DatabaseConfig {
    /// `DATABASE_URL`, a libpq connection URL (it may hold the password).
    pub url: String,
    /// `DATABASE_POOL_SIZE`: the most connections the pool keeps open (at least 1).
    pub pool_size: usize,
    /// `DATABASE_CONNECT_TIMEOUT`: how long to wait for a new connection, unless the URL's
    /// `connect_timeout` sets it.
    pub connect_timeout: Duration,
    /// `DATABASE_TIMEOUT`: how long a query may take.
    pub timeout: Duration,
    /// Behind a pooler in transaction mode (PgBouncer's `pool_mode = transaction`), where each
    /// transaction may run on another server connection: no prepared statement outlives a transaction.
    pub transaction_pooling: bool,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("transaction_pooling", &self.transaction_pooling)
            .finish()
    }
}

/// A pool of PostgreSQL connections (diesel-async on deadpool). Connections are made on demand and reused
/// while tokio-postgres has not seen them close; one whose query fails at the transport is dropped, so a
/// restarted server costs a call or so and nothing more. Cloning is cheap, and clones share the pool.
#[derive(Clone)]
pub struct Database {
    pool: Pool<AsyncPgConnection>,
    deadline: Duration,
    transaction_pooling: bool,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("deadline", &self.deadline)
            .field("transaction_pooling", &self.transaction_pooling)
            .finish()
    }
}

/// A PostgreSQL connection checked out of [`Database`]'s pool; it goes back to the pool when dropped.
pub type Connection = Object<AsyncPgConnection>;

impl Database {
    /// Builds the pool without connecting. A `DATABASE_URL` that cannot work (an unknown `sslmode`, a
    /// certificate file that is not there) is refused here, naming the parameter.
    pub fn connect(config: &DatabaseConfig) -> Result<Database, StoreError> {
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
        let mut options = crate::libpq::ConnectOptions::parse(&config.url, home.as_deref())
            .map_err(|e| StoreError::Config(format!("DATABASE_URL: {e}")))?;
        if options.config_mut().get_connect_timeout().is_none() {
            options.config_mut().connect_timeout(config.connect_timeout);
        }
        let transaction_pooling = config.transaction_pooling;
        let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
        // `Fast`: a pooled connection is reused unless tokio-postgres saw it close (deadpool's
        // `is_broken` check still runs), and `run` drops one whose query failed at the transport. The
        // default, `Verified`, sends a `SELECT 1` at every checkout: one more round trip per request.
        manager_config.recycling_method = diesel_async::pooled_connection::RecyclingMethod::Fast;
        manager_config.custom_setup = Box::new(move |_url| {
            let options = options.clone();
            Box::pin(async move {
                let (client, mut connection) = options
                    .connect()
                    .await
                    .map_err(diesel::ConnectionError::BadConnection)?;
                if transaction_pooling {
                    // diesel-async's setup sends its `SET TIME ZONE` and `SET CLIENT_ENCODING` as
                    // prepared statements: inside a transaction, so that the pooler keeps them on one
                    // server connection (PgBouncer carries both settings over to the others). The
                    // connection is driven here until diesel-async takes it.
                    let begin = client.batch_execute("BEGIN");
                    tokio::select! {
                        begun = begin => begun.map_err(|e| {
                            diesel::ConnectionError::BadConnection(e.to_string())
                        })?,
                        closed = &mut connection => {
                            return Err(diesel::ConnectionError::BadConnection(match closed {
                                Ok(()) => "connection closed".to_string(),
                                Err(e) => e.to_string(),
                            }));
                        }
                    }
                }
                let mut connection =
                    AsyncPgConnection::try_from_client_and_connection(client, connection).await?;
                if transaction_pooling {
                    use diesel_async::SimpleAsyncConnection;
                    connection
                        .batch_execute("COMMIT")
                        .await
                        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                    // A cached statement would live on one server connection of the pooler's and be
                    // missing on the next: prepare each one anew, inside `run`'s transaction.
                    use diesel_async::AsyncConnection;
                    connection
                        .set_prepared_statement_cache_size(diesel::connection::CacheSize::Disabled);
                }
                Ok(connection)
            })
        });
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
            config.url.clone(),
            manager_config,
        );
        let deadline = config.connect_timeout.saturating_add(config.timeout);
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .wait_timeout(Some(deadline))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Config(format!("database pool: {e}")))?;
        Ok(Database {
            pool,
            deadline: config.timeout,
            transaction_pooling,
        })
    }

    /// `DATABASE_TRANSACTION_POOLING`: behind a pooler in transaction mode.
    pub fn transaction_pooling(&self) -> bool {
        self.transaction_pooling
    }

    /// How long a query may take (`DATABASE_TIMEOUT`).
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// `SELECT 1`: whether PostgreSQL answers within the deadlines (for readiness checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        use diesel_async::RunQueryDsl;
        self.run(|conn| Box::pin(async move { diesel::sql_query("SELECT 1").execute(conn).await }))
            .await
            .map(|_| ())
    }

    /// A connection from the pool, or `Unavailable` within the connect timeout.
    pub async fn get(&self) -> Result<Connection, StoreError> {
        self.pool.get().await.map_err(|e| {
            let error = StoreError::Unavailable {
                service: POSTGRES,
                reason: pool_error_reason(&e),
            };
            crate::metrics::record_store_error(&error);
            error
        })
    }

    /// A query's outcome under the deadline, as a `StoreError` (counted in `store_errors`) if it failed:
    /// `Unavailable` for a timeout or a transport failure, after which its connection must not be reused.
    fn settle<T>(
        &self,
        outcome: Result<diesel::QueryResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, StoreError> {
        let error = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => diesel_error(&e),
            Err(_) => StoreError::Unavailable {
                service: POSTGRES,
                reason: format!("no answer within {:?}", self.deadline),
            },
        };
        crate::metrics::record_store_error(&error);
        Err(error)
    }

    /// Runs `work` on a pooled connection under the query deadline. A connection whose query failed at
    /// the transport level is dropped from the pool rather than reused. With `transaction_pooling`, `work`
    /// runs in a transaction of its own, so that a pooler in transaction mode keeps every statement it
    /// prepares on one server connection.
    pub async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c mut AsyncPgConnection,
            ) -> std::pin::Pin<
                Box<dyn Future<Output = diesel::QueryResult<T>> + Send + 'c>,
            > + Send
            + 'static,
    {
        let mut connection = self.get().await?;
        let outcome = if self.transaction_pooling {
            use diesel_async::AsyncConnection;
            let conn: &mut AsyncPgConnection = &mut connection;
            let work = conn.transaction::<T, diesel::result::Error, _>(
                async move |conn: &mut AsyncPgConnection| work(conn).await,
            );
            tokio::time::timeout(self.deadline, work).await
        } else {
            tokio::time::timeout(self.deadline, work(&mut connection)).await
        };
        let result = self.settle(outcome);
        if result.as_ref().is_err_and(StoreError::is_unavailable) {
            let _ = Object::take(connection);
        }
        result
    }
}

fn pool_error_reason(e: &diesel_async::pooled_connection::deadpool::PoolError) -> String {
    use deadpool::managed::PoolError;
    use diesel::ConnectionError;
    match e {
        PoolError::Timeout(kind) => format!("timed out ({kind:?})"),
        // Our own words from `libpq::ConnectOptions::connect` (the parameter to check), or the
        // server's; neither quotes the password.
        PoolError::Backend(diesel_async::pooled_connection::PoolError::ConnectionError(
            ConnectionError::BadConnection(reason),
        )) => format!("cannot connect: {reason}"),
        // diesel's words for a failed connection setup (the session settings it sends first).
        PoolError::Backend(other) => format!("cannot connect: {other}"),
        PoolError::Closed => "pool closed".to_string(),
        PoolError::NoRuntimeSpecified => "no runtime".to_string(),
        PoolError::PostCreateHook(_) => "connection setup failed".to_string(),
    }
}

/// Transport failures are outages; everything else is the server's answer.
pub(crate) fn diesel_error(e: &diesel::result::Error) -> StoreError {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
        | Error::DatabaseError(DatabaseErrorKind::UnableToSendCommand, _)
        | Error::BrokenTransactionManager => StoreError::Unavailable {
            service: POSTGRES,
            reason: "connection lost".into(),
        },
        // tokio-postgres reports a dropped socket as an "unknown" database error whose message says so.
        Error::DatabaseError(DatabaseErrorKind::Unknown, info)
            if is_transport_message(info.message()) =>
        {
            StoreError::Unavailable {
                service: POSTGRES,
                reason: "connection lost".into(),
            }
        }
        // An administrator shutdown or a server crash terminates the backend with SQLSTATE 57P01/57P02/57P03.
        Error::DatabaseError(_, info) if info.message().contains("terminating connection") => {
            StoreError::Unavailable {
                service: POSTGRES,
                reason: "connection terminated by the server".into(),
            }
        }
        Error::DatabaseError(_, info) => StoreError::Server {
            service: POSTGRES,
            reason: info.message().to_string(),
        },
        other => StoreError::Server {
            service: POSTGRES,
            reason: other.to_string(),
        },
    }
}

fn is_transport_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("connection closed")
        || m.contains("error communicating")
        || m.contains("broken pipe")
        || m.contains("connection reset")
        || m.contains("unexpected eof")
        || m.contains("error connecting")
}

/// The URL for logs and `Debug`, with any `password=` parameter's value and the whole userinfo (user and
/// password, whatever characters the password holds) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparsable url>".into();
    };
    // Parameters first, so that an `@` inside a redacted value cannot be taken for the userinfo's end.
    let mut redacted = String::with_capacity(rest.len());
    let mut remaining = rest;
    while let Some(at) = find_ignore_case(remaining, "password=") {
        let value_start = at + "password=".len();
        redacted.push_str(&remaining[..value_start]);
        redacted.push_str("***");
        let value_end = remaining[value_start..]
            .find('&')
            .map_or(remaining.len(), |i| value_start + i);
        remaining = &remaining[value_end..];
    }
    redacted.push_str(remaining);
    match redacted.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}"),
        None => format!("{scheme}://{redacted}"),
    }
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        for (url, redacted) in [
            ("redis://user:s3cret@host:6379/2", "redis://***@host:6379/2"),
            (
                "postgres://postgres@127.0.0.1:5/test",
                "postgres://***@127.0.0.1:5/test",
            ),
            ("rediss://:p@ss@host", "rediss://***@host"),
            ("redis://host/0", "redis://host/0"),
            (
                "postgres://u:pa/ss?w@h:5/db?sslmode=disable&password=x1",
                "postgres://***@h:5/db?sslmode=disable&password=***",
            ),
            (
                "postgres://h/db?password=secret",
                "postgres://h/db?password=***",
            ),
            (
                "postgres://h/db?PASSWORD=se@cret&x=1",
                "postgres://h/db?PASSWORD=***&x=1",
            ),
            (
                "postgres://u@h/db?password=p@ss",
                "postgres://***@h/db?password=***",
            ),
            ("no scheme", "<unparsable url>"),
            ("redis://ü@é/password=", "redis://***@é/password=***"),
        ] {
            assert_eq!(redact_url(url), redacted, "{url}");
        }
        let config = RedisConfig::new("redis://u:topsecret@h/0");
        assert!(!format!("{config:?}").contains("topsecret"));
    }
}
