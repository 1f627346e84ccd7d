//! The request path without a web framework: request parts in ([`RequestHead`]); the session, the user
//! and the response's `Set-Cookie` and `Vary` out. The actix-web middleware and the axum/tower layer are
//! thin adapters over these functions, so Django's rules (`SessionMiddleware`, `get_user`,
//! `CsrfViewMiddleware`, `ALLOWED_HOSTS`, DRF's `SessionAuthentication`) are written once, here and in
//! `django-auth-core`.
//!
//! One request goes through [`DjangoAuth::check_host`], [`DjangoAuth::begin`] (the session the cookie
//! names, and the CSRF cookie), the handler (which may call [`DjangoAuth::authenticate`] or
//! [`DjangoAuth::get_user`]), then [`DjangoAuth::finish`] with the response's status.

use std::borrow::Cow;
use std::net::IpAddr;

use django_auth_core::auth::SessionAuthHasher;
use django_auth_core::connections::StoreError;
use django_auth_core::crypto::RandomError;
use django_auth_core::csrf::{CsrfCookie, CsrfRejection, RequestOrigin, TokenSource};
use django_auth_core::idle::{Activity, Client};
use django_auth_core::settings::{Connections, Settings};
use django_auth_core::store::{Session, SessionStore};
use django_auth_core::users::{User, UserStore};

/// The longest cookie value a browser stores (RFC 6265's minimum that every browser implements as its
/// maximum); a longer session cookie was not set by Django or by us.
pub const MAX_COOKIE_BYTES: usize = 4096;

/// What the request path reads from a request, whatever the framework. Header names are lower-case.
pub trait RequestHead {
    /// The first value of header `name`: `None` if absent, `Some("")` if it is not visible ASCII (which
    /// `ALLOWED_HOSTS` then refuses, as Django refuses a host it cannot decode).
    fn header(&self, name: &str) -> Option<&str>;

    /// The request's cookies as one `Cookie` header (HTTP/2 may send several, which servers join with
    /// `"; "`, as Django's ASGI handler does).
    fn cookie_header(&self) -> Option<Cow<'_, str>> {
        self.header("cookie").map(Cow::Borrowed)
    }

    /// The URI's authority (HTTP/2's `:authority`), used when there is no `Host` header.
    fn authority(&self) -> Option<&str> {
        None
    }

    /// The method, upper-case (`"GET"`).
    fn method(&self) -> &str;

    /// The address of the peer the connection comes from (the closest proxy, behind one).
    fn peer_ip(&self) -> Option<IpAddr>;

    /// `request.get_port()`: the port this server was reached on (Django's `SERVER_PORT`).
    fn server_port(&self) -> Option<u16>;

    /// The scheme the client used (`"https"`), when the request itself says so: a TLS listener, or the
    /// original request a trusted proxy describes ([`crate::forward_auth::Original`]). `None` (the
    /// default) is plain HTTP, unless `SECURE_PROXY_SSL_HEADER` says otherwise.
    fn scheme(&self) -> Option<&str> {
        None
    }
}

/// Why the request path refused a request before its handler ran.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// 400: a host outside `ALLOWED_HOSTS` (`DisallowedHost`), or a session cookie longer than browsers
    /// keep. The message is safe to show.
    #[error("{0}")]
    BadRequest(String),
    /// 503: Redis or PostgreSQL did not answer in time.
    #[error("the session or user store is unavailable: {0}")]
    Unavailable(#[from] StoreError),
    /// 500: the operating system's random source failed (a new CSRF secret could not be made).
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// Why [`DjangoAuth::authenticate`] did not admit a request, as Django REST framework answers it.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// 401 `NotAuthenticated`: no session, or one whose user `get_user` does not accept.
    #[error("Authentication credentials were not provided.")]
    NotAuthenticated,
    /// 403 `PermissionDenied`, as `SessionAuthentication.enforce_csrf` raises it.
    #[error("CSRF Failed: {0}")]
    CsrfFailed(CsrfRejection),
    /// 503: a store did not answer.
    #[error("the session or user store is unavailable: {0}")]
    Unavailable(#[from] StoreError),
}

/// The request's state between [`DjangoAuth::begin`] and [`DjangoAuth::finish`]: Django's
/// `request.session`, the CSRF cookie (`request.META["CSRF_COOKIE"]`), and what `finish` needs to know.
pub struct RequestState {
    /// `request.session`.
    pub session: Session,
    /// The CSRF cookie's secret, and whether the response must set it.
    pub csrf: CsrfCookie,
    /// Whether the request carried a session cookie (`SessionMiddleware` deletes it if the session ended).
    pub had_cookie: bool,
    /// What the idle timeout found (`Expired`: the session was flushed before the handler).
    pub activity: Activity,
    /// Whether `get_user` accepted the session's user (or the user just logged in): only then is the
    /// request's activity recorded in the session.
    pub verified: bool,
}

/// What [`DjangoAuth::finish`] adds to the response.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ResponseHeaders {
    /// `Set-Cookie` values, in order: the idle-timeout notice, the session cookie, the CSRF cookie.
    pub set_cookie: Vec<String>,
    /// Whether to add `Cookie` to `Vary` (with [`patch_vary`]).
    pub vary_cookie: bool,
}

