//! What each command does, given the environment.

use anyhow::{Context, bail};
use auth::connections::Database;
use auth::migrate::{self, DefaultAutoField};
use auth::settings::{Settings, database_config, password_hashers};
use auth::users::{NewUser, UserError, UserStore};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn database() -> anyhow::Result<Database> {
    let config = database_config(&env)?.context("DATABASE_URL is required")?;
    Ok(Database::connect(&config)?)
}

pub async fn serve(bind: &str) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let application = crate::startup::Application::build(settings, bind)?;
    tracing::info!(address = %application.address(), "portal listening");
    application.run_until_stopped().await?;
    Ok(())
}

pub async fn migrate() -> anyhow::Result<()> {
    let auto_field = match env("DEFAULT_AUTO_FIELD") {
        None => DefaultAutoField::default(),
        Some(value) => DefaultAutoField::from_setting(value.trim()).with_context(|| {
            format!(
                "DEFAULT_AUTO_FIELD: expected django.db.models.AutoField or BigAutoField, not {value:?}"
            )
        })?,
    };
    let report = migrate::migrate(&database()?, auto_field)
        .await
        .context("migrate")?;
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

pub async fn clearsessions() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let connections = settings.connect()?;
    let store = settings.session_store(&connections)?;
    let removed = store.clear_expired().await.context("clearsessions")?;
    println!("Deleted {removed} expired sessions.");
    Ok(())
}

/// `createsuperuser --noinput`: Django's checks and messages, no prompt, no default account.
pub async fn createsuperuser(
    noinput: bool,
    username: Option<String>,
    email: String,
) -> anyhow::Result<()> {
    if !noinput {
        bail!(
            "interactive createsuperuser is not available yet; use --noinput with --username and DJANGO_SUPERUSER_PASSWORD"
        );
    }
    let Some(username) = username.filter(|u| !u.trim().is_empty()) else {
        bail!("You must use --username with --noinput.");
    };
    let hashers = password_hashers(&env)?;
    let users = UserStore::new(database()?, std::sync::Arc::new(hashers));
    let created = users
        .create_user(NewUser {
            username,
            email,
            password: env("DJANGO_SUPERUSER_PASSWORD").filter(|p| !p.is_empty()),
            is_staff: true,
            is_superuser: true,
            ..NewUser::default()
        })
        .await;
    match created {
        Ok(_) => {
            println!("Superuser created successfully.");
            Ok(())
        }
        Err(UserError::UsernameTaken) => bail!("That username is already taken."),
        Err(e) => Err(e.into()),
    }
}
