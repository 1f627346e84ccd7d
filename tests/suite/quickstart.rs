//! `make run`, the quickstart, from nothing: `scripts/run.sh` on an empty data folder brings up Redis,
//! PostgreSQL, the portal and the api; a user made with `scripts/run.sh portal createsuperuser` logs in on
//! the portal's form and the api sees them; Ctrl-C (SIGINT) stops all four. Started again on the same data
//! folder, it finds everything kept: the same user, still logged in (the secret key, Redis's sessions and
//! PostgreSQL's tables all live in the folder).
//!
//! The script runs as `make run` runs it, with an empty environment, except that it does not build
//! (`RUN_NO_BUILD=1`: `cargo test --workspace` built the binaries next to this test, given as
//! `RUN_BIN_DIR`) and that the data folder and the four ports are the test's own. Its output goes to
//! `target/<profile>/suite-logs/quickstart/`; a failing test prints it, with the end of each process's log.

use std::fs;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use suite::{Client, print_logs, profile_dir, read};
use tempfile::TempDir;
use testkit::django::workspace_root;
use testkit::free_port;

const PASSWORD: &str = "correct horse battery 1";

/// How long a start may take: the first one makes the PostgreSQL cluster and migrates, on a machine that
/// may be running the rest of the suite.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// What the issue asks of Ctrl-C: everything stopped within 30 s.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// `scripts/run.sh` on a data folder and four ports of its own; interrupted, and its output printed, if
/// the test fails.
struct Quickstart {
    /// Holds the data folder (`<dir>/data`, which the script creates).
    dir: TempDir,
    redis: u16,
    postgres: u16,
    portal: u16,
    api: u16,
    /// `target/<profile>/suite-logs/quickstart/`: the script's output, one file per run.
    logs: PathBuf,
    running: Option<Child>,
}

