//! Django's session engines on real storage, behind one narrow trait, and the session type that owns
//! every rule of `SessionBase`: load, create, save only when modified, `cycle_key`, `flush`.
//!
//! Like `django.contrib.sessions`, each engine ([`cache`], [`cached_db`], [`db`], [`signed_cookies`]) only
//! loads, creates, updates, deletes and checks existence; [`SessionStore`] holds the semantics. Two things go
//! beyond Django:
//! - an update never resurrects a session deleted meanwhile (a concurrent logout): engines update only what
//!   still exists and report [`SaveOutcome::Interrupted`], which Django would raise as `SessionInterrupted`;
//! - two of our writers updating one session at once don't drop each other's keys: each update is a
//!   compare-and-set against what was loaded, and on a conflict the store re-reads the session and
//!   re-applies this request's changes (not its whole dict) before trying again.

pub mod cache;
pub mod cached_db;
pub mod db;
pub mod index;
pub mod signed_cookies;

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::auth;
use crate::connections::StoreError;
use crate::session::{self, Expiry, ExpirySettings, SessionData, SetExpiry};
use crate::signing;
use crate::value::Value;

pub use cache::{CacheFlavor, CacheSessions};
pub use cached_db::CachedDbSessions;
pub use db::DbSessions;
pub use index::{UserIndex, UserSession, session_id};
pub use signed_cookies::SignedCookieSessions;

/// Django's `_get_new_session_key` loop gives up after 10000 collisions ("It is likely that the cache is
/// unavailable"); with 165 random bits a second try is already a sign of trouble.
const MAX_CREATE_ATTEMPTS: usize = 100;
/// Compare-and-set rounds before an update gives up. Each lost round means another writer saved, so with
/// `n` writers on one session the last one needs `n` rounds; this is far above any real page's fan-out
/// and still bounds a request to well under a second.
const MAX_UPDATE_ATTEMPTS: usize = 1000;
/// How long one save may keep retrying its compare-and-set before giving up ([`StoreError::Contention`]).
const MAX_UPDATE_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// What an engine read: the session and the exact stored form it came from, which a later update compares
/// against (compare-and-set).
#[derive(Clone)]
pub struct Stored {
    /// The session dict as decoded from storage.
    pub data: SessionData,
    raw: Raw,
    /// When the storage will drop it, where the engine read that too (the Redis TTL, the row's
    /// `expire_date`); the per-user index is scored with it.
    expire_date: Option<DateTime<Utc>>,
}

impl Stored {
    fn new(data: SessionData, raw: Raw) -> Stored {
        Stored {
            data,
            raw,
            expire_date: None,
        }
    }
}

impl std::fmt::Debug for Stored {
    // Session values (the auth hash among them) never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stored")
            .field(
                "keys",
                &self.data.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("expire_date", &self.expire_date)
            .finish_non_exhaustive()
    }
}

/// The stored form an update is conditional on.
#[derive(Clone, PartialEq)]
enum Raw {
    /// The cache engines' pickled value, compared byte for byte inside Redis.
    Bytes(Vec<u8>),
    /// `django_session.session_data`, compared as text inside a row lock.
    Text(String),
    /// Nothing to compare (signed cookies; a cached_db session read from the database and cached).
    Nothing,
}

/// The result of a conditional update.
#[derive(Debug)]
pub enum Update {
    /// Written; what is now stored.
    Saved(Stored),
    /// The session no longer exists (deleted or expired meanwhile): nothing was written.
    Missing,
    /// Another writer changed the session since it was read; this is what is stored now.
    Conflict(Stored),
}

/// One session engine: the storage half of a Django `SessionStore` class. Sessions are dicts; keys are
/// already validated; expiry is computed by the caller.
pub trait SessionBackend {
    /// `load()`: the session if it exists and has not expired. Corrupt data is Django's "Session data
    /// corrupted": a warning and, for engines where Django drops the key, `None`.
    fn load(
        &self,
        session_key: &str,
    ) -> impl Future<Output = Result<Option<Stored>, StoreError>> + Send;

    /// `save(must_create=True)`: stores under a new key, `None` if the key is taken.
    fn create(
        &self,
        session_key: &str,
        data: &SessionData,
        expiry: &Expiry,
    ) -> impl Future<Output = Result<Option<Stored>, StoreError>> + Send;

