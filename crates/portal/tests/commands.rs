//! The `portal` commands as an operator runs them, with nothing but the environment they name: `migrate`
//! (on an empty database, again, and against a database that is down), `createsuperuser`,
//! `clearsessions`, `--help`.

use std::process::Command;

use testkit::PostgresServer;

fn portal_migrate(database_url: &str) -> std::process::Output {
    portal(
        &["migrate"],
        &[
            ("DATABASE_URL", database_url),
            ("DATABASE_CONNECT_TIMEOUT", "1"),
        ],
    )
}

#[test]
fn migrate_creates_djangos_tables_once() {
    let pg = PostgresServer::start().unwrap();
    let first = portal_migrate(&pg.url());
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(stdout.matches("  Applying ").count(), 15, "{stdout}");
    assert!(
        stdout.contains("Applying sessions.0001_initial... OK"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Created 5 content types and 20 permissions."),
        "{stdout}"
    );
    assert_eq!(
        pg.psql("SELECT count(*) FROM django_migrations").unwrap(),
        "15"
    );
    assert_eq!(
        pg.psql(
            "SELECT data_type FROM information_schema.columns \
             WHERE table_name = 'django_migrations' AND column_name = 'id'"
        )
        .unwrap(),
        "bigint"
    );

    let second = portal_migrate(&pg.url());
    assert!(second.status.success());
    assert_eq!(
        String::from_utf8_lossy(&second.stdout),
        "No migrations to apply.\n"
    );
    assert_eq!(
        pg.psql("SELECT count(*) FROM django_migrations").unwrap(),
        "15"
    );
}

#[test]
fn migrate_reports_an_unreachable_database_without_its_password() {
    let pg = PostgresServer::start().unwrap();
    let mut url = pg.url().replace("postgres@", "postgres:hunter2@");
    url = url.replace(&format!(":{}/", pg.port()), ":1/");
    let out = portal_migrate(&url);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("postgresql unavailable"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

fn portal(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_portal"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn createsuperuser_noinput_as_django() {
    let pg = PostgresServer::start().unwrap();
    assert!(portal_migrate(&pg.url()).status.success());
    let url = pg.url();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("DJANGO_SUPERUSER_PASSWORD", "a strong pass"),
    ];

    let made = portal(
        &[
            "createsuperuser",
            "--noinput",
            "--username",
            "admin",
            "--email",
            "a@Example.COM",
        ],
        &env,
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&made.stdout),
        "Superuser created successfully.\n"
    );
    // DJANGO_VERSION unset: the newest Django's work factors (6.1: PBKDF2 at 1,500,000 iterations).
    assert_eq!(
        pg.psql(
            "SELECT username, email, is_staff, is_superuser, is_active, \
             password LIKE 'pbkdf2_sha256$1500000$%' FROM auth_user"
        )
        .unwrap(),
        "admin|a@example.com|t|t|t|t"
    );

    let again = portal(
        &["createsuperuser", "--noinput", "--username", "admin"],
        &env,
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("That username is already taken."));

    let nameless = portal(&["createsuperuser", "--noinput"], &env);
    assert!(!nameless.status.success());
    assert!(
        String::from_utf8_lossy(&nameless.stderr)
            .contains("You must use --username with --noinput.")
    );

    // No password in the environment: an unusable one, as Django does.
    let url = pg.url();
    let bare = portal(
        &["createsuperuser", "--noinput", "--username", "ops"],
        &[("DATABASE_URL", url.as_str())],
    );
    assert!(bare.status.success());
    assert_eq!(
        pg.psql("SELECT password LIKE '!%' FROM auth_user WHERE username = 'ops'")
            .unwrap(),
        "t"
    );
    assert_eq!(pg.psql("SELECT count(*) FROM auth_user").unwrap(), "2");
}

#[test]
fn clearsessions_deletes_expired_rows_only() {
    let pg = PostgresServer::start().unwrap();
    assert!(portal_migrate(&pg.url()).status.success());
    pg.psql(
        "INSERT INTO django_session VALUES \
         ('expired000000000000000000000000a', 'x', now() - interval '1 hour'), \
         ('live00000000000000000000000000aa', 'x', now() + interval '1 hour')",
    )
    .unwrap();
    let url = pg.url();
    let out = portal(
        &["clearsessions"],
        &[
            ("DATABASE_URL", url.as_str()),
            ("SECRET_KEY", "k"),
            ("SESSION_ENGINE", "db"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Deleted 1 expired sessions.\n"
    );
    assert_eq!(
        pg.psql("SELECT session_key FROM django_session").unwrap(),
        "live00000000000000000000000000aa"
    );
}

#[test]
fn help_lists_the_commands() {
    let out = portal(&["--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for command in [
        "serve",
        "migrate",
        "clearsessions",
        "createsuperuser",
        "changepassword",
    ] {
        assert!(help.contains(command), "{help}");
    }
    // Serving without SECRET_KEY refuses to start, naming the setting.
    let out = portal(&["serve", "--bind", "127.0.0.1:0"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SECRET_KEY is required"));
}

/// Runs the portal with `input` on stdin (not a terminal, so prompts read lines, as Django reads a pipe).
fn portal_with_input(args: &[&str], env: &[(&str, &str)], input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_portal"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn createsuperuser_and_changepassword_prompt_as_django() {
    let pg = PostgresServer::start().unwrap();
    assert!(portal_migrate(&pg.url()).status.success());
    let url = pg.url();
    let env = [
        ("DATABASE_URL", url.as_str()),
        (
            "PASSWORD_HASHERS",
            "django.contrib.auth.hashers.MD5PasswordHasher",
        ),
    ];
    // A taken-name retry is not needed here; a mismatch, then a weak password refused, then a good one.
    let made = portal_with_input(
        &["createsuperuser"],
        &env,
        "root\nroot@example.com\nfirst pass 1\nother pass 1\n123\n123\nN\nsolid pass 42\nsolid pass 42\n",
    );
    let stdout = String::from_utf8_lossy(&made.stdout);
    let stderr = String::from_utf8_lossy(&made.stderr);
    assert!(made.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Username: "), "{stdout}");
    assert!(stdout.contains("Superuser created successfully."));
    assert!(
        stderr.contains("Error: Your passwords didn't match."),
        "{stderr}"
    );
    assert!(stderr.contains("This password is too short."), "{stderr}");
    assert!(
        stderr.contains("This password is entirely numeric."),
        "{stderr}"
    );
    assert_eq!(
        pg.psql("SELECT username, email, is_superuser FROM auth_user")
            .unwrap(),
        "root|root@example.com|t"
    );
    let before = pg.psql("SELECT password FROM auth_user").unwrap();

    // changepassword: three failed attempts abort with Django's message and change nothing.
    let aborted = portal_with_input(
        &["changepassword", "root"],
        &env,
        "a one\na two\nroot\nroot\nshort\nshort\n",
    );
    assert!(!aborted.status.success());
    let stderr = String::from_utf8_lossy(&aborted.stderr);
    assert!(
        stderr.contains("Passwords do not match. Please try again."),
        "{stderr}"
    );
    assert!(
        stderr.contains("Aborting password change for user 'root' after 3 attempts"),
        "{stderr}"
    );
    assert_eq!(pg.psql("SELECT password FROM auth_user").unwrap(), before);
    let changed = portal_with_input(
        &["changepassword", "root"],
        &env,
        "brand new pass 7\nbrand new pass 7\n",
    );
    assert!(
        changed.status.success(),
        "{}",
        String::from_utf8_lossy(&changed.stderr)
    );
    assert!(
        String::from_utf8_lossy(&changed.stdout)
            .contains("Password changed successfully for user 'root'")
    );
    assert_ne!(pg.psql("SELECT password FROM auth_user").unwrap(), before);
    let unknown = portal_with_input(&["changepassword", "nobody"], &env, "");
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("user 'nobody' does not exist"));
}

/// A project's own user model, made here as its `manage.py migrate` would: logs in by email, a `bigint`
/// key, no `is_active` (everyone counts as active), and a `NOT NULL` column without a database default
/// that only the project knows how to fill. `portal migrate` makes no user table; users log in by email;
/// registration says it is not available here and `createsuperuser` names the column.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_table_we_cannot_fill_logs_in_but_registers_nobody() {
    let pg = PostgresServer::start().unwrap();
    let url = pg.url();
    let model = [
        ("DATABASE_URL", url.as_str()),
        ("AUTH_USER_MODEL", "accounts.Member"),
        ("AUTH_USER_USERNAME_FIELD", "email"),
        (
            "PASSWORD_HASHERS",
            "django.contrib.auth.hashers.MD5PasswordHasher",
        ),
    ];
    let migrated = portal(&["migrate"], &model);
    let said = String::from_utf8_lossy(&migrated.stdout);
    assert!(migrated.status.success(), "{said}");
    assert!(
        said.contains("AUTH_USER_MODEL is accounts.Member"),
        "{said}"
    );
    assert!(said.contains("accounts_member"), "{said}");
    assert_eq!(
        pg.psql("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'auth_user%'")
            .unwrap(),
        "0"
    );
    let hashers = django_auth_core::hashers::PasswordHashers::new(
        ["django.contrib.auth.hashers.MD5PasswordHasher"],
        django_auth_core::hashers::WorkFactors::django_5_2(),
    )
    .unwrap();
    let encoded = hashers.make_password("member password 1").unwrap();
    pg.psql(&format!(
        "CREATE TABLE accounts_member (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, \
         password varchar(128) NOT NULL, last_login timestamptz NULL, \
         email varchar(254) NOT NULL UNIQUE, tenant_id integer NOT NULL); \
         INSERT INTO accounts_member (password, email, tenant_id) \
         VALUES ('{encoded}', 'mia@example.com', 7)"
    ))
    .unwrap();

    let refused = portal(
        &[
            "createsuperuser",
            "--noinput",
            "--email",
            "boss@example.com",
        ],
        &[
            &model[..],
            &[("DJANGO_SUPERUSER_PASSWORD", "a strong pass")],
        ]
        .concat(),
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("tenant_id"), "{stderr}");
    assert!(stderr.contains("manage.py createsuperuser"), "{stderr}");

    let port = testkit::free_port().unwrap();
    let mut served = Command::new(env!("CARGO_BIN_EXE_portal"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env_clear()
        .envs(model)
        .env("SECRET_KEY", "member-secret")
        .env("SESSION_ENGINE", "db")
        .env("ALLOWED_HOSTS", "127.0.0.1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed().as_secs() < 20, "the portal did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let register = client
        .get(format!("{base}/accounts/register/"))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 404);
    assert!(
        register
            .text()
            .await
            .unwrap()
            .contains("Registration is not available here")
    );
    let form = testkit::http::Page::read(
        client
            .get(format!("{base}/accounts/login/"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        form.body
            .contains("<label for=\"id_username\">Email address</label>")
    );
    let token = form.csrf_token();
    let login = client
        .post(format!("{base}/accounts/login/"))
        .form(&[
            ("csrfmiddlewaretoken", token.as_str()),
            ("username", "mia@example.com"),
            ("password", "member password 1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 302, "a model without is_active: active");
    let home = client.get(format!("{base}/")).send().await.unwrap();
    let home = home.text().await.unwrap();
    assert!(
        home.contains("<span id=\"username\">mia@example.com</span>"),
        "{home}"
    );
    assert_eq!(
        pg.psql("SELECT last_login IS NOT NULL FROM accounts_member")
            .unwrap(),
        "t"
    );
    testkit::stop_child(&mut served);
    let mut log = String::new();
    if let Some(mut stderr) = served.stderr.take() {
        std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
    }
    assert_eq!(
        log.matches("the user table has required columns without a database default")
            .count(),
        1,
        "said once at start: {log}"
    );
}