/// The Django site's settings and stores, everything the request path needs: built once at start-up
/// from the environment Django's settings mirror (`SECRET_KEY`, `SESSION_ENGINE`, `REDIS_URL`,
/// `DATABASE_URL`, …), shared by every request.
pub struct DjangoAuth {
    /// The typed settings.
    pub settings: Settings,
    /// The Redis and PostgreSQL connections the settings name.
    pub connections: Connections,
    /// `SESSION_ENGINE`'s store.
    pub sessions: SessionStore,
    /// `AUTH_USER_MODEL`'s table.
    pub users: UserStore,
    /// `_auth_user_hash` checks, with the HMAC key of each secret derived once.
    pub hasher: SessionAuthHasher,
}

impl DjangoAuth {
    /// The settings from the environment ([`Settings::from_env`]), then [`DjangoAuth::build`].
    pub async fn from_env() -> Result<DjangoAuth, StoreError> {
        let settings = Settings::from_env().map_err(|e| StoreError::Config(e.to_string()))?;
        DjangoAuth::build(settings).await
    }

    /// The connections and the stores of `settings`. The user table is read from PostgreSQL's catalog
    /// here, once (see `django_auth_core::user_model`): a missing table, or one that is not a Django user model, is an
    /// error naming the setting to fix, so the service stops at start rather than failing requests.
    pub async fn build(settings: Settings) -> Result<DjangoAuth, StoreError> {
        if settings.secret_key_generated {
            tracing::warn!(
                "SECRET_KEY is not set: DEBUG made up a random key for this process. Sessions and \
                 links die with it, and no other service can read them. Never run like this in \
                 production."
            );
        }
        let connections = settings.connect()?;
        let sessions = settings.session_store(&connections)?;
        let users = settings
            .user_store(&connections)
            .await
            .map_err(|e| StoreError::Config(e.to_string()))?;
        if !settings.forward_auth.groups.is_empty() && users.model().groups_table().is_none() {
            return Err(StoreError::Config(format!(
                "FORWARD_AUTH_GROUPS: the user table {:?} has no groups table ({:?}, which Django makes for \
                 PermissionsMixin.groups): no user could be in a group",
                users.model().table(),
                django_auth_core::user_model::django_table_name(&format!(
                    "{}_groups",
                    users.model().table()
                )),
            )));
        }
        if let Some(groups) = users.model().groups_table() {
            tracing::debug!(table = groups.table, "the users' groups");
        }
        if !users.model().can_create_users() {
            tracing::warn!(
                table = users.model().table(),
                columns = users.model().unfillable_columns().join(", "),
                "the user table has required columns without a database default: users can only be \
                 created by the Django project (registration and createsuperuser are off here)"
            );
        }
        let hasher = SessionAuthHasher::new(&settings.keys);
        Ok(DjangoAuth {
            settings,
            connections,
            sessions,
            users,
            hasher,
        })
    }

    /// A copy with connections of its own, for one of `workers` server workers. Each actix-web worker is
    /// a single-threaded runtime, and a Redis or PostgreSQL connection's task runs on the runtime that
    /// made it (connections are made lazily, by the first request that needs one); connections shared
    /// by the workers would cost two cross-thread wake-ups on every query. `DATABASE_POOL_SIZE` is the
    /// process's: each worker's pool holds its share, rounded up.
    pub fn for_worker(&self, workers: usize) -> Result<DjangoAuth, StoreError> {
        let mut settings = self.settings.clone();
        if let Some(database) = settings.database.as_mut() {
            database.pool_size = database.pool_size.div_ceil(workers.max(1));
        }
        let connections = settings.connect()?;
        Ok(DjangoAuth {
            sessions: settings.session_store(&connections)?,
            users: match &connections.database {
                Some(db) => self.users.with_database(db.clone()),
                None => self.users.clone(),
            },
            hasher: self.hasher.clone(),
            settings,
            connections,
        })
    }

