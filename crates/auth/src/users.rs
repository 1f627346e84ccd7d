//! Django's users on its own `auth_user` table: `ModelBackend`'s lookups and `UserManager.create_user`,
//! through diesel.
//!
//! `auth_user` has no database defaults (Django applies them in the ORM), so every insert names every
//! column. Passwords go through [`PasswordHashers`] on Tokio's blocking pool.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use unicode_normalization::UnicodeNormalization;

use crate::auth::UserForSession;
use crate::connections::{Database, StoreError};
use crate::hashers::{HasherError, PasswordHashers};
use crate::schema::auth_user as au;

diesel::define_sql_function! {
    /// PostgreSQL's `UPPER`, as Django's `__iexact` lookup uses it.
    fn upper(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// A row of `auth_user` (`django.contrib.auth.models.User`).
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = au)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: i32,
    pub password: String,
    pub last_login: Option<DateTime<Utc>>,
    pub is_superuser: bool,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub is_staff: bool,
    pub is_active: bool,
    pub date_joined: DateTime<Utc>,
}

impl std::fmt::Debug for User {
    // The password hash never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("is_active", &self.is_active)
            .finish_non_exhaustive()
    }
}

impl User {
    /// `user.pk` as the session stores it (`_auth_user_id` is its string form).
    pub fn pk(&self) -> i64 {
        i64::from(self.id)
    }

    /// What `get_user` needs to check the session against this user.
    pub fn for_session(&self) -> UserForSession<'_> {
        UserForSession {
            pk: self.pk(),
            password: &self.password,
            is_active: self.is_active,
        }
    }
}

/// The profile fields `PATCH /api/v1/me` may change; `None` keeps the current value (diesel leaves a
/// `None` field out of the `UPDATE`).
#[derive(Clone, Debug, Default, AsChangeset)]
#[diesel(table_name = au)]
pub struct ProfileChange {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
}

/// The fields `UserManager.create_user(username, email, password, **extra_fields)` takes.
#[derive(Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    /// `None` gives an unusable password (`set_unusable_password`), as `create_user(password=None)` does.
    pub password: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub is_staff: bool,
    pub is_superuser: bool,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hasher(#[from] HasherError),
    /// `auth_user_username_key`: a user with that username exists.
    #[error("a user with that username already exists")]
    UsernameTaken,
    /// `create_user` with an empty username ("The given username must be set").
    #[error("the given username must be set")]
    EmptyUsername,
    #[error("no user with that id")]
    NotFound,
}

/// `AbstractBaseUser.normalize_username`: Unicode NFKC, so that visually identical names are one name.
pub fn normalize_username(username: &str) -> String {
    username.nfkc().collect()
}

/// `BaseUserManager.normalize_email`: the domain part lowercased; the local part is left alone.
pub fn normalize_email(email: &str) -> String {
    match email.trim().rsplit_once('@') {
        Some((name, domain)) => format!("{name}@{}", domain.to_lowercase()),
        None => email.to_string(),
    }
}

/// The columns the store updates on their own.
enum Column {
    Password(String),
    LastLogin(DateTime<Utc>),
    IsActive(bool),
}

/// `UnicodeUsernameValidator`'s regex, `^[\w.@+-]+\Z`, with Python's Unicode `\w` (letters, digits, `_`;
/// not the combining marks Rust's `is_alphanumeric` also accepts).
pub fn is_valid_username(username: &str) -> bool {
    !username.is_empty()
        && username
            .chars()
            .all(|c| crate::password_validation::pystr::is_word(c) || ".@+-".contains(c))
}

/// `UnicodeUsernameValidator.message`.
pub const INVALID_USERNAME: &str = "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.";

/// The users of one database, with the project's `PASSWORD_HASHERS`.
#[derive(Clone, Debug)]
pub struct UserStore {
    db: Database,
    hashers: Arc<PasswordHashers>,
    lookups: Arc<Lookups>,
}