    /// `save()`, but only if what is stored is still `expected`.
    fn update(
        &self,
        session_key: &str,
        expected: &Stored,
        data: &SessionData,
        expiry: &Expiry,
    ) -> impl Future<Output = Result<Update, StoreError>> + Send;

    /// `delete(session_key)`; whether there was a session to delete.
    fn delete(&self, session_key: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// `exists(session_key)`.
    fn exists(&self, session_key: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// `clear_expired()`: the number of sessions removed (0 where the storage expires them itself).
    fn clear_expired(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// `_get_new_session_key()`; for signed cookies the key is the signed session itself.
    fn new_session_key(&self, _data: &SessionData) -> Result<String, StoreError> {
        Ok(session::get_new_session_key().map_err(session::SessionError::from)?)
    }

    /// Whether the key is the session (signed cookies): every save makes a new key, nothing is stored.
    fn key_is_data(&self) -> bool {
        false
    }
}

/// `SESSION_ENGINE`: one of Django's four engines.
#[derive(Clone, Debug)]
pub enum Engine {
    /// `django.contrib.sessions.backends.cache`, on Redis.
    Cache(CacheSessions),
    /// `django.contrib.sessions.backends.cached_db`, on PostgreSQL with Redis in front.
    CachedDb(CachedDbSessions),
    /// `django.contrib.sessions.backends.db`, on PostgreSQL.
    Db(DbSessions),
    /// `django.contrib.sessions.backends.signed_cookies`: no storage, the cookie holds the session.
    SignedCookies(SignedCookieSessions),
}

macro_rules! dispatch {
    ($self:ident, $engine:ident => $call:expr) => {
        match $self {
            Engine::Cache($engine) => $call,
            Engine::CachedDb($engine) => $call,
            Engine::Db($engine) => $call,
            Engine::SignedCookies($engine) => $call,
        }
    };
}

impl SessionBackend for Engine {
    async fn load(&self, session_key: &str) -> Result<Option<Stored>, StoreError> {
        dispatch!(self, e => e.load(session_key).await)
    }
    async fn create(
        &self,
        session_key: &str,
        data: &SessionData,
        expiry: &Expiry,
    ) -> Result<Option<Stored>, StoreError> {
        dispatch!(self, e => e.create(session_key, data, expiry).await)
    }
    async fn update(
        &self,
        session_key: &str,
        expected: &Stored,
        data: &SessionData,
        expiry: &Expiry,
    ) -> Result<Update, StoreError> {
        dispatch!(self, e => e.update(session_key, expected, data, expiry).await)
    }
    async fn delete(&self, session_key: &str) -> Result<bool, StoreError> {
        dispatch!(self, e => e.delete(session_key).await)
    }
    async fn exists(&self, session_key: &str) -> Result<bool, StoreError> {
        dispatch!(self, e => e.exists(session_key).await)
    }
    async fn clear_expired(&self) -> Result<u64, StoreError> {
        dispatch!(self, e => e.clear_expired().await)
    }
    fn new_session_key(&self, data: &SessionData) -> Result<String, StoreError> {
        dispatch!(self, e => e.new_session_key(data))
    }
    fn key_is_data(&self) -> bool {
        dispatch!(self, e => e.key_is_data())
    }
}

/// One change a request made to its session, kept so that a conflicting update can be re-applied to what
/// another writer stored meanwhile.
#[derive(Clone, Debug)]
enum Change {
    Set(String, Value),
    Remove(String),
    Clear,
}

/// A request's session: Django's `SessionStore` instance (`request.session`) minus the storage.
#[derive(Default)]
pub struct Session {
    session_key: Option<String>,
    data: SessionData,
    stored: Option<Stored>,
    changes: Vec<Change>,
    modified: bool,
}

impl std::fmt::Debug for Session {
    // Neither the session key nor the values (the auth hash among them) reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("has_key", &self.session_key.is_some())
            .field(
                "keys",
                &self.data.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("modified", &self.modified)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// `session.session_key`: `None` for a new session, or when the cookie named nothing stored.
    pub fn session_key(&self) -> Option<&str> {
        self.session_key.as_deref()
    }

    /// The session dict as this request sees it, its own changes included (`session._session`).
    pub fn data(&self) -> &SessionData {
        &self.data
    }

    /// `session.get(key)`: the value under `key`, or `None` when absent.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.data.get(key)
    }

    /// `session[key] = value`.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        let (key, value) = (key.into(), value.into());
        self.data.insert(key.clone(), value.clone());
        self.changes.push(Change::Set(key, value));
        self.modified = true;
    }

    /// `session.pop(key)`: marks the session modified only if the key was there.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let removed = self.data.remove(key);
        if removed.is_some() {
            self.changes.push(Change::Remove(key.to_string()));
            self.modified = true;
        }
        removed
    }

    /// `session.clear()`.
    pub fn clear(&mut self) {
        self.data.clear();
        self.changes.push(Change::Clear);
        self.modified = true;
    }

    /// `session.set_expiry(value)`.
    pub fn set_expiry(&mut self, value: SetExpiry) {
        let mut probe = self.data.clone();
        session::set_expiry(&mut probe, value);
        match probe.get(session::EXPIRY_KEY) {
            Some(v) => self.insert(session::EXPIRY_KEY, v.clone()),
            None => {
                self.remove(session::EXPIRY_KEY);
            }
        }
    }

    /// `session.modified`.
    pub fn is_modified(&self) -> bool {
        self.modified
    }

    /// `session.is_empty()`: no key and no data; Django neither saves it nor sets a cookie.
    pub fn is_empty(&self) -> bool {
        self.session_key.is_none() && self.data.is_empty()
    }

    /// The `_auth_user_id` of this session, if it is a logged-in one.
    pub fn user_pk(&self) -> Option<String> {
        auth::session_auth(&self.data).map(|a| a.user_id)
    }

    fn apply(data: &mut SessionData, changes: &[Change]) {
        for change in changes {
            match change {
                Change::Set(k, v) => data.insert(k.clone(), v.clone()),
                Change::Remove(k) => {
                    data.remove(k);
                }
                Change::Clear => data.clear(),
            }
        }
    }

    /// Records what is now stored under `session_key`. The engines return exactly the data they were
    /// given, which is already `self.data`: only a load copies the stored dict into the session.
    fn saved(&mut self, session_key: String, stored: Stored) {
        self.session_key = Some(session_key);
        self.stored = Some(stored);
        self.changes.clear();
        self.modified = false;
    }
}

/// What `save` (or `cycle_key`) did. `Interrupted` must reach the response: the session is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum SaveOutcome {
    /// Written (created, updated, or a new signed cookie).
    Saved,
    /// Nothing to write: not modified (and not `SESSION_SAVE_EVERY_REQUEST`), or an empty new session.
    NotSaved,
    /// The session was deleted or expired while the request ran (a concurrent logout): nothing was written
    /// and nothing was resurrected. Django raises `SessionInterrupted` (HTTP 400); the services answer as
    /// for a logged-out user.
    Interrupted,
}

