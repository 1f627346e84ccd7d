//! The settings the shared crate needs, read once from environment variables named after the Django
//! settings they mirror, and the stores built from them.
//!
//! Unset variables take Django's defaults. A value that cannot be parsed is an error at start-up, never a
//! silent default.

use std::sync::Arc;
use std::time::Duration;

use crate::connections::{Database, DatabaseConfig, Redis, RedisConfig, StoreError};
use crate::cookie::{CookieSettings, SameSite};
use crate::hashers::{PasswordHashers, WorkFactors};
use crate::session::ExpirySettings;
use crate::signing::Keys;
use crate::store::{
    CacheFlavor, CacheSessions, CachedDbSessions, DbSessions, Engine, SessionSettings,
    SessionStore, SignedCookieSessions, UserIndex,
};
use crate::users::UserStore;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{name}: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// `SESSION_ENGINE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    Cache,
    CachedDb,
    Db,
    SignedCookies,
}

impl EngineKind {
    /// `cache`, `cached_db`, `db`, `signed_cookies`, or Django's dotted path
    /// (`django.contrib.sessions.backends.cache`).
    pub fn parse(value: &str) -> Option<EngineKind> {
        let short = value
            .strip_prefix("django.contrib.sessions.backends.")
            .unwrap_or(value);
        match short {
            "cache" => Some(EngineKind::Cache),
            "cached_db" => Some(EngineKind::CachedDb),
            "db" => Some(EngineKind::Db),
            "signed_cookies" => Some(EngineKind::SignedCookies),
            _ => None,
        }
    }
}

/// Everything the stores need, typed.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `SECRET_KEY` and `SECRET_KEY_FALLBACKS`.
    pub keys: Keys,
    /// `SESSION_ENGINE` (default `cache`, this project's heart; Django's own default is `db`).
    pub session_engine: EngineKind,
    pub session: SessionSettings,
    /// `REDIS_URL` with its timeouts; required by `cache` and `cached_db`.
    pub redis: Option<RedisConfig>,
    /// `CACHE_BACKEND` (`CACHES["default"]["BACKEND"]`).
    pub cache_flavor: CacheFlavor,
    /// `CACHE_KEY_PREFIX` (`CACHES["default"]["KEY_PREFIX"]`, default empty).
    pub cache_key_prefix: String,
    /// `CACHE_VERSION` (`CACHES["default"]["VERSION"]`, default 1).
    pub cache_version: i64,
    /// `DATABASE_URL` with its pool settings; required by `db`, `cached_db` and the user store.
    pub database: Option<DatabaseConfig>,
    /// `PASSWORD_HASHERS` (comma-separated dotted paths) and `DJANGO_VERSION` for the work factors.
    pub password_hashers: Arc<PasswordHashers>,
    /// `AUTHENTICATION_BACKENDS`.
    pub authentication_backends: Vec<String>,
    /// `SESSION_COOKIE_NAME`, `_DOMAIN`, `_PATH`, `_SECURE`, `_HTTPONLY`, `_SAMESITE`.
    pub session_cookie: CookieSettings,
    /// `ALLOWED_HOSTS` (empty by default: every host refused unless `DEBUG`, as in Django).
    pub allowed_hosts: Vec<String>,
    /// `DEBUG`.
    pub debug: bool,
}

/// A number of seconds (`1`, `0.5`) above 0 and at most an hour; `default` when unset. Shared with the
/// portal's `EMAIL_TIMEOUT`, so every timeout setting reads alike.
pub fn duration(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: f64,
) -> Result<Duration, SettingsError> {
    let seconds = match get(name) {
        None => default,
        Some(v) => v
            .trim()
            .parse::<f64>()
            .map_err(|_| SettingsError::Invalid {
                name,
                reason: "expected a number of seconds".into(),
            })?,
    };
    // Timeouts are added together into deadlines; an hour is far beyond any useful one.
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero() && *d <= Duration::from_secs(3600))
        .ok_or(SettingsError::Invalid {
            name,
            reason: "expected a number of seconds above 0 and at most 3600".into(),
        })
}

fn integer(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: i64,
) -> Result<i64, SettingsError> {
    match get(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| SettingsError::Invalid {
            name,
            reason: "expected an integer".into(),
        }),
    }
}

