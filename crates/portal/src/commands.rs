//! What each command does, given the environment.

use anyhow::{Context, bail};
use django_auth_core::connections::Database;
use django_auth_core::migrate::{self, DefaultAutoField};
use django_auth_core::settings::{
    Settings, database_config, django_version, password_hashers, user_model_settings,
};
use django_auth_core::user_model::UserModel;
use django_auth_core::users::{NewUser, UserError, UserStore};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn database() -> anyhow::Result<Database> {
    let config = database_config(&env)?.context("DATABASE_URL is required")?;
    Ok(Database::connect(&config)?)
}

pub async fn serve(bind: &str) -> anyhow::Result<()> {
    let config = crate::config::Config::from_env()?;
    let application = crate::startup::Application::build(config, bind).await?;
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
    let user_model = user_model_settings(&env)?;
    let swapped = user_model.is_swapped();
    // Django 6.0 numbers the content types in another order: as the Django of DJANGO_VERSION does.
    let order = migrate::ContentTypeOrder::for_django_version(django_version(&env)?);
    let report = migrate::migrate_as(&database()?, auto_field, swapped, order)
        .await
        .context("migrate")?;
    if swapped {
        println!(
            "AUTH_USER_MODEL is {}: its table ({}) and the project's own apps come from the Django \
             project's `manage.py migrate`; this migrates contenttypes, auth (without a user table) and \
             sessions only.",
            user_model.model,
            user_model.table()
        );
    }
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

/// What the interactive commands read: the terminal without echo for passwords (getpass), or lines of
/// stdin when it is not a terminal (scripts, tests).
struct Prompt {
    terminal: bool,
    lines: std::io::Lines<std::io::StdinLock<'static>>,
}

impl Prompt {
    fn new() -> Prompt {
        use std::io::{BufRead, IsTerminal};
        Prompt {
            terminal: std::io::stdin().is_terminal(),
            lines: std::io::stdin().lock().lines(),
        }
    }

    fn line(&mut self, question: &str) -> anyhow::Result<String> {
        use std::io::Write;
        print!("{question}");
        std::io::stdout().flush()?;
        match self.lines.next() {
            Some(line) => Ok(line?.trim_end_matches('\r').to_string()),
            None => bail!("input ended"),
        }
    }

    fn password(&mut self, question: &str) -> anyhow::Result<String> {
        if self.terminal {
            Ok(rpassword::prompt_password(question)?)
        } else {
            self.line(question)
        }
    }
}

/// The users of `AUTH_USER_MODEL`'s table, read from the catalog as the services read it.
async fn user_store() -> anyhow::Result<UserStore> {
    let hashers = password_hashers(&env)?;
    let db = database()?;
    let model = UserModel::inspect(&db, &user_model_settings(&env)?).await?;
    Ok(UserStore::new(
        db,
        std::sync::Arc::new(hashers),
        std::sync::Arc::new(model),
    ))
}

/// Django's messages for failed password validation, one per line.
fn print_validation_errors(errors: &[django_auth_core::password_validation::ValidationError]) {
    for e in errors {
        eprintln!("{}", e.message);
    }
}

/// `createsuperuser`: Django's prompts, checks and messages, for the `USERNAME_FIELD` of any user model
/// (`--username`, or `--email` for a model that logs in by email); no default account, ever.
pub async fn createsuperuser(
    noinput: bool,
    username: Option<String>,
    email: String,
) -> anyhow::Result<()> {
    let users = user_store().await?;
    let model = users.model().clone();
    if !model.can_create_users() {
        bail!(
            "The user table {} has required columns without a database default that this command cannot \
             fill: {}. Create the superuser with the Django project's `manage.py createsuperuser`.",
            model.table(),
            model.unfillable_columns().join(", ")
        );
    }
    let by_email = model.username_is_email();
    let field = model.username_field().to_string();
    // `--email` names the login when the email is the USERNAME_FIELD (Django's option is `--<field>`).
    let (username, email) = match (by_email, username) {
        (true, None) if !email.is_empty() => (Some(email.clone()), email),
        (_, username) => (username, email),
    };
    // Django's "That %s is already taken." names the field's verbose name.
    let label = model.username_label();
    let noun = label.to_lowercase();
    let (username, email, password) = if noinput {
        let Some(username) = username.filter(|u| !u.trim().is_empty()) else {
            bail!("You must use --{field} with --noinput.");
        };
        if let Some(message) = username_error(&model, username.trim()) {
            bail!("{message}");
        }
        (
            username,
            email,
            env("DJANGO_SUPERUSER_PASSWORD").filter(|p| !p.is_empty()),
        )
    } else {
        let mut prompt = Prompt::new();
        let username = loop {
            let answer = match &username {
                Some(u) if !u.trim().is_empty() => u.clone(),
                _ => prompt.line(&format!("{label}: "))?,
            };
            let answer = if by_email {
                django_auth_core::users::normalize_email(answer.trim())
            } else {
                django_auth_core::users::normalize_username(answer.trim())
            };
            if answer.is_empty() {
                eprintln!("Error: This field cannot be blank.");
            } else if let Some(message) = username_error(&model, &answer) {
                eprintln!("Error: {message}");
                if username.is_some() {
                    bail!("{message}");
                }
            } else if users.get_by_natural_key(&answer).await?.is_some() {
                eprintln!("Error: That {noun} is already taken.");
                if username.is_some() {
                    bail!("That {noun} is already taken.");
                }
            } else {
                break answer;
            }
        };
        let email = if by_email {
            username.clone()
        } else if email.is_empty() && model.email_field().is_some() {
            prompt.line("Email address: ")?.trim().to_string()
        } else {
            email
        };
        let password = loop {
            let password = prompt.password("Password: ")?;
            let again = prompt.password("Password (again): ")?;
            if password != again {
                eprintln!("Error: Your passwords didn't match.");
                continue;
            }
            if password.trim().is_empty() {
                eprintln!("Error: Blank passwords aren't allowed.");
                continue;
            }
            let attributes = django_auth_core::password_validation::UserAttributes {
                username: model.username_attribute(&username),
                email: &email,
                ..Default::default()
            };
            if let Err(errors) =
                django_auth_core::password_validation::validate_password(&password, &attributes)
            {
                print_validation_errors(&errors);
                let bypass =
                    prompt.line("Bypass password validation and create user anyway? [y/N]: ")?;
                if !bypass.trim().eq_ignore_ascii_case("y") {
                    continue;
                }
            }
            break password;
        };
        (username, email, Some(password))
    };
    let created = users
        .create_user(NewUser {
            username,
            email,
            password,
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
        Err(UserError::UsernameTaken) => bail!("That {noun} is already taken."),
        Err(e) => Err(e.into()),
    }
}

/// The `USERNAME_FIELD`'s validation, as its form field runs it: `UnicodeUsernameValidator` for
/// `AbstractUser`'s `username`, `EmailValidator` for an email field; `None` when it passes.
fn username_error(model: &UserModel, value: &str) -> Option<String> {
    if model.username_is_email() {
        return (!django_auth_core::validators::is_valid_email(value))
            .then(|| django_auth_core::validators::INVALID_EMAIL.to_string());
    }
    (model.username_field() == "username" && !django_auth_core::users::is_valid_username(value))
        .then(|| django_auth_core::users::INVALID_USERNAME.to_string())
}

/// `changepassword [username]`: three attempts, then Django's abort message. The new hash ends every
/// session of the user (their `_auth_user_hash` no longer matches), here, in the api and in Django.
pub async fn changepassword(username: Option<String>) -> anyhow::Result<()> {
    let users = user_store().await?;
    let username = match username {
        Some(u) => u,
        None => env("USER")
            .or_else(|| env("LOGNAME"))
            .context("no username given and none in $USER")?,
    };
    let Some(user) = users.get_by_natural_key(&username).await? else {
        bail!("user '{username}' does not exist");
    };
    println!("Changing password for user '{username}'");
    let mut prompt = Prompt::new();
    for _ in 0..3 {
        let password = prompt.password("Password: ")?;
        let again = prompt.password("Password (again): ")?;
        if password != again {
            eprintln!("Passwords do not match. Please try again.");
            continue;
        }
        let attributes = django_auth_core::password_validation::UserAttributes::from(&user);
        if let Err(errors) =
            django_auth_core::password_validation::validate_password(&password, &attributes)
        {
            print_validation_errors(&errors);
            continue;
        }
        users.set_password(user.pk(), &password).await?;
        println!("Password changed successfully for user '{username}'");
        return Ok(());
    }
    bail!("Aborting password change for user '{username}' after 3 attempts")
}