/// `get`s waiting for the next lookup query, and whether one is running. Concurrent `get`s are answered
/// by one `SELECT … WHERE id = ANY($1)` rather than a query each: a request's id only ever joins a query
/// that has not been sent yet, so the row it gets was read after the request arrived and every commit
/// made before it is seen, as with a query of its own. Nothing is cached.
#[derive(Debug, Default)]
struct Lookups {
    state: std::sync::Mutex<LookupState>,
    /// Lookup queries sent so far.
    queries: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default)]
struct LookupState {
    /// Whether a task is sending lookup queries (it keeps going while `waiting` is not empty).
    running: bool,
    waiting: Vec<(i32, Answer)>,
}

/// Where a waiting lookup's row (or the query's error) goes.
type Answer = tokio::sync::oneshot::Sender<Result<Option<User>, StoreError>>;

impl Lookups {
    fn lock(&self) -> std::sync::MutexGuard<'_, LookupState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends one query for everything waiting, then again for whatever arrived meanwhile, until nothing
    /// waits. Made before it is spawned, so that even a task dropped unpolled ends the run.
    fn run(self: Arc<Lookups>, db: Database) -> impl Future<Output = ()> + Send + 'static {
        /// Ends the run if the task ends any other way than by finding nothing waiting (a panic, a
        /// runtime shutting down): the lookups still waiting are answered "dropped" (a 503) rather than
        /// left to their deadline, and the next `get` starts another run.
        struct Running(Option<Arc<Lookups>>);
        impl Running {
            /// The run ended as it should: nothing to undo.
            fn finished(&mut self) {
                self.0 = None;
            }
        }
        impl Drop for Running {
            fn drop(&mut self) {
                if let Some(lookups) = self.0.take() {
                    let mut state = lookups.lock();
                    state.running = false;
                    state.waiting.clear();
                }
            }
        }
        let mut running = Running(Some(self));
        async move {
            loop {
                let Some(lookups) = running.0.clone() else {
                    return;
                };
                let mut batch = {
                    let mut state = lookups.lock();
                    if state.waiting.is_empty() {
                        // Under the lock that saw nothing waiting: the next `get` starts a run.
                        state.running = false;
                        drop(state);
                        running.finished();
                        return;
                    }
                    std::mem::take(&mut state.waiting)
                };
                // Callers that gave up meanwhile (their deadline, a client gone) need no row.
                batch.retain(|(_, answer)| !answer.is_closed());
                if batch.is_empty() {
                    continue;
                }
                let mut ids: Vec<i32> = batch.iter().map(|(id, _)| *id).collect();
                ids.sort_unstable();
                ids.dedup();
                let rows = db
                    .run(move |conn| {
                        Box::pin(async move {
                            au::table
                                .filter(au::id.eq_any(ids))
                                .select(User::as_select())
                                .load(conn)
                                .await
                        })
                    })
                    .await;
                lookups
                    .queries
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let rows = rows.map(|mut users| {
                    users.sort_unstable_by_key(|u| u.id);
                    users
                });
                for (id, answer) in batch {
                    let _ = answer.send(match &rows {
                        Ok(users) => Ok(users
                            .binary_search_by_key(&id, |u| u.id)
                            .ok()
                            .map(|i| users[i].clone())),
                        Err(e) => Err(same_error(e)),
                    });
                }
            }
        }
    }
}

/// A failed lookup query's error, for each `get` it answered (a PostgreSQL call fails with `Unavailable`
/// or `Server`).
fn same_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::Unavailable { service, reason } => StoreError::Unavailable {
            service,
            reason: reason.clone(),
        },
        StoreError::Server { service, reason } => StoreError::Server {
            service,
            reason: reason.clone(),
        },
        other => StoreError::Server {
            service: crate::connections::POSTGRES,
            reason: other.to_string(),
        },
    }
}

impl UserStore {
    pub fn new(db: Database, hashers: Arc<PasswordHashers>) -> UserStore {
        UserStore {
            db,
            hashers,
            lookups: Arc::default(),
        }
    }

    pub fn hashers(&self) -> &Arc<PasswordHashers> {
        &self.hashers
    }

