//! Real Redis, PostgreSQL and SMTP servers for tests, each in its own temporary directory on a free
//! loopback port, stopped and removed when dropped. No Docker, no fixed ports, nothing left behind.
//!
//! The binaries come from the machine (Debian's `redis-server` and `postgresql`, which `.ci/run` installs;
//! aiosmtpd from the pinned Django venv, see `smtp`); a missing binary is an error that says what to
//! install, so a test fails rather than skips. Each server can be stopped and started again on the same
//! port, which is how the outage tests take a service away and bring it back. Server output goes to a log
//! file in the directory; `log()` returns it for a failing test to print.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub mod django;
pub mod http;
mod proxies;
mod redis_ha;
mod smtp;
pub use proxies::{Caddy, EchoUpstream, Nginx, substitute};
pub use redis_ha::{
    CLUSTER_NODE_TIMEOUT, RedisCluster, RedisSentinel, SENTINEL_DOWN_AFTER, SENTINEL_SERVICE,
    redis_cli,
};
pub use smtp::{ReceivedMessage, SmtpServer, SmtpTls};

#[derive(Debug, thiserror::Error)]
pub enum KitError {
    #[error("{what} not found ({hint})")]
    Missing { what: String, hint: &'static str },
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("{what} did not become ready within {secs} s; its log:\n{log}")]
    NotReady {
        what: &'static str,
        secs: u64,
        log: String,
    },
    #[error("{what} failed: {output}")]
    Command { what: String, output: String },
}

type Result<T> = std::result::Result<T, KitError>;

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> KitError {
    let context = context.into();
    move |e| KitError::Io(context, e)
}

/// How long a server may take to accept connections (a cold `initdb` on a slow CI machine included).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A free TCP port on 127.0.0.1: bind port 0, read it, release it. Another process could take it before
/// the server binds; `start` then fails with the server's own message and the caller may retry.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("binding a free port"))?;
    Ok(listener
        .local_addr()
        .map_err(io("reading the free port"))?
        .port())
}

/// Runs `start` up to three times: a port [`free_port`] found free can be taken by another process before
/// the server binds it (tests run in parallel), and each attempt picks new ports.
pub fn with_fresh_ports<T>(mut start: impl FnMut() -> Result<T>) -> Result<T> {
    let mut attempt = 1;
    loop {
        match start() {
            Err(e) if attempt < 3 => {
                eprintln!("testkit: attempt {attempt} failed, again on new ports: {e}");
                attempt += 1;
            }
            result => return result,
        }
    }
}

fn wait_for_port(port: u16, what: &'static str, log: &Path, child: &mut Child) -> Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    while start.elapsed() < READY_TIMEOUT {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            // Someone listens; make sure it is our server, not another process that took the port first
            // (then ours exits, unable to bind).
            std::thread::sleep(Duration::from_millis(50));
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(KitError::NotReady {
        what,
        secs: READY_TIMEOUT.as_secs(),
        log: read_log(log),
    })
}

fn read_log(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| format!("(no log at {}: {e})", path.display()))
}

fn find_binary(candidates: &[&str], hint: &'static str) -> Result<PathBuf> {
    for c in candidates {
        let path = Path::new(c);
        if path.is_absolute() && path.exists() {
            return Ok(path.to_path_buf());
        }
        if !path.is_absolute() {
            if let Some(found) = std::env::var_os("PATH")
                .iter()
                .flat_map(std::env::split_paths)
                .map(|dir| dir.join(c))
                .find(|p| p.exists())
            {
                return Ok(found);
            }
        }
    }
    Err(KitError::Missing {
        what: candidates.join(" or "),
        hint,
    })
}