/// What the response carries for the session, as `SessionMiddleware.process_response` decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseCookie {
    /// A `Set-Cookie` value: the session's cookie after a save, or its deletion.
    pub set_cookie: Option<String>,
    /// `Vary: Cookie` (the session was accessed, or its cookie deleted).
    pub vary_cookie: bool,
    /// The save found the session deleted meanwhile (a concurrent logout). Django answers 400
    /// (`SessionInterrupted`); the cookie is deleted instead, so the user is simply logged out.
    pub interrupted: bool,
}

/// The session settings the semantics depend on.
#[derive(Clone, Copy, Debug, Default)]
pub struct SessionSettings {
    /// `SESSION_COOKIE_AGE` and `SESSION_EXPIRE_AT_BROWSER_CLOSE`.
    pub expiry: ExpirySettings,
    /// `SESSION_SAVE_EVERY_REQUEST`.
    pub save_every_request: bool,
}

/// Django's `SessionStore` semantics on one engine, plus the per-user index where Redis holds sessions.
#[derive(Clone, Debug)]
pub struct SessionStore {
    engine: Engine,
    settings: SessionSettings,
    index: Option<UserIndex>,
}

impl SessionStore {
    /// A store over `engine` with these settings; `index` is the per-user session index, where Redis holds
    /// the sessions (`None` for `db` and `signed_cookies` without Redis).
    pub fn new(
        engine: Engine,
        settings: SessionSettings,
        index: Option<UserIndex>,
    ) -> SessionStore {
        SessionStore {
            engine,
            settings,
            index,
        }
    }