    /// `ModelBackend.get_user(user_id)`'s lookup: the row with that pk, active or not.
    pub async fn get(&self, pk: i64) -> Result<Option<User>, StoreError> {
        let Ok(id) = i32::try_from(pk) else {
            return Ok(None);
        };
        // Every request's lookup, merged with those of the requests beside it (`Lookups`).
        let (answer, answered) = tokio::sync::oneshot::channel();
        let start = {
            let mut state = self.lookups.lock();
            state.waiting.push((id, answer));
            !std::mem::replace(&mut state.running, true)
        };
        if start {
            tokio::spawn(self.lookups.clone().run(self.db.clone()));
        }
        // The query this lookup joins may wait for the one before it: the deadline is this call's.
        let unavailable = |reason: String| StoreError::Unavailable {
            service: crate::connections::POSTGRES,
            reason,
        };
        // A failed query is counted in `store_errors` once (by `Database::run`), however many lookups
        // it answered: the metric counts calls, and each 503 is counted by the service.
        match tokio::time::timeout(self.db.deadline(), answered).await {
            Ok(Ok(user)) => user,
            Ok(Err(_)) => Err(unavailable("the lookup was dropped".into())),
            Err(_) => Err(unavailable(format!(
                "no answer within {:?}",
                self.db.deadline()
            ))),
        }
    }

    /// How many queries [`UserStore::get`] has sent: fewer than its calls when concurrent lookups were
    /// merged.
    pub fn lookup_queries(&self) -> u64 {
        // (`AtomicU64::load` by its path: diesel's `RunQueryDsl::load` is in scope.)
        std::sync::atomic::AtomicU64::load(
            &self.lookups.queries,
            std::sync::atomic::Ordering::Relaxed,
        )
    }

    /// `UserManager.get_by_natural_key(username)`: an exact, case-sensitive match.
    pub async fn get_by_natural_key(&self, username: &str) -> Result<Option<User>, StoreError> {
        let username = username.to_string();
        self.db
            .run(move |conn| {
                Box::pin(async move {
                    au::table
                        .filter(au::username.eq(username))
                        .select(User::as_select())
                        .first(conn)
                        .await
                        .optional()
                })
            })
            .await
    }

    /// `UserCreationForm.clean_username`'s check: is there a user whose username differs from this one at
    /// most in case (`username__iexact`, PostgreSQL's `UPPER(…) = UPPER(…)`)?
    pub async fn username_taken_iexact(&self, username: &str) -> Result<bool, StoreError> {
        let username = normalize_username(username);
        self.db
            .run(move |conn| {
                Box::pin(async move {
                    diesel::select(diesel::dsl::exists(
                        au::table.filter(upper(au::username).eq(upper(username))),
                    ))
                    .get_result(conn)
                    .await
                })
            })
            .await
    }

    /// `PasswordResetForm.get_users(email)`: the active users with a usable password whose email matches
    /// case-insensitively (`email__iexact`, then `_unicode_ci_compare`). The final comparison is NFKC then
    /// `to_lowercase` where Django uses `casefold`; the two differ only for a few letters such as `ß`, where
    /// this one matches fewer addresses, never more.
    pub async fn users_for_password_reset(&self, email: &str) -> Result<Vec<User>, StoreError> {
        let wanted = email.to_string();
        let candidates: Vec<User> = self
            .db
            .run(move |conn| {
                Box::pin(async move {
                    au::table
                        .filter(upper(au::email).eq(upper(wanted)))
                        .filter(au::is_active.eq(true))
                        .select(User::as_select())
                        .load(conn)
                        .await
                })
            })
            .await?;
        let fold = |s: &str| s.nfkc().collect::<String>().to_lowercase();
        Ok(candidates
            .into_iter()
            .filter(|u| {
                crate::hashers::is_password_usable(&u.password) && fold(&u.email) == fold(email)
            })
            .collect())
    }

