//! `manage.py migrate` for the three Django apps the services share: `contenttypes`, `auth` and
//! `sessions`, exactly as Django 4.2 and 5.2 leave a PostgreSQL database, with `auth.User` or with a project's
//! own `AUTH_USER_MODEL` (then `auth` makes no user table: `swapped/`).
//!
//! The SQL is Django's own output (`sqlmigrate`, see `migrations/django/README.md`), embedded in the binary.
//! Like Django's executor, each migration not yet recorded in `django_migrations` runs in a transaction
//! together with its record; then the rows Django's `post_migrate` handlers would add (content types and
//! the four default permissions per model) are inserted where missing. A database Django already migrated
//! is left untouched, and a database we migrated gives Django nothing to do.
//!
//! Hand-written rather than diesel_migrations: that crate records its runs in its own table and knows
//! nothing of `django_migrations`, which is what Django reads.

use diesel::sql_types::{Bool, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::connections::{Database, StoreError, diesel_error};

/// One migration of Django's plan.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// The app label, as recorded in `django_migrations.app` (`contenttypes`, `auth`, `sessions`).
    pub app: &'static str,
    /// The migration's name, as recorded in `django_migrations.name` (e.g. `0001_initial`).
    pub name: &'static str,
    sql: &'static str,
    /// Django's SQL for this migration when `AUTH_USER_MODEL` swaps `auth.User` out (`swapped/`): no
    /// user table, nothing on it.
    swapped_sql: &'static str,
}

macro_rules! migration {
    ($file:literal, $app:literal, $name:literal) => {
        Migration {
            app: $app,
            name: $name,
            sql: include_str!(concat!("../migrations/django/", $file)),
            swapped_sql: include_str!(concat!("../migrations/django/", $file)),
        }
    };
    ($file:literal, $app:literal, $name:literal, swapped) => {
        Migration {
            app: $app,
            name: $name,
            sql: include_str!(concat!("../migrations/django/", $file)),
            swapped_sql: include_str!(concat!("../migrations/django/swapped/", $file)),
        }
    };
}

/// `manage.py migrate --plan` for contenttypes, auth and sessions (identical in 4.2 and 5.2).
pub const PLAN: &[Migration] = &[
    migration!(
        "01_contenttypes_0001_initial.sql",
        "contenttypes",
        "0001_initial"
    ),
    migration!(
        "02_contenttypes_0002_remove_content_type_name.sql",
        "contenttypes",
        "0002_remove_content_type_name"
    ),
    migration!("03_auth_0001_initial.sql", "auth", "0001_initial", swapped),
    migration!(
        "04_auth_0002_alter_permission_name_max_length.sql",
        "auth",
        "0002_alter_permission_name_max_length"
    ),
    migration!(
        "05_auth_0003_alter_user_email_max_length.sql",
        "auth",
        "0003_alter_user_email_max_length",
        swapped
    ),
    migration!(
        "06_auth_0004_alter_user_username_opts.sql",
        "auth",
        "0004_alter_user_username_opts"
    ),
    migration!(
        "07_auth_0005_alter_user_last_login_null.sql",
        "auth",
        "0005_alter_user_last_login_null",
        swapped
    ),
    migration!(
        "08_auth_0006_require_contenttypes_0002.sql",
        "auth",
        "0006_require_contenttypes_0002"
    ),
    migration!(
        "09_auth_0007_alter_validators_add_error_messages.sql",
        "auth",
        "0007_alter_validators_add_error_messages"
    ),
    migration!(
        "10_auth_0008_alter_user_username_max_length.sql",
        "auth",
        "0008_alter_user_username_max_length",
        swapped
    ),
    migration!(
        "11_auth_0009_alter_user_last_name_max_length.sql",
        "auth",
        "0009_alter_user_last_name_max_length",
        swapped
    ),
    migration!(
        "12_auth_0010_alter_group_name_max_length.sql",
        "auth",
        "0010_alter_group_name_max_length"
    ),
    migration!(
        "13_auth_0011_update_proxy_permissions.sql",
        "auth",
        "0011_update_proxy_permissions"
    ),
    migration!(
        "14_auth_0012_alter_user_first_name_max_length.sql",
        "auth",
        "0012_alter_user_first_name_max_length",
        swapped
    ),
    migration!("15_sessions_0001_initial.sql", "sessions", "0001_initial"),
];

