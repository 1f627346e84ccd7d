//! `portal migrate` as an operator runs it: on an empty database, again on the same database, and against
//! a database that is down.

use std::process::Command;

use testkit::PostgresServer;

fn portal_migrate(database_url: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_portal"))
        .arg("migrate")
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("DATABASE_CONNECT_TIMEOUT", "1")
        .output()
        .unwrap()
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