fn boolean(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<bool, SettingsError> {
    boolean_or(get, name, false)
}

/// A boolean setting (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, `True`/`False`); `default` when
/// unset or empty. Shared with the portal's `EMAIL_USE_TLS`/`EMAIL_USE_SSL`.
pub fn boolean_or(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, SettingsError> {
    match get(name).as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some("1" | "true" | "True" | "TRUE" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "False" | "FALSE" | "no" | "off") => Ok(false),
        Some(_) => Err(SettingsError::Invalid {
            name,
            reason: "expected true or false".into(),
        }),
    }
}

/// A list setting: a JSON array of strings, or comma-separated values (empty items dropped).
pub fn list(value: &str, name: &'static str) -> Result<Vec<String>, SettingsError> {
    let value = value.trim();
    if value.starts_with('[') {
        return serde_json::from_str(value).map_err(|_| SettingsError::Invalid {
            name,
            reason: "expected a JSON array of strings".into(),
        });
    }
    Ok(value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect())
}

/// `PASSWORD_HASHERS` (comma-separated or a JSON array of dotted paths; Django's default list otherwise)
/// with the work factors of `DJANGO_VERSION` (default 5.2).
pub fn password_hashers(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<PasswordHashers, SettingsError> {
    let work_factors = match get("DJANGO_VERSION") {
        None => WorkFactors::django_5_2(),
        Some(v) => WorkFactors::for_django_version(v.trim()).ok_or(SettingsError::Invalid {
            name: "DJANGO_VERSION",
            reason: "expected 4.2, 5.0, 5.1 or 5.2".into(),
        })?,
    };
    let paths = match get("PASSWORD_HASHERS") {
        None => crate::hashers::DEFAULT_PASSWORD_HASHERS
            .iter()
            .map(|p| p.to_string())
            .collect(),
        Some(v) => list(&v, "PASSWORD_HASHERS")?,
    };
    PasswordHashers::new(paths, work_factors).map_err(|e| SettingsError::Invalid {
        name: "PASSWORD_HASHERS",
        reason: e.to_string(),
    })
}

/// The session cookie's settings, Django's defaults where unset. `SESSION_COOKIE_SAMESITE` is `Lax`,
/// `Strict`, `None`, or `False` (no attribute).
pub fn cookie_settings(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<CookieSettings, SettingsError> {
    let defaults = CookieSettings::default();
    let samesite = match get("SESSION_COOKIE_SAMESITE").as_deref().map(str::trim) {
        None | Some("Lax") => Some(SameSite::Lax),
        Some("Strict") => Some(SameSite::Strict),
        Some("None") => Some(SameSite::None),
        Some("False" | "false" | "") => None,
        Some(_) => {
            return Err(SettingsError::Invalid {
                name: "SESSION_COOKIE_SAMESITE",
                reason: "expected Lax, Strict, None or False".into(),
            });
        }
    };
    let name = get("SESSION_COOKIE_NAME")
        .map(|n| n.trim().to_string())
        .unwrap_or(defaults.name);
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
    {
        return Err(SettingsError::Invalid {
            name: "SESSION_COOKIE_NAME",
            reason: "expected a cookie name (letters, digits and !#$%&'*+-.^_`|~)".into(),
        });
    }
    Ok(CookieSettings {
        name,
        domain: get("SESSION_COOKIE_DOMAIN").filter(|d| !d.trim().is_empty()),
        path: get("SESSION_COOKIE_PATH")
            .filter(|p| !p.trim().is_empty())
            .unwrap_or(defaults.path),
        secure: boolean(get, "SESSION_COOKIE_SECURE")?,
        httponly: boolean_or(get, "SESSION_COOKIE_HTTPONLY", true)?,
        samesite,
    })
}

/// `DATABASE_URL` and its pool settings alone (what `portal migrate` needs); `None` when unset.
pub fn database_config(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<DatabaseConfig>, SettingsError> {
    let Some(url) = get("DATABASE_URL").filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    Ok(Some(DatabaseConfig {
        url,
        pool_size: integer(get, "DATABASE_POOL_SIZE", 10)?.clamp(1, 1000) as usize,
        connect_timeout: duration(get, "DATABASE_CONNECT_TIMEOUT", 2.0)?,
        timeout: duration(get, "DATABASE_TIMEOUT", 5.0)?,
    }))
}

impl Settings {
    /// From the process environment.
    pub fn from_env() -> Result<Settings, SettingsError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// From any lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let secret_key = get("SECRET_KEY")
            .filter(|s| !s.is_empty())
            .ok_or(SettingsError::Missing("SECRET_KEY"))?;
        let fallbacks = match get("SECRET_KEY_FALLBACKS") {
            Some(v) => list(&v, "SECRET_KEY_FALLBACKS")?,
            None => Vec::new(),
        };
        let session_engine = match get("SESSION_ENGINE") {
            None => EngineKind::Cache,
            Some(v) => EngineKind::parse(v.trim()).ok_or(SettingsError::Invalid {
                name: "SESSION_ENGINE",
                reason: "expected cache, cached_db, db or signed_cookies".into(),
            })?,
        };
        let cookie_age = integer(&get, "SESSION_COOKIE_AGE", 1_209_600)?;
        // Dates must stay representable: a century either way is more than any cookie lives.
        if cookie_age.abs() > 100 * 366 * 86_400 {
            return Err(SettingsError::Invalid {
                name: "SESSION_COOKIE_AGE",
                reason: "expected at most a century of seconds".into(),
            });
        }
        let session = SessionSettings {
            expiry: ExpirySettings {
                cookie_age,
                expire_at_browser_close: boolean(&get, "SESSION_EXPIRE_AT_BROWSER_CLOSE")?,
            },
            save_every_request: boolean(&get, "SESSION_SAVE_EVERY_REQUEST")?,
        };
        let redis = match get("REDIS_URL").filter(|s| !s.is_empty()) {
            None => None,
            Some(url) => Some(RedisConfig {
                url,
                connect_timeout: duration(&get, "REDIS_SOCKET_CONNECT_TIMEOUT", 1.0)?,
                response_timeout: duration(&get, "REDIS_SOCKET_TIMEOUT", 1.0)?,
                ca_certs: get("REDIS_SSL_CA_CERTS")
                    .filter(|s| !s.is_empty())
                    .map(std::path::PathBuf::from),
            }),
        };
        let cache_flavor = match get("CACHE_BACKEND") {
            None => CacheFlavor::Django,
            Some(v) => CacheFlavor::from_backend(v.trim()).ok_or(SettingsError::Invalid {
                name: "CACHE_BACKEND",
                reason: "expected django.core.cache.backends.redis.RedisCache or \
                         django_redis.cache.RedisCache"
                    .into(),
            })?,
        };
        let database = database_config(&get)?;
        let password_hashers = password_hashers(&get)?;
        let authentication_backends = match get("AUTHENTICATION_BACKENDS") {
            None => vec![crate::auth::MODEL_BACKEND.to_string()],
            Some(v) => list(&v, "AUTHENTICATION_BACKENDS")?,
        };
        let settings = Settings {
            keys: Keys::new(secret_key, fallbacks),
            session_engine,
            session,
            redis,
            cache_flavor,
            cache_key_prefix: get("CACHE_KEY_PREFIX").unwrap_or_default(),
            cache_version: integer(&get, "CACHE_VERSION", 1)?,
            database,
            password_hashers: Arc::new(password_hashers),
            authentication_backends,
            session_cookie: cookie_settings(&get)?,
            allowed_hosts: match get("ALLOWED_HOSTS") {
                None => Vec::new(),
                Some(v) => list(&v, "ALLOWED_HOSTS")?,
            },
            debug: boolean(&get, "DEBUG")?,
        };
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), SettingsError> {
        let needs_redis = matches!(
            self.session_engine,
            EngineKind::Cache | EngineKind::CachedDb
        );
        let needs_db = matches!(self.session_engine, EngineKind::Db | EngineKind::CachedDb);
        if needs_redis && self.redis.is_none() {
            return Err(SettingsError::Missing("REDIS_URL"));
        }
        if needs_db && self.database.is_none() {
            return Err(SettingsError::Missing("DATABASE_URL"));
        }
        Ok(())
    }

    /// The connections, made lazily (nothing is contacted yet). Call inside a Tokio runtime.
    pub fn connect(&self) -> Result<Connections, StoreError> {
        Ok(Connections {
            redis: self.redis.as_ref().map(Redis::connect).transpose()?,
            database: self.database.as_ref().map(Database::connect).transpose()?,
        })
    }

    /// `SESSION_ENGINE` on these connections, with the per-user index wherever Redis is configured.
    pub fn session_store(&self, connections: &Connections) -> Result<SessionStore, StoreError> {
        let redis = || {
            connections
                .redis
                .clone()
                .ok_or_else(|| StoreError::Config("REDIS_URL is required".into()))
        };
        let db = || {
            connections
                .database
                .clone()
                .map(|db| DbSessions::new(db, self.keys.clone()))
                .ok_or_else(|| StoreError::Config("DATABASE_URL is required".into()))
        };
        let engine = match self.session_engine {
            EngineKind::Cache => Engine::Cache(CacheSessions::new(
                redis()?,
                &self.cache_key_prefix,
                self.cache_version,
                self.cache_flavor,
            )),
            EngineKind::CachedDb => Engine::CachedDb(CachedDbSessions::new(
                redis()?,
                &self.cache_key_prefix,
                self.cache_version,
                self.cache_flavor,
                db()?,
            )),
            EngineKind::Db => Engine::Db(db()?),
            EngineKind::SignedCookies => Engine::SignedCookies(SignedCookieSessions::new(
                self.keys.clone(),
                self.session.expiry.cookie_age,
            )),
        };
        let index = match (self.session_engine, &connections.redis) {
            (EngineKind::SignedCookies, _) | (_, None) => None,
            (_, Some(redis)) => Some(UserIndex::new(
                redis.clone(),
                &self.cache_key_prefix,
                self.cache_version,
            )),
        };
        Ok(SessionStore::new(engine, self.session, index))
    }

    /// The user store on `DATABASE_URL`.
    pub fn user_store(&self, connections: &Connections) -> Result<UserStore, StoreError> {
        let db = connections
            .database
            .clone()
            .ok_or_else(|| StoreError::Config("DATABASE_URL is required".into()))?;
        Ok(UserStore::new(db, self.password_hashers.clone()))
    }
}

/// The shared connections of a service.
#[derive(Clone, Debug)]
pub struct Connections {
    pub redis: Option<Redis>,
    pub database: Option<Database>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_and_errors() {
        assert!(matches!(
            settings(&[]),
            Err(SettingsError::Missing("SECRET_KEY"))
        ));
        assert!(matches!(
            settings(&[("SECRET_KEY", "k")]),
            Err(SettingsError::Missing("REDIS_URL"))
        ));
        let s = settings(&[("SECRET_KEY", "k"), ("REDIS_URL", "redis://h/1")]).unwrap();
        assert_eq!(s.session_engine, EngineKind::Cache);
        assert_eq!(s.session.expiry.cookie_age, 1_209_600);
        assert_eq!(s.cache_version, 1);
        assert_eq!(s.cache_key_prefix, "");
        assert_eq!(s.cache_flavor, CacheFlavor::Django);
        assert_eq!(s.session_cookie, CookieSettings::default());
        let s = settings(&[
            ("SECRET_KEY", "k"),
            ("SECRET_KEY_FALLBACKS", r#"["a,b", "c"]"#),
            ("SESSION_ENGINE", "django.contrib.sessions.backends.db"),
            ("DATABASE_URL", "postgres://u@h/d"),
            ("CACHE_BACKEND", "django_redis.cache.RedisCache"),
        ])
        .unwrap();
        assert_eq!(s.keys.fallbacks, vec!["a,b", "c"]);
        assert_eq!(s.session_engine, EngineKind::Db);
        assert_eq!(s.cache_flavor, CacheFlavor::DjangoRedis);
        let s = settings(&[
            ("SECRET_KEY", "k"),
            ("SECRET_KEY_FALLBACKS", "a, b,"),
            ("SESSION_ENGINE", "signed_cookies"),
        ])
        .unwrap();
        assert_eq!(s.keys.fallbacks, vec!["a", "b"]);
        for (name, value) in [
            ("SESSION_ENGINE", "file"),
            ("SESSION_COOKIE_AGE", "two weeks"),
            ("REDIS_SOCKET_TIMEOUT", "-1"),
            ("CACHE_BACKEND", "locmem"),
            ("SESSION_SAVE_EVERY_REQUEST", "perhaps"),
            ("SESSION_COOKIE_AGE", "99999999999999"),
            ("REDIS_SOCKET_CONNECT_TIMEOUT", "1e19"),
            ("SESSION_COOKIE_SAMESITE", "lax please"),
            ("SESSION_COOKIE_NAME", "session id"),
        ] {
            let err = settings(&[
                ("SECRET_KEY", "k"),
                ("REDIS_URL", "redis://h"),
                (name, value),
            ])
            .unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
    }
}