    /// `user.pk` as Django REST framework serialises it: a number for an integer key (`AutoField`,
    /// `BigAutoField`), a string for a `UUIDField` (hyphenated) or a text key.
    pub fn pk_json(&self, user: &User) -> serde_json::Value {
        self.users.model().pk_kind().to_json(user.pk())
    }

    /// `HttpRequest.get_host()`'s check, before anything else: a host not in `ALLOWED_HOSTS` is refused
    /// (Django's `DisallowedHost`, logged with Django's message).
    pub fn check_host(&self, req: &impl RequestHead) -> Result<(), Rejection> {
        let host = request_host(req, &self.settings);
        django_auth_core::hosts::check_host(
            &host,
            &self.settings.allowed_hosts,
            self.settings.debug,
        )
        .map_err(|message| {
            tracing::warn!(%message, "DisallowedHost");
            Rejection::BadRequest(
                "This address is not served here (the Host header is not in ALLOWED_HOSTS).".into(),
            )
        })
    }

    /// `SessionMiddleware.process_request` and `CsrfViewMiddleware.process_request`: the session the
    /// cookie names (an unknown, expired or tampered one is a new empty session, as in Django), the idle
    /// timeout applied, and the CSRF cookie read.
    pub async fn begin(&self, req: &impl RequestHead) -> Result<RequestState, Rejection> {
        let cookies = req.cookie_header();
        let cookie = |name: &str| {
            cookies
                .as_deref()
                .and_then(|header| django_auth_core::cookie::get_cookie(header, name))
        };
        let session_cookie = cookie(&self.settings.session_cookie.name);
        if let Some(length) = session_cookie
            .as_ref()
            .map(String::len)
            .filter(|n| *n > MAX_COOKIE_BYTES)
        {
            tracing::warn!(length, "oversized session cookie");
            return Err(Rejection::BadRequest(format!(
                "Your browser sent a session cookie of {length} bytes, more than any browser keeps \
                 ({MAX_COOKIE_BYTES}). Please delete this site's cookies and try again."
            )));
        }
        let csrf = CsrfCookie::from_cookie(cookie(&self.settings.csrf.cookie.name).as_deref())?;
        let mut session = self.sessions.load(session_cookie.as_deref()).await?;
        let activity = self
            .sessions
            .check_idle(&mut session, self.settings.idle_timeout, chrono::Utc::now())
            .await?;
        Ok(RequestState {
            session,
            csrf,
            had_cookie: session_cookie.is_some(),
            activity,
            verified: false,
        })
    }

    /// `request.user`: Django's `get_user` (which may cycle the key after a fallback-key match, or flush
    /// a session whose hash matches nothing). A user it accepts marks the request verified.
    pub async fn get_user(&self, state: &mut RequestState) -> Result<Option<User>, StoreError> {
        let user = self.get_session_user(&mut state.session).await?;
        if user.is_some() {
            state.verified = true;
        }
        Ok(user)
    }

    /// [`DjangoAuth::get_user`] on a session held apart from its [`RequestState`] (the caller marks the
    /// request verified when it returns a user).
    pub async fn get_session_user(
        &self,
        session: &mut Session,
    ) -> Result<Option<User>, StoreError> {
        django_auth_core::users::get_user(
            &self.sessions,
            &self.users,
            session,
            &self.settings.authentication_backends,
            &self.hasher,
        )
        .await
    }

    /// Django REST framework's `SessionAuthentication`: the session's user as [`DjangoAuth::get_user`]
    /// accepts it, else `NotAuthenticated`; and for an unsafe method (anything but GET, HEAD, OPTIONS,
    /// TRACE) `enforce_csrf`: Django's CSRF check with the token from the `CSRF_HEADER_NAME` header.
    pub async fn authenticate(
        &self,
        req: &impl RequestHead,
        state: &mut RequestState,
    ) -> Result<User, AuthError> {
        let user = self
            .authenticate_session(req, &mut state.session, || &state.csrf)
            .await?;
        state.verified = true;
        Ok(user)
    }