    /// The engine (`SESSION_ENGINE`) this store runs on.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The expiry and save-every-request settings this store applies.
    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    fn expiry(&self, data: &SessionData) -> Result<Expiry, StoreError> {
        Ok(session::expiry(data, &self.settings.expiry, Utc::now())?)
    }

    /// `get_expiry_date()`, `get_expiry_age()` and `get_expire_at_browser_close()` of `session`, now.
    pub fn session_expiry(&self, session: &Session) -> Result<Expiry, StoreError> {
        self.expiry(&session.data)
    }

    /// `SessionStore(session_key)` then `load()`: the session the cookie names, or a new empty one when the
    /// cookie is absent, malformed, unknown or expired. A key the client made up is never adopted: the
    /// new session gets a fresh key when it is first saved.
    pub async fn load(&self, cookie: Option<&str>) -> Result<Session, StoreError> {
        let Some(key) = cookie else {
            return Ok(Session::default());
        };
        if !self.acceptable_key(key) {
            crate::metrics::record_decode_failure(crate::metrics::DecodeFailure::MalformedKey);
            return Ok(Session::default());
        }
        let Some(stored) = self.engine.load(key).await? else {
            if self.engine.key_is_data() {
                // Django's signed_cookies `load()` calls `create()` for a cookie that does not verify: the
                // session keeps the cookie as its key, empty and modified, so the response carries a new
                // signed cookie of `{}` rather than deleting it.
                return Ok(Session {
                    session_key: Some(key.to_string()),
                    modified: true,
                    ..Session::default()
                });
            }
            return Ok(Session::default());
        };
        let mut session = Session {
            data: stored.data.clone(),
            ..Session::default()
        };
        session.saved(key.to_string(), stored);
        // Only a session none of our services has written yet (no activity record) needs to join: our
        // saves add to the index themselves, and the activity record is saved at least once a minute.
        if !session.data.contains_key(crate::idle::SESSION_META_KEY) {
            self.index_join(&session);
        }
        Ok(session)
    }

    /// Django accepts any cookie of 8 characters or more and lets the lookup fail; a key that Django's
    /// engines could not have made (`[a-z0-9]`, at most `varchar(40)`) is refused here before any round
    /// trip, with the same answer: no session. Signed cookies are verified by their signature instead.
    fn acceptable_key(&self, key: &str) -> bool {
        if self.engine.key_is_data() {
            session::validate_session_key(key) && key.len() <= signing::MAX_SIGNED_LEN
        } else {
            session::is_well_formed_session_key(key)
        }
    }

