//! The command line, after Django's `manage.py`: `serve` (the default), `migrate`, `clearsessions`,
//! `createsuperuser`. Settings come from the environment (see the README), never from flags, except where
//! Django's own command takes a flag.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands;

#[derive(Parser, Debug)]
#[command(
    name = "portal",
    version,
    about = "The login portal a Django project accepts as its own."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the pages (the default command).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "PORTAL_BIND", default_value = "127.0.0.1:8000")]
        bind: String,
    },
    /// Create Django's contenttypes, auth and sessions tables, as `manage.py migrate` does; a database
    /// Django already migrated is left as it is.
    Migrate,
    /// Delete expired sessions (`manage.py clearsessions`); a no-op for engines that expire by themselves.
    Clearsessions,
    /// Create a superuser, as `manage.py createsuperuser`: prompts for the `USERNAME_FIELD`, the email and
    /// the password (twice, checked by the password validators); with `--noinput`, takes `--username`,
    /// `--email` (the login itself when the model logs in by email) and `DJANGO_SUPERUSER_PASSWORD`
    /// (without it the account has an unusable password).
    Createsuperuser {
        /// Do not prompt (Django's `--noinput`).
        #[arg(long, alias = "no-input")]
        noinput: bool,
        #[arg(long, env = "DJANGO_SUPERUSER_USERNAME")]
        username: Option<String>,
        #[arg(long, env = "DJANGO_SUPERUSER_EMAIL", default_value = "")]
        email: String,
    },
    /// Change a user's password, as `manage.py changepassword`: prompts twice (no echo on a terminal,
    /// lines from stdin otherwise), checks the password validators, gives up after 3 attempts. Every
    /// session of the user ends, on every service.
    Changepassword {
        /// The username (default: the current system user, as Django).
        username: Option<String>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    django_auth_web::run(async {
        match cli.command.unwrap_or(Command::Serve {
            bind: std::env::var("PORTAL_BIND").unwrap_or_else(|_| "127.0.0.1:8000".into()),
        }) {
            Command::Serve { bind } => commands::serve(&bind).await,
            Command::Migrate => commands::migrate().await,
            Command::Clearsessions => commands::clearsessions().await,
            Command::Createsuperuser {
                noinput,
                username,
                email,
            } => commands::createsuperuser(noinput, username, email).await,
            Command::Changepassword { username } => commands::changepassword(username).await,
        }
    })
}