    /// [`DjangoAuth::authenticate`] on a session and a CSRF cookie held apart from their
    /// [`RequestState`] (the caller marks the request verified when it returns a user). `csrf` is asked
    /// for the cookie only for an unsafe method, after the user is known (so a handle behind a `RefCell`
    /// is borrowed after the store's await, and never copied).
    pub async fn authenticate_session<C: std::ops::Deref<Target = CsrfCookie>>(
        &self,
        req: &impl RequestHead,
        session: &mut Session,
        csrf: impl FnOnce() -> C,
    ) -> Result<User, AuthError> {
        let user = self
            .get_session_user(session)
            .await?
            .ok_or(AuthError::NotAuthenticated)?;
        if !is_safe_method(req.method()) {
            // A JSON api reads no form: the token comes from the header only.
            self.enforce_csrf(req, &csrf(), None)
                .map_err(AuthError::CsrfFailed)?;
        }
        Ok(user)
    }

    /// `CsrfViewMiddleware.process_view` for an unsafe request: Origin (or, over HTTPS, Referer) must be
    /// this site or a trusted origin, then the form's `csrfmiddlewaretoken` (`form_token`, as posted),
    /// else the `X-CSRFToken` header, must match the cookie.
    pub fn enforce_csrf(
        &self,
        req: &impl RequestHead,
        csrf: &CsrfCookie,
        form_token: Option<&str>,
    ) -> Result<(), CsrfRejection> {
        self.check_csrf_origin(req)?;
        let settings = &self.settings;
        let header_name = settings.csrf.header_name.to_ascii_lowercase();
        let header_display = display_header_name(&settings.csrf.header_name);
        let token = match (
            form_token.filter(|t| !t.is_empty()),
            req.header(&header_name),
        ) {
            (Some(token), _) => Some((token, TokenSource::Post)),
            (None, Some(token)) => Some((token, TokenSource::Header(&header_display))),
            (None, None) => None,
        };
        csrf.check(token)
    }

    /// The first half of [`DjangoAuth::enforce_csrf`]: the `Origin` header (or, over HTTPS, the `Referer`)
    /// must be this site or one of `CSRF_TRUSTED_ORIGINS`.
    pub fn check_csrf_origin(&self, req: &impl RequestHead) -> Result<(), CsrfRejection> {
        let settings = &self.settings;
        let host = request_host(req, &self.settings);
        let secure = is_secure(req, &self.settings);
        let port = match req.server_port() {
            Some(port) => port.to_string(),
            None if secure => "443".to_string(),
            None => "80".to_string(),
        };
        let request = RequestOrigin {
            is_secure: secure,
            // The host passed ALLOWED_HOSTS already (the request would be a 400 otherwise).
            host: Some(host.as_str()),
            port: &port,
            origin: req.header("origin"),
            referer: req.header("referer"),
        };
        django_auth_core::csrf::check_origin_and_referer(
            &request,
            &settings.csrf.trusted,
            settings.csrf.cookie.domain.as_deref(),
        )
    }

    /// `SessionMiddleware.process_response` and `CsrfViewMiddleware.process_response`: the request's
    /// activity recorded (for a verified user), the session saved if modified, and the cookies the
    /// response must carry. `status` is the response's; `client` is called only when it is needed.
    pub async fn finish(
        &self,
        mut state: RequestState,
        status: u16,
        client: impl FnOnce() -> Client,
    ) -> Result<ResponseHeaders, StoreError> {
        let mut headers = ResponseHeaders::default();
        if state.activity == Activity::Expired {
            // The login page says why (the session itself is gone).
            headers.set_cookie.push(notice_cookie("idle"));
        }
        if state.verified {
            self.sessions.record_activity(
                &mut state.session,
                self.settings.idle_timeout,
                client,
                chrono::Utc::now(),
            );
        }
        let outcome = self
            .sessions
            .process_response(
                &mut state.session,
                state.had_cookie,
                status,
                &self.settings.session_cookie,
                chrono::Utc::now(),
            )
            .await?;
        headers.set_cookie.extend(outcome.set_cookie);
        headers.vary_cookie = outcome.vary_cookie;
        if let Some(value) = self.csrf_set_cookie(&state.csrf) {
            headers.set_cookie.push(value);
            headers.vary_cookie = true;
        }
        Ok(headers)
    }

    /// The CSRF cookie's `Set-Cookie`, if the secret is new or was rotated during the request.
    pub fn csrf_set_cookie(&self, csrf: &CsrfCookie) -> Option<String> {
        let settings = &self.settings.csrf;
        csrf.set_cookie(&settings.cookie, settings.cookie_age, chrono::Utc::now())
    }
}

