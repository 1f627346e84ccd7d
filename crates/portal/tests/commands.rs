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
    assert_eq!(
        pg.psql(
            "SELECT username, email, is_staff, is_superuser, is_active, \
             password LIKE 'pbkdf2_sha256$1000000$%' FROM auth_user"
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
    for command in ["serve", "migrate", "clearsessions", "createsuperuser"] {
        assert!(help.contains(command), "{help}");
    }
    // Serving without SECRET_KEY refuses to start, naming the setting.
    let out = portal(&["serve", "--bind", "127.0.0.1:0"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SECRET_KEY is required"));
}