/// Runs a command that is expected to exit by itself (a service refusing to start) and returns its
/// output; a command still running after `timeout` is killed and the test fails, rather than hanging.
pub fn output_within(command: &mut Command, timeout: Duration) -> std::process::Output {
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return child
                .wait_with_output()
                .expect("the output of an exited child");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stop_child(&mut child);
    let output = child
        .wait_with_output()
        .expect("the output of a stopped child");
    panic!(
        "{command:?} was still running after {timeout:?}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Stops a child: a polite signal first (`SIGINT` = PostgreSQL's fast shutdown, Redis exits too; a shell
/// script's Ctrl-C; actix-web's and Django's graceful stop), then `SIGKILL` after a grace period of 10 s.
pub fn stop_child(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// What both servers share: a temporary directory, a port, a log file, and the running process.
struct Process {
    dir: TempDir,
    port: u16,
    /// The program's name, for messages and the log file (`<name>.log` in the directory).
    name: &'static str,
    child: Option<Child>,
}

impl Process {
    fn new(name: &'static str) -> Result<Process> {
        let dir = TempDir::new().map_err(io("creating a temporary directory"))?;
        Ok(Process {
            dir,
            port: free_port()?,
            name,
            child: None,
        })
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("{}.log", self.name))
    }

    fn log(&self) -> String {
        read_log(&self.log_path())
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child);
        }
    }

    /// (Re)starts the server with `cmd`, its output appended to the log, and waits until it accepts
    /// connections on the port.
    fn spawn(&mut self, cmd: &mut Command) -> Result<()> {
        self.stop();
        let log_path = self.log_path();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io("opening the log"))?;
        let log_err = log.try_clone().map_err(io("opening the log"))?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(io(format!("starting {}", self.name)))?;
        wait_for_port(self.port, self.name, &log_path, &mut child)?;
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `openssl <args>` in `dir`, its error output in the error.
fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(io("running openssl (install Debian's openssl)"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(KitError::Command {
        what: "openssl".into(),
        output: String::from_utf8_lossy(&out.stderr).into(),
    })
}

/// A throwaway CA and a server certificate for `127.0.0.1` (an IP subject alternative name, which is what
/// rustls checks) signed by it, made with the `openssl` command in `dir`: `ca.pem`, `server.pem` and
/// `server.key`. Shared by the TLS Redis and the TLS SMTP server.
fn make_certificates(dir: &Path) -> Result<()> {
    let openssl = |args: &[&str]| openssl(dir, args);
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=testkit CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ])?;
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ])?;
    fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n")
        .map_err(io("writing server.ext"))?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ])
}

/// A client certificate for `user` (its common name, which `cert` authentication matches), signed by the
/// CA `make_certificates` made in `dir`: `client.pem` and `client.key` (0600, as libpq demands).
fn make_client_certificate(dir: &Path, user: &str) -> Result<()> {
    let run = |args: &[&str]| openssl(dir, args);
    let subject = format!("/CN={user}");
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        &subject,
        "-keyout",
        "client.key",
        "-out",
        "client.csr",
    ])?;
    // An extension makes it X.509 v3, which rustls (and any current client) requires.
    fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n")
        .map_err(io("writing client.ext"))?;
    run(&[
        "x509",
        "-req",
        "-in",
        "client.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "client.ext",
        "-out",
        "client.pem",
    ])?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir.join("client.key"), fs::Permissions::from_mode(0o600))
        .map_err(io("chmod client.key"))
}

/// A throwaway CA of its own in `dir` (`ca.pem`, with a server certificate for 127.0.0.1 beside it), for
/// tests that need a CA which did not sign the server's certificate.
pub fn another_ca(dir: &Path) -> Result<PathBuf> {
    make_certificates(dir)?;
    Ok(dir.join("ca.pem"))
}

/// A `redis-server` on 127.0.0.1 with no persistence, in a temporary directory.
pub struct RedisServer {
    process: Process,
    binary: PathBuf,
    /// With TLS only (`start_tls`): the PEM of the CA that signed the server's certificate.
    ca_cert: Option<PathBuf>,
}

impl RedisServer {
    pub fn start() -> Result<RedisServer> {
        with_fresh_ports(|| {
            let binary = find_binary(&["redis-server"], "install Debian's redis-server")?;
            let mut server = RedisServer {
                process: Process::new("redis-server")?,
                binary,
                ca_cert: None,
            };
            server.start_again()?;
            Ok(server)
        })
    }

