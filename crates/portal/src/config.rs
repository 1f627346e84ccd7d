//! The portal's settings: the shared crate's (`django_auth_core::settings::Settings`) plus the few that only pages
//! need, each named after the Django setting it mirrors, read once at start-up.

use django_auth_core::settings::{Settings, SettingsError};

/// `LOGIN_URL`, `LOGIN_REDIRECT_URL`, `LOGOUT_REDIRECT_URL`, and where the api lives.
#[derive(Clone, Debug)]
pub struct PortalSettings {
    /// `LOGIN_URL` (default `/accounts/login/`): where `login_required` pages send anonymous visitors.
    pub login_url: String,
    /// `LOGIN_REDIRECT_URL`: where a login without a safe `next` lands. Django's default is
    /// `/accounts/profile/`, a page this portal does not have, so the default here is `/`.
    pub login_redirect_url: String,
    /// `LOGOUT_REDIRECT_URL` (default none: the "logged out" page is shown).
    pub logout_redirect_url: Option<String>,
    /// `API_URL` (default `/api/v1/`): the api's base URL, for the links on the home page.
    pub api_url: String,
}

/// Everything the portal reads from the environment.
#[derive(Clone, Debug)]
pub struct Config {
    pub auth: Settings,
    pub portal: PortalSettings,
    pub mail: crate::mail::MailSettings,
}

impl Config {
    pub fn from_env() -> Result<Config, anyhow::Error> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, anyhow::Error> {
        let auth = Settings::from_lookup(&get)?;
        let url = |name: &'static str, default: &str| -> Result<String, SettingsError> {
            let value = get(name).unwrap_or_else(|| default.to_string());
            let value = value.trim().to_string();
            // A relative path or an absolute http(s) URL; anything else would be an odd redirect.
            if value.starts_with('/')
                || value.starts_with("http://")
                || value.starts_with("https://")
            {
                Ok(value)
            } else {
                Err(SettingsError::Invalid {
                    name,
                    reason: "expected a path starting with / or an http(s) URL".into(),
                })
            }
        };
        let portal = PortalSettings {
            login_url: url("LOGIN_URL", "/accounts/login/")?,
            login_redirect_url: url("LOGIN_REDIRECT_URL", "/")?,
            logout_redirect_url: match get("LOGOUT_REDIRECT_URL").filter(|v| !v.trim().is_empty()) {
                None => None,
                Some(_) => Some(url("LOGOUT_REDIRECT_URL", "/")?),
            },
            api_url: {
                let mut api = url("API_URL", "/api/v1/")?;
                if !api.ends_with('/') {
                    api.push('/');
                }
                api
            },
        };
        let mail = crate::mail::MailSettings::from_lookup(&get)?;
        Ok(Config { auth, portal, mail })
    }
}
