//! `make bench`, after the criterion benches: `GET /api/v1/me` with a logged-in session under load, the
//! `api` binary beside the FastAPI reference (`benches/fastapi`), in the same run, on the same servers.
//!
//! 1. Throwaway Redis and PostgreSQL (the test kit), Django's tables (`django_auth_core::migrate`), and a user with
//!    logged-in sessions made by the real Django peer (`tests/django/peer`), as a browser's login would.
//! 2. The `api` binary (release, built by cargo for this bench) and the FastAPI reference under uvicorn,
//!    each a process on its own loopback port with the same settings.
//! 3. Both must answer 200 with the right user, and the same JSON, before anything is timed.
//! 4. For each, a short warm-up, then `oha` (64 connections, 10 s): requests per second, p50, p99, errors
//!    (anything but a 200, and failed connections), the server's peak RSS (`VmHWM`, summed over uvicorn's
//!    processes), its CPU time per request (`utime + stime` of the process tree over the run, divided by the
//!    200s), and the round trips each request cost: Redis commands (`INFO commandstats`) and PostgreSQL
//!    transactions (`pg_stat_database`) per request.
//! 5. Revocation: the user deactivated, then their password changed, must each be a 401 on the very next
//!    request, on both servers.
//!
//! The figures are printed beside the issue's aims with whether each was met; they are reported, never
//! asserted: only a server that does not start, does not authenticate, or answers the wrong user stops
//! the run. Knobs (environment): `BENCH_SECONDS` (10), `BENCH_CONNECTIONS` (64), `BENCH_WARMUP_SECONDS`
//! (2), `BENCH_UVICORN_WORKERS` (2), `BENCH_ONLY` (`api` or `fastapi`: load only that one), `BENCH_HOLD` (seconds to keep everything up
//! before the loads, for a profiler: see `hold_for_profiling`), `OHA` (default `.cache/tools/bin/oha`, else `oha` on `PATH`),
//! `BENCH_PYTHON` (default `.venv/bench/bin/python`, made by `make bench`), `DJANGO_PYTHON` for the peer.
//!
//! Everything runs on this machine: oha, Redis and PostgreSQL share its cores with the server under load,
//! so the figures are those of one box doing everything, the same for both servers.

#[path = "../../auth/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::error::Error;
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use django_auth_core::migrate::{self, DefaultAutoField};
use django_auth_core::settings::Settings;
use serde_json::{Value, json};
use support::{Oracle, workspace_root};
use testkit::{PostgresServer, RedisServer};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const USERNAME: &str = "bench";
const PASSWORD: &str = "bench password 1";

