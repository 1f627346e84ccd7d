//! The cross-service harness: a whole deployment per test, as its users run it.
//!
//! `Stack::start` brings up, on loopback and free ports, a throwaway Redis and PostgreSQL (`testkit`), the
//! real Django site kept in `tests/django/peer` (`peer.site_settings`, served by `manage.py runserver`, on
//! the Django `DJANGO_PYTHON` names: 6.1, then 5.2 LTS and 6.0 in the later runs of `make test`), and the
//! `portal` and `api` binaries as processes. All three read the same environment variables (`SECRET_KEY`,
//! `SESSION_ENGINE`, `REDIS_URL`, …). The database is migrated by Django, as a user's existing project
//! would have it, and then by `portal migrate`, which must find nothing to do.
//!
//! Every process writes to its own log file in `target/<profile>/suite-logs/<test>/`; when a test fails,
//! the logs are printed with the failure. `Client` is a browser without a screen: one cookie jar for the
//! three services (cookies do not care about ports, so they share `127.0.0.1`'s cookies as a browser does).

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::cookie::{CookieStore, Jar};
use tempfile::TempDir;
use testkit::django::{self, Oracle};
use testkit::{PgBouncer, PostgresServer, RedisSentinel, RedisServer, free_port};

pub use serde_json::{Value, json};
pub use testkit::http::Page;

/// `target/<profile>`: where cargo put this test binary's `deps/` and the workspace's binaries.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

/// Where tests leave what a person should look at (the browser's screenshots): `SUITE_ARTIFACTS_DIR`, else
/// `target/artifacts/`.
pub fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("SUITE_ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            profile_dir()
                .parent()
                .expect("target/<profile>")
                .join("artifacts")
        });
    fs::create_dir_all(&dir).expect("creating the artifacts directory");
    dir
}

/// Where each test's process logs go: `SUITE_LOG_DIR`, else `target/<profile>/suite-logs/`.
fn log_root() -> PathBuf {
    std::env::var_os("SUITE_LOG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| profile_dir().join("suite-logs"))
}

/// A workspace binary (`portal`, `api`): in `SUITE_BIN_DIR` (the container suite's image), else the one
/// `cargo test --workspace` built next to this test.
pub fn binary(name: &str) -> PathBuf {
    let path = std::env::var_os("SUITE_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(profile_dir)
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (`cargo build -p {name}`; `make test` does)",
        path.display()
    );
    path
}

/// The settings a Django project and our services share, which the container suite reads from its
/// environment (the deployment's `.env`) rather than choosing them.
const SHARED_SETTINGS: &[&str] = &[
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    "SESSION_ENGINE",
    "SESSION_COOKIE_NAME",
    "SESSION_COOKIE_AGE",
    "SESSION_EXPIRE_AT_BROWSER_CLOSE",
    "SESSION_SAVE_EVERY_REQUEST",
    "REDIS_URL",
    "REDIS_SENTINELS",
    "REDIS_SENTINEL_PASSWORD",
    "CACHE_BACKEND",
    "CACHE_KEY_PREFIX",
    "CACHE_VERSION",
    "CACHE_PICKLE_VERSION",
    "DATABASE_URL",
    "PASSWORD_HASHERS",
    "TIME_ZONE",
    "DJANGO_VERSION",
];

/// Django's `get_version()` in the venv the suite runs, checked against `DJANGO_EXPECTED_VERSION`.
pub fn django_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let out = Command::new(django::python())
            .args(["-c", "import django; print(django.get_version())"])
            .output()
            .expect("running the Django venv's python (tests/django/setup-venvs.sh makes it)");
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            out.status.success() && !version.is_empty(),
            "no Django in the venv"
        );
        django::check_expected_version(&version);
        version
    })
}

/// One running process of the deployment, its output in `<logs>/<name>.log`.
pub struct Service {
    pub name: &'static str,
    pub port: u16,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    child: Option<Child>,
}