    /// `ModelBackend.authenticate(username, password)`: the active user whose password matches, else
    /// `None`, taking about the same time whether or not the username exists (Django runs the preferred
    /// hasher once for an unknown user, #20760). A correct password stored with an outdated hasher or work
    /// factor is re-hashed and saved, as `check_password`'s setter does.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, UserError> {
        let Some(mut user) = self.get_by_natural_key(username).await? else {
            // Only the time it takes matters; its result must not tell an unknown username from a wrong
            // password. A password the hasher refuses (bcrypt's 72-byte limit) fails fast, so a random one
            // is hashed instead, as `check_password` does for a known user.
            let hashed = self
                .hashers
                .clone()
                .make_password_blocking(password.to_string())
                .await;
            if hashed.is_err() {
                if let Ok(random) =
                    crate::crypto::get_random_string(32, crate::session::VALID_KEY_CHARS)
                {
                    let _ = self.hashers.clone().make_password_blocking(random).await;
                }
            }
            return Ok(None);
        };
        let verification = self
            .hashers
            .clone()
            .check_password_blocking(password.to_string(), user.password.clone())
            .await?;
        if !verification.is_correct {
            return Ok(None);
        }
        if verification.must_update {
            let encoded = self
                .hashers
                .clone()
                .make_password_blocking(password.to_string())
                .await?;
            self.update(user.pk(), Column::Password(encoded.clone()))
                .await?;
            user.password = encoded;
        }
        // `user_can_authenticate`: inactive users are refused after the password check, as in Django.
        Ok(user.is_active.then_some(user))
    }

    /// `UserManager.create_user`: username NFKC-normalised, email domain lowercased, password hashed
    /// (unusable when `None`), `is_active` true, `date_joined` now, `last_login` null.
    pub async fn create_user(&self, new: NewUser) -> Result<User, UserError> {
        if new.username.is_empty() {
            return Err(UserError::EmptyUsername);
        }
        let password = match new.password {
            Some(raw) => self.hashers.clone().make_password_blocking(raw).await?,
            None => crate::hashers::make_unusable_password()?,
        };
        let values = (
            au::password.eq(password),
            au::last_login.eq(None::<DateTime<Utc>>),
            au::is_superuser.eq(new.is_superuser),
            au::username.eq(normalize_username(&new.username)),
            au::first_name.eq(new.first_name),
            au::last_name.eq(new.last_name),
            au::email.eq(normalize_email(&new.email)),
            au::is_staff.eq(new.is_staff),
            au::is_active.eq(true),
            au::date_joined.eq(Utc::now()),
        );
        let inserted: Option<User> = self
            .db
            .run(move |conn| {
                Box::pin(async move {
                    diesel::insert_into(au::table)
                        .values(values)
                        .on_conflict(au::username)
                        .do_nothing()
                        .returning(User::as_returning())
                        .get_result(conn)
                        .await
                        .optional()
                })
            })
            .await?;
        inserted.ok_or(UserError::UsernameTaken)
    }

    /// `user.set_password(raw); user.save()`. Changing the password changes the session auth hash, which
    /// logs out the user's other sessions (Django's `update_session_auth_hash` keeps the current one).
    pub async fn set_password(&self, pk: i64, raw: &str) -> Result<String, UserError> {
        let encoded = self
            .hashers
            .clone()
            .make_password_blocking(raw.to_string())
            .await?;
        self.update(pk, Column::Password(encoded.clone())).await?;
        Ok(encoded)
    }

    /// `update_last_login` (the `user_logged_in` receiver): `last_login = now()`.
    pub async fn update_last_login(&self, pk: i64) -> Result<DateTime<Utc>, UserError> {
        let now = Utc::now();
        self.update(pk, Column::LastLogin(now)).await?;
        Ok(now)
    }

    /// `user.is_active = value; user.save()`: an inactive user can neither log in nor keep a session.
    pub async fn set_active(&self, pk: i64, is_active: bool) -> Result<(), UserError> {
        self.update(pk, Column::IsActive(is_active)).await
    }

    /// `user.save(update_fields=["first_name", "last_name", "email"])` with the fields given (the others
    /// keep their value); the row as written, in one `UPDATE … RETURNING`. Only the given columns are
    /// written, so a concurrent password change or deactivation is never undone. Validation is the
    /// caller's ([`crate::validators`]).
    pub async fn update_profile(&self, pk: i64, change: ProfileChange) -> Result<User, UserError> {
        if change.first_name.is_none() && change.last_name.is_none() && change.email.is_none() {
            // Nothing to write (diesel refuses an empty `SET`): the row as it is.
            return self.get(pk).await?.ok_or(UserError::NotFound);
        }
        let id = i32::try_from(pk).map_err(|_| UserError::NotFound)?;
        let user = self
            .db
            .run(move |conn| {
                Box::pin(async move {
                    diesel::update(au::table.find(id))
                        .set(&change)
                        .returning(User::as_returning())
                        .get_result(conn)
                        .await
                        .optional()
                })
            })
            .await?;
        user.ok_or(UserError::NotFound)
    }

    /// `user.save(update_fields=[…])` for one column of the user with that pk.
    async fn update(&self, pk: i64, column: Column) -> Result<(), UserError> {
        let id = i32::try_from(pk).map_err(|_| UserError::NotFound)?;
        let updated = self
            .db
            .run(move |conn| {
                Box::pin(async move {
                    let row = diesel::update(au::table.find(id));
                    match column {
                        Column::Password(encoded) => {
                            row.set(au::password.eq(encoded)).execute(conn).await
                        }
                        Column::LastLogin(when) => {
                            row.set(au::last_login.eq(Some(when))).execute(conn).await
                        }
                        Column::IsActive(value) => {
                            row.set(au::is_active.eq(value)).execute(conn).await
                        }
                    }
                })
            })
            .await?;
        if updated == 0 {
            return Err(UserError::NotFound);
        }
        Ok(())
    }
}