/// `MigrationRecorder.ensure_schema()`'s table, with `id` an `integer` (`AutoField`).
const DJANGO_MIGRATIONS: &str = include_str!("../migrations/django/00_django_migrations.sql");
/// The rows of the `post_migrate` handlers (`create_contenttypes`, `create_permissions`), in Django's order.
const POST_MIGRATE: &str = include_str!("../migrations/django/post_migrate.txt");
/// The same with `auth.User` swapped out: no `auth.user` content type or permissions.
const POST_MIGRATE_SWAPPED: &str = include_str!("../migrations/django/swapped/post_migrate.txt");

/// The tables whose `id` follows `DEFAULT_AUTO_FIELD` (the many-to-many tables Django creates for `auth`'s
/// models; the models themselves pin `AutoField` in their app config). `sqlmigrate auth 0001_initial` under
/// `BigAutoField` differs from the `AutoField` files in exactly these three `CREATE TABLE`s, in Django 4.2
/// and 5.2 alike. The test compares the result with databases Django migrated under each setting.
const BIG_AUTO_TABLES: &[&str] = &[
    "auth_group_permissions",
    "auth_user_groups",
    "auth_user_user_permissions",
];

/// An arbitrary constant: two `migrate` runs at once (two replicas starting) take turns.
const ADVISORY_LOCK: i64 = 0x646a_616e_676f_5f72; // "django_r"

/// `DEFAULT_AUTO_FIELD`: the type of `django_migrations.id`, the only table Django creates outside a
/// migration (the contrib apps pin their own `AutoField`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DefaultAutoField {
    /// `django.db.models.AutoField`: `integer`.
    Auto,
    /// `django.db.models.BigAutoField`, what `startproject` writes: `bigint`.
    #[default]
    BigAuto,
}

impl DefaultAutoField {
    /// Parses a `DEFAULT_AUTO_FIELD` value (the dotted path of `AutoField` or `BigAutoField`); `None` for
    /// any other string.
    pub fn from_setting(value: &str) -> Option<DefaultAutoField> {
        match value {
            "django.db.models.AutoField" => Some(DefaultAutoField::Auto),
            "django.db.models.BigAutoField" => Some(DefaultAutoField::BigAuto),
            _ => None,
        }
    }
}

/// What a `migrate` run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrateReport {
    /// `(app, name)` of each migration applied, in order.
    pub applied: Vec<(String, String)>,
    /// How many `django_content_type` rows `create_contenttypes` would have added were inserted.
    pub content_types_created: usize,
    /// How many `auth_permission` rows `create_permissions` would have added were inserted.
    pub permissions_created: usize,
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

#[derive(QueryableByName)]
struct Recorded {
    #[diesel(sql_type = Text)]
    app: String,
    #[diesel(sql_type = Text)]
    name: String,
}

/// The order `create_contenttypes` adds an app's missing content types in, which decides their ids:
/// Django up to 5.2 takes the models' definition order (`app_config.get_models()`: `auth.permission`,
/// then `auth.group`); 6.0 and later sort them by model name (`sorted(all_model_names -
/// existing_model_names)`), so `auth.group` comes first. Permissions keep the definition order in both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContentTypeOrder {
    /// Django 4.2 to 5.2.
    Definition,
    /// Django 6.0 and later (the newest Django's, hence the default).
    #[default]
    Sorted,
}

impl ContentTypeOrder {
    /// The order of a Django `"major.minor"` (`DJANGO_VERSION`, checked by `auth::settings::django_version`).
    pub fn for_django_version(major_minor: &str) -> ContentTypeOrder {
        let major: u32 = major_minor
            .split('.')
            .next()
            .and_then(|major| major.parse().ok())
            .unwrap_or(u32::MAX);
        if major < 6 {
            ContentTypeOrder::Definition
        } else {
            ContentTypeOrder::Sorted
        }
    }
}

/// Brings the database to the state Django's `migrate` leaves for contenttypes, auth and sessions, as the
/// newest Django does ([`migrate_as`] for another version). With `swapped` (`AUTH_USER_MODEL` is not
/// `auth.User`) Django's `auth` migrations make no `auth_user`: the user table is the project's, made by
/// its own `manage.py migrate`, and nothing here touches it.
pub async fn migrate(
    db: &Database,
    auto_field: DefaultAutoField,
    swapped: bool,
) -> Result<MigrateReport, StoreError> {
    migrate_as(db, auto_field, swapped, ContentTypeOrder::default()).await
}