    /// A server that speaks only TLS, with a certificate for `127.0.0.1` signed by a throwaway CA made
    /// with the `openssl` command; `url()` is then `rediss://…` and `ca_cert()` the CA to trust.
    pub fn start_tls() -> Result<RedisServer> {
        let binary = find_binary(&["redis-server"], "install Debian's redis-server")?;
        let process = Process::new("redis-server")?;
        let dir = process.dir.path().to_path_buf();
        make_certificates(&dir)?;
        let mut server = RedisServer {
            process,
            binary,
            ca_cert: Some(dir.join("ca.pem")),
        };
        server.start_again()?;
        Ok(server)
    }

    /// `redis://127.0.0.1:<port>/0`, or `rediss://…` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.ca_cert.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}/0", self.process.port)
    }

    /// The CA certificate (PEM) a client must trust to reach a `start_tls` server.
    pub fn ca_cert(&self) -> Option<&Path> {
        self.ca_cert.as_deref()
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Takes the server away (an outage); the port stays reserved for `start_again`.
    pub fn stop(&mut self) {
        self.process.stop()
    }

    /// Starts the server again on the same port, with empty data.
    pub fn start_again(&mut self) -> Result<()> {
        let mut cmd = Command::new(&self.binary);
        let port = self.process.port.to_string();
        match &self.ca_cert {
            None => cmd.args(["--bind", "127.0.0.1", "--port", &port]),
            Some(ca) => cmd
                .args(["--bind", "127.0.0.1", "--port", "0", "--tls-port", &port])
                .args([
                    "--tls-cert-file",
                    "server.pem",
                    "--tls-key-file",
                    "server.key",
                ])
                .arg("--tls-ca-cert-file")
                .arg(ca)
                .args(["--tls-auth-clients", "no"])
                .current_dir(self.process.dir.path()),
        };
        cmd.args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.process.dir.path());
        self.process.spawn(&mut cmd)
    }

    /// The keys matching `pattern` (`redis-cli KEYS`; Debian's redis-server brings redis-cli).
    pub fn keys(&self, pattern: &str) -> Result<Vec<String>> {
        let out = Command::new("redis-cli")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.process.port.to_string(),
                "--raw",
                "KEYS",
                pattern,
            ])
            .output()
            .map_err(io("running redis-cli (install Debian's redis-tools)"))?;
        if !out.status.success() {
            return Err(KitError::Command {
                what: "redis-cli KEYS".into(),
                output: String::from_utf8_lossy(&out.stderr).into(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// Sends one inline command and returns the first reply line (for tests of the kit itself).
    pub fn command(&self, line: &str) -> Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.process.port))
            .map_err(io("connecting to redis"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(io("setting a timeout"))?;
        stream
            .write_all(format!("{line}\r\n").as_bytes())
            .map_err(io("writing to redis"))?;
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).map_err(io("reading from redis"))?;
        Ok(String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_string())
    }
}

/// The uid and gid a PostgreSQL server must run as: itself, or `postgres` when we are root (PostgreSQL
/// refuses to run as root).
fn postgres_identity() -> Result<Option<(u32, u32)>> {
    let status =
        fs::read_to_string("/proc/self/status").map_err(io("reading /proc/self/status"))?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u32>().ok());
    if euid != Some(0) {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd").map_err(io("reading /etc/passwd"))?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&"postgres"))
        .and_then(|f| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))
        .map(Some)
        .ok_or(KitError::Missing {
            what: "user postgres".into(),
            hint: "install Debian's postgresql",
        })
}

/// TLS for [`PostgresServer::start_tls`].
#[derive(Clone, Copy, Debug, Default)]
pub struct PostgresTls {
    /// Plain TCP connections refused: `hostssl` lines only in `pg_hba.conf`.
    pub tls_only: bool,
    /// TLS connections must show a client certificate signed by the CA (`clientcert=verify-ca`).
    pub client_certificates: bool,
}

