//! `portal`: the browser-facing service. The HTTP pages arrive with issue 4; today the binary carries the
//! one command a deployment needs first:
//!
//! - `portal migrate`: creates Django's `contenttypes`, `auth` and `sessions` tables on `DATABASE_URL`
//!   exactly as Django's own `manage.py migrate` would, or does nothing where Django (or a previous run)
//!   already did. `DEFAULT_AUTO_FIELD` (default `django.db.models.BigAutoField`, what `startproject`
//!   writes) must match the Django project's.

use anyhow::{Context, bail};
use auth::connections::{Database, DatabaseConfig};
use auth::migrate::{self, DefaultAutoField};
use auth::settings::database_config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["migrate"] => run_migrate().await,
        _ => bail!("usage: portal migrate"),
    }
}

async fn run_migrate() -> anyhow::Result<()> {
    let lookup = |name: &str| std::env::var(name).ok();
    let config: DatabaseConfig = database_config(&lookup)?.context("DATABASE_URL is required")?;
    let auto_field = match lookup("DEFAULT_AUTO_FIELD") {
        None => DefaultAutoField::default(),
        Some(value) => DefaultAutoField::from_setting(value.trim()).with_context(|| {
            format!("DEFAULT_AUTO_FIELD: expected django.db.models.AutoField or BigAutoField, not {value:?}")
        })?,
    };
    let db = Database::connect(&config)?;
    let report = migrate::migrate(&db, auto_field).await.context("migrate")?;
    if report.applied.is_empty() {
        println!("No migrations to apply.");
    }
    for (app, name) in &report.applied {
        println!("  Applying {app}.{name}... OK");
    }
    if report.content_types_created + report.permissions_created > 0 {
        println!(
            "  Created {} content types and {} permissions.",
            report.content_types_created, report.permissions_created
        );
    }
    Ok(())
}