/// [`migrate`] as the Django of `DJANGO_VERSION` leaves the database: the same tables and rows, the content
/// types in that version's order (their ids).
pub async fn migrate_as(
    db: &Database,
    auto_field: DefaultAutoField,
    swapped: bool,
    order: ContentTypeOrder,
) -> Result<MigrateReport, StoreError> {
    let mut connection = db.get().await?;
    let conn = &mut *connection;
    if db.transaction_pooling() {
        return in_one_transaction(conn, auto_field, swapped, order).await;
    }
    let outcome = locked(conn, auto_field, swapped, order).await;
    // On every path, so the pooled connection goes back without the migration's lock timeout.
    let reset = conn
        .batch_execute("RESET lock_timeout")
        .await
        .map_err(|e| diesel_error(&e));
    let report = outcome?;
    reset?;
    Ok(report)
}

/// Behind a pooler in transaction mode (`DATABASE_TRANSACTION_POOLING`), where a session's lock and
/// settings would stay on a server connection we may not get back: everything in one transaction, under
/// a transaction-scoped advisory lock and `SET LOCAL lock_timeout`; each migration's own transaction
/// becomes a savepoint inside it.
async fn in_one_transaction(
    conn: &mut AsyncPgConnection,
    auto_field: DefaultAutoField,
    swapped: bool,
    order: ContentTypeOrder,
) -> Result<MigrateReport, StoreError> {
    use diesel_async::{AnsiTransactionManager, TransactionManager};
    AnsiTransactionManager::begin_transaction(conn)
        .await
        .map_err(|e| diesel_error(&e))?;
    let outcome = async {
        conn.batch_execute("SET LOCAL lock_timeout = '60s'")
            .await
            .map_err(|e| diesel_error(&e))?;
        sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(ADVISORY_LOCK)
            .execute(conn)
            .await
            .map_err(|e| diesel_error(&e))?;
        run(conn, auto_field, swapped, order).await
    }
    .await;
    match outcome {
        Ok(report) => {
            AnsiTransactionManager::commit_transaction(conn)
                .await
                .map_err(|e| diesel_error(&e))?;
            Ok(report)
        }
        Err(e) => {
            let _ = AnsiTransactionManager::rollback_transaction(conn).await;
            Err(e)
        }
    }
}