/// A PostgreSQL cluster made by `initdb` in a temporary directory, on 127.0.0.1 only, trust auth,
/// `fsync=off`, with a database `test` for the caller.
pub struct PostgresServer {
    process: Process,
    bin: PathBuf,
    identity: Option<(u32, u32)>,
    tls: Option<PostgresTls>,
}

impl PostgresServer {
    pub fn start() -> Result<PostgresServer> {
        with_fresh_ports(|| Self::start_with(None))
    }

    /// A server with `ssl=on` and a throwaway CA (`ca_cert()`), which also signed a client certificate
    /// for the user `postgres` (`client_cert()`).
    pub fn start_tls(tls: PostgresTls) -> Result<PostgresServer> {
        with_fresh_ports(|| Self::start_with(Some(tls)))
    }

    fn start_with(tls: Option<PostgresTls>) -> Result<PostgresServer> {
        let initdb = find_postgres_binary("initdb")?;
        let bin = initdb.parent().map(Path::to_path_buf).unwrap_or_default();
        let identity = postgres_identity()?;
        let process = Process::new("postgres")?;
        if let Some((uid, gid)) = identity {
            let status = Command::new("chown")
                .arg(format!("{uid}:{gid}"))
                .arg(process.dir.path())
                .status()
                .map_err(io("chown"))?;
            if !status.success() {
                return Err(KitError::Command {
                    what: "chown".into(),
                    output: status.to_string(),
                });
            }
        }
        let server = PostgresServer {
            process,
            bin,
            identity,
            tls,
        };
        let data = server.data_dir();
        server.run(
            "initdb",
            server.command(&initdb).arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]),
        )?;
        if let Some(tls) = tls {
            server.configure_tls(tls)?;
        }
        let mut server = server;
        server.start_again()?;
        let createdb = server.bin.join("createdb");
        let host = server.client_host();
        server.run(
            "createdb",
            server.command(&createdb).args([
                "-h",
                &host,
                "-p",
                &server.process.port.to_string(),
                "-U",
                "postgres",
                "test",
            ]),
        )?;
        Ok(server)
    }

    fn data_dir(&self) -> PathBuf {
        self.process.dir.path().join("data")
    }

    fn tls_dir(&self) -> PathBuf {
        self.process.dir.path().join("tls")
    }

    /// The certificates (made here, kept in `tls/`), the server's copies in the data directory (owned by
    /// the server's user, the key 0600 as PostgreSQL demands), and a `pg_hba.conf` for `tls`.
    fn configure_tls(&self, tls: PostgresTls) -> Result<()> {
        let dir = self.tls_dir();
        fs::create_dir_all(&dir).map_err(io("creating tls/"))?;
        make_certificates(&dir)?;
        make_client_certificate(&dir, "postgres")?;
        let data = self.data_dir();
        for (from, to) in [
            ("server.pem", "server.crt"),
            ("server.key", "server.key"),
            ("ca.pem", "root.crt"),
        ] {
            fs::copy(dir.join(from), data.join(to)).map_err(io(format!("copying {from}")))?;
            if let Some((uid, gid)) = self.identity {
                std::os::unix::fs::chown(data.join(to), Some(uid), Some(gid))
                    .map_err(io(format!("chown {to}")))?;
            }
        }
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(data.join("server.key"), fs::Permissions::from_mode(0o600))
            .map_err(io("chmod server.key"))?;
        let clientcert = if tls.client_certificates {
            " clientcert=verify-ca"
        } else {
            ""
        };
        let mut hba =
            format!("local all all trust\nhostssl all all 127.0.0.1/32 trust{clientcert}\n");
        if !tls.tls_only {
            hba.push_str("hostnossl all all 127.0.0.1/32 trust\n");
        }
        fs::write(data.join("pg_hba.conf"), hba).map_err(io("writing pg_hba.conf"))
    }

    /// Where the kit's own `psql` connects: the Unix socket for a TLS server (whose `pg_hba.conf` may
    /// want client certificates), 127.0.0.1 otherwise.
    fn client_host(&self) -> String {
        match self.tls {
            Some(_) => self.socket_dir().display().to_string(),
            None => "127.0.0.1".to_string(),
        }
    }

    /// The directory of the server's Unix socket (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> &Path {
        self.process.dir.path()
    }

    /// With `start_tls`: the PEM of the CA that signed the server's certificate (for `127.0.0.1`).
    pub fn ca_cert(&self) -> Option<PathBuf> {
        self.tls.map(|_| self.tls_dir().join("ca.pem"))
    }

    /// With `start_tls`: a client certificate and its key (0600) for the user `postgres`, signed by the
    /// same CA.
    pub fn client_cert(&self) -> Option<(PathBuf, PathBuf)> {
        self.tls.map(|_| {
            let dir = self.tls_dir();
            (dir.join("client.pem"), dir.join("client.key"))
        })
    }

    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        if let Some((uid, gid)) = self.identity {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid);
        }
        cmd.current_dir(self.process.dir.path())
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, what: &str, cmd: &mut Command) -> Result<()> {
        let out = cmd.output().map_err(io(format!("running {what}")))?;
        if out.status.success() {
            return Ok(());
        }
        Err(KitError::Command {
            what: what.into(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }

    /// `postgres://postgres@127.0.0.1:<port>/test`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/test", self.process.port)
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Takes the server away (an outage); data and port are kept for `start_again`.
    pub fn stop(&mut self) {
        self.process.stop()
    }

    /// Starts the server again on the same port with the same data.
    pub fn start_again(&mut self) -> Result<()> {
        let mut cmd = self.command(&self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(self.data_dir())
            .args([
                "-p",
                &self.process.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
            ])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.process.dir.path().display()
            ))
            .args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]);
        if self.tls.is_some() {
            cmd.args([
                "-c",
                "ssl=on",
                "-c",
                "ssl_cert_file=server.crt",
                "-c",
                "ssl_key_file=server.key",
                "-c",
                "ssl_ca_file=root.crt",
            ]);
        }
        self.process.spawn(&mut cmd)?;
        // The port opens before recovery ends ("the database system is starting up"): ready means a
        // query answers.
        let started = std::time::Instant::now();
        loop {
            match self.psql_in("postgres", "SELECT 1") {
                Ok(_) => return Ok(()),
                Err(_) if started.elapsed() < Duration::from_secs(30) => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Runs one SQL statement with `psql` in the database `test` and returns its unaligned output.
    pub fn psql(&self, sql: &str) -> Result<String> {
        self.psql_in("test", sql)
    }

    /// Runs one SQL statement with `psql` in `database` and returns its unaligned output.
    pub fn psql_in(&self, database: &str, sql: &str) -> Result<String> {
        self.client(
            "psql",
            database,
            &["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
        )
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`.
    pub fn database_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.process.port
        )
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, database: &str) -> Result<String> {
        self.psql(&format!("CREATE DATABASE \"{database}\""))?;
        Ok(self.database_url(database))
    }

    /// `pg_dump <args> <database>`'s output, without the `\restrict`/`\unrestrict` lines whose random
    /// token differs on every run, so that two dumps of equal databases compare equal.
    pub fn pg_dump(&self, database: &str, args: &[&str]) -> Result<String> {
        let dump = self.client("pg_dump", database, args)?;
        Ok(dump
            .lines()
            .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .collect::<Vec<_>>()
            .join("\n"))
    }

    fn client(&self, program: &str, database: &str, args: &[&str]) -> Result<String> {
        let out = self
            .command(&self.bin.join(program))
            .args([
                "-h",
                &self.client_host(),
                "-p",
                &self.process.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
            ])
            .args(args)
            .output()
            .map_err(io(format!("running {program}")))?;
        if !out.status.success() {
            return Err(KitError::Command {
                what: program.into(),
                output: String::from_utf8_lossy(&out.stderr).into(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

/// PgBouncer (Debian's `pgbouncer`) in front of a [`PostgresServer`], on 127.0.0.1, trust auth, every
/// database passed through, with `pool_mode` (`transaction`, `session`) and `pool_size` server connections
/// per database and user: a small pool makes clients share server connections, as in production.
pub struct PgBouncer {
    process: Process,
    binary: PathBuf,
    identity: Option<(u32, u32)>,
}

impl PgBouncer {
    pub fn start(postgres: &PostgresServer, pool_mode: &str, pool_size: u32) -> Result<PgBouncer> {
        let binary = find_binary(
            &["pgbouncer", "/usr/sbin/pgbouncer"],
            "install Debian's pgbouncer",
        )?;
        // PgBouncer, like PostgreSQL, will not run as root.
        let identity = postgres_identity()?;
        let process = Process::new("pgbouncer")?;
        let dir = process.dir.path();
        fs::write(dir.join("userlist.txt"), "\"postgres\" \"\"\n")
            .map_err(io("writing userlist.txt"))?;
        fs::write(
            dir.join("pgbouncer.ini"),
            format!(
                "[databases]\n* = host=127.0.0.1 port={pg_port}\n\n[pgbouncer]\n\
                 listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = trust\nauth_file = {dir}/userlist.txt\n\
                 pool_mode = {pool_mode}\ndefault_pool_size = {pool_size}\nmin_pool_size = 0\n\
                 max_client_conn = 500\nserver_tls_sslmode = disable\n\
                 ignore_startup_parameters = extra_float_digits\n",
                pg_port = postgres.port(),
                port = process.port,
                dir = dir.display(),
            ),
        )
        .map_err(io("writing pgbouncer.ini"))?;
        if let Some((uid, gid)) = identity {
            for entry in [
                dir.to_path_buf(),
                dir.join("userlist.txt"),
                dir.join("pgbouncer.ini"),
            ] {
                std::os::unix::fs::chown(&entry, Some(uid), Some(gid))
                    .map_err(io("chown for pgbouncer"))?;
            }
        }
        let mut bouncer = PgBouncer {
            process,
            binary,
            identity,
        };
        bouncer.start_again()?;
        Ok(bouncer)
    }

    /// Starts PgBouncer again on the same port.
    pub fn start_again(&mut self) -> Result<()> {
        let mut cmd = Command::new(&self.binary);
        if let Some((uid, gid)) = self.identity {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid);
        }
        cmd.arg(self.process.dir.path().join("pgbouncer.ini"))
            .current_dir(self.process.dir.path());
        self.process.spawn(&mut cmd)
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`, through PgBouncer.
    pub fn database_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.process.port
        )
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Takes PgBouncer away (an outage).
    pub fn stop(&mut self) {
        self.process.stop()
    }
}

/// libpq itself, as the oracle of what a `DATABASE_URL` means: `psql <url> -c <sql>` as the current
/// user, with `home` as `HOME` (so that no `~/.postgresql/` of the machine's takes part) and a 5 s
/// connect timeout. `Ok` with the unaligned output, or `Err` with libpq's message.
pub fn libpq_query(url: &str, home: &Path, sql: &str) -> std::result::Result<String, String> {
    let psql = find_postgres_binary("psql").map_err(|e| e.to_string())?;
    let out = output_within(
        Command::new(psql)
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql, url])
            .env("HOME", home)
            .env("PGCONNECT_TIMEOUT", "5")
            .env_remove("PGSSLMODE")
            .env_remove("PGSSLROOTCERT")
            .env_remove("PGHOST")
            .stdin(Stdio::null()),
        Duration::from_secs(20),
    );
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn find_postgres_binary(name: &str) -> Result<PathBuf> {
    let mut versions: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin").join(name))
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    match versions.into_iter().rev().find(|p| p.exists()) {
        Some(path) => Ok(path),
        None => find_binary(&[name], "install Debian's postgresql"),
    }
}
