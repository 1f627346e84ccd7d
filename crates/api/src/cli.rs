//! `api serve` (the default): `--bind 127.0.0.1:8001`, or `API_BIND`. Settings come from the environment,
//! with the portal's names (Django's).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "api",
    version,
    about = "The JSON API that Django's session authenticates."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the API (the default command).
    Serve {
        #[arg(long, env = "API_BIND", default_value = "127.0.0.1:8001")]
        bind: String,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let bind = match cli.command {
        Some(Command::Serve { bind }) => bind,
        None => std::env::var("API_BIND").unwrap_or_else(|_| "127.0.0.1:8001".into()),
    };
    django_auth_web::run(async move {
        let settings = django_auth_core::settings::Settings::from_env()?;
        let application = crate::startup::Application::build(settings, &bind).await?;
        tracing::info!(address = %application.address(), "api listening");
        application.run_until_stopped().await?;
        Ok(())
    })
}