/// `run` under the advisory lock, released whatever `run` returns.
async fn locked(
    conn: &mut AsyncPgConnection,
    auto_field: DefaultAutoField,
    swapped: bool,
    order: ContentTypeOrder,
) -> Result<MigrateReport, StoreError> {
    // Another `migrate` holding the lock (or a table lock) for a minute is stuck: fail rather than hang.
    conn.batch_execute("SET lock_timeout = '60s'")
        .await
        .map_err(|e| diesel_error(&e))?;
    sql_query("SELECT pg_advisory_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(ADVISORY_LOCK)
        .execute(conn)
        .await
        .map_err(|e| diesel_error(&e))?;
    let outcome = run(conn, auto_field, swapped, order).await;
    let unlocked = sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<diesel::sql_types::BigInt, _>(ADVISORY_LOCK)
        .execute(conn)
        .await
        .map_err(|e| diesel_error(&e));
    let report = outcome?;
    unlocked?;
    Ok(report)
}

async fn table_exists(conn: &mut AsyncPgConnection, table: &str) -> Result<bool, StoreError> {
    let found: Exists = sql_query(
        "SELECT EXISTS (SELECT 1 FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_name = $1) AS exists",
    )
    .bind::<Text, _>(table)
    .get_result(conn)
    .await
    .map_err(|e| diesel_error(&e))?;
    Ok(found.exists)
}

async fn run(
    conn: &mut AsyncPgConnection,
    auto_field: DefaultAutoField,
    swapped: bool,
    order: ContentTypeOrder,
) -> Result<MigrateReport, StoreError> {
    let mut report = MigrateReport::default();
    if !table_exists(conn, "django_migrations").await? {
        let ddl = match auto_field {
            DefaultAutoField::Auto => DJANGO_MIGRATIONS.to_string(),
            DefaultAutoField::BigAuto => {
                DJANGO_MIGRATIONS.replacen("\"id\" integer NOT NULL", "\"id\" bigint NOT NULL", 1)
            }
        };
        conn.batch_execute(&ddl)
            .await
            .map_err(|e| diesel_error(&e))?;
    }
    let recorded: Vec<Recorded> = sql_query("SELECT app, name FROM django_migrations")
        .load(conn)
        .await
        .map_err(|e| diesel_error(&e))?;
    for migration in PLAN {
        if recorded
            .iter()
            .any(|r| r.app == migration.app && r.name == migration.name)
        {
            continue;
        }
        let sql = if swapped {
            migration.swapped_sql
        } else {
            migration.sql
        };
        let sql = match auto_field {
            DefaultAutoField::Auto => sql.to_string(),
            DefaultAutoField::BigAuto => widen_ids(sql),
        };
        conn.transaction::<_, diesel::result::Error, _>(
            async move |conn: &mut AsyncPgConnection| {
                conn.batch_execute(&sql).await?;
                sql_query(
                    "INSERT INTO django_migrations (app, name, applied) VALUES ($1, $2, now())",
                )
                .bind::<Text, _>(migration.app)
                .bind::<Text, _>(migration.name)
                .execute(conn)
                .await?;
                Ok(())
            },
        )
        .await
        .map_err(|e| diesel_error(&e))?;
        report
            .applied
            .push((migration.app.to_string(), migration.name.to_string()));
    }
    post_migrate(conn, &mut report, swapped, order).await?;
    Ok(report)
}

/// `BigAutoField`: the `id` of [`BIG_AUTO_TABLES`] is a `bigint`.
fn widen_ids(sql: &str) -> String {
    BIG_AUTO_TABLES.iter().fold(sql.to_string(), |sql, table| {
        sql.replace(
            &format!("CREATE TABLE \"{table}\" (\"id\" integer NOT NULL"),
            &format!("CREATE TABLE \"{table}\" (\"id\" bigint NOT NULL"),
        )
    })
}

/// The rows of `post_migrate.txt` (Django 5.2's order), with each app's content types sorted by model name
/// for [`ContentTypeOrder::Sorted`] (the apps, and everything else, keep their places).
fn post_migrate_rows(swapped: bool, order: ContentTypeOrder) -> Vec<Vec<&'static str>> {
    let rows = if swapped {
        POST_MIGRATE_SWAPPED
    } else {
        POST_MIGRATE
    };
    let mut rows: Vec<Vec<&'static str>> = rows
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').collect())
        .collect();
    if order == ContentTypeOrder::Sorted {
        let content_types = rows
            .iter()
            .take_while(|row| row.as_slice().first() == Some(&"content_type"))
            .count();
        let mut apps: Vec<&str> = Vec::new();
        for row in &rows[..content_types] {
            if let Some(&app) = row.get(1)
                && !apps.contains(&app)
            {
                apps.push(app);
            }
        }
        rows[..content_types].sort_by_key(|row| {
            let app = row.get(1).copied().unwrap_or_default();
            (
                apps.iter().position(|a| *a == app),
                row.get(2).copied().unwrap_or_default(),
            )
        });
    }
    rows
}