/// The issue's aims for the api, on a 2-core machine.
const AIM_RPS_RATIO: f64 = 8.0;
const AIM_P99_MS: f64 = 5.0;
const AIM_CPU_US: f64 = 40.0;
/// django-auth-web's axum example: `GET /whoami` (issue 19: no more CPU per request than the api's `/me`).
const ME_PATH_AXUM: &str = "/whoami";
const AIM_RSS_MIB: f64 = 30.0;
/// The api's forward-auth endpoint (issue 20: the same cost as `/api/v1/me`).
const FORWARD_AUTH_PATH: &str = "/auth/verify";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench` (and any filter); this bench has nothing to filter.
    if let Err(e) = run() {
        eprintln!("load bench failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let seconds: u64 = env_or("BENCH_SECONDS", 10);
    let connections: u32 = env_or("BENCH_CONNECTIONS", 64);
    let warmup: u64 = env_or("BENCH_WARMUP_SECONDS", 2);
    let workers: u32 = env_or("BENCH_UVICORN_WORKERS", 2);
    let root = workspace_root().canonicalize()?;
    let oha = oha(&root)?;
    let python = std::env::var_os("BENCH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bench/bin/python"));
    if !python.exists() {
        return Err(format!(
            "no Python for the FastAPI reference at {} (`make bench` makes .venv/bench)",
            python.display()
        )
        .into());
    }
    let logs = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("load");
    std::fs::create_dir_all(&logs)?;

    let redis = RedisServer::start()?;
    let pg = PostgresServer::start()?;
    let vars: Vec<(&str, String)> = vec![
        ("SECRET_KEY", "load-bench-secret-key".into()),
        ("SECRET_KEY_FALLBACKS", "[\"an-older-secret-key\"]".into()),
        ("SESSION_ENGINE", "cache".into()),
        ("REDIS_URL", redis.url()),
        ("DATABASE_URL", pg.url()),
        ("ALLOWED_HOSTS", "127.0.0.1".into()),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let lookup: BTreeMap<&str, String> = vars.iter().cloned().collect();
    let settings = Settings::from_lookup(|n| lookup.get(n).cloned())?;
    runtime.block_on(async {
        let connections = settings.connect()?;
        let database = connections
            .database
            .as_ref()
            .ok_or("DATABASE_URL gave no database")?;
        migrate::migrate(database, DefaultAutoField::BigAuto, false).await?;
        Ok::<_, Box<dyn Error>>(())
    })?;

    // A user and two logged-in sessions, made by Django itself: one for each server, so that the
    // revocation check of one cannot be passed thanks to the other's flush.
    let peer_vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut peer = Oracle::peer(&peer_vars);
    let pk = peer.call(
        "create_user",
        json!({}),
        json!({"username": USERNAME, "password": PASSWORD, "email": "bench@example.com",
               "is_staff": true}),
    );
    let mut login = || -> Result<String> {
        let login = peer.call(
            "login_session",
            json!({}),
            json!({"username": USERNAME, "password": PASSWORD}),
        );
        Ok(login["session_key"]
            .as_str()
            .ok_or("login_session gave no key")?
            .to_string())
    };
    let keys = [login()?, login()?, login()?, login()?];

    let api_port = testkit::free_port()?;
    let mut api = Server::spawn(
        "api",
        Command::new(env!("CARGO_BIN_EXE_api"))
            .args(["serve", "--bind", &format!("127.0.0.1:{api_port}")])
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str()))),
        api_port,
        &logs,
    )?;
    let reference_port = testkit::free_port()?;
    let mut reference = Server::spawn(
        "fastapi",
        Command::new(&python)
            .args(["-m", "uvicorn", "app:app", "--host", "127.0.0.1"])
            .args(["--port", &reference_port.to_string()])
            .args(["--workers", &workers.to_string()])
            .args(["--loop", "uvloop", "--http", "httptools"])
            .args(["--no-access-log", "--log-level", "warning"])
            .current_dir(root.join("benches/fastapi"))
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str()))),
        reference_port,
        &logs,
    )?;
    // django-auth-web's axum example (`GET /whoami`), release-built by `make bench` beside this bench.
    let axum_bin = std::env::var_os("BENCH_AXUM_SERVICE")
        .map(PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.join("examples/axum_service"))
        })
        .filter(|path| path.exists())
        .ok_or(
            "no axum_service example: `make bench` builds it (cargo build --release -p django-auth-web \
             --features axum --example axum_service)",
        )?;
    let axum_port = testkit::free_port()?;
    let mut axum = Server::spawn(
        "axum",
        Command::new(&axum_bin)
            .env("EXAMPLE_BIND", format!("127.0.0.1:{axum_port}"))
            // `BENCH_AXUM_THREADS`: the example's tokio worker threads (tokio's own variable; default:
            // one per CPU, as actix-web's workers).
            .envs(
                std::env::var("BENCH_AXUM_THREADS")
                    .ok()
                    .filter(|n| !n.is_empty())
                    .map(|n| ("TOKIO_WORKER_THREADS", n)),
            )
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str()))),
        axum_port,
        &logs,
    )?;
    let (status, body) = axum.wait_for(ME_PATH_AXUM, &keys[2])?;
    if status != 200 || body != json!({"id": pk, "username": USERNAME}) {
        return Err(format!("axum answered {status} {body} for {USERNAME}'s session").into());
    }
    // Both must authenticate the user, and say the same about them.
    let mut bodies = Vec::new();
    for (server, key) in [(&mut api, &keys[0]), (&mut reference, &keys[1])] {
        let (status, body) = server.wait_for_me(key)?;
        if status != 200 || body["username"] != USERNAME || body["id"] != pk {
            return Err(format!(
                "{} answered {status} {body} for {USERNAME}'s session",
                server.name
            )
            .into());
        }
        bodies.push(body);
    }
    if bodies[0] != bodies[1] {
        return Err(format!(
            "the api and the reference disagree:\n  api:     {}\n  fastapi: {}",
            bodies[0], bodies[1]
        )
        .into());
    }
    println!(
        "\nverified: both answer 200 with {USERNAME} (id {pk}), and the same JSON: {}",
        bodies[0]
    );
    // The forward-auth endpoint (issue 20) on the api, with a session of its own.
    let (status, _) = api.wait_for(FORWARD_AUTH_PATH, &keys[3])?;
    if status != 200 {
        return Err(
            format!("the api's {FORWARD_AUTH_PATH} answered {status} for {USERNAME}").into(),
        );
    }

    if let Some(hold) = std::env::var("BENCH_HOLD")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        hold_for_profiling(
            hold,
            &logs,
            &vars,
            &[(&api, &keys[0]), (&reference, &keys[1])],
        )?;
    }

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "machine: {cores} logical CPUs ({}); oha, Redis and PostgreSQL run on the same CPUs",
        cpu_model()
    );
    let servers = [(&api, &keys[0]), (&reference, &keys[1])];
    let loads = [
        (&api, &keys[0], "/api/v1/me"),
        (&api, &keys[3], FORWARD_AUTH_PATH),
        (&reference, &keys[1], "/api/v1/me"),
        (&axum, &keys[2], ME_PATH_AXUM),
    ];
    let mut pg_reads = 0;
    let only = std::env::var("BENCH_ONLY").ok();
    let mut results = Vec::new();
    for (server, key, path) in loads {
        if only.as_deref().is_some_and(|only| only != server.name) {
            continue;
        }
        let load = Load {
            oha: &oha,
            url: format!("http://127.0.0.1:{}{path}", server.port),
            cookie: format!("sessionid={key}"),
            connections,
        };
        if warmup > 0 {
            load.run(warmup)?;
        }
        let redis_before = redis_calls(redis.port())?;
        let pg_before = pg_transactions(&pg, &mut pg_reads)?;
        let before = CpuSnapshot::take(server, &[&api, &reference, &axum])?;
        let started = Instant::now();
        let report = load.run(seconds)?;
        let wall = started.elapsed();
        let after = CpuSnapshot::take(server, &[&api, &reference, &axum])?;
        let redis_after = redis_calls(redis.port())?;
        let pg_after = pg_transactions(&pg, &mut pg_reads)?;
        if results.is_empty() {
            println!("command: {}", load.command_line(seconds, true));
        }
        let ok = report.ok.max(1) as f64;
        let ticks = clock_ticks_per_second()?;
        let per_request_us = |before: u64, after: u64| (after - before) as f64 / ticks * 1e6 / ok;
        let cpu = CpuUse {
            server_us: per_request_us(before.server, after.server),
            redis_us: per_request_us(before.redis, after.redis),
            postgres_us: per_request_us(before.postgres, after.postgres),
            oha_us: per_request_us(before.load_generator, after.load_generator),
            busy_cpus: (after.machine_busy - before.machine_busy) as f64
                / (after.machine_total - before.machine_total).max(1) as f64
                * cores as f64,
            steal_cpus: (after.steal - before.steal) as f64
                / (after.machine_total - before.machine_total).max(1) as f64
                * cores as f64,
        };
        let mut redis_per_request: Vec<(String, f64)> = redis_after
            .iter()
            .filter(|(name, _)| name.as_str() != "info")
            .map(|(name, after)| {
                let before = redis_before.get(name).copied().unwrap_or(0);
                (name.clone(), (after - before) as f64 / ok)
            })
            .filter(|(_, n)| *n >= 0.005)
            .collect();
        redis_per_request.sort_by(|a, b| b.1.total_cmp(&a.1));
        let pg_per_request = (pg_after - pg_before) as f64 / ok;
        let (rss_kib, processes) = server.peak_rss_kib()?;
        results.push(Measured {
            server: server.name,
            path,
            name: if path == FORWARD_AUTH_PATH {
                format!("api {FORWARD_AUTH_PATH}")
            } else {
                server.describe(workers)
            },
            report,
            wall,
            cpu,
            rss_mib: rss_kib as f64 / 1024.0,
            processes,
            redis_per_request,
            pg_per_request,
        });
    }

    let revocation = revocation(&servers, &mut peer, &pg)?;
    print_table(&results, seconds, connections, cores);
    print_aims(&results, &revocation, connections);
    drop(axum);
    drop(reference);
    drop(api);
    Ok(())
}

/// `BENCH_HOLD=<seconds>`: keep everything up that long (or until `hold.env` is deleted), for a profiler or
/// another load generator, before the loads run as usual. The servers' ports, their session keys and the
/// settings they run with (to start another build beside them) go to `hold.env` in the bench's log
/// directory, readable only by its owner.
fn hold_for_profiling(
    seconds: u64,
    logs: &Path,
    vars: &[(&str, String)],
    servers: &[(&Server, &String)],
) -> Result<()> {
    let path = logs.join("hold.env");
    let mut lines: Vec<String> = vars.iter().map(|(k, v)| format!("{k}='{v}'")).collect();
    for (server, key) in servers {
        let name = server.name.to_uppercase();
        lines.push(format!("{name}_PORT={}", server.port));
        lines.push(format!("{name}_SESSION_KEY={key}"));
    }
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all((lines.join("\n") + "\n").as_bytes())?;
    }
    println!(
        "holding for {seconds} s (or until it is deleted); ports, keys and settings in {}",
        path.display()
    );
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until && path.exists() {
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}

/// The load generator: `oha`, pinned and installed into `.cache/tools` by `make bench`.
fn oha(root: &Path) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("OHA") {
        return Ok(PathBuf::from(path));
    }
    let local = root.join(".cache/tools/bin/oha");
    if local.exists() {
        return Ok(local);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("oha"))
        .find(|p| p.exists())
        .ok_or_else(|| "oha not found: `make bench` installs it into .cache/tools".into())
}

struct Load<'a> {
    oha: &'a Path,
    url: String,
    cookie: String,
    connections: u32,
}

/// What oha saw: requests per second, latency percentiles (seconds), 200s, and everything else.
struct OhaReport {
    rps: f64,
    p50: f64,
    p99: f64,
    ok: u64,
    errors: u64,
    /// Non-200 statuses and connection errors, for the footnote when there are any.
    error_kinds: BTreeMap<String, u64>,
}

impl Load<'_> {
    fn args(&self, seconds: u64, show_cookie: bool) -> Vec<String> {
        let cookie = if show_cookie {
            "sessionid=<session key>".to_string()
        } else {
            self.cookie.clone()
        };
        vec![
            "-z".into(),
            format!("{seconds}s"),
            "-c".into(),
            self.connections.to_string(),
            "--no-tui".into(),
            "--output-format".into(),
            "json".into(),
            // Requests still in flight at the deadline are waited for, not counted as errors.
            "--wait-ongoing-requests-after-deadline".into(),
            "-H".into(),
            format!("Cookie: {cookie}"),
            self.url.clone(),
        ]
    }

    fn command_line(&self, seconds: u64, redacted: bool) -> String {
        let mut line = self.oha.display().to_string();
        for arg in self.args(seconds, redacted) {
            if arg.contains(' ') {
                line.push_str(&format!(" '{arg}'"));
            } else {
                line.push(' ');
                line.push_str(&arg);
            }
        }
        line
    }

    fn run(&self, seconds: u64) -> Result<OhaReport> {
        let output = Command::new(self.oha)
            .args(self.args(seconds, false))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.oha.display()))?;
        if !output.status.success() {
            return Err(format!(
                "oha failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        let v: Value =
            serde_json::from_slice(&output.stdout).map_err(|e| format!("oha's JSON: {e}"))?;
        let number = |path: &[&str]| -> Result<f64> {
            let mut node = &v;
            for key in path {
                node = &node[*key];
            }
            node.as_f64()
                .ok_or_else(|| format!("oha's JSON has no {}", path.join(".")).into())
        };
        let mut ok = 0;
        let mut error_kinds = BTreeMap::new();
        if let Some(statuses) = v["statusCodeDistribution"].as_object() {
            for (status, count) in statuses {
                let count = count.as_u64().unwrap_or(0);
                if status == "200" {
                    ok += count;
                } else {
                    *error_kinds.entry(format!("HTTP {status}")).or_default() += count;
                }
            }
        }
        if let Some(errors) = v["errorDistribution"].as_object() {
            for (error, count) in errors {
                *error_kinds.entry(error.clone()).or_default() += count.as_u64().unwrap_or(0);
            }
        }
        Ok(OhaReport {
            rps: number(&["summary", "requestsPerSec"])?,
            p50: number(&["latencyPercentiles", "p50"])?,
            p99: number(&["latencyPercentiles", "p99"])?,
            ok,
            errors: error_kinds.values().sum(),
            error_kinds,
        })
    }
}

/// A server process we started; stopped (its whole tree) when dropped.
struct Server {
    name: &'static str,
    port: u16,
    child: Child,
    log: PathBuf,
}

impl Server {
    fn spawn(name: &'static str, command: &mut Command, port: u16, logs: &Path) -> Result<Server> {
        let log = logs.join(format!("{name}.log"));
        let file = File::create(&log)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Server {
            name,
            port,
            child,
            log,
        })
    }

    fn describe(&self, workers: u32) -> String {
        match self.name {
            "api" => format!("api (actix-web, {} workers)", actix_workers()),
            "axum" => format!(
                "axum example /whoami ({} tokio threads)",
                std::env::var("BENCH_AXUM_THREADS")
                    .ok()
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| actix_workers().to_string())
            ),
            _ => format!("FastAPI (uvicorn, {workers} workers)"),
        }
    }

    /// Polls `/api/v1/me` until the server answers (60 s at most), and returns that answer.
    fn wait_for_me(&mut self, key: &str) -> Result<(u16, Value)> {
        self.wait_for("/api/v1/me", key)
    }

    /// Polls `path` until the server answers (60 s at most), and returns that answer.
    fn wait_for(&mut self, path: &str, key: &str) -> Result<(u16, Value)> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(format!(
                    "{} exited ({status}); its log:\n{}",
                    self.name,
                    self.log_tail()
                )
                .into());
            }
            match http_get(self.port, path, key) {
                Ok(answer) => return Ok(answer),
                Err(_) if started.elapsed() < Duration::from_secs(60) => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => {
                    return Err(format!(
                        "{} did not answer: {e}; its log:\n{}",
                        self.name,
                        self.log_tail()
                    )
                    .into());
                }
            }
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// The process and every descendant (uvicorn's workers).
    fn tree(&self) -> Vec<u32> {
        descendants(self.child.id())
    }

    /// `utime + stime` of the tree, in clock ticks (dead children that were waited for included).
    fn cpu_ticks(&self) -> Result<u64> {
        let mut total = 0;
        for pid in self.tree() {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
            total += process_ticks(&stat_fields(&stat), true);
        }
        Ok(total)
    }

    /// `VmHWM` summed over the tree (shared pages counted in each process), and how many processes.
    fn peak_rss_kib(&self) -> Result<(u64, usize)> {
        let tree = self.tree();
        let mut total = 0;
        for pid in &tree {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
            total += status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
        Ok((total, tree.len()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first, so uvicorn stops its workers; then SIGKILL whatever of the tree is left.
        let tree = self.tree();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for pid in tree.iter().skip(1) {
            if Path::new(&format!("/proc/{pid}")).exists() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `/proc/<pid>/stat`'s fields after the command name (which may hold spaces and parentheses): index 0 is
/// the state, 1 the parent pid.
fn stat_fields(stat: &str) -> Vec<&str> {
    stat.rfind(')')
        .map(|end| stat[end + 1..].split_whitespace().collect())
        .unwrap_or_default()
}

/// `utime + stime` (fields 14 and 15 of `/proc/<pid>/stat`, 11 and 12 after the state), with
/// `children` the waited-for children's too (`cutime + cstime`).
fn process_ticks(fields: &[&str], children: bool) -> u64 {
    let last = if children { 14 } else { 12 };
    (11..=last)
        .filter_map(|i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum()
}

/// `pid` and its descendants, from every process's parent in `/proc`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) {
                if let Some(parent) = stat_fields(&stat)
                    .get(1)
                    .and_then(|p| p.parse::<u32>().ok())
                {
                    parents.push((child, parent));
                }
            }
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let current = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == current)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    tree
}

fn clock_ticks_per_second() -> Result<f64> {
    let out = Command::new("getconf").arg("CLK_TCK").output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse::<f64>()?)
}

/// actix-web's default: one worker per available CPU.
fn actix_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// One `GET` with the session cookie over a fresh connection: the status and the JSON body.
fn http_get(port: u16, path: &str, session_key: &str) -> Result<(u16, Value)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: sessionid={session_key}\r\n\
         Connection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("no end of headers in the response")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status in the response")?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err("chunked response (not expected for a small JSON body)".into());
    }
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// Calls per command since Redis started (`INFO commandstats`), over a plain RESP connection.
fn redis_calls(port: u16) -> Result<BTreeMap<String, u64>> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n")?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&reply);
        if let Some((len, rest)) = text.strip_prefix('$').and_then(|t| t.split_once("\r\n")) {
            if len.parse::<usize>().is_ok_and(|len| rest.len() >= len + 2) {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&reply);
    let mut calls = BTreeMap::new();
    for line in text.lines() {
        let Some((name, stats)) = line
            .strip_prefix("cmdstat_")
            .and_then(|l| l.split_once(':'))
        else {
            continue;
        };
        if let Some(n) = stats
            .split(',')
            .find_map(|s| s.strip_prefix("calls="))
            .and_then(|n| n.parse::<u64>().ok())
        {
            calls.insert(name.to_string(), n);
        }
    }
    Ok(calls)
}

/// Committed and rolled-back transactions of the database `test`, less this function's own readings
/// (`reads` counts them across calls; each is a transaction), once every backend has reported: PostgreSQL
/// flushes a backend's statistics within about a second of it going idle, so read until two readings a
/// second apart agree.
fn pg_transactions(pg: &PostgresServer, reads: &mut i64) -> Result<i64> {
    let mut read = || -> Result<i64> {
        let raw: i64 = pg
            .psql(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'test'",
            )?
            .trim()
            .parse()?;
        let earlier_reads = *reads;
        *reads += 1;
        Ok(raw - earlier_reads)
    };
    let mut last = read()?;
    for _ in 0..15 {
        std::thread::sleep(Duration::from_millis(1100));
        let now = read()?;
        if now == last {
            return Ok(now);
        }
        last = now;
    }
    Ok(last)
}

/// What revocation looked like on each server: (deactivated → status, password changed → status).
struct Revocation {
    statuses: Vec<(&'static str, u16, u16)>,
}

/// The user deactivated: the next request of each server must be a 401 (then reactivated: a 200 again);
/// the password changed (by Django): the next request must be a 401.
fn revocation(
    servers: &[(&Server, &String); 2],
    peer: &mut Oracle,
    pg: &PostgresServer,
) -> Result<Revocation> {
    let set_active = |active: bool| {
        pg.psql(&format!(
            "UPDATE auth_user SET is_active = {active} WHERE username = '{USERNAME}'"
        ))
    };
    set_active(false)?;
    let deactivated: Vec<u16> = servers
        .iter()
        .map(|(server, key)| http_get(server.port, "/api/v1/me", key).map(|(s, _)| s))
        .collect::<Result<_>>()?;
    set_active(true)?;
    for (server, key) in servers {
        let (status, _) = http_get(server.port, "/api/v1/me", key)?;
        if status != 200 {
            return Err(format!(
                "{} answered {status} once the user was active again",
                server.name
            )
            .into());
        }
    }
    peer.call(
        "set_password",
        json!({}),
        json!({"username": USERNAME, "password": "a new password 2"}),
    );
    let mut statuses = Vec::new();
    for ((server, key), deactivated) in servers.iter().zip(deactivated) {
        let (changed, _) = http_get(server.port, "/api/v1/me", key)?;
        statuses.push((server.name, deactivated, changed));
    }
    Ok(Revocation { statuses })
}

/// CPU time (clock ticks) of each party to a run: the server's process tree, Redis and PostgreSQL (our
/// descendants, by name), the load generator (our waited-for children: only oha exits during a run), and
/// the whole machine (`/proc/stat`).
#[derive(Clone, Copy)]
struct CpuSnapshot {
    server: u64,
    redis: u64,
    postgres: u64,
    load_generator: u64,
    machine_busy: u64,
    machine_total: u64,
    steal: u64,
}

impl CpuSnapshot {
    fn take(server: &Server, servers: &[&Server]) -> Result<CpuSnapshot> {
        let excluded: Vec<u32> = servers.iter().flat_map(|s| s.tree()).collect();
        let (mut redis, mut postgres) = (0, 0);
        for pid in descendants(std::process::id()) {
            if excluded.contains(&pid) {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let name = stat
                .split_once('(')
                .and_then(|(_, rest)| rest.rsplit_once(')'))
                .map_or("", |(name, _)| name);
            match name {
                "redis-server" => redis += process_ticks(&stat_fields(&stat), true),
                "postgres" => postgres += process_ticks(&stat_fields(&stat), true),
                _ => {}
            }
        }
        let own = std::fs::read_to_string("/proc/self/stat")?;
        let machine = std::fs::read_to_string("/proc/stat")?;
        let cpu: Vec<u64> = machine
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("cpu "))
            .ok_or("no cpu line in /proc/stat")?
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        let field = |i: usize| cpu.get(i).copied().unwrap_or(0);
        Ok(CpuSnapshot {
            server: server.cpu_ticks()?,
            redis,
            postgres,
            load_generator: stat_fields(&own)
                .get(13..=14)
                .map_or(0, |f| f.iter().filter_map(|n| n.parse::<u64>().ok()).sum()),
            machine_busy: field(0) + field(1) + field(2) + field(5) + field(6),
            machine_total: (0..8).map(field).sum(),
            steal: field(7),
        })
    }
}

/// Per 200 response: the CPU time of each party (µs); and the machine's busy and stolen CPUs.
struct CpuUse {
    server_us: f64,
    redis_us: f64,
    postgres_us: f64,
    oha_us: f64,
    busy_cpus: f64,
    steal_cpus: f64,
}

struct Measured {
    server: &'static str,
    /// The path under load.
    path: &'static str,
    name: String,
    report: OhaReport,
    wall: Duration,
    cpu: CpuUse,
    rss_mib: f64,
    processes: usize,
    redis_per_request: Vec<(String, f64)>,
    pg_per_request: f64,
}

fn print_table(results: &[Measured], seconds: u64, connections: u32, cores: usize) {
    println!(
        "\nGET /api/v1/me (and the api's {FORWARD_AUTH_PATH}, the axum example's {ME_PATH_AXUM}), logged-in \
         session (cache engine), {connections} connections, {seconds} s each:\n"
    );
    println!(
        "{:<32} {:>9} {:>8} {:>8} {:>7} {:>9} {:>8} {:>7} {:>7}",
        "server", "req/s", "p50 ms", "p99 ms", "errors", "peak RSS", "CPU/req", "redis/r", "pg/r"
    );
    for m in results {
        println!(
            "{:<32} {:>9.0} {:>8.2} {:>8.2} {:>7} {:>5.1} MiB {:>5.0} µs {:>7.2} {:>7.2}",
            m.name,
            m.report.rps,
            m.report.p50 * 1000.0,
            m.report.p99 * 1000.0,
            m.report.errors,
            m.rss_mib,
            m.cpu.server_us,
            m.redis_per_request.iter().map(|(_, n)| n).sum::<f64>(),
            m.pg_per_request,
        );
    }
    println!();
    for m in results {
        let redis: Vec<String> = m
            .redis_per_request
            .iter()
            .map(|(name, n)| format!("{name} {n:.2}"))
            .collect();
        println!(
            "{}: {} responses 200 in {:.1} s; peak RSS = VmHWM summed over {} process(es); CPU = utime+stime \
             of the process tree / 200s; redis/r = Redis commands per request, those a script ran \
             included ({}); pg/r = PostgreSQL transactions per request",
            m.name,
            m.report.ok,
            m.wall.as_secs_f64(),
            m.processes,
            if redis.is_empty() {
                "none".to_string()
            } else {
                redis.join(", ")
            },
        );
        println!(
            "  CPU per request: server {:.0} µs, Redis {:.0} µs, PostgreSQL {:.0} µs, oha {:.0} µs; the \
             machine was {:.2} of its {} CPUs busy ({:.2} stolen by the hypervisor)",
            m.cpu.server_us,
            m.cpu.redis_us,
            m.cpu.postgres_us,
            m.cpu.oha_us,
            m.cpu.busy_cpus,
            cores,
            m.cpu.steal_cpus,
        );
        if !m.report.error_kinds.is_empty() {
            println!("  errors: {:?}", m.report.error_kinds);
        }
    }
}

fn print_aims(results: &[Measured], revocation: &Revocation, connections: u32) {
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    println!("\naims for the api (reported, not asserted):");
    let reference = results.iter().find(|m| m.server == "fastapi");
    let Some(api) = results
        .iter()
        .find(|m| m.server == "api" && m.path == "/api/v1/me")
    else {
        return;
    };
    if let Some(reference) = reference {
        let ratio = api.report.rps / reference.report.rps;
        println!(
            "  req/s >= {AIM_RPS_RATIO}x the reference's     {ratio:>7.1}x      {}",
            met(ratio >= AIM_RPS_RATIO)
        );
    }
    let p99 = api.report.p99 * 1000.0;
    println!(
        "  p99 <= {AIM_P99_MS} ms at {connections} connections  {p99:>7.2} ms   {}",
        met(p99 <= AIM_P99_MS)
    );
    println!(
        "  CPU per request <= {AIM_CPU_US} µs        {:>7.0} µs   {}{}",
        api.cpu.server_us,
        met(api.cpu.server_us <= AIM_CPU_US),
        reference.map_or(String::new(), |r| format!(
            " (the reference: {:.0} µs)",
            r.cpu.server_us
        ))
    );
    if let Some(verify) = results.iter().find(|m| m.path == FORWARD_AUTH_PATH) {
        println!(
            "  {FORWARD_AUTH_PATH} beside /me             {:>7.0} µs CPU/req, {:.0} req/s, p99 {:.2} ms (/me: \
             {:.0} µs, {:.0} req/s, p99 {:.2} ms)",
            verify.cpu.server_us,
            verify.report.rps,
            verify.report.p99 * 1000.0,
            api.cpu.server_us,
            api.report.rps,
            api.report.p99 * 1000.0,
        );
    }
    if let Some(axum) = results.iter().find(|m| m.server == "axum") {
        println!(
            "  axum /whoami CPU/req <= the api's /me  {:>7.0} µs   {} (the api: {:.0} µs)",
            axum.cpu.server_us,
            met(axum.cpu.server_us <= api.cpu.server_us),
            api.cpu.server_us
        );
    }
    println!(
        "  peak RSS <= {AIM_RSS_MIB} MiB              {:>7.1} MiB  {}",
        api.rss_mib,
        met(api.rss_mib <= AIM_RSS_MIB)
    );
    for (name, deactivated, changed) in &revocation.statuses {
        println!(
            "  revocation immediate ({name:<7})     deactivated: {deactivated}, password changed: {changed}   {}",
            met(*deactivated == 401 && *changed == 401)
        );
    }
}