impl Quickstart {
    fn new() -> Quickstart {
        let dir = TempDir::new().expect("a temporary directory");
        // As root, PostgreSQL runs as the `postgres` user, which must be able to reach the data folder.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .expect("opening the temporary directory to the postgres user");
        let logs = profile_dir().join("suite-logs").join("quickstart");
        let _ = fs::remove_dir_all(&logs);
        fs::create_dir_all(&logs).expect("creating the log directory");
        Quickstart {
            dir,
            redis: free_port().expect("a port"),
            postgres: free_port().expect("a port"),
            portal: free_port().expect("a port"),
            api: free_port().expect("a port"),
            logs,
            running: None,
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn ports(&self) -> [(&'static str, u16); 4] {
        [
            ("Redis", self.redis),
            ("PostgreSQL", self.postgres),
            ("the portal", self.portal),
            ("the api", self.api),
        ]
    }

    fn portal_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.portal)
    }

    fn api_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.api)
    }

    /// `scripts/run.sh <args>` with only what a shell would give it and this test's folder and ports.
    fn command(&self, args: &[&str], log: &str) -> Command {
        let log = fs::File::create(self.logs.join(format!("{log}.log"))).expect("opening a log");
        let mut cmd = Command::new(workspace_root().join("scripts/run.sh"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(std::env::var_os("HOME").map(|home| ("HOME", home)))
            .env("RUN_NO_BUILD", "1")
            .env("RUN_BIN_DIR", profile_dir())
            .env("RUN_DATA_DIR", self.data())
            .env("REDIS_PORT", self.redis.to_string())
            .env("POSTGRES_PORT", self.postgres.to_string())
            .env("PORTAL_PORT", self.portal.to_string())
            .env("API_PORT", self.api.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("opening a log"))
            .stderr(log);
        cmd
    }

    fn log(&self, name: &str) -> String {
        read(&self.logs.join(format!("{name}.log")))
    }

    /// `make run`: starts the script and waits until it prints the URLs.
    fn start(&mut self, log: &str) {
        let child = self
            .command(&[], log)
            .spawn()
            .expect("starting scripts/run.sh");
        let output = self.logs.join(format!("{log}.log"));
        let ready = format!("http://127.0.0.1:{}/api/v1/docs/", self.api);
        let child = self.running.insert(child);
        let started = Instant::now();
        while !read(&output).contains(&ready) {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("scripts/run.sh exited ({status}) before printing the URLs");
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "scripts/run.sh printed no URLs within {} s",
                START_TIMEOUT.as_secs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Ctrl-C: SIGINT to the script alone, as a terminal sends it; its exit status, once it has exited.
    fn interrupt(&mut self) -> ExitStatus {
        let mut child = self.running.take().expect("a running scripts/run.sh");
        let signalled = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(signalled.success(), "kill -INT failed");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("waiting for scripts/run.sh") {
                return status;
            }
            if started.elapsed() > STOP_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "scripts/run.sh did not exit within {} s of SIGINT",
                    STOP_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `scripts/run.sh <args>` to completion (a command beside the running services); its output.
    fn run(&self, args: &[&str], env: &[(&str, &str)], log: &str) -> String {
        let status = self
            .command(args, log)
            .envs(env.iter().copied())
            .status()
            .expect("running scripts/run.sh");
        let output = self.log(log);
        assert!(
            status.success(),
            "scripts/run.sh {} failed ({status})",
            args.join(" ")
        );
        output
    }

    /// Fails the test if anything still accepts connections on one of the four ports.
    fn assert_nothing_listens(&self) {
        for (what, port) in self.ports() {
            assert!(
                TcpStream::connect(("127.0.0.1", port)).is_err(),
                "{what} still listens on 127.0.0.1:{port} after scripts/run.sh exited"
            );
        }
    }
}

impl Drop for Quickstart {
    /// A script still running (the test failed) is stopped as Ctrl-C would; a failing test prints the
    /// script's output and the end of each process's log.
    fn drop(&mut self) {
        if let Some(mut child) = self.running.take() {
            testkit::stop_child(&mut child);
        }
        if !std::thread::panicking() {
            return;
        }
        print_logs(&self.logs, 60);
        print_logs(&self.data().join("log"), 60);
    }
}

#[tokio::test]
async fn make_run_from_nothing_serves_a_login_and_ctrl_c_stops_everything() {
    let mut quickstart = Quickstart::new();
    quickstart.start("run");
    let printed = quickstart.log("run");
    assert!(
        printed.contains("Creating the PostgreSQL cluster"),
        "the data folder was not new"
    );
    for url in [
        quickstart.portal_url("/"),
        quickstart.portal_url("/accounts/login/"),
        quickstart.api_url("/api/v1/me"),
        quickstart.api_url("/api/v1/docs/"),
    ] {
        assert!(
            printed.contains(&url),
            "{url} is not among the URLs printed"
        );
    }
    assert!(
        printed.contains("scripts/run.sh portal createsuperuser"),
        "no way to create a user printed"
    );

    let client = Client::new();
    for url in [
        quickstart.portal_url("/healthz"),
        quickstart.api_url("/healthz"),
    ] {
        let health = client.get(&url).await;
        assert_eq!(health.status, 200, "{url}: {}", health.body);
    }
    let anonymous = client.get(&quickstart.api_url("/api/v1/me")).await;
    assert_eq!(
        anonymous.status, 401,
        "anonymous /api/v1/me: {}",
        anonymous.body
    );
    assert_eq!(
        anonymous.json()["detail"],
        "Authentication credentials were not provided."
    );

    // The one-line way to a user, beside the running services.
    let created = quickstart.run(
        &[
            "portal",
            "createsuperuser",
            "--noinput",
            "--username",
            "ann",
            "--email",
            "ann@example.com",
        ],
        &[("DJANGO_SUPERUSER_PASSWORD", PASSWORD)],
        "createsuperuser",
    );
    assert!(
        created.contains("Superuser created successfully."),
        "createsuperuser said: {created}"
    );

    let login = client
        .submit(
            &quickstart.portal_url("/accounts/login/"),
            &[("username", "ann"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(login.status, 302, "portal login: {}", login.body);
    let me = client.get(&quickstart.api_url("/api/v1/me")).await;
    assert_eq!(me.status, 200, "/api/v1/me after the login: {}", me.body);
    assert_eq!(me.json()["username"], "ann");
    assert_eq!(me.json()["is_superuser"], true);

    // The secret key was made once, kept in the data folder, and never shown.
    let key = fs::read_to_string(quickstart.data().join("secret_key")).expect("data/secret_key");
    assert_eq!(key.chars().count(), 50, "the secret key's length");
    for log in ["run", "createsuperuser"] {
        assert!(
            !quickstart.log(log).contains(&key),
            "the secret key was printed"
        );
    }

    let status = quickstart.interrupt();
    assert!(
        status.success(),
        "scripts/run.sh exited with {status} on SIGINT"
    );
    quickstart.assert_nothing_listens();

    // Again on the same folder: nothing is made anew, and the session lives on.
    quickstart.start("run-again");
    assert!(
        !quickstart
            .log("run-again")
            .contains("Creating the PostgreSQL cluster"),
        "the cluster was made again"
    );
    let me = client.get(&quickstart.api_url("/api/v1/me")).await;
    assert_eq!(me.status, 200, "/api/v1/me after a restart: {}", me.body);
    assert_eq!(me.json()["username"], "ann");

    let status = quickstart.interrupt();
    assert!(
        status.success(),
        "scripts/run.sh exited with {status} on SIGINT"
    );
    quickstart.assert_nothing_listens();
}
