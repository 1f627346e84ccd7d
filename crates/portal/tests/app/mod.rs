//! `spawn_app()` (after zero2prod): the real portal on a free port, on its own throwaway Redis and
//! PostgreSQL (migrated as `portal migrate` does), with a browser-like client (cookie jar, no redirects
//! followed) and helpers that read like a user's story.
#![allow(dead_code)]

#[path = "../../../auth/tests/support/mod.rs"]
pub mod oracle;

use std::collections::HashMap;
use std::sync::Arc;

use django_auth_core::migrate::{self, DefaultAutoField};
use portal::config::Config;
use portal::startup::Application;
use reqwest::cookie::{CookieStore, Jar};
pub use testkit::http::Page;
use testkit::{PostgresServer, RedisServer};

pub struct TestApp {
    pub redis: RedisServer,
    pub pg: PostgresServer,
    pub base: String,
    pub vars: Vec<(&'static str, String)>,
}

/// A browser: its own cookie jar.
pub struct Browser {
    pub client: reqwest::Client,
    pub jar: Arc<Jar>,
    pub base: String,
}

/// The settings every portal test shares (MD5 keeps password hashing instant; the hashers themselves are
/// proven elsewhere), with `extra` added or overriding.
pub fn vars(
    redis: &RedisServer,
    pg: &PostgresServer,
    extra: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut vars: Vec<(&'static str, String)> = vec![
        ("SECRET_KEY", "portal-pages-test-secret".to_string()),
        ("SESSION_ENGINE", "cache".to_string()),
        ("REDIS_URL", redis.url()),
        ("DATABASE_URL", pg.url()),
        (
            "PASSWORD_HASHERS",
            "django.contrib.auth.hashers.MD5PasswordHasher".to_string(),
        ),
        ("REDIS_SOCKET_CONNECT_TIMEOUT", "0.5".to_string()),
        ("REDIS_SOCKET_TIMEOUT", "0.5".to_string()),
        ("DATABASE_CONNECT_TIMEOUT", "1".to_string()),
        ("DATABASE_TIMEOUT", "2".to_string()),
        (
            "ALLOWED_HOSTS",
            "127.0.0.1,localhost,testserver".to_string(),
        ),
        ("TIME_ZONE", "UTC".to_string()),
    ];
    for (name, value) in extra {
        vars.retain(|(n, _)| n != name);
        vars.push((name, value.to_string()));
    }
    vars
}

/// Django's tables made in the database at `url` (the services read the user table at start).
#[allow(dead_code)] // Not every test binary that includes this module migrates on its own.
pub async fn migrated(url: &str) {
    let settings = django_auth_core::settings::Settings::from_lookup(|name| match name {
        "SECRET_KEY" => Some("k".into()),
        "SESSION_ENGINE" => Some("db".into()),
        "DATABASE_URL" => Some(url.into()),
        _ => None,
    })
    .expect("settings");
    let connections = settings.connect().expect("connections");
    migrate::migrate(
        connections.database.as_ref().expect("database"),
        DefaultAutoField::BigAuto,
        false,
    )
    .await
    .expect("migrate");
}

pub async fn spawn_app(extra: &[(&'static str, &str)]) -> TestApp {
    let redis = RedisServer::start().expect("redis-server");
    let pg = PostgresServer::start().expect("postgres");
    let vars = vars(&redis, &pg, extra);
    let map: HashMap<&str, String> = vars.iter().cloned().collect();
    let config = Config::from_lookup(|name| map.get(name).cloned()).expect("settings");
    let connections = config.auth.connect().expect("connections");
    migrate::migrate(
        connections.database.as_ref().expect("database"),
        DefaultAutoField::BigAuto,
        false,
    )
    .await
    .expect("migrate");
    let application = Application::build(config, "127.0.0.1:0")
        .await
        .expect("build");
    let base = format!("http://{}", application.address());
    tokio::spawn(application.run_until_stopped());
    TestApp {
        redis,
        pg,
        base,
        vars,
    }
}

impl TestApp {
    pub fn browser(&self) -> Browser {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Browser {
            client,
            jar,
            base: self.base.clone(),
        }
    }

    /// The peer Django on the same Redis and PostgreSQL.
    pub fn peer(&self) -> oracle::Oracle {
        let vars: Vec<(&str, &str)> = self.vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        oracle::Oracle::peer(&vars)
    }

    pub fn var(&self, name: &str) -> String {
        self.vars
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

impl Browser {
    pub async fn get(&self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET");
        Page::read(response).await
    }

    /// Posts `fields` as a browser would: with the form's own CSRF token unless one is given.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .expect("POST");
        Page::read(response).await
    }

    /// Opens the page at `form_path`, then posts `fields` with its CSRF token to `action`.
    pub async fn submit(&self, form_path: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let form = self.get(form_path).await;
        assert_eq!(form.status, 200, "{form_path}: {}", form.body);
        let token = form.csrf_token();
        let mut all: Vec<(&str, &str)> = vec![("csrfmiddlewaretoken", token.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    pub async fn log_in(&self, username: &str, password: &str) -> Page {
        self.submit(
            "/accounts/login/",
            "/accounts/login/",
            &[("username", username), ("password", password)],
        )
        .await
    }

    pub async fn register(&self, username: &str, email: &str, password: &str) -> Page {
        self.submit(
            "/accounts/register/",
            "/accounts/register/",
            &[
                ("username", username),
                ("email", email),
                ("password1", password),
                ("password2", password),
            ],
        )
        .await
    }

    pub async fn log_out(&self) -> Page {
        self.submit("/accounts/logout/", "/accounts/logout/", &[])
            .await
    }

    /// The value of a cookie this browser holds for the portal.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let url = self.base.parse().expect("url");
        let header = self.jar.cookies(&url)?;
        let header = header.to_str().ok()?.to_string();
        header.split("; ").find_map(|pair| {
            let (n, v) = pair.split_once('=')?;
            (n == name).then(|| v.to_string())
        })
    }

    /// Who the home page says is logged in.
    pub async fn whoami(&self) -> Option<String> {
        let home = self.get("/").await;
        assert_eq!(home.status, 200, "{}", home.body);
        let marker = "<span id=\"username\">";
        let start = home.body.find(marker)? + marker.len();
        let end = home.body[start..].find('<')?;
        Some(home.body[start..start + end].to_string())
    }
}