/// `create_contenttypes` and `create_permissions`: each row only if missing, in Django's order.
async fn post_migrate(
    conn: &mut AsyncPgConnection,
    report: &mut MigrateReport,
    swapped: bool,
    order: ContentTypeOrder,
) -> Result<(), StoreError> {
    let rows = post_migrate_rows(swapped, order);
    let (content_types, permissions) = conn
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            let (mut content_types, mut permissions) = (0, 0);
            for row in &rows {
                match row.as_slice() {
                    ["content_type", app_label, model] => {
                        content_types += sql_query(
                            "INSERT INTO django_content_type (app_label, model) SELECT $1, $2 \
                             WHERE NOT EXISTS (SELECT 1 FROM django_content_type \
                             WHERE app_label = $1 AND model = $2)",
                        )
                        .bind::<Text, _>(*app_label)
                        .bind::<Text, _>(*model)
                        .execute(&mut *conn)
                        .await?;
                    }
                    ["permission", name, label, codename] => {
                        let (app_label, model) = label.split_once('.').unwrap_or((label, ""));
                        permissions += sql_query(
                            "INSERT INTO auth_permission (name, content_type_id, codename) \
                             SELECT $1, ct.id, $4 FROM django_content_type ct \
                             WHERE ct.app_label = $2 AND ct.model = $3 AND NOT EXISTS \
                             (SELECT 1 FROM auth_permission p \
                              WHERE p.content_type_id = ct.id AND p.codename = $4)",
                        )
                        .bind::<Text, _>(*name)
                        .bind::<Text, _>(app_label)
                        .bind::<Text, _>(model)
                        .bind::<Text, _>(*codename)
                        .execute(&mut *conn)
                        .await?;
                    }
                    _ => {}
                }
            }
            Ok((content_types, permissions))
        })
        .await
        .map_err(|e| diesel_error(&e))?;
    report.content_types_created = content_types;
    report.permissions_created = permissions;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_in_each_versions_order() {
        let content_types = |swapped, order| -> Vec<String> {
            post_migrate_rows(swapped, order)
                .iter()
                .filter(|row| row[0] == "content_type")
                .map(|row| format!("{}.{}", row[1], row[2]))
                .collect()
        };
        let permissions = |order| -> Vec<Vec<&str>> {
            post_migrate_rows(false, order)
                .into_iter()
                .filter(|row| row[0] == "permission")
                .collect()
        };
        use ContentTypeOrder::{Definition, Sorted};
        assert_eq!(
            content_types(false, Definition),
            [
                "contenttypes.contenttype",
                "auth.permission",
                "auth.group",
                "auth.user",
                "sessions.session"
            ]
        );
        assert_eq!(
            content_types(false, Sorted),
            [
                "contenttypes.contenttype",
                "auth.group",
                "auth.permission",
                "auth.user",
                "sessions.session"
            ]
        );
        assert_eq!(
            content_types(true, Sorted),
            [
                "contenttypes.contenttype",
                "auth.group",
                "auth.permission",
                "sessions.session"
            ]
        );
        // Only the content types move; every content type is still created before any permission.
        assert_eq!(permissions(Definition), permissions(Sorted));
        assert_eq!(post_migrate_rows(false, Sorted)[5][0], "permission");
        for (version, order) in [
            ("4.2", Definition),
            ("5.2", Definition),
            ("6.0", Sorted),
            ("6.1", Sorted),
        ] {
            assert_eq!(
                ContentTypeOrder::for_django_version(version),
                order,
                "{version}"
            );
        }
        assert_eq!(ContentTypeOrder::default(), Sorted);
    }

    #[test]
    fn plan_and_rows_are_complete() {
        assert_eq!(PLAN.len(), 15);
        let plan_txt = include_str!("../migrations/django/plan.txt");
        assert_eq!(plan_txt.lines().count(), PLAN.len());
        for (line, migration) in plan_txt.lines().zip(PLAN) {
            let fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(&fields[1..], &[migration.app, migration.name]);
        }
        let rows: Vec<&str> = POST_MIGRATE.lines().collect();
        assert_eq!(
            rows.iter()
                .filter(|r| r.starts_with("content_type\t"))
                .count(),
            5
        );
        assert_eq!(
            rows.iter()
                .filter(|r| r.starts_with("permission\t"))
                .count(),
            20
        );
        assert!(DJANGO_MIGRATIONS.contains("\"id\" integer NOT NULL"));
        let auth_0001 = PLAN[2].sql;
        let widened = widen_ids(auth_0001);
        assert_eq!(widened.matches("(\"id\" bigint NOT NULL").count(), 3);
        assert!(widened.contains("CREATE TABLE \"auth_user\" (\"id\" integer"));
        // Swapped: no user table and nothing on it, in any migration; the same order and records.
        for migration in PLAN {
            assert!(
                !migration.swapped_sql.contains("\"auth_user"),
                "{}",
                migration.name
            );
        }
        assert!(
            widen_ids(PLAN[2].swapped_sql).contains("\"auth_group_permissions\" (\"id\" bigint")
        );
        assert_eq!(
            POST_MIGRATE_SWAPPED.lines().count() + 5,
            POST_MIGRATE.lines().count()
        );
        assert!(
            !POST_MIGRATE_SWAPPED.contains("auth.user") && !POST_MIGRATE_SWAPPED.contains("\tuser")
        );
    }
}
