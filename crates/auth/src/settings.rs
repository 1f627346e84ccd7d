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
use crate::tokens::DEFAULT_PASSWORD_RESET_TIMEOUT;
use crate::users::UserStore;

/// A setting that stops a service at start-up: required but unset, or set to a value that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The named variable is unset and the configuration needs it, e.g. `SECRET_KEY`, or
    /// `REDIS_URL` for the `cache` engine.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A variable's value does not parse or is out of range.
    #[error("{name}: {reason}")]
    Invalid {
        /// The environment variable at fault.
        name: &'static str,
        /// What is wrong with its value, e.g. `expected 0 to 16`.
        reason: String,
    },
}

/// `SESSION_ENGINE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// `django.contrib.sessions.backends.cache`: sessions only in Redis.
    Cache,
    /// `django.contrib.sessions.backends.cached_db`: PostgreSQL, with Redis as a write-through cache.
    CachedDb,
    /// `django.contrib.sessions.backends.db`: sessions only in PostgreSQL (`django_session`).
    Db,
    /// `django.contrib.sessions.backends.signed_cookies`: the session is the signed cookie itself.
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
    /// `SESSION_COOKIE_AGE`, `SESSION_EXPIRE_AT_BROWSER_CLOSE` and `SESSION_SAVE_EVERY_REQUEST`.
    pub session: SessionSettings,
    /// `REDIS_URL` with its timeouts; required by `cache` and `cached_db`.
    pub redis: Option<RedisConfig>,
    /// `CACHE_BACKEND` (`CACHES["default"]["BACKEND"]`) and, for django-redis, `CACHE_PICKLE_VERSION`
    /// (`CACHES["default"]["OPTIONS"]["PICKLE_VERSION"]`).
    pub cache_flavor: CacheFlavor,
    /// `CACHE_KEY_PREFIX` (`CACHES["default"]["KEY_PREFIX"]`, default empty).
    pub cache_key_prefix: String,
    /// `CACHE_VERSION` (`CACHES["default"]["VERSION"]`, default 1).
    pub cache_version: i64,
    /// `DATABASE_URL` with its pool settings; required by `db`, `cached_db` and the user store.
    pub database: Option<DatabaseConfig>,
    /// `PASSWORD_HASHERS` (comma-separated dotted paths) and `DJANGO_VERSION` for the work factors.
    pub password_hashers: Arc<PasswordHashers>,
    /// `AUTH_USER_MODEL` and what the model's class says (`USERNAME_FIELD`, `EMAIL_FIELD`, `db_table`).
    pub user_model: crate::user_model::UserModelSettings,
    /// `AUTHENTICATION_BACKENDS`.
    pub authentication_backends: Vec<String>,
    /// `SESSION_COOKIE_NAME`, `_DOMAIN`, `_PATH`, `_SECURE`, `_HTTPONLY`, `_SAMESITE`.
    pub session_cookie: CookieSettings,
    /// `ALLOWED_HOSTS` (empty by default: every host refused unless `DEBUG`, as in Django).
    pub allowed_hosts: Vec<String>,
    /// `DEBUG`.
    pub debug: bool,
    /// True when `SECRET_KEY` was unset and `DEBUG` made up a random per-process key: every session and
    /// token dies with the process, and no other service can read them. The binaries say so loudly.
    pub secret_key_generated: bool,
    /// `CSRF_*`.
    pub csrf: CsrfSettings,
    /// `USE_X_FORWARDED_HOST`: take the host from `X-Forwarded-Host` (only behind a proxy that sets it).
    pub use_x_forwarded_host: bool,
    /// `SECURE_PROXY_SSL_HEADER` as `HTTP_X_FORWARDED_PROTO,https`: the header (as an HTTP name) and the
    /// value that mark a request as HTTPS. Unset, only a TLS listener would be secure, and ours never is.
    pub secure_proxy_ssl_header: Option<(String, String)>,
    /// `SESSION_IDLE_TIMEOUT` (seconds; unset or 0 is off): a session unused this long ends, as OpenStack
    /// Horizon's `SESSION_TIMEOUT` with its `last_activity` stamp. Not a Django setting.
    pub idle_timeout: Option<i64>,
    /// `PASSWORD_RESET_TIMEOUT` (seconds, default three days).
    pub password_reset_timeout: i64,
    /// `TIME_ZONE` (Django's default `America/Chicago`): reset tokens count seconds on its wall clock.
    pub time_zone: chrono_tz::Tz,
    /// `LOGIN_FAILURE_LIMIT`, `LOGIN_ADDRESS_FAILURE_LIMIT`, `LOGIN_FAILURE_WINDOW`.
    pub login_throttle: crate::throttle::ThrottleSettings,
    /// `NUM_PROXIES` (Django REST framework's name): how many proxies in front append to
    /// `X-Forwarded-For`; the client address is the entry that many from the end. 0 (default): the
    /// connection's peer address, and `X-Forwarded-For` is ignored.
    pub num_proxies: usize,
    /// `CORS_ALLOWED_ORIGINS` (django-cors-headers' name): the origins (`https://app.example.com`) whose
    /// pages may call the api from a browser, with their cookies. Empty (default): no cross-origin access.
    pub cors_allowed_origins: Vec<String>,
    /// `CORS_PREFLIGHT_MAX_AGE` (seconds, django-cors-headers' default 86400; 0 sends no `Max-Age`).
    pub cors_preflight_max_age: usize,
    /// `FORWARD_AUTH_*`: who the forward-auth endpoint lets through to the services behind a proxy.
    pub forward_auth: ForwardAuthSettings,
}