    /// `save()` as `SessionMiddleware` calls it: only when modified or `SESSION_SAVE_EVERY_REQUEST`, and
    /// never for an empty new session. A new session is created under a fresh key (`SET NX` / `INSERT`,
    /// another key on a collision); an existing one is updated only if it still exists, re-applying this
    /// request's changes over any concurrent writer's.
    pub async fn save(&self, session: &mut Session) -> Result<SaveOutcome, StoreError> {
        if !(session.modified || self.settings.save_every_request) || session.is_empty() {
            return Ok(SaveOutcome::NotSaved);
        }
        let (Some(key), Some(expected), false) = (
            session.session_key.clone(),
            session.stored.clone(),
            self.engine.key_is_data(),
        ) else {
            self.create(session).await?;
            return Ok(SaveOutcome::Saved);
        };
        let mut expected = expected;
        let started = std::time::Instant::now();
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            if started.elapsed() > MAX_UPDATE_TIME {
                break;
            }
            let expiry = self.expiry(&session.data)?;
            match self
                .engine
                .update(&key, &expected, &session.data, &expiry)
                .await?
            {
                Update::Saved(stored) => {
                    session.saved(key, stored);
                    self.index_add(&session.data, session.session_key(), &expiry)
                        .await;
                    return Ok(SaveOutcome::Saved);
                }
                Update::Missing => {
                    self.index_remove(&session.data, &key).await;
                    return Ok(SaveOutcome::Interrupted);
                }
                Update::Conflict(current) => {
                    let mut data = current.data.clone();
                    Session::apply(&mut data, &session.changes);
                    session.data = data;
                    expected = current;
                    // Let the writer that just won finish before trying again.
                    tokio::task::yield_now().await;
                }
            }
        }
        Err(StoreError::Contention)
    }

    /// `create()`: the session's current data under a fresh key.
    async fn create(&self, session: &mut Session) -> Result<(), StoreError> {
        let expiry = self.expiry(&session.data)?;
        for _ in 0..MAX_CREATE_ATTEMPTS {
            let key = self.engine.new_session_key(&session.data)?;
            if let Some(stored) = self.engine.create(&key, &session.data, &expiry).await? {
                session.saved(key, stored);
                self.index_add(&session.data, session.session_key(), &expiry)
                    .await;
                return Ok(());
            }
        }
        Err(StoreError::CreateFailed)
    }

    /// `cycle_key()`: the same data under a new key, then the old key deleted (login does this against
    /// session fixation). The new key holds exactly what this request sees, and the session is marked
    /// modified, as Django's `create()` leaves it, so the new cookie is sent.
    ///
    /// Django would copy a session that a concurrent logout deleted meanwhile to the new key. Here, if the
    /// old key was already gone, the new one is deleted too and the outcome is `Interrupted`: the session
    /// is then empty and keyless, as after a logout.
    pub async fn cycle_key(&self, session: &mut Session) -> Result<SaveOutcome, StoreError> {
        let old = session.session_key.take();
        session.stored = None;
        self.create(session).await?;
        session.modified = true;
        let Some(old) = old else {
            return Ok(SaveOutcome::Saved);
        };
        if self.engine.key_is_data() {
            return Ok(SaveOutcome::Saved);
        }
        let existed = self.engine.delete(&old).await?;
        self.index_remove(&session.data, &old).await;
        if !existed {
            if let Some(new) = session.session_key.clone() {
                self.engine.delete(&new).await?;
                self.index_remove(&session.data, &new).await;
            }
            *session = Session {
                modified: true,
                ..Session::default()
            };
            return Ok(SaveOutcome::Interrupted);
        }
        Ok(SaveOutcome::Saved)
    }

    /// `flush()`: the data cleared, the stored session deleted, no key (logout).
    pub async fn flush(&self, session: &mut Session) -> Result<(), StoreError> {
        // Cleared first (Django: `clear()`, `delete()`, key `None`), so that a failed delete leaves no
        // login data behind in the request's session; the key is kept until the delete succeeds, so that
        // a retried logout deletes it.
        let old = std::mem::replace(
            session,
            Session {
                modified: true,
                ..Session::default()
            },
        );
        if let Some(key) = old.session_key {
            if !self.engine.key_is_data() {
                if let Err(e) = self.engine.delete(&key).await {
                    session.session_key = Some(key);
                    return Err(e);
                }
            }
            self.index_remove(&old.data, &key).await;
        }
        Ok(())
    }

    /// `django.contrib.auth.login()`'s session half: a session already holding another user (or this user
    /// with another auth hash) is flushed, any other is given a new key (`cycle_key`, against session
    /// fixation), then `_auth_user_id`, `_auth_user_backend` and `_auth_user_hash` are set in Django's
    /// order. The caller saves the session (and rotates the CSRF token) as Django's middleware would.
    pub async fn login(
        &self,
        session: &mut Session,
        user_pk: &str,
        backend: &str,
        session_auth_hash: &str,
    ) -> Result<(), StoreError> {
        if session.data.contains_key(auth::SESSION_KEY) {
            let same_user = session.user_pk().as_deref() == Some(user_pk);
            // `session_auth_hash and not constant_time_compare(session.get(HASH_SESSION_KEY, ""), hash)`.
            let same_hash = session_auth_hash.is_empty()
                || matches!(
                    session.get(auth::HASH_SESSION_KEY),
                    Some(Value::Str(stored))
                        if crate::crypto::constant_time_compare(stored, session_auth_hash)
                );
            if !same_user || !same_hash {
                self.flush(session).await?;
            }
        } else {
            // Interrupted (the anonymous session was deleted meanwhile) leaves a new empty session, which
            // the login then fills: the user is logged in under a fresh key all the same.
            let _either_way = self.cycle_key(session).await?;
        }
        session.insert(auth::SESSION_KEY, user_pk);
        session.insert(auth::BACKEND_SESSION_KEY, backend);
        session.insert(auth::HASH_SESSION_KEY, session_auth_hash);
        Ok(())
    }

    /// `update_session_auth_hash(request, user)` after a password change: `cycle_key()`, then the new
    /// password's hash, so this session survives the change that ends all the user's others. A session a
    /// logout deleted meanwhile stays logged out (nothing is written into the fresh one).
    pub async fn update_session_auth_hash(
        &self,
        session: &mut Session,
        session_auth_hash: &str,
    ) -> Result<(), StoreError> {
        if self.cycle_key(session).await? != SaveOutcome::Interrupted {
            session.insert(auth::HASH_SESSION_KEY, session_auth_hash);
        }
        Ok(())
    }

    /// `django.contrib.auth.logout()`'s session half: `flush()`.
    pub async fn logout(&self, session: &mut Session) -> Result<(), StoreError> {
        self.flush(session).await
    }

    /// The idle timeout, before anything reads the session (see [`crate::idle`]): a session holding a user
    /// and idle too long is flushed, so the user is logged out here and everywhere. Returns the decision,
    /// so the service can tell the user why they were logged out. Writes nothing otherwise.
    pub async fn check_idle(
        &self,
        session: &mut Session,
        idle_timeout: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<crate::idle::Activity, StoreError> {
        let activity = crate::idle::check(&session.data, idle_timeout, now.timestamp());
        if activity == crate::idle::Activity::Expired {
            self.flush(session).await?;
        }
        Ok(activity)
    }

    /// A request by a verified user (one `get_user` accepted, or who just logged in): the `last_activity`
    /// stamp and the activity record the sessions page shows, each rewritten only once a little old, so
    /// requests rarely cost a session write. Never for a session `get_user` refused (a deleted or
    /// inactive user, an unlisted backend): Django writes nothing to those, and neither do we.
    pub fn record_activity(
        &self,
        session: &mut Session,
        idle_timeout: Option<i64>,
        client: impl FnOnce() -> crate::idle::Client,
        now: DateTime<Utc>,
    ) {
        use crate::idle::{self, Activity, LAST_ACTIVITY_KEY, SESSION_META_KEY};
        let now = now.timestamp();
        if idle::check(&session.data, idle_timeout, now) == Activity::Touch {
            session.insert(LAST_ACTIVITY_KEY, now);
        }
        let interval = idle_timeout.map_or(idle::SEEN_INTERVAL, idle::touch_interval);
        if let Some(meta) = idle::updated_meta(&session.data, client, now, interval) {
            session.insert(SESSION_META_KEY, meta.to_value());
        }
    }

    /// `SessionMiddleware.process_response`: with the request's cookie present and the session emptied,
    /// delete the cookie; otherwise, when modified (or `SESSION_SAVE_EVERY_REQUEST`) and not empty, save
    /// (not for a 5xx response) and send the cookie with the session's expiry. `now` is the response time.
    pub async fn process_response(
        &self,
        session: &mut Session,
        cookie_present: bool,
        status: u16,
        cookie: &crate::cookie::CookieSettings,
        now: DateTime<Utc>,
    ) -> Result<ResponseCookie, StoreError> {
        if cookie_present && session.is_empty() {
            return Ok(ResponseCookie {
                set_cookie: Some(cookie.delete_cookie()),
                vary_cookie: true,
                interrupted: false,
            });
        }
        // The services load the session for every request they answer, so it is always accessed.
        let mut response = ResponseCookie {
            set_cookie: None,
            vary_cookie: true,
            interrupted: false,
        };
        if !(session.modified || self.settings.save_every_request)
            || session.is_empty()
            || status >= 500
        {
            return Ok(response);
        }
        let expiry = session::expiry(&session.data, &self.settings.expiry, now)?;
        match self.save(session).await? {
            SaveOutcome::Saved => {
                if let Some(key) = session.session_key() {
                    let age = (!expiry.at_browser_close).then_some(expiry.age);
                    response.set_cookie = Some(cookie.set_cookie(key, age, now));
                }
            }
            SaveOutcome::NotSaved => {}
            SaveOutcome::Interrupted => {
                *session = Session::default();
                response.set_cookie = cookie_present.then(|| cookie.delete_cookie());
                response.interrupted = true;
            }
        }
        Ok(response)
    }

    /// `exists(session_key)`.
    pub async fn exists(&self, session_key: &str) -> Result<bool, StoreError> {
        if !self.acceptable_key(session_key) || self.engine.key_is_data() {
            return Ok(false);
        }
        self.engine.exists(session_key).await
    }

    /// `clear_expired()` (`manage.py clearsessions`).
    pub async fn clear_expired(&self) -> Result<u64, StoreError> {
        self.engine.clear_expired().await
    }

    /// The user's live sessions, newest expiry last. Each one is read back, so a session that is gone,
    /// expired, or now belongs to someone else is dropped from the index instead of listed.
    pub async fn user_sessions(&self, user_pk: &str) -> Result<Vec<UserSession>, StoreError> {
        let index = self.index.as_ref().ok_or(StoreError::NoIndex)?;
        let mut live = Vec::new();
        for mut entry in index.members(user_pk).await? {
            let belongs = match self.engine.load(&entry.session_key).await? {
                Some(stored) => {
                    entry.meta = crate::idle::SessionMeta::read(&stored.data);
                    auth::session_auth(&stored.data).is_some_and(|a| a.user_pk() == user_pk)
                }
                None => false,
            };
            if belongs {
                live.push(entry);
            } else {
                index.remove(user_pk, &entry.session_key).await?;
            }
        }
        Ok(live)
    }

    /// "Log out everywhere": deletes every session of the user except `keep`; returns how many.
    pub async fn delete_user_sessions(
        &self,
        user_pk: &str,
        keep: Option<&str>,
    ) -> Result<usize, StoreError> {
        let index = self.index.as_ref().ok_or(StoreError::NoIndex)?;
        let mut deleted = 0;
        for entry in self.user_sessions(user_pk).await? {
            if Some(entry.session_key.as_str()) == keep {
                continue;
            }
            self.engine.delete(&entry.session_key).await?;
            index.remove(user_pk, &entry.session_key).await?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// "Log out this one": deletes the user's session named by its opaque id ([`UserSession::id`]);
    /// `false` when no live session of this user has that id (so one user cannot name another's).
    pub async fn delete_user_session(&self, user_pk: &str, id: &str) -> Result<bool, StoreError> {
        let index = self.index.as_ref().ok_or(StoreError::NoIndex)?;
        for entry in self.user_sessions(user_pk).await? {
            if crate::crypto::constant_time_compare(entry.id(), id) {
                self.engine.delete(&entry.session_key).await?;
                index.remove(user_pk, &entry.session_key).await?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A session Django created joins the index the first time we see it. This runs in the background,
    /// so a load costs one round trip and a Redis outage never slows a `db` engine's request; index
    /// failures are logged and repaired on the next load or listing.
    fn index_join(&self, session: &Session) {
        let (Some(index), Some(key), Some(stored)) = (
            self.index.clone(),
            session.session_key(),
            session.stored.as_ref(),
        ) else {
            return;
        };
        let Some(user_pk) = session.user_pk() else {
            return;
        };
        let date = match stored.expire_date {
            Some(date) => date,
            None => match self.expiry(&stored.data) {
                Ok(expiry) => expiry.date,
                Err(_) => return,
            },
        };
        let key = key.to_string();
        let join = async move {
            if let Err(e) = index.add(&user_pk, &key, date).await {
                tracing::warn!(error = %e, "user session index not updated");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(join);
            }
            Err(_) => tracing::warn!("no Tokio runtime: user session index not updated"),
        }
    }

    async fn index_add(&self, data: &SessionData, key: Option<&str>, expiry: &Expiry) {
        let (Some(index), Some(key)) = (self.index.as_ref(), key) else {
            return;
        };
        let Some(auth) = auth::session_auth(data) else {
            return;
        };
        if let Err(e) = index.add(auth.user_pk(), key, expiry.date).await {
            tracing::warn!(error = %e, "user session index not updated");
        }
    }

    async fn index_remove(&self, data: &SessionData, key: &str) {
        let Some(index) = self.index.as_ref() else {
            return;
        };
        let Some(auth) = auth::session_auth(data) else {
            return;
        };
        if let Err(e) = index.remove(auth.user_pk(), key).await {
            tracing::warn!(error = %e, "user session index not updated");
        }
    }
}

/// The expiry as a Redis TTL in milliseconds (never below 0).
fn ttl_millis(expiry: &Expiry) -> i64 {
    expiry.age.saturating_mul(1000).max(0)
}

fn unix_millis(date: DateTime<Utc>) -> i64 {
    date.timestamp_millis()
}

/// Logs Django's "Session data corrupted" without the key or the data.
fn corrupted(engine: &'static str, error: &session::SessionError) {
    crate::metrics::record_decode_failure(crate::metrics::DecodeFailure::of(error));
    tracing::warn!(engine, %error, "Session data corrupted");
}