/// `request.get_host()`'s raw value: the `Host` header (or the HTTP/2 authority), or `X-Forwarded-Host`
/// with `USE_X_FORWARDED_HOST`.
pub fn request_host(req: &impl RequestHead, settings: &Settings) -> String {
    django_auth_core::hosts::raw_host(
        req.header("host").or(req.authority()),
        req.header("x-forwarded-host"),
        settings.use_x_forwarded_host,
    )
    .to_string()
}

/// `request.is_secure()`: through `SECURE_PROXY_SSL_HEADER`, else the request's own scheme
/// ([`RequestHead::scheme`]; the services themselves speak plain HTTP).
pub fn is_secure(req: &impl RequestHead, settings: &Settings) -> bool {
    django_auth_core::hosts::is_secure(
        settings.secure_proxy_ssl_header.as_ref(),
        |name| req.header(&name.to_ascii_lowercase()).map(str::to_string),
        req.scheme()
            .is_some_and(|s| s.eq_ignore_ascii_case("https")),
    )
}

/// The client's address (`NUM_PROXIES` of `X-Forwarded-For`) and browser, for the throttle and the
/// sessions list.
pub fn client(req: &impl RequestHead, settings: &Settings) -> Client {
    client_of(
        req.peer_ip(),
        req.header("x-forwarded-for"),
        req.header("user-agent"),
        settings,
    )
}

/// [`client`] from the three values it reads (for an adapter that keeps only those past the handler). An
/// `X-Forwarded-For` that is empty or not visible ASCII counts as absent: the peer is the client.
pub fn client_of(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    user_agent: Option<&str>,
    settings: &Settings,
) -> Client {
    let peer = peer.map(|ip| ip.to_string()).unwrap_or_default();
    Client {
        ip: django_auth_core::hosts::client_address(
            &peer,
            forwarded_for.filter(|v| !v.is_empty()),
            settings.num_proxies,
        ),
        user_agent: user_agent.unwrap_or("").to_string(),
    }
}

/// Several `Cookie` headers as one (HTTP/2 sends one per cookie; servers join them with `"; "`, as
/// Django's ASGI handler does); one header is borrowed as it is.
pub fn join_cookie_headers<'a>(mut values: impl Iterator<Item = &'a str>) -> Option<Cow<'a, str>> {
    let first = values.next()?;
    match values.next() {
        None => Some(Cow::Borrowed(first)),
        Some(second) => {
            let mut joined = format!("{first}; {second}");
            for value in values {
                joined.push_str("; ");
                joined.push_str(value);
            }
            Some(Cow::Owned(joined))
        }
    }
}

/// RFC 9110's safe methods, which Django's CSRF check lets through.
pub fn is_safe_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// A one-time notice for the next page (Horizon's `logout_reason` cookie): a fixed code, never text from
/// the request, shown once and then deleted.
pub const NOTICE_COOKIE: &str = "portal_notice";

/// The `Set-Cookie` value that carries `code` to the next page.
pub fn notice_cookie(code: &str) -> String {
    format!("{NOTICE_COOKIE}={code}; HttpOnly; Max-Age=60; Path=/; SameSite=Lax")
}

/// The `Set-Cookie` value that drops the notice once shown.
pub fn clear_notice_cookie() -> String {
    format!("{NOTICE_COOKIE}=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/")
}

/// `django.utils.cache.patch_vary_headers(response, new)`: the one `Vary` value holding what the
/// response's `Vary` lines held (split at commas, blanks dropped, as Django 6.1's `split_header_value`)
/// and each of `new` they lacked (compared case-insensitively), joined by `", "`; `*` if any entry is `*`.
/// So the session and CSRF middleware, which both vary on `Cookie`, send `Vary: Cookie` once, as Django
/// does, and after the api's CORS entries (`Vary: Origin, …, Cookie`).
pub fn patch_vary<'a>(existing: impl IntoIterator<Item = &'a str>, new: &[&str]) -> String {
    let mut vary: Vec<&str> = existing
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    for entry in new {
        if !vary.iter().any(|v| v.eq_ignore_ascii_case(entry)) {
            vary.push(entry);
        }
    }
    if vary.contains(&"*") {
        "*".to_string()
    } else {
        vary.join(", ")
    }
}

/// How Django names a header in its reasons: `X-CSRFTOKEN` is shown as `X-Csrftoken`
/// (`header.replace("_", "-").title()` of the part after `HTTP_`).
fn display_header_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let lower = part.to_ascii_lowercase();
            let mut chars = lower.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}