/// The forward-auth endpoint's rules (not Django settings: Django has no such endpoint).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForwardAuthSettings {
    /// `FORWARD_AUTH_REQUIRE_STAFF`: only `is_staff` users pass (others get 403).
    pub require_staff: bool,
    /// `FORWARD_AUTH_GROUPS`: when not empty, only members of one of these Django groups pass.
    pub groups: Vec<String>,
    /// `FORWARD_AUTH_CSRF`: Django's CSRF check for an original request with an unsafe method.
    pub csrf: ForwardAuthCsrf,
}

/// `FORWARD_AUTH_CSRF`'s values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardAuthCsrf {
    /// `false` (default): no check; the service behind the proxy does its own.
    #[default]
    Off,
    /// `true`: Django's whole check, Origin (or Referer over HTTPS) and then the token, which must come in
    /// the `CSRF_HEADER_NAME` header (a proxy never forwards the body, where a form's token is).
    Full,
    /// `origin`: Django's Origin and Referer half only, for services that take plain HTML form posts.
    Origin,
}

fn forward_auth_settings(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<ForwardAuthSettings, SettingsError> {
    let csrf = match get("FORWARD_AUTH_CSRF").as_deref().map(str::trim) {
        Some("origin" | "ORIGIN" | "Origin") => ForwardAuthCsrf::Origin,
        _ if boolean(get, "FORWARD_AUTH_CSRF").map_err(|_| SettingsError::Invalid {
            name: "FORWARD_AUTH_CSRF",
            reason: "expected true, false or origin".into(),
        })? =>
        {
            ForwardAuthCsrf::Full
        }
        _ => ForwardAuthCsrf::Off,
    };
    Ok(ForwardAuthSettings {
        require_staff: boolean(get, "FORWARD_AUTH_REQUIRE_STAFF")?,
        groups: match get("FORWARD_AUTH_GROUPS") {
            None => Vec::new(),
            Some(v) => list(&v, "FORWARD_AUTH_GROUPS")?,
        },
        csrf,
    })
}

/// `CORS_ALLOWED_ORIGINS`, checked as django-cors-headers checks it (`scheme://host[:port]`, no path), and
/// without `*`: the api always answers with credentials, and a wildcard would hand every site the user's
/// session.
fn cors_allowed_origins(value: &str) -> Result<Vec<String>, SettingsError> {
    let origins = list(value, "CORS_ALLOWED_ORIGINS")?;
    for origin in &origins {
        let invalid = |reason: String| SettingsError::Invalid {
            name: "CORS_ALLOWED_ORIGINS",
            reason,
        };
        if origin == "*" || origin.contains('*') {
            return Err(invalid(
                "\"*\" is not allowed: the api answers with credentials, so each origin must be \
                 named"
                    .into(),
            ));
        }
        let Some((scheme, rest)) = origin.split_once("://") else {
            return Err(invalid(format!("{origin:?} is missing scheme or netloc")));
        };
        if scheme.is_empty() || rest.is_empty() {
            return Err(invalid(format!("{origin:?} is missing scheme or netloc")));
        }
        if rest.contains(['/', '?', '#']) {
            return Err(invalid(format!(
                "{origin:?} should not have path, query or fragment"
            )));
        }
    }
    Ok(origins)
}

/// A number of seconds (`1`, `0.5`) above 0 and at most an hour; `default` when unset. Shared with the
/// portal's `EMAIL_TIMEOUT`, so every timeout setting reads alike.
pub fn duration(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: f64,
) -> Result<Duration, SettingsError> {
    duration_max(get, name, default, 3600.0)
}

fn duration_max(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: f64,
    max: f64,
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
        .filter(|d| !d.is_zero() && d.as_secs_f64() <= max)
        .ok_or_else(|| SettingsError::Invalid {
            name,
            reason: format!("expected a number of seconds above 0 and at most {max}"),
        })
}

/// `REDIS_URL` and its companions. `REDIS_URL` may list several URLs, comma-separated, as Django's
/// `RedisCache` takes several `LOCATION`s (the primary first, then replicas): the first is the one used,
/// for reads as well as writes, since a replica may not have a logout yet. With `REDIS_SENTINELS`, the
/// URL's host is the Sentinel service name. With `REDIS_CLUSTER_NODES`, `REDIS_URL` is optional and only
/// gives the username and password.
fn redis_config(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<RedisConfig>, SettingsError> {
    let urls = get("REDIS_URL").filter(|s| !s.trim().is_empty());
    let cluster_nodes = get("REDIS_CLUSTER_NODES").filter(|s| !s.trim().is_empty());
    if urls.is_none() && cluster_nodes.is_none() {
        return Ok(None);
    }
    let urls = urls.unwrap_or_default();
    let mut locations = urls.split(',').map(str::trim).filter(|s| !s.is_empty());
    let url = locations.next().unwrap_or_default().to_string();
    let replicas_listed = locations.count();
    let response_timeout = duration(get, "REDIS_SOCKET_TIMEOUT", 1.0)?;
    let cluster = match &cluster_nodes {
        None => None,
        Some(nodes) => {
            if replicas_listed > 0 {
                return Err(SettingsError::Invalid {
                    name: "REDIS_URL",
                    reason:
                        "with REDIS_CLUSTER_NODES, at most one URL (for its username and password)"
                            .into(),
                });
            }
            if get("REDIS_SENTINELS").is_some_and(|s| !s.trim().is_empty()) {
                return Err(SettingsError::Invalid {
                    name: "REDIS_CLUSTER_NODES",
                    reason: "a Redis Cluster has no Sentinels: set REDIS_CLUSTER_NODES or REDIS_SENTINELS"
                        .into(),
                });
            }
            Some(
                crate::cluster::ClusterConfig::parse(
                    nodes,
                    (!url.is_empty()).then_some(url.as_str()),
                )
                .map_err(|(name, reason)| SettingsError::Invalid { name, reason })?,
            )
        }
    };
    let sentinel = match get("REDIS_SENTINELS").filter(|s| !s.trim().is_empty()) {
        None => None,
        Some(sentinels) => {
            if replicas_listed > 0 {
                return Err(SettingsError::Invalid {
                    name: "REDIS_URL",
                    reason: "with REDIS_SENTINELS, one URL naming the Sentinel service \
                             (redis://mymaster/0), not a list"
                        .into(),
                });
            }
            Some(
                crate::sentinel::SentinelConfig::parse(
                    &url,
                    &sentinels,
                    get("REDIS_SENTINEL_PASSWORD"),
                )
                .map_err(|(name, reason)| SettingsError::Invalid { name, reason })?,
            )
        }
    };
    let wait_replicas = match get("REDIS_WAIT_REPLICAS").filter(|s| !s.trim().is_empty()) {
        None => None,
        Some(v) => Some(
            v.trim()
                .parse::<u32>()
                .map_err(|_| SettingsError::Invalid {
                    name: "REDIS_WAIT_REPLICAS",
                    reason: "expected a number of replicas (0 to not wait)".into(),
                })?,
        ),
    };
    // `WAIT` must answer before the socket times out.
    let wait_timeout = duration_max(
        get,
        "REDIS_WAIT_TIMEOUT",
        response_timeout.as_secs_f64() / 2.0,
        response_timeout.as_secs_f64(),
    )?;
    if wait_timeout >= response_timeout {
        return Err(SettingsError::Invalid {
            name: "REDIS_WAIT_TIMEOUT",
            reason: "must be less than REDIS_SOCKET_TIMEOUT".into(),
        });
    }
    let behind_sentinel = sentinel.is_some();
    Ok(Some(RedisConfig {
        url,
        connect_timeout: duration(get, "REDIS_SOCKET_CONNECT_TIMEOUT", 1.0)?,
        response_timeout,
        ca_certs: get("REDIS_SSL_CA_CERTS")
            .filter(|s| !s.is_empty())
            .map(std::path::PathBuf::from),
        sentinel,
        cluster,
        // Replicas listed in REDIS_URL exist by definition: wait for one unless told otherwise. Behind
        // Sentinel too: during a failover the old primary has no replica left, and a deletion it does
        // alone is lost when it is demoted, so "no replica connected" must not mean "nothing to wait for".
        wait_replicas: wait_replicas.or((replicas_listed > 0 || behind_sentinel).then_some(1)),
        wait_timeout,
    }))
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

/// `DJANGO_VERSION`'s default: the newest Django the tests prove.
pub const DJANGO_VERSION: &str = "6.1";

/// `DJANGO_VERSION`: the peer Django's `"major.minor"`, one of [`WorkFactors::DJANGO_VERSIONS`] (default
/// [`DJANGO_VERSION`]). What follows it: the hashers' work factors (so neither side re-hashes what the
/// other set) and the order `portal migrate` creates content types in.
pub fn django_version(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<&'static str, SettingsError> {
    let Some(value) = get("DJANGO_VERSION") else {
        return Ok(DJANGO_VERSION);
    };
    WorkFactors::DJANGO_VERSIONS
        .into_iter()
        .find(|known| *known == value.trim())
        .ok_or_else(|| SettingsError::Invalid {
            name: "DJANGO_VERSION",
            reason: format!(
                "expected one of {}",
                WorkFactors::DJANGO_VERSIONS.join(", ")
            ),
        })
}

/// `PASSWORD_HASHERS` (comma-separated or a JSON array of dotted paths; Django's default list otherwise)
/// with the work factors of `DJANGO_VERSION`.
pub fn password_hashers(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<PasswordHashers, SettingsError> {
    // Every known version has a preset (hashers' unit tests).
    let work_factors = WorkFactors::for_django_version(django_version(get)?).unwrap_or_default();
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

/// `CACHE_BACKEND` and `CACHE_PICKLE_VERSION`: the backend, and the pickle protocol django-redis writes
/// (its `OPTIONS["PICKLE_VERSION"]`: `-1`, `4` or `5`; unset, `pickle.DEFAULT_PROTOCOL`, 4 on the Pythons
/// before 3.14). Django's own `RedisCache` has no such option (always protocol 5), so the setting is
/// refused with it rather than ignored.
fn cache_flavor(get: &impl Fn(&str) -> Option<String>) -> Result<CacheFlavor, SettingsError> {
    let flavor = match get("CACHE_BACKEND") {
        None => CacheFlavor::Django,
        Some(v) => CacheFlavor::from_backend(v.trim()).ok_or(SettingsError::Invalid {
            name: "CACHE_BACKEND",
            reason: "expected django.core.cache.backends.redis.RedisCache or \
                     django_redis.cache.RedisCache"
                .into(),
        })?,
    };
    let Some(version) = get("CACHE_PICKLE_VERSION").filter(|v| !v.trim().is_empty()) else {
        return Ok(flavor);
    };
    let invalid = |reason: &str| SettingsError::Invalid {
        name: "CACHE_PICKLE_VERSION",
        reason: reason.into(),
    };
    if flavor == CacheFlavor::Django {
        return Err(invalid(
            "only django_redis.cache.RedisCache has OPTIONS[\"PICKLE_VERSION\"]; Django's RedisCache \
             always writes pickle protocol 5",
        ));
    }
    version
        .trim()
        .parse()
        .ok()
        .and_then(CacheFlavor::django_redis)
        .ok_or_else(|| invalid("expected -1 (pickle.HIGHEST_PROTOCOL, 5), 4 or 5"))
}

/// The environment variables of one cookie's settings (Django has one group per cookie).
struct CookieNames {
    name: &'static str,
    domain: &'static str,
    path: &'static str,
    secure: &'static str,
    httponly: &'static str,
    samesite: &'static str,
}

const SESSION_COOKIE: CookieNames = CookieNames {
    name: "SESSION_COOKIE_NAME",
    domain: "SESSION_COOKIE_DOMAIN",
    path: "SESSION_COOKIE_PATH",
    secure: "SESSION_COOKIE_SECURE",
    httponly: "SESSION_COOKIE_HTTPONLY",
    samesite: "SESSION_COOKIE_SAMESITE",
};

const CSRF_COOKIE: CookieNames = CookieNames {
    name: "CSRF_COOKIE_NAME",
    domain: "CSRF_COOKIE_DOMAIN",
    path: "CSRF_COOKIE_PATH",
    secure: "CSRF_COOKIE_SECURE",
    httponly: "CSRF_COOKIE_HTTPONLY",
    samesite: "CSRF_COOKIE_SAMESITE",
};

/// One cookie's settings, `defaults` where unset. `*_SAMESITE` is `Lax`, `Strict`, `None`, or `False` (no
/// attribute).
fn cookie(
    get: &impl Fn(&str) -> Option<String>,
    names: &CookieNames,
    defaults: CookieSettings,
) -> Result<CookieSettings, SettingsError> {
    let samesite = match get(names.samesite).as_deref().map(str::trim) {
        None => defaults.samesite,
        Some("Lax") => Some(SameSite::Lax),
        Some("Strict") => Some(SameSite::Strict),
        Some("None") => Some(SameSite::None),
        Some("False" | "false" | "") => None,
        Some(_) => {
            return Err(SettingsError::Invalid {
                name: names.samesite,
                reason: "expected Lax, Strict, None or False".into(),
            });
        }
    };
    let name = get(names.name)
        .map(|n| n.trim().to_string())
        .unwrap_or(defaults.name);
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
    {
        return Err(SettingsError::Invalid {
            name: names.name,
            reason: "expected a cookie name (letters, digits and !#$%&'*+-.^_`|~)".into(),
        });
    }
    Ok(CookieSettings {
        name,
        domain: get(names.domain).filter(|d| !d.trim().is_empty()),
        path: get(names.path)
            .filter(|p| !p.trim().is_empty())
            .unwrap_or(defaults.path),
        secure: boolean_or(get, names.secure, defaults.secure)?,
        httponly: boolean_or(get, names.httponly, defaults.httponly)?,
        samesite,
    })
}

/// The session cookie's settings (`SESSION_COOKIE_*`), Django's defaults where unset.
pub fn cookie_settings(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<CookieSettings, SettingsError> {
    cookie(get, &SESSION_COOKIE, CookieSettings::default())
}

/// `CSRF_COOKIE_AGE`'s default: a year (52 weeks), in seconds.
pub const CSRF_COOKIE_AGE: i64 = 31_449_600;

/// What `CsrfViewMiddleware` reads: `CSRF_COOKIE_*`, `CSRF_HEADER_NAME`, `CSRF_TRUSTED_ORIGINS`.
/// `CSRF_USE_SESSIONS` is not supported (the token lives in its cookie, Django's default).
#[derive(Clone, Debug)]
pub struct CsrfSettings {
    /// `CSRF_COOKIE_NAME` (`csrftoken`), `_DOMAIN`, `_PATH`, `_SECURE`, `_HTTPONLY` (false: pages' scripts
    /// read it), `_SAMESITE` (`Lax`).
    pub cookie: CookieSettings,
    /// `CSRF_COOKIE_AGE`: `None` (Django's `None`, set as `CSRF_COOKIE_AGE=None`) is a browser-session cookie.
    pub cookie_age: Option<i64>,
    /// The header a token may come in, as an HTTP header name (`X-CSRFToken` for Django's default
    /// `HTTP_X_CSRFTOKEN`).
    pub header_name: String,
    /// `CSRF_TRUSTED_ORIGINS`, as given.
    pub trusted_origins: Vec<String>,
    /// The same, pre-split for the Origin and Referer checks.
    pub trusted: crate::csrf::TrustedOrigins,
}

/// `CSRF_*`, Django's defaults where unset.
pub fn csrf_settings(get: &impl Fn(&str) -> Option<String>) -> Result<CsrfSettings, SettingsError> {
    let defaults = CookieSettings {
        name: "csrftoken".into(),
        httponly: false,
        ..CookieSettings::default()
    };
    let cookie_age = match get("CSRF_COOKIE_AGE").as_deref().map(str::trim) {
        None => Some(CSRF_COOKIE_AGE),
        Some("None" | "") => None,
        Some(_) => Some(integer(get, "CSRF_COOKIE_AGE", CSRF_COOKIE_AGE)?)
            .filter(|age| (0..=100 * 366 * 86_400).contains(age))
            .map(Some)
            .ok_or(SettingsError::Invalid {
                name: "CSRF_COOKIE_AGE",
                reason: "expected seconds (at most a century) or None".into(),
            })?,
    };
    // Django names the header as a WSGI META key; `HTTP_X_CSRFTOKEN` is the header `X-CSRFToken`.
    let meta = get("CSRF_HEADER_NAME").unwrap_or_else(|| "HTTP_X_CSRFTOKEN".into());
    let header_name = meta
        .trim()
        .strip_prefix("HTTP_")
        .filter(|h| !h.is_empty())
        .map(|h| h.replace('_', "-"))
        .ok_or(SettingsError::Invalid {
            name: "CSRF_HEADER_NAME",
            reason: "expected a WSGI header name such as HTTP_X_CSRFTOKEN".into(),
        })?;
    let trusted_origins = match get("CSRF_TRUSTED_ORIGINS") {
        None => Vec::new(),
        Some(v) => list(&v, "CSRF_TRUSTED_ORIGINS")?,
    };
    // Django 4.0+ refuses an origin without a scheme (check `4_0.E001`).
    if let Some(bad) = trusted_origins.iter().find(|o| !o.contains("://")) {
        return Err(SettingsError::Invalid {
            name: "CSRF_TRUSTED_ORIGINS",
            reason: format!("{bad:?} must start with a scheme (usually http:// or https://)"),
        });
    }
    Ok(CsrfSettings {
        cookie: cookie(get, &CSRF_COOKIE, defaults)?,
        cookie_age,
        header_name,
        trusted: crate::csrf::TrustedOrigins::new(&trusted_origins),
        trusted_origins,
    })
}

/// `django.core.management.utils.get_random_secret_key`'s alphabet.
const RANDOM_KEY_CHARS: &str = "abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)";

/// `SECURE_PROXY_SSL_HEADER` written `HTTP_X_FORWARDED_PROTO,https` (or as a JSON pair); empty is unset.
fn secure_proxy_ssl_header(value: &str) -> Result<Option<(String, String)>, SettingsError> {
    let parts = list(value, "SECURE_PROXY_SSL_HEADER")?;
    let invalid = || SettingsError::Invalid {
        name: "SECURE_PROXY_SSL_HEADER",
        reason: "expected a WSGI header name and a value, such as HTTP_X_FORWARDED_PROTO,https"
            .into(),
    };
    match parts.as_slice() {
        [] => Ok(None),
        [header, value] => {
            let header = header
                .strip_prefix("HTTP_")
                .filter(|h| !h.is_empty())
                .ok_or_else(invalid)?;
            Ok(Some((header.replace('_', "-"), value.clone())))
        }
        _ => Err(invalid()),
    }
}

/// `AUTH_USER_MODEL`, `AUTH_USER_TABLE`, `AUTH_USER_USERNAME_FIELD` and `AUTH_USER_EMAIL_FIELD`, each
/// Django's default when unset (`auth.User`, its table, `username`, `email`).
pub fn user_model_settings(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<crate::user_model::UserModelSettings, SettingsError> {
    let defaults = crate::user_model::UserModelSettings::default();
    let value = |name: &str| {
        get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let settings = crate::user_model::UserModelSettings {
        model: value("AUTH_USER_MODEL").unwrap_or(defaults.model),
        table: value("AUTH_USER_TABLE"),
        username_field: value("AUTH_USER_USERNAME_FIELD").unwrap_or(defaults.username_field),
        email_field: value("AUTH_USER_EMAIL_FIELD").unwrap_or(defaults.email_field),
    };
    settings
        .validate()
        .map_err(|(name, reason)| SettingsError::Invalid { name, reason })?;
    Ok(settings)
}

/// `DATABASE_URL` and its pool settings alone (what `portal migrate` needs); `None` when unset.
pub fn database_config(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<DatabaseConfig>, SettingsError> {
    let Some(url) = get("DATABASE_URL").filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    // libpq's parameters (sslmode, the certificate files) checked now, so that a service stops at start.
    let home = get("HOME").map(std::path::PathBuf::from);
    crate::libpq::ConnectOptions::parse(&url, home.as_deref()).map_err(|reason| {
        SettingsError::Invalid {
            name: "DATABASE_URL",
            reason,
        }
    })?;
    Ok(Some(DatabaseConfig {
        url,
        pool_size: integer(get, "DATABASE_POOL_SIZE", 10)?.clamp(1, 1000) as usize,
        connect_timeout: duration(get, "DATABASE_CONNECT_TIMEOUT", 2.0)?,
        timeout: duration(get, "DATABASE_TIMEOUT", 5.0)?,
        transaction_pooling: boolean(get, "DATABASE_TRANSACTION_POOLING")?,
    }))
}

impl Settings {
    /// From the process environment.
    pub fn from_env() -> Result<Settings, SettingsError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// From any lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let debug = boolean(&get, "DEBUG")?;
        let (secret_key, secret_key_generated) = match get("SECRET_KEY").filter(|s| !s.is_empty()) {
            Some(key) => (key, false),
            // Django refuses to start without a key; with DEBUG a throwaway one is more useful than an
            // error, and never a fixed one (a known key would let anyone forge sessions).
            None if debug => (
                crate::crypto::get_random_string(50, RANDOM_KEY_CHARS).map_err(|e| {
                    SettingsError::Invalid {
                        name: "SECRET_KEY",
                        reason: format!("no random key could be made: {e}"),
                    }
                })?,
                true,
            ),
            None => return Err(SettingsError::Missing("SECRET_KEY")),
        };
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
        let redis = redis_config(&get)?;
        let cache_flavor = cache_flavor(&get)?;
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
            user_model: user_model_settings(&get)?,
            authentication_backends,
            session_cookie: cookie_settings(&get)?,
            allowed_hosts: match get("ALLOWED_HOSTS") {
                None => Vec::new(),
                Some(v) => list(&v, "ALLOWED_HOSTS")?,
            },
            debug,
            secret_key_generated,
            csrf: csrf_settings(&get)?,
            use_x_forwarded_host: boolean(&get, "USE_X_FORWARDED_HOST")?,
            secure_proxy_ssl_header: match get("SECURE_PROXY_SSL_HEADER") {
                None => None,
                Some(v) => secure_proxy_ssl_header(&v)?,
            },
            idle_timeout: Some(integer(&get, "SESSION_IDLE_TIMEOUT", 0)?)
                .filter(|t| *t != 0)
                .map(|t| {
                    if (1..=100 * 366 * 86_400).contains(&t) {
                        Ok(t)
                    } else {
                        Err(SettingsError::Invalid {
                            name: "SESSION_IDLE_TIMEOUT",
                            reason: "expected seconds above 0 (0 or unset is off)".into(),
                        })
                    }
                })
                .transpose()?,
            password_reset_timeout: {
                let t = integer(
                    &get,
                    "PASSWORD_RESET_TIMEOUT",
                    DEFAULT_PASSWORD_RESET_TIMEOUT,
                )?;
                if !(1..=100 * 366 * 86_400).contains(&t) {
                    return Err(SettingsError::Invalid {
                        name: "PASSWORD_RESET_TIMEOUT",
                        reason: "expected seconds above 0".into(),
                    });
                }
                t
            },
            time_zone: match get("TIME_ZONE") {
                None => chrono_tz::America::Chicago,
                Some(v) => v.trim().parse().map_err(|_| SettingsError::Invalid {
                    name: "TIME_ZONE",
                    reason: format!("{v:?} is not an IANA time zone name"),
                })?,
            },
            login_throttle: {
                let defaults = crate::throttle::ThrottleSettings::default();
                let count = |name, default: u64| -> Result<u64, SettingsError> {
                    u64::try_from(integer(&get, name, default as i64)?).map_err(|_| {
                        SettingsError::Invalid {
                            name,
                            reason: "expected a count (0 turns it off)".into(),
                        }
                    })
                };
                crate::throttle::ThrottleSettings {
                    per_username: count("LOGIN_FAILURE_LIMIT", defaults.per_username)?,
                    per_address: count("LOGIN_ADDRESS_FAILURE_LIMIT", defaults.per_address)?,
                    window: duration_max(&get, "LOGIN_FAILURE_WINDOW", 900.0, 86_400.0)?,
                }
            },
            cors_allowed_origins: match get("CORS_ALLOWED_ORIGINS") {
                None => Vec::new(),
                Some(v) => cors_allowed_origins(&v)?,
            },
            cors_preflight_max_age: usize::try_from(integer(
                &get,
                "CORS_PREFLIGHT_MAX_AGE",
                86_400,
            )?)
            .map_err(|_| SettingsError::Invalid {
                name: "CORS_PREFLIGHT_MAX_AGE",
                reason: "expected seconds (0 or more)".into(),
            })?,
            num_proxies: usize::try_from(integer(&get, "NUM_PROXIES", 0)?)
                .ok()
                .filter(|n| *n <= 16)
                .ok_or(SettingsError::Invalid {
                    name: "NUM_PROXIES",
                    reason: "expected 0 to 16".into(),
                })?,
            forward_auth: forward_auth_settings(&get)?,
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

    /// The login throttle: shared through Redis when `REDIS_URL` is set, else per process.
    pub fn login_throttle(&self, connections: &Connections) -> crate::throttle::LoginThrottle {
        use crate::throttle::LoginThrottle;
        match &connections.redis {
            Some(redis) => LoginThrottle::redis(
                self.login_throttle,
                redis.clone(),
                &self.cache_key_prefix,
                self.cache_version,
            ),
            None => LoginThrottle::memory(self.login_throttle),
        }
    }

    /// `PasswordResetTokenGenerator` with `SECRET_KEY(_FALLBACKS)`, `PASSWORD_RESET_TIMEOUT`, `TIME_ZONE`.
    pub fn password_reset_tokens(&self) -> crate::tokens::PasswordResetTokenGenerator {
        crate::tokens::PasswordResetTokenGenerator {
            keys: self.keys.clone(),
            timeout: self.password_reset_timeout,
            time_zone: self.time_zone,
        }
    }

    /// The user store on `DATABASE_URL`, with the user table read from the catalog (once: give other
    /// connections the same model with [`UserStore::with_database`]). A table that is missing or not a
    /// Django user model is an error naming the setting to fix.
    pub async fn user_store(
        &self,
        connections: &Connections,
    ) -> Result<UserStore, crate::user_model::UserModelError> {
        let db = connections
            .database
            .clone()
            .ok_or_else(|| StoreError::Config("DATABASE_URL is required".into()))?;
        let model = crate::user_model::UserModel::inspect(&db, &self.user_model).await?;
        Ok(UserStore::new(
            db,
            self.password_hashers.clone(),
            Arc::new(model),
        ))
    }
}

/// The shared connections of a service.
#[derive(Clone, Debug)]
pub struct Connections {
    /// The Redis connection, when `REDIS_URL` is set.
    pub redis: Option<Redis>,
    /// The PostgreSQL pool, when `DATABASE_URL` is set.
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
    fn forward_auth_rules() {
        let base = [("SECRET_KEY", "k"), ("REDIS_URL", "redis://h/1")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            settings(&pairs)
        };
        assert_eq!(
            with(&[]).unwrap().forward_auth,
            ForwardAuthSettings::default()
        );
        let s = with(&[
            ("FORWARD_AUTH_REQUIRE_STAFF", "true"),
            ("FORWARD_AUTH_GROUPS", r#"["Sales, EMEA", "ops"]"#),
            ("FORWARD_AUTH_CSRF", "origin"),
        ])
        .unwrap();
        assert!(s.forward_auth.require_staff);
        assert_eq!(s.forward_auth.groups, ["Sales, EMEA", "ops"]);
        assert_eq!(s.forward_auth.csrf, ForwardAuthCsrf::Origin);
        assert_eq!(
            with(&[("FORWARD_AUTH_CSRF", "1")])
                .unwrap()
                .forward_auth
                .csrf,
            ForwardAuthCsrf::Full
        );
        assert_eq!(
            with(&[("FORWARD_AUTH_CSRF", "off")])
                .unwrap()
                .forward_auth
                .csrf,
            ForwardAuthCsrf::Off
        );
        for (name, value) in [
            ("FORWARD_AUTH_CSRF", "maybe"),
            ("FORWARD_AUTH_REQUIRE_STAFF", "staff"),
            ("FORWARD_AUTH_GROUPS", "[1, 2]"),
        ] {
            match with(&[(name, value)]) {
                Err(SettingsError::Invalid { name: named, .. }) => assert_eq!(named, name),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
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
        assert_eq!(s.cache_flavor, CacheFlavor::DJANGO_REDIS);
        assert_eq!(s.cache_flavor.pickle_protocol(), 4);
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

    #[test]
    fn redis_locations_sentinels_and_wait() {
        let base = [("SECRET_KEY", "k")];
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            settings(&pairs).map(|s| s.redis.unwrap())
        };
        // One URL: no WAIT count set (one replica if the primary has one), half the socket timeout.
        let one = with(&[("REDIS_URL", "redis://h/1")]).unwrap();
        assert_eq!((one.url.as_str(), one.wait_replicas), ("redis://h/1", None));
        assert_eq!(one.wait_timeout, Duration::from_millis(500));
        assert!(one.sentinel.is_none());
        // Django's RedisCache LOCATION list: the first is used, and a replica is waited for.
        let listed = with(&[(
            "REDIS_URL",
            "redis://primary:6379/0, redis://replica:6379/0",
        )])
        .unwrap();
        assert_eq!(listed.url, "redis://primary:6379/0");
        assert_eq!(listed.wait_replicas, Some(1));
        let told = with(&[
            ("REDIS_URL", "redis://primary/0,redis://replica/0"),
            ("REDIS_WAIT_REPLICAS", "0"),
            ("REDIS_SOCKET_TIMEOUT", "2"),
            ("REDIS_WAIT_TIMEOUT", "1.5"),
        ])
        .unwrap();
        assert_eq!(told.wait_replicas, Some(0));
        assert_eq!(told.wait_timeout, Duration::from_millis(1500));
        // Sentinel: the URL's host is the service.
        let sentinel = with(&[
            ("REDIS_URL", "redis://:pw@mymaster/3"),
            ("REDIS_SENTINELS", "127.0.0.1:26379,127.0.0.1:26380"),
            ("REDIS_SENTINEL_PASSWORD", "spw"),
        ])
        .unwrap()
        .sentinel
        .unwrap();
        assert_eq!(sentinel.service_name, "mymaster");
        assert_eq!(sentinel.db, 3);
        assert_eq!(sentinel.sentinels.len(), 2);
        assert_eq!(sentinel.sentinel_password.as_deref(), Some("spw"));
        let waits = with(&[
            ("REDIS_URL", "redis://mymaster/0"),
            ("REDIS_SENTINELS", "127.0.0.1:26379"),
        ])
        .unwrap()
        .wait_replicas;
        assert_eq!(
            waits,
            Some(1),
            "behind Sentinel, a deletion waits for a replica"
        );
        for (extra, name) in [
            (&[("REDIS_WAIT_REPLICAS", "one")][..], "REDIS_WAIT_REPLICAS"),
            (&[("REDIS_WAIT_TIMEOUT", "1")][..], "REDIS_WAIT_TIMEOUT"),
            (&[("REDIS_WAIT_TIMEOUT", "0")][..], "REDIS_WAIT_TIMEOUT"),
            (&[("REDIS_SENTINELS", "nohost")][..], "REDIS_SENTINELS"),
        ] {
            let mut pairs = vec![("REDIS_URL", "redis://mymaster/0")];
            pairs.extend_from_slice(extra);
            let err = with(&pairs).unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
        let err = with(&[
            ("REDIS_URL", "redis://a/0,redis://b/0"),
            ("REDIS_SENTINELS", "h:26379"),
        ])
        .unwrap_err();
        assert!(err.to_string().starts_with("REDIS_URL"), "{err}");
        // A cluster: seeds without REDIS_URL, or with it for the password.
        let cluster = with(&[("REDIS_CLUSTER_NODES", "127.0.0.1:7000,127.0.0.1:7001")])
            .unwrap()
            .cluster
            .unwrap();
        assert_eq!(cluster.nodes.len(), 2);
        let cluster = with(&[
            ("REDIS_CLUSTER_NODES", "h:7000"),
            ("REDIS_URL", "redis://:pw@h:7000/0"),
        ])
        .unwrap()
        .cluster
        .unwrap();
        assert_eq!(cluster.password.as_deref(), Some("pw"));
        for (extra, name) in [
            (&[("REDIS_CLUSTER_NODES", "h")][..], "REDIS_CLUSTER_NODES"),
            (
                &[
                    ("REDIS_CLUSTER_NODES", "h:7000"),
                    ("REDIS_SENTINELS", "h:26379"),
                ][..],
                "REDIS_CLUSTER_NODES",
            ),
            (
                &[
                    ("REDIS_CLUSTER_NODES", "h:7000"),
                    ("REDIS_URL", "redis://h/3"),
                ][..],
                "REDIS_URL",
            ),
        ] {
            let err = with(extra).unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
    }

    #[test]
    fn django_version_and_cache_pickle_version() {
        let base = [("SECRET_KEY", "k"), ("REDIS_URL", "redis://h")];
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            settings(&pairs)
        };
        // DJANGO_VERSION: the hashers' work factors; unset, the newest Django's (6.1).
        let iterations = |s: Settings| s.password_hashers.work_factors().pbkdf2_iterations;
        assert_eq!(iterations(with(&[]).unwrap()), 1_500_000);
        assert_eq!(
            WorkFactors::for_django_version(DJANGO_VERSION),
            Some(WorkFactors::default())
        );
        for (version, expected) in [("5.2", 1_000_000), ("6.0", 1_200_000), ("6.1", 1_500_000)] {
            let s = with(&[("DJANGO_VERSION", version)]).unwrap();
            assert_eq!(iterations(s), expected, "{version}");
        }
        let err = with(&[("DJANGO_VERSION", "6.2")]).unwrap_err().to_string();
        assert_eq!(
            err,
            "DJANGO_VERSION: expected one of 4.2, 5.0, 5.1, 5.2, 6.0, 6.1"
        );
        // CACHE_PICKLE_VERSION: django-redis' OPTIONS["PICKLE_VERSION"].
        let redis = ("CACHE_BACKEND", "django_redis.cache.RedisCache");
        for (version, protocol) in [("", 4), ("4", 4), ("5", 5), ("-1", 5), (" 5 ", 5)] {
            let s = with(&[redis, ("CACHE_PICKLE_VERSION", version)]).unwrap();
            assert_eq!(s.cache_flavor.pickle_protocol(), protocol, "{version:?}");
        }
        for version in ["3", "0", "6", "-2", "five", "4.0"] {
            let err = with(&[redis, ("CACHE_PICKLE_VERSION", version)]).unwrap_err();
            assert_eq!(
                err.to_string(),
                "CACHE_PICKLE_VERSION: expected -1 (pickle.HIGHEST_PROTOCOL, 5), 4 or 5",
                "{version:?}"
            );
        }
        // Django's RedisCache has no such option: always protocol 5.
        assert_eq!(with(&[]).unwrap().cache_flavor.pickle_protocol(), 5);
        let err = with(&[("CACHE_PICKLE_VERSION", "5")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("CACHE_PICKLE_VERSION: only django_redis"),
            "{err}"
        );
    }

    #[test]
    fn csrf_idle_reset_and_debug_settings() {
        let s = settings(&[("SECRET_KEY", "k"), ("SESSION_ENGINE", "signed_cookies")]).unwrap();
        assert_eq!(s.csrf.cookie.name, "csrftoken");
        assert!(!s.csrf.cookie.httponly);
        assert_eq!(s.csrf.cookie_age, Some(CSRF_COOKIE_AGE));
        assert_eq!(s.csrf.header_name, "X-CSRFTOKEN");
        assert_eq!(s.idle_timeout, None);
        assert_eq!(s.password_reset_timeout, 259_200);
        assert_eq!(s.time_zone, chrono_tz::America::Chicago);
        assert!(!s.secret_key_generated);
        let s = settings(&[
            ("SECRET_KEY", "k"),
            ("SESSION_ENGINE", "signed_cookies"),
            ("CSRF_COOKIE_NAME", "__Host-csrf"),
            ("CSRF_COOKIE_AGE", "None"),
            ("CSRF_HEADER_NAME", "HTTP_X_XSRF_TOKEN"),
            (
                "CSRF_TRUSTED_ORIGINS",
                "https://*.example.com, https://a.test",
            ),
            ("SESSION_IDLE_TIMEOUT", "900"),
            ("TIME_ZONE", "UTC"),
            ("SECURE_PROXY_SSL_HEADER", "HTTP_X_FORWARDED_PROTO,https"),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://app.example.com, http://localhost:3000",
            ),
        ])
        .unwrap();
        assert_eq!(
            s.cors_allowed_origins,
            ["https://app.example.com", "http://localhost:3000"]
        );
        assert_eq!(s.cors_preflight_max_age, 86_400);
        assert_eq!(s.csrf.cookie.name, "__Host-csrf");
        assert_eq!(s.csrf.cookie_age, None);
        assert_eq!(s.csrf.header_name, "X-XSRF-TOKEN");
        assert_eq!(s.csrf.trusted_origins.len(), 2);
        assert_eq!(s.idle_timeout, Some(900));
        assert_eq!(s.time_zone, chrono_tz::UTC);
        assert_eq!(
            s.secure_proxy_ssl_header,
            Some(("X-FORWARDED-PROTO".to_string(), "https".to_string()))
        );
        for (name, value) in [
            ("CSRF_TRUSTED_ORIGINS", "example.com"),
            ("CSRF_HEADER_NAME", "X-CSRFToken"),
            ("CSRF_COOKIE_SAMESITE", "lax"),
            ("SESSION_IDLE_TIMEOUT", "-5"),
            ("TIME_ZONE", "Mars/Olympus"),
            ("PASSWORD_RESET_TIMEOUT", "0"),
            ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto"),
            ("CORS_ALLOWED_ORIGINS", "*"),
            ("CORS_ALLOWED_ORIGINS", "https://*.example.com"),
            ("CORS_ALLOWED_ORIGINS", "app.example.com"),
            ("CORS_ALLOWED_ORIGINS", "https://app.example.com/"),
            ("CORS_PREFLIGHT_MAX_AGE", "-1"),
        ] {
            let err = settings(&[
                ("SECRET_KEY", "k"),
                ("SESSION_ENGINE", "signed_cookies"),
                (name, value),
            ])
            .unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
        // DEBUG without a key: a random one per process, never a fixed one.
        let a = settings(&[("DEBUG", "true"), ("SESSION_ENGINE", "signed_cookies")]).unwrap();
        let b = settings(&[("DEBUG", "true"), ("SESSION_ENGINE", "signed_cookies")]).unwrap();
        assert!(a.secret_key_generated);
        assert_eq!(a.keys.secret_key.len(), 50);
        assert_ne!(a.keys.secret_key, b.keys.secret_key);
    }
}