/// `django.contrib.auth.get_user(request)`: the session's user, applying Django's decision to the session
/// (see [`crate::auth::get_user`]): a hash that matched only a `SECRET_KEY_FALLBACKS` key is re-made with
/// the current key after `cycle_key`; a hash that matches nothing (the password changed, or a forged
/// session) flushes the session. An inactive or deleted user is anonymous.
pub async fn get_user(
    sessions: &crate::store::SessionStore,
    users: &UserStore,
    session: &mut crate::store::Session,
    authentication_backends: &[String],
    hasher: &crate::auth::SessionAuthHasher,
) -> Result<Option<User>, StoreError> {
    use crate::auth::{self, GetUser};
    let Some(session_auth) = auth::session_auth(session.data()) else {
        return Ok(None);
    };
    let user = match session_auth.user_pk() {
        Some(pk) if authentication_backends.contains(&session_auth.backend) => {
            users.get(pk).await?
        }
        _ => None,
    };
    let decision = auth::get_user(
        Some(&session_auth),
        authentication_backends,
        user.as_ref().map(User::for_session).as_ref(),
        hasher,
    );
    match decision {
        GetUser::Authenticated { .. } => Ok(user),
        GetUser::AuthenticatedUpgrade { new_hash, .. } => {
            if sessions.cycle_key(session).await? == crate::store::SaveOutcome::Interrupted {
                return Ok(None);
            }
            session.insert(auth::HASH_SESSION_KEY, new_hash);
            Ok(user)
        }
        GetUser::Anonymous => Ok(None),
        GetUser::AnonymousFlush => {
            sessions.flush(session).await?;
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_as_unicode_username_validator() {
        for good in ["alice", "a.b@c+d-e_f", "émile", "Σοφία", "李雷", "x1"] {
            assert!(is_valid_username(good), "{good}");
        }
        // A combining mark is not `\w` in Python (Rust's is_alphanumeric would accept it).
        for bad in ["", "a b", "a/b", "a\u{0301}", "tab\t", "semi;colon", "ⓐ"] {
            assert!(!is_valid_username(bad), "{bad:?}");
        }
    }

    #[test]
    fn normalisation_as_django() {
        assert_eq!(normalize_email("Jo.Doe@ExAmple.COM"), "Jo.Doe@example.com");
        assert_eq!(normalize_email(" a@B.c "), "a@b.c");
        assert_eq!(normalize_email("no-at-sign"), "no-at-sign");
        assert_eq!(normalize_email(""), "");
        // NFKC folds the ligature and the fullwidth letters.
        assert_eq!(normalize_username("ﬁｎｅ"), "fine");
    }
}
