//! Redis beyond one server: a primary with a replica watched by three Sentinels ([`RedisSentinel`]), each a
//! real `redis-server` process (Sentinels are `redis-server --sentinel`, the program Debian's
//! `redis-sentinel` package links to) on a free loopback port in its own temporary directory.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{KitError, Process, Result, find_binary, io};

/// The service name the Sentinels monitor.
pub const SENTINEL_SERVICE: &str = "mymaster";

/// How long the Sentinels wait before they call a silent primary down (`down-after-milliseconds`).
pub const SENTINEL_DOWN_AFTER: Duration = Duration::from_millis(1000);

/// One `redis-server` of a replicated set, restartable on its port.
struct Node {
    process: Process,
}

/// A primary and a replica, and three Sentinels watching them (quorum 2), as a Django site's
/// `django_redis.client.SentinelClient` finds them.
pub struct RedisSentinel {
    binary: std::path::PathBuf,
    /// The two data nodes; which one is the primary changes with failovers.
    nodes: Vec<Node>,
    sentinels: Vec<Process>,
}

/// Runs `redis-cli -p port args…` and returns its raw output (`--raw`: one value per line).
pub fn redis_cli(port: u16, args: &[&str]) -> Result<String> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--raw"])
        .args(args)
        .output()
        .map_err(io("running redis-cli (install Debian's redis-tools)"))?;
    if !out.status.success() {
        return Err(KitError::Command {
            what: format!("redis-cli {}", args.join(" ")),
            output: String::from_utf8_lossy(&out.stderr).into(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if done() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(KitError::Command {
        what: what.to_string(),
        output: format!("not within {timeout:?}"),
    })
}

impl RedisSentinel {
    /// Starts the primary, its replica (in sync before this returns) and three Sentinels that know both
    /// and each other, so that a failover can be voted.
    pub fn start() -> Result<RedisSentinel> {
        super::with_fresh_ports(Self::start_once)
    }

    fn start_once() -> Result<RedisSentinel> {
        let binary = find_binary(&["redis-server"], "install Debian's redis-server")?;
        let mut set = RedisSentinel {
            binary,
            nodes: Vec::new(),
            sentinels: Vec::new(),
        };
        let primary = Node {
            process: Process::new("redis-server")?,
        };
        let primary_port = primary.process.port;
        set.nodes.push(primary);
        set.start_node(0, None)?;
        let replica = Node {
            process: Process::new("redis-server")?,
        };
        set.nodes.push(replica);
        set.start_node(1, Some(primary_port))?;
        set.wait_for_replication(primary_port)?;
        for _ in 0..3 {
            let mut sentinel = Process::new("redis-sentinel")?;
            let config = sentinel.dir.path().join("sentinel.conf");
            fs::write(
                &config,
                format!(
                    "bind 127.0.0.1\nport {port}\ndir {dir}\n\
                     sentinel monitor {SENTINEL_SERVICE} 127.0.0.1 {primary_port} 2\n\
                     sentinel down-after-milliseconds {SENTINEL_SERVICE} {down}\n\
                     sentinel failover-timeout {SENTINEL_SERVICE} 3000\n\
                     sentinel parallel-syncs {SENTINEL_SERVICE} 1\n",
                    port = sentinel.port,
                    dir = sentinel.dir.path().display(),
                    down = SENTINEL_DOWN_AFTER.as_millis(),
                ),
            )
            .map_err(io("writing sentinel.conf"))?;
            let mut cmd = Command::new(&set.binary);
            cmd.arg(&config).arg("--sentinel");
            sentinel.spawn(&mut cmd)?;
            set.sentinels.push(sentinel);
        }
        // Sentinels find the replica and each other through the primary (hello messages every 2 s).
        let ports: Vec<u16> = set.sentinels.iter().map(|s| s.port).collect();
        wait_until(
            "the Sentinels discovering each other",
            Duration::from_secs(30),
            || {
                ports.iter().all(|port| {
                    let others = redis_cli(*port, &["SENTINEL", "SENTINELS", SENTINEL_SERVICE])
                        .map(|out| out.matches("\nip\n").count())
                        .unwrap_or(0);
                    let replicas = redis_cli(*port, &["SENTINEL", "REPLICAS", SENTINEL_SERVICE])
                        .map(|out| out.contains("slave"))
                        .unwrap_or(false);
                    others >= 2 && replicas
                })
            },
        )?;
        Ok(set)
    }

    fn start_node(&mut self, index: usize, replica_of: Option<u16>) -> Result<()> {
        let node = &mut self.nodes[index];
        let mut cmd = Command::new(&self.binary);
        cmd.args([
            "--bind",
            "127.0.0.1",
            "--port",
            &node.process.port.to_string(),
        ])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(node.process.dir.path());
        if let Some(port) = replica_of {
            cmd.args(["--replicaof", "127.0.0.1", &port.to_string()]);
        }
        node.process.spawn(&mut cmd)
    }

    fn wait_for_replication(&self, primary_port: u16) -> Result<()> {
        wait_until("the replica in sync", Duration::from_secs(30), || {
            redis_cli(primary_port, &["INFO", "replication"]).is_ok_and(|info| {
                info.contains("connected_slaves:1") && info.contains("state=online")
            })
        })
    }

    /// `redis://mymaster/0`: `REDIS_URL` as django-redis's `SentinelClient` reads it.
    pub fn url(&self) -> String {
        format!("redis://{SENTINEL_SERVICE}/0")
    }

    /// `REDIS_SENTINELS`: `127.0.0.1:port,…`.
    pub fn sentinels(&self) -> String {
        self.sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The Sentinels' ports.
    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(|s| s.port).collect()
    }

    /// The port of the primary, as the first Sentinel that answers names it.
    pub fn primary_port(&self) -> Result<u16> {
        for sentinel in &self.sentinels {
            if let Ok(out) = redis_cli(
                sentinel.port,
                &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_SERVICE],
            ) {
                if let Some(port) = out.lines().nth(1).and_then(|p| p.trim().parse().ok()) {
                    return Ok(port);
                }
            }
        }
        Err(KitError::Command {
            what: "SENTINEL GET-MASTER-ADDR-BY-NAME".into(),
            output: "no Sentinel answered".into(),
        })
    }

    /// The port of the node that is not `primary`.
    pub fn other_port(&self, port: u16) -> u16 {
        self.nodes
            .iter()
            .map(|n| n.process.port)
            .find(|p| *p != port)
            .unwrap_or(port)
    }

    /// Whether the server on `port` says it is a primary (`ROLE`) and has its replica online.
    fn serving_as_primary(port: u16) -> bool {
        redis_cli(port, &["ROLE"]).is_ok_and(|role| role.starts_with("master"))
    }

    /// `SENTINEL FAILOVER`: the replica is promoted and the old primary demoted, both still running.
    /// Returns the new primary's port once the Sentinels name it, it answers as a primary, and the old
    /// primary answers as a replica: until the Sentinels reconfigure it, the old primary still takes
    /// writes from a client that has not moved yet, which its demotion then discards (any Sentinel
    /// client's loss; a test that writes right after the failover must not race it).
    /// A Sentinel refuses a failover of the same primary within twice `failover-timeout` (3 s here) of
    /// the last one, and needs a replica in sync: this waits for one and asks again until it happens.
    pub fn failover(&self) -> Result<u16> {
        let old = self.primary_port()?;
        self.wait_for_replication(old)?;
        let start = Instant::now();
        loop {
            let out = redis_cli(
                self.sentinels[0].port,
                &["SENTINEL", "FAILOVER", SENTINEL_SERVICE],
            )?;
            if out.trim().eq_ignore_ascii_case("ok") {
                if let Ok(new) = self.wait_for_new_primary(old, Duration::from_secs(8)) {
                    wait_until(
                        "the old primary's demotion",
                        Duration::from_secs(15),
                        || redis_cli(old, &["ROLE"]).is_ok_and(|role| role.starts_with("slave")),
                    )?;
                    return Ok(new);
                }
            }
            if start.elapsed() > Duration::from_secs(40) {
                return Err(KitError::Command {
                    what: "SENTINEL FAILOVER".into(),
                    output: format!("no new primary within 40 s (last answer: {})", out.trim()),
                });
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Kills the primary's process (SIGKILL, no goodbye); returns its port. The Sentinels vote a new
    /// primary after [`SENTINEL_DOWN_AFTER`]: [`RedisSentinel::wait_for_new_primary`].
    pub fn kill_primary(&mut self) -> Result<u16> {
        let port = self.primary_port()?;
        if let Some(node) = self.nodes.iter_mut().find(|n| n.process.port == port) {
            if let Some(mut child) = node.process.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        Ok(port)
    }

    /// Waits until the Sentinels name a primary other than `old` and it answers as one; returns its port.
    pub fn wait_for_new_primary(&self, old: u16, timeout: Duration) -> Result<u16> {
        let mut new = old;
        wait_until("a new primary", timeout, || {
            new = self.primary_port().unwrap_or(old);
            new != old && Self::serving_as_primary(new)
        })?;
        Ok(new)
    }

    /// Starts a killed node again, as a replica of the current primary, and waits until it is in sync
    /// (so that the next failover has a replica to promote).
    pub fn restart_as_replica(&mut self, port: u16) -> Result<()> {
        let primary = self.primary_port()?;
        let index = self
            .nodes
            .iter()
            .position(|n| n.process.port == port)
            .ok_or_else(|| KitError::Command {
                what: "restart_as_replica".into(),
                output: format!("no node on port {port}"),
            })?;
        self.start_node(index, Some(primary))?;
        self.wait_for_replication(primary)?;
        // The Sentinels must see it as a replica again before they can promote it.
        let ports = self.sentinel_ports();
        wait_until(
            "the Sentinels seeing the replica again",
            Duration::from_secs(30),
            || {
                ports.iter().all(|sentinel| {
                    redis_cli(*sentinel, &["SENTINEL", "REPLICAS", SENTINEL_SERVICE]).is_ok_and(
                        |out| out.contains(&format!("\n{port}\n")) && !out.contains("s_down"),
                    )
                })
            },
        )
    }

    /// Waits until the demoted primary (after [`RedisSentinel::failover`]) replicates from the new one.
    pub fn wait_for_replica_in_sync(&self) -> Result<()> {
        let primary = self.primary_port()?;
        self.wait_for_replication(primary)
    }

    /// Stops the replica's process (SIGSTOP) without closing its connections, as a hung or partitioned
    /// replica looks to the primary; [`RedisSentinel::resume_replica`] lets it go on.
    pub fn pause_replica(&self) -> Result<()> {
        self.signal_replica("-STOP")
    }

    /// Lets a paused replica go on (SIGCONT).
    pub fn resume_replica(&self) -> Result<()> {
        self.signal_replica("-CONT")
    }

    fn signal_replica(&self, signal: &str) -> Result<()> {
        let primary = self.primary_port()?;
        let replica = self
            .nodes
            .iter()
            .find(|n| n.process.port != primary)
            .and_then(|n| n.process.child.as_ref())
            .ok_or_else(|| KitError::Command {
                what: "signalling the replica".into(),
                output: "no replica running".into(),
            })?;
        let status = Command::new("kill")
            .args([signal, &replica.id().to_string()])
            .status()
            .map_err(io("running kill"))?;
        if !status.success() {
            return Err(KitError::Command {
                what: format!("kill {signal}"),
                output: status.to_string(),
            });
        }
        Ok(())
    }

    /// The logs of every process, for a failing test's message.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for node in &self.nodes {
            all.push_str(&format!(
                "--- redis {}\n{}",
                node.process.port,
                node.process.log()
            ));
        }
        for sentinel in &self.sentinels {
            all.push_str(&format!(
                "--- sentinel {}\n{}",
                sentinel.port,
                sentinel.log()
            ));
        }
        all
    }
}

/// A range of hash slots, both ends included.
type SlotRange = (u16, u16);

/// How long cluster nodes wait before they call a silent node failed (`cluster-node-timeout`).
pub const CLUSTER_NODE_TIMEOUT: Duration = Duration::from_millis(1000);

/// A Redis Cluster: three primaries with a replica each (`redis-cli --cluster create … --cluster-replicas
/// 1`), each node a `redis-server --cluster-enabled yes` on a free loopback port. Nodes are started with
/// `cluster-require-full-coverage no`, so that a shard without a primary does not stop the others.
pub struct RedisCluster {
    binary: std::path::PathBuf,
    nodes: Vec<Node>,
}

impl RedisCluster {
    /// Starts the six nodes, makes the cluster, and waits until every node sees every slot served and every
    /// replica in sync.
    pub fn start() -> Result<RedisCluster> {
        super::with_fresh_ports(Self::start_once)
    }

    fn start_once() -> Result<RedisCluster> {
        let binary = find_binary(&["redis-server"], "install Debian's redis-server")?;
        let mut cluster = RedisCluster {
            binary,
            nodes: Vec::new(),
        };
        for index in 0..6 {
            cluster.nodes.push(Node {
                process: Process::new("redis-cluster-node")?,
            });
            cluster.start_node(index)?;
        }
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.process.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .map_err(io("running redis-cli --cluster create"))?;
        if !out.status.success() {
            return Err(KitError::Command {
                what: "redis-cli --cluster create".into(),
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            });
        }
        cluster.wait_until_healthy(Duration::from_secs(60))?;
        Ok(cluster)
    }

    fn start_node(&mut self, index: usize) -> Result<()> {
        let node = &mut self.nodes[index];
        let mut cmd = Command::new(&self.binary);
        cmd.args([
            "--bind",
            "127.0.0.1",
            "--port",
            &node.process.port.to_string(),
        ])
        .args([
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
        ])
        .args([
            "--cluster-node-timeout",
            &CLUSTER_NODE_TIMEOUT.as_millis().to_string(),
        ])
        .args(["--cluster-require-full-coverage", "no"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(node.process.dir.path());
        node.process.spawn(&mut cmd)
    }

    /// `REDIS_CLUSTER_NODES`: every node's `127.0.0.1:port`.
    pub fn nodes(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.process.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn running_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.process.child.is_some())
            .map(|n| n.process.port)
            .collect()
    }

    /// `CLUSTER NODES` as the first running node answers it: for each live primary, its port and slots.
    fn primaries(&self) -> Result<Vec<(u16, Vec<SlotRange>)>> {
        let port = self
            .running_ports()
            .first()
            .copied()
            .ok_or(KitError::Command {
                what: "CLUSTER NODES".into(),
                output: "no node running".into(),
            })?;
        let out = redis_cli(port, &["CLUSTER", "NODES"])?;
        let mut primaries = Vec::new();
        for line in out.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 8 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let Some(port) = fields[1]
                .split('@')
                .next()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
            else {
                continue;
            };
            let slots = fields[8..]
                .iter()
                .filter(|r| !r.starts_with('['))
                .filter_map(|r| match r.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => r.parse().ok().map(|s| (s, s)),
                })
                .collect();
            primaries.push((port, slots));
        }
        Ok(primaries)
    }

    /// The port of the primary that serves `key`'s slot now.
    pub fn primary_for(&self, key: &str) -> Result<u16> {
        let port = self.running_ports()[0];
        let slot: u16 = redis_cli(port, &["CLUSTER", "KEYSLOT", key])?
            .trim()
            .parse()
            .map_err(|_| KitError::Command {
                what: "CLUSTER KEYSLOT".into(),
                output: "not a number".into(),
            })?;
        self.primaries()?
            .into_iter()
            .find(|(_, slots)| slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
            .map(|(port, _)| port)
            .ok_or_else(|| KitError::Command {
                what: format!("the primary of slot {slot}"),
                output: "no live primary serves it".into(),
            })
    }

    /// Kills (SIGKILL) the node on `port`.
    pub fn kill(&mut self, port: u16) {
        if let Some(node) = self.nodes.iter_mut().find(|n| n.process.port == port) {
            if let Some(mut child) = node.process.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Waits until another node serves `key`'s slot than `old` (its replica took over); returns its port.
    pub fn wait_for_new_primary(&self, key: &str, old: u16, timeout: Duration) -> Result<u16> {
        let mut new = old;
        wait_until("a replica taking over", timeout, || {
            new = self.primary_for(key).unwrap_or(old);
            new != old
        })?;
        Ok(new)
    }

    /// Starts a killed node again (it rejoins as a replica of its old shard) and waits for a healthy
    /// cluster.
    pub fn restart(&mut self, port: u16) -> Result<()> {
        let index = self
            .nodes
            .iter()
            .position(|n| n.process.port == port)
            .ok_or_else(|| KitError::Command {
                what: "restart".into(),
                output: format!("no node on port {port}"),
            })?;
        self.start_node(index)?;
        self.wait_until_healthy(Duration::from_secs(60))
    }

    /// Every running node says `cluster_state:ok` and knows no failed node, with all 16384 slots served
    /// and every primary's replica online.
    fn wait_until_healthy(&self, timeout: Duration) -> Result<()> {
        let ports = self.running_ports();
        wait_until("a healthy cluster", timeout, || {
            ports.iter().all(|port| {
                redis_cli(*port, &["CLUSTER", "INFO"]).is_ok_and(|info| {
                    info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
                }) && redis_cli(*port, &["CLUSTER", "NODES"])
                    .is_ok_and(|nodes| !nodes.contains("fail") && !nodes.contains("handshake"))
                    && redis_cli(*port, &["INFO", "replication"]).is_ok_and(|info| {
                        !info.contains("role:slave") || info.contains("master_link_status:up")
                    })
            })
        })
    }

    /// The logs of every node, for a failing test's message.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for node in &self.nodes {
            all.push_str(&format!(
                "--- node {}\n{}",
                node.process.port,
                node.process.log()
            ));
        }
        all
    }
}