impl Service {
    fn spawn(name: &'static str, port: u16, mut cmd: Command, logs: &Path) -> Service {
        let log_path = logs.join(format!("{name}.log"));
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("opening a log");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{name} exited ({status}) before serving; its log:\n{}",
                    read(&log_path)
                );
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{name} did not listen on {port} within 60 s; its log:\n{}",
                read(&log_path)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Service {
            name,
            port,
            base: format!("http://127.0.0.1:{port}"),
            child: Some(child),
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            testkit::stop_child(&mut child);
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Prints the last `lines` lines of every file in `dir` (a failing test's process logs), in name order.
pub fn print_logs(dir: &Path, lines: usize) {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    for path in paths {
        eprintln!(
            "----- {} (last {lines} lines) -----\n{}",
            path.display(),
            tail(&read(&path), lines)
        );
    }
}

/// A file's text, or a line saying why there is none (a log that was never written).
pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| format!("(no log at {}: {e})", path.display()))
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// What the three services say about one client: the username each sees, `None` for anonymous.
#[derive(Debug, PartialEq, Eq)]
pub struct Seen {
    pub portal: Option<String>,
    pub api: Option<String>,
    pub django: Option<String>,
}

impl Seen {
    pub fn everywhere(username: &str) -> Seen {
        Seen {
            portal: Some(username.to_string()),
            api: Some(username.to_string()),
            django: Some(username.to_string()),
        }
    }

    pub fn anonymous() -> Seen {
        Seen {
            portal: None,
            api: None,
            django: None,
        }
    }
}

/// A deployment: Redis, PostgreSQL, the Django site, the portal and the api, sharing one configuration.
pub struct Stack {
    pub django: Service,
    pub portal: Service,
    pub api: Service,
    /// The throwaway servers; `None` against a running deployment (`SUITE_PORTAL_URL`). The Redis is
    /// `None` behind Sentinel (`start_behind_sentinel`).
    servers: Option<(Option<RedisServer>, PostgresServer)>,
    /// A primary, a replica and three Sentinels in place of the one Redis (`start_behind_sentinel`).
    sentinel: Option<Arc<Mutex<RedisSentinel>>>,
    /// PgBouncer in transaction mode between every service (Django's too) and PostgreSQL
    /// (`start_through_pgbouncer`).
    bouncer: Option<PgBouncer>,
    vars: Vec<(String, String)>,
    logs: PathBuf,
    mail: TempDir,
}

/// The cookie every stack uses, as the seed project did.
pub const SESSION_COOKIE_NAME: &str = "shared_session_id";

impl Stack {
    /// A deployment for the test `name` with the suite's settings, `extra` added or overriding (an empty
    /// value removes a setting).
    ///
    /// With `SUITE_PORTAL_URL` and `SUITE_API_URL` set (the container suite, `docker/tests.Dockerfile`, which
    /// must also set `SUITE_RESET_DEPLOYMENT=1`),
    /// the portal and the api are the running ones at those addresses, on the Redis and PostgreSQL the
    /// environment's settings name; only the Django site is started here, and every user, session and
    /// cache entry is deleted first (Django's own calls), so each scenario starts from an empty
    /// deployment. A scenario that needs settings of its own (`extra`) or restarts services cannot run
    /// there and says so.
    pub fn start(name: &str, extra: &[(&str, &str)]) -> Stack {
        Stack::start_on(name, extra, false, false)
    }

    /// As `start`, with Redis behind Sentinel (a primary, a replica, three Sentinels): every service
    /// finds the primary through the Sentinels, Django with django-redis's `SentinelClient`.
    pub fn start_behind_sentinel(name: &str, extra: &[(&str, &str)]) -> Stack {
        Stack::start_on(name, extra, false, true)
    }

    /// As `start`, with every service reaching PostgreSQL through PgBouncer in transaction pooling mode
    /// (two server connections, so that transactions move between them): Django as it connects by
    /// default, ours with `DATABASE_TRANSACTION_POOLING=true`.
    pub fn start_through_pgbouncer(name: &str, extra: &[(&str, &str)]) -> Stack {
        Stack::start_on(name, extra, true, false)
    }

    fn start_on(
        name: &str,
        extra: &[(&str, &str)],
        through_pgbouncer: bool,
        behind_sentinel: bool,
    ) -> Stack {
        let logs = log_root().join(name);
        let _ = fs::remove_dir_all(&logs);
        fs::create_dir_all(&logs).expect("creating the log directory");
        let mail = TempDir::new().expect("a mail directory");
        if let (Ok(portal), Ok(api)) = (
            std::env::var("SUITE_PORTAL_URL"),
            std::env::var("SUITE_API_URL"),
        ) {
            return Stack::running(name, extra, &portal, &api, logs, mail);
        }
        let (redis, sentinel) = if behind_sentinel {
            let set = RedisSentinel::start().expect("redis sentinel");
            (None, Some(Arc::new(Mutex::new(set))))
        } else {
            (Some(RedisServer::start().expect("redis-server")), None)
        };
        let pg = PostgresServer::start().expect("postgres");
        let version = django_version();
        let major_minor: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
        let mut vars: Vec<(String, String)> = [
            ("SECRET_KEY", "cross-service-suite-secret-key-0123456789"),
            ("SESSION_ENGINE", "cache"),
            ("SESSION_COOKIE_NAME", SESSION_COOKIE_NAME),
            ("ALLOWED_HOSTS", "127.0.0.1,localhost"),
            ("TIME_ZONE", "UTC"),
            ("EMAIL_BACKEND", "file"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        match (&redis, &sentinel) {
            (Some(redis), _) => vars.push(("REDIS_URL".into(), redis.url())),
            (None, Some(sentinel)) => {
                let sentinel = sentinel.lock().expect("the Sentinel set");
                vars.push(("REDIS_URL".into(), sentinel.url()));
                vars.push(("REDIS_SENTINELS".into(), sentinel.sentinels()));
                vars.push((
                    "CACHE_BACKEND".into(),
                    "django_redis.cache.RedisCache".into(),
                ));
            }
            (None, None) => unreachable!("a Redis or a Sentinel set"),
        }
        let bouncer =
            through_pgbouncer.then(|| PgBouncer::start(&pg, "transaction", 2).expect("pgbouncer"));
        match &bouncer {
            Some(bouncer) => {
                vars.push(("DATABASE_URL".into(), bouncer.database_url("test")));
                vars.push(("DATABASE_TRANSACTION_POOLING".into(), "true".into()));
            }
            None => vars.push(("DATABASE_URL".into(), pg.url())),
        }
        // The portal hashes passwords with this Django's work factors, so Django never re-hashes them.
        vars.push(("DJANGO_VERSION".into(), major_minor));
        let mut stack = Stack {
            django: placeholder("django", ""),
            portal: placeholder("portal", ""),
            api: placeholder("api", ""),
            servers: Some((redis, pg)),
            sentinel,
            bouncer,
            vars,
            logs,
            mail,
        };
        stack.set(extra);
        stack.run_django(&["migrate", "--noinput"], "django-migrate");
        stack.run_portal(&["migrate"], &[], "portal-migrate");
        stack.django = stack.spawn_django(free_port().expect("a port"));
        stack.portal = stack.spawn_rust("portal", free_port().expect("a port"));
        stack.api = stack.spawn_rust("api", free_port().expect("a port"));
        stack
    }

    /// The running deployment at `portal`/`api` (see `start`).
    fn running(
        name: &str,
        extra: &[(&str, &str)],
        portal: &str,
        api: &str,
        logs: PathBuf,
        mail: TempDir,
    ) -> Stack {
        assert!(
            extra.is_empty(),
            "{name} needs a deployment with settings of its own ({extra:?}); run it with `make test`"
        );
        // Every user, session and cache entry of that deployment is deleted below: never without being told
        // that it is a deployment for tests.
        assert_eq!(
            std::env::var("SUITE_RESET_DEPLOYMENT").ok().as_deref(),
            Some("1"),
            "the suite deletes every user, session and cache entry of the deployment at {portal}; \
             set SUITE_RESET_DEPLOYMENT=1 to say that it is a deployment for tests"
        );
        let vars: Vec<(String, String)> = SHARED_SETTINGS
            .iter()
            .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
            .collect();
        for required in ["SECRET_KEY", "DATABASE_URL", "SESSION_COOKIE_NAME"] {
            assert!(
                vars.iter().any(|(n, _)| n == required),
                "the container suite needs {required}, the deployment's"
            );
        }
        // The deployment hashes passwords with the work factors of its DJANGO_VERSION (unset: the newest
        // Django's): another version than this Django's and each side re-hashes what the other set.
        let major_minor: String = django_version()
            .split('.')
            .take(2)
            .collect::<Vec<_>>()
            .join(".");
        assert_eq!(
            std::env::var("DJANGO_VERSION").ok().as_deref(),
            Some(major_minor.as_str()),
            "the suite's Django is {major_minor}: deploy with DJANGO_VERSION={major_minor}"
        );
        assert_eq!(
            std::env::var("SESSION_COOKIE_NAME").ok().as_deref(),
            Some(SESSION_COOKIE_NAME),
            "the suite's clients look for the cookie {SESSION_COOKIE_NAME}: deploy with that name"
        );
        let mut stack = Stack {
            django: placeholder("django", ""),
            portal: placeholder("portal", portal.trim_end_matches('/')),
            api: placeholder("api", api.trim_end_matches('/')),
            servers: None,
            sentinel: None,
            bouncer: None,
            vars,
            logs,
            mail,
        };
        stack.peer().call("reset", json!({}), json!({}));
        stack.run_django(&["migrate", "--noinput"], "django-migrate");
        stack.django = stack.spawn_django(free_port().expect("a port"));
        stack
    }

    /// The stack's own Redis (not against a running deployment).
    pub fn redis(&self) -> &RedisServer {
        self.servers
            .as_ref()
            .and_then(|(redis, _)| redis.as_ref())
            .expect("this stack's own single Redis")
    }

    /// The stack's own Redis, to stop and start again (not against a running deployment).
    pub fn redis_mut(&mut self) -> &mut RedisServer {
        self.servers
            .as_mut()
            .and_then(|(redis, _)| redis.as_mut())
            .expect("this stack's own single Redis")
    }

    /// One of `django-auth-web`'s examples (`axum_service`, `actix_service`), built by `cargo test
    /// --workspace` in `target/<profile>/examples/`, on the stack's settings and `EXAMPLE_BIND`.
    pub fn spawn_example(&self, name: &'static str) -> Service {
        let path = profile_dir().join("examples").join(name);
        assert!(
            path.exists(),
            "{} is missing: `cargo test --workspace` builds it (`make test` does)",
            path.display()
        );
        let port = free_port().expect("a port");
        let mut cmd = Command::new(path);
        cmd.env_clear()
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .env("EXAMPLE_BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info");
        Service::spawn(name, port, cmd, &self.logs)
    }

    /// The stack's own PostgreSQL, to stop and start again (not against a running deployment).
    pub fn pg_mut(&mut self) -> &mut PostgresServer {
        &mut self
            .servers
            .as_mut()
            .expect("this stack's own PostgreSQL")
            .1
    }

    /// The stack's Sentinel set (`start_behind_sentinel`), shareable with a blocking task that fails it
    /// over while requests go on.
    pub fn sentinel(&self) -> Arc<Mutex<RedisSentinel>> {
        self.sentinel
            .clone()
            .expect("a stack started behind Sentinel")
    }

    /// The stack's own PostgreSQL (not against a running deployment).
    pub fn pg(&self) -> &PostgresServer {
        &self
            .servers
            .as_ref()
            .expect("this stack's own PostgreSQL")
            .1
    }

    fn set(&mut self, extra: &[(&str, &str)]) {
        for (name, value) in extra {
            self.vars.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.vars.push((name.to_string(), value.to_string()));
            }
        }
    }

    /// Every setting in force, as the services' environment has them.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A setting in force.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn mail_dir(&self, service: &str) -> PathBuf {
        self.mail.path().join(service)
    }

    fn rust_command(&self, program: &str) -> Command {
        let mut cmd = Command::new(binary(program));
        cmd.env_clear()
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .env("EMAIL_FILE_PATH", self.mail_dir(program))
            .env("RUST_LOG", "info");
        cmd
    }

    fn django_command(&self) -> Command {
        let mut cmd = Command::new(django::python());
        cmd.current_dir(django::workspace_root().join("tests/django/peer"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .env("DJANGO_SETTINGS_MODULE", "peer.site_settings")
            .env("EMAIL_FILE_PATH", self.mail_dir("django"))
            .env("PYTHONUNBUFFERED", "1");
        cmd
    }

    fn spawn_rust(&self, program: &'static str, port: u16) -> Service {
        let mut cmd = self.rust_command(program);
        cmd.args(["serve", "--bind", &format!("127.0.0.1:{port}")]);
        Service::spawn(program, port, cmd, &self.logs)
    }

    fn spawn_django(&self, port: u16) -> Service {
        let mut cmd = self.django_command();
        cmd.args([
            "manage.py",
            "runserver",
            "--noreload",
            &format!("127.0.0.1:{port}"),
        ]);
        Service::spawn("django", port, cmd, &self.logs)
    }

    /// Runs a command to completion, its output in `<logs>/<log>.log`; fails the test if it fails.
    fn run_logged(&self, mut cmd: Command, log: &str, stdin: &str) -> String {
        use std::io::Write;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{log}: {e}"));
        if let Some(mut input) = child.stdin.take() {
            let _ = input.write_all(stdin.as_bytes());
        }
        let out = child.wait_with_output().expect("waiting for a command");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = fs::write(self.logs.join(format!("{log}.log")), &text);
        assert!(
            out.status.success(),
            "{log} failed ({}):\n{text}",
            out.status
        );
        text
    }

    /// `python manage.py <args>` of the Django site, with the stack's settings.
    pub fn run_django(&self, args: &[&str], log: &str) -> String {
        self.run_django_with(args, &[], log)
    }

    /// `python manage.py <args>` with the stack's settings and `env` added (another `DATABASE_URL`).
    pub fn run_django_with(&self, args: &[&str], env: &[(&str, &str)], log: &str) -> String {
        let mut cmd = self.django_command();
        cmd.arg("manage.py").args(args).envs(env.iter().copied());
        self.run_logged(cmd, log, "")
    }

    /// `portal <args>` with the stack's settings and `env` added, `stdin` as its input.
    pub fn run_portal(&self, args: &[&str], env: &[(&str, &str)], log: &str) -> String {
        self.run_portal_with_input(args, env, "", log)
    }

    pub fn run_portal_with_input(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: &str,
        log: &str,
    ) -> String {
        let mut cmd = self.rust_command("portal");
        cmd.args(args).envs(env.iter().copied());
        self.run_logged(cmd, log, stdin)
    }

    /// Restarts the three services with `extra` changed (as a deploy would), on the same ports.
    pub fn restart(&mut self, extra: &[(&str, &str)]) {
        assert!(
            self.servers.is_some(),
            "a running deployment is not restarted by its tests; run this scenario with `make test`"
        );
        self.set(extra);
        for service in [&mut self.django, &mut self.portal, &mut self.api] {
            service.stop();
        }
        self.django = self.spawn_django(self.django.port);
        self.portal = self.spawn_rust("portal", self.portal.port);
        self.api = self.spawn_rust("api", self.api.port);
    }

    /// The peer's JSON-lines protocol (`manage.py peer`) on this stack's settings: users made the way
    /// Django makes them, and sessions read as Django reads them.
    pub fn peer(&self) -> Oracle {
        let vars: Vec<(&str, &str)> = self
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Oracle::peer(&vars)
    }

    /// The peer on this stack's settings with `env` changed (another `DATABASE_URL`).
    pub fn peer_with(&self, env: &[(&str, &str)]) -> Oracle {
        let vars: Vec<(&str, &str)> = self
            .vars
            .iter()
            .filter(|(k, _)| !env.iter().any(|(name, _)| name == k))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(env.iter().copied())
            .collect();
        Oracle::peer(&vars)
    }

    /// Creates a user of the stack's `AUTH_USER_MODEL` the way Django does; `login` is the value of its
    /// `USERNAME_FIELD`. Returns the pk as Django's JSON has it (a number, or a UUID's string).
    pub fn create_user_of_model(&self, login: &str, password: &str, email: &str) -> Value {
        self.peer().call(
            "create_user",
            json!({}),
            json!({"username": login, "password": password, "email": email}),
        )
    }

    /// Creates a user the way Django does (`create_user`), with `hasher` when given; returns the pk.
    pub fn create_user(&self, username: &str, password: &str, hasher: Option<&str>) -> i64 {
        let mut args = json!({
            "username": username,
            "password": password,
            "email": format!("{username}@example.com"),
        });
        if let Some(hasher) = hasher {
            args["hasher"] = json!(hasher);
        }
        self.peer()
            .call("create_user", json!({}), args)
            .as_i64()
            .expect("a pk")
    }

    // --- what a user does, service by service -------------------------------------------------------

    /// Logs in through the portal's form; returns the answer to the POST (a 302 on success).
    pub async fn portal_log_in(&self, client: &Client, username: &str, password: &str) -> Page {
        client
            .submit(
                &self.portal.url("/accounts/login/"),
                &[("username", username), ("password", password)],
            )
            .await
    }

    pub async fn portal_register(&self, client: &Client, username: &str, password: &str) -> Page {
        let email = format!("{username}@example.com");
        client
            .submit(
                &self.portal.url("/accounts/register/"),
                &[
                    ("username", username),
                    ("email", &email),
                    ("password1", password),
                    ("password2", password),
                ],
            )
            .await
    }

    pub async fn portal_log_out(&self, client: &Client) -> Page {
        client
            .submit(&self.portal.url("/accounts/logout/"), &[])
            .await
    }

    /// Who the portal's home page says is logged in.
    pub async fn portal_user(&self, client: &Client) -> Option<String> {
        let home = client.get(&self.portal.url("/")).await;
        assert_eq!(home.status, 200, "portal /: {}", home.body);
        let marker = "<span id=\"username\">";
        let start = home.body.find(marker)? + marker.len();
        let end = home.body[start..].find('<')?;
        Some(home.body[start..start + end].to_string())
    }

    /// `GET /api/v1/me`: the username on 200, `None` on 401; anything else fails the test.
    pub async fn api_user(&self, client: &Client) -> Option<String> {
        let me = client.get(&self.api.url("/api/v1/me")).await;
        match me.status {
            200 => Some(
                me.json()["username"]
                    .as_str()
                    .expect("username")
                    .to_string(),
            ),
            401 => None,
            other => panic!("api /api/v1/me answered {other}: {}", me.body),
        }
    }

    /// `DELETE /api/v1/session` with the CSRF cookie's token in `X-CSRFToken`, as a page's script would.
    pub async fn api_log_out(&self, client: &Client) -> Page {
        let token = client.csrf_cookie().expect("a csrftoken cookie");
        client
            .send(
                client
                    .http
                    .delete(self.api.url("/api/v1/session"))
                    .header("X-CSRFToken", token),
            )
            .await
    }

    /// Logs in through Django's `LoginView`; returns the answer to the POST (a 302 on success).
    pub async fn django_log_in(&self, client: &Client, username: &str, password: &str) -> Page {
        client
            .submit(
                &self.django.url("/accounts/login/"),
                &[("username", username), ("password", password)],
            )
            .await
    }

    /// Django's `LogoutView` (a POST, as Django 5 requires), with the CSRF cookie's token.
    pub async fn django_log_out(&self, client: &Client) -> Page {
        if client.csrf_cookie().is_none() {
            self.django_user(client).await;
        }
        let token = client.csrf_cookie().expect("a csrftoken cookie");
        client
            .post_form(
                &self.django.url("/accounts/logout/"),
                &[("csrfmiddlewaretoken", token.as_str())],
            )
            .await
    }

    /// Who Django's `request.user` is (`/whoami/`, through `AuthenticationMiddleware`).
    pub async fn django_user(&self, client: &Client) -> Option<String> {
        let page = client.get(&self.django.url("/whoami/")).await;
        assert_eq!(page.status, 200, "django /whoami/: {}", page.body);
        page.json()["username"].as_str().map(str::to_string)
    }

    /// Who each of the three services sees.
    pub async fn seen(&self, client: &Client) -> Seen {
        Seen {
            portal: self.portal_user(client).await,
            api: self.api_user(client).await,
            django: self.django_user(client).await,
        }
    }

    /// The password change form of `on` ("django" or "portal"), from `client`'s session; the answer to the
    /// POST (a 302 on success).
    pub async fn change_password(&self, client: &Client, on: &str, old: &str, new: &str) -> Page {
        let service = if on == "django" {
            &self.django
        } else {
            &self.portal
        };
        client
            .submit(
                &service.url("/accounts/password_change/"),
                &[
                    ("old_password", old),
                    ("new_password1", new),
                    ("new_password2", new),
                ],
            )
            .await
    }

    /// A password reset across services: `mails` ("django" or "portal") is asked for a link to `email`,
    /// the link is opened on the other service, which must accept it, and `password` is set there. Returns
    /// the link's path and the answer to the final form (a 302 to `/accounts/reset/done/` on success).
    pub async fn reset_password(&self, mails: &str, email: &str, password: &str) -> (String, Page) {
        let (mailer, setter) = match mails {
            "django" => (&self.django, &self.portal),
            _ => (&self.portal, &self.django),
        };
        let client = Client::new();
        let asked = client
            .submit(
                &mailer.url("/accounts/password_reset/"),
                &[("email", email)],
            )
            .await;
        assert_eq!(asked.status, 302, "{mails}'s reset form: {}", asked.body);
        let link = self.reset_path(mails);
        let opened = client.get(&setter.url(&link)).await;
        assert_eq!(
            opened.status, 302,
            "{} refused {mails}'s link {link}: {}",
            setter.name, opened.body
        );
        let set = client
            .submit(
                &setter.url(opened.location()),
                &[("new_password1", password), ("new_password2", password)],
            )
            .await;
        (link, set)
    }

    /// The `/accounts/reset/<uidb64>/<token>/` path of the newest reset mail `service` ("portal" or
    /// "django") wrote with its file backend.
    pub fn reset_path(&self, service: &str) -> String {
        // The portal sends in the background, after its answer: wait for the file.
        let dir = self.mail_dir(service);
        let started = Instant::now();
        loop {
            let newest = fs::read_dir(&dir).ok().and_then(|entries| {
                entries
                    .filter_map(Result::ok)
                    .max_by_key(|entry| entry.metadata().and_then(|m| m.modified()).ok())
            });
            // As a reader shows it: Django 6.0's mail is quoted-printable when a line is long.
            if let Some(body) = newest.map(|entry| django::mail_body(&read(&entry.path()))) {
                if let Some(start) = body.rfind("/accounts/reset/") {
                    let rest = &body[start..];
                    let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
                    return rest[..end].to_string();
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no reset link from {service} in {} within 10 s",
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A service this stack does not run (yet, or at all): a name and, for a running deployment, its address.
fn placeholder(name: &'static str, base: &str) -> Service {
    Service {
        name,
        port: 0,
        base: base.to_string(),
        child: None,
    }
}

impl Drop for Stack {
    /// A failing test gets every log of its deployment (the tail of each) printed with its failure.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for service in [&mut self.django, &mut self.portal, &mut self.api] {
            service.stop();
        }
        print_logs(&self.logs, 80);
        if let Some((redis, pg)) = &self.servers {
            if let Some(redis) = redis {
                eprintln!("----- redis -----\n{}", tail(&redis.log(), 20));
            }
            eprintln!("----- postgresql -----\n{}", tail(&pg.log(), 20));
        }
        if let Some(sentinel) = self.sentinel.as_ref().and_then(|s| s.lock().ok()) {
            eprintln!("----- redis sentinel -----\n{}", tail(&sentinel.logs(), 60));
        }
        if let Some(bouncer) = &self.bouncer {
            eprintln!("----- pgbouncer -----\n{}", tail(&bouncer.log(), 20));
        }
    }
}

/// A browser without a screen: one cookie jar for every service, redirects not followed.
pub struct Client {
    pub http: reqwest::Client,
    jar: Arc<Jar>,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    pub fn new() -> Client {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            // A new connection per request: a service restarted on its port (scenario 4) must not be
            // reached through a pooled connection to the process that was stopped.
            .pool_max_idle_per_host(0)
            .build()
            .expect("an HTTP client");
        Client { http, jar }
    }

    /// A fresh client holding only the session cookie of `other`, as another program would send it.
    pub fn with_session_of(other: &Client) -> Client {
        let client = Client::new();
        let value = other
            .cookie(SESSION_COOKIE_NAME)
            .expect("a session cookie to copy");
        client.jar.add_cookie_str(
            &format!("{SESSION_COOKIE_NAME}={value}; Path=/"),
            &"http://127.0.0.1/".parse().expect("url"),
        );
        client
    }

    /// The value of a cookie this client holds for 127.0.0.1 (any port).
    pub fn cookie(&self, name: &str) -> Option<String> {
        let header = self
            .jar
            .cookies(&"http://127.0.0.1/".parse().expect("url"))?;
        let header = header.to_str().ok()?.to_string();
        header.split("; ").find_map(|pair| {
            let (n, v) = pair.split_once('=')?;
            (n == name).then(|| v.to_string())
        })
    }

    pub fn csrf_cookie(&self) -> Option<String> {
        self.cookie("csrftoken")
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Page {
        Page::read(request.send().await.expect("a request")).await
    }

    pub async fn get(&self, url: &str) -> Page {
        self.send(self.http.get(url)).await
    }

    pub async fn post_form(&self, url: &str, fields: &[(&str, &str)]) -> Page {
        self.send(self.http.post(url).form(fields)).await
    }

    /// Opens the form at `url`, then posts `fields` to it with the form's own CSRF token.
    pub async fn submit(&self, url: &str, fields: &[(&str, &str)]) -> Page {
        let form = self.get(url).await;
        assert_eq!(form.status, 200, "GET {url}: {}", form.body);
        let token = form.csrf_token();
        let mut all: Vec<(&str, &str)> = vec![("csrfmiddlewaretoken", token.as_str())];
        all.extend_from_slice(fields);
        self.post_form(url, &all).await
    }
}

/// Debian's `chromium-driver` on a free port, driving Debian's headless `chromium` with a throwaway
/// profile; its output in `<logs>/chromedriver.log` of the stack it serves.
pub struct Chromedriver {
    service: Service,
    profile: TempDir,
}

impl Chromedriver {
    pub fn start(stack: &Stack) -> Chromedriver {
        // `CHROMEDRIVER` names one; else Debian's; else the one GitHub's Ubuntu runner image carries.
        let program = std::env::var_os("CHROMEDRIVER")
            .map(PathBuf::from)
            .into_iter()
            .chain(["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].map(PathBuf::from))
            .chain(
                std::env::var_os("CHROMEWEBDRIVER").map(|d| PathBuf::from(d).join("chromedriver")),
            )
            .find(|p| p.exists())
            .expect(
                "chromedriver (Debian: apt-get install chromium chromium-driver; .ci/run does)",
            );
        let port = free_port().expect("a port");
        let mut cmd = Command::new(program);
        cmd.arg(format!("--port={port}"));
        Chromedriver {
            service: Service::spawn("chromedriver", port, cmd, &stack.logs),
            profile: TempDir::new().expect("a browser profile directory"),
        }
    }

    /// A new headless Chromium session (1280×900, no sandbox: CI runs as root).
    pub async fn browser(&self) -> fantoccini::Client {
        // `CHROMIUM` names the browser; else Debian's; else Google Chrome (GitHub's Ubuntu runner image).
        let binary = std::env::var_os("CHROMIUM")
            .map(PathBuf::from)
            .into_iter()
            .chain(
                [
                    "/usr/bin/chromium",
                    "/usr/lib/chromium/chromium",
                    "/usr/bin/google-chrome",
                ]
                .map(PathBuf::from),
            )
            .find(|p| p.exists())
            .expect("chromium (Debian: apt-get install chromium)");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_string(),
            json!({
                "binary": binary.to_string_lossy(),
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--no-first-run",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", self.profile.path().display()),
                ],
            }),
        );
        let http = hyper_util::client::legacy::connect::HttpConnector::new();
        fantoccini::ClientBuilder::new(http)
            .capabilities(capabilities)
            .connect(&self.service.base)
            .await
            .expect("a WebDriver session with chromium")
    }
}
