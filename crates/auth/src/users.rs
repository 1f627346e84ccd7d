//! Django's users in the project's user table (`AUTH_USER_MODEL`, see [`crate::user_model`]):
//! `ModelBackend`'s lookups and `UserManager.create_user`, through diesel.
//!
//! The table's shape is known only at start (its key's type, which of Django's standard fields it has), so
//! the queries are SQL made once by [`UserModel`] and run with bound values. Django applies the defaults
//! of `auth_user` in the ORM, not in the database, so an insert names every standard column the table has.
//! Passwords go through [`PasswordHashers`] on Tokio's blocking pool.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::pg::Pg;
use diesel::sql_types::{Array, Bool, Nullable, Text, Timestamptz};
use diesel_async::RunQueryDsl;
use unicode_normalization::UnicodeNormalization;

use crate::auth::UserForSession;
use crate::connections::{Database, StoreError};
use crate::hashers::{HasherError, PasswordHashers};
use crate::user_model::{Field, UserModel};

/// A row of the user table, in the same shape whatever the model: a standard field the model lacks is
/// `None`.
#[derive(Clone, QueryableByName)]
pub struct User {
    /// `str(user.pk)`: what `_auth_user_id` holds (`"42"`, a UUID in its hyphenated form).
    #[diesel(sql_type = Text)]
    pub pk: String,
    /// The encoded password.
    #[diesel(sql_type = Text)]
    pub password: String,
    /// `user.last_login`: the last successful login, `None` if the user never logged in.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_login: Option<DateTime<Utc>>,
    /// `user.get_username()`: the `USERNAME_FIELD`'s value.
    #[diesel(sql_type = Text)]
    pub username: String,
    /// The `EMAIL_FIELD`'s value.
    #[diesel(sql_type = Nullable<Text>)]
    pub email: Option<String>,
    /// `user.first_name`; `None` for a model without the field.
    #[diesel(sql_type = Nullable<Text>)]
    pub first_name: Option<String>,
    /// `user.last_name`; `None` for a model without the field.
    #[diesel(sql_type = Nullable<Text>)]
    pub last_name: Option<String>,
    /// `None` for a model without the field, which Django counts as active.
    #[diesel(sql_type = Nullable<Bool>)]
    pub is_active: Option<bool>,
    /// `user.is_staff` (may use the admin site); `None` for a model without the field.
    #[diesel(sql_type = Nullable<Bool>)]
    pub is_staff: Option<bool>,
    /// `user.is_superuser` (`PermissionsMixin`); `None` for a model without the field.
    #[diesel(sql_type = Nullable<Bool>)]
    pub is_superuser: Option<bool>,
    /// `user.date_joined`: when the account was created; `None` for a model without the field.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub date_joined: Option<DateTime<Utc>>,
    /// `getattr(user, "username", None)`: a `username` column's value, whatever the `USERNAME_FIELD`
    /// (what Django's password similarity check compares).
    #[diesel(sql_type = Nullable<Text>)]
    pub username_attribute: Option<String>,
    /// The names of the user's groups (`user.groups`, Django's `auth_group`), sorted, once
    /// [`UserStore::groups`] read them (the lookups leave it empty); empty for a model without
    /// `PermissionsMixin`.
    #[diesel(sql_type = Array<Text>)]
    pub groups: Vec<String>,
}

impl std::fmt::Debug for User {
    // The password hash never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("pk", &self.pk)
            .field("username", &self.username)
            .field("is_active", &self.is_active)
            .finish_non_exhaustive()
    }
}

impl User {
    /// `str(user.pk)`, as the session stores it in `_auth_user_id`.
    pub fn pk(&self) -> &str {
        &self.pk
    }

    /// `user.is_active`, or `True` for a model without the field (`AbstractBaseUser.is_active = True`,
    /// which `ModelBackend.user_can_authenticate` reads with `getattr(user, "is_active", True)`).
    pub fn is_active(&self) -> bool {
        self.is_active.unwrap_or(true)
    }

    /// What `get_user` needs to check the session against this user.
    pub fn for_session(&self) -> UserForSession<'_> {
        UserForSession {
            pk: &self.pk,
            password: &self.password,
            is_active: self.is_active(),
        }
    }

    /// `getattr(user, EMAIL_FIELD, "") or ""`, as reset tokens and mail read it.
    pub fn email(&self) -> &str {
        self.email.as_deref().unwrap_or_default()
    }
}

/// The profile fields `PATCH /api/v1/me` may change; `None` keeps the current value. A field the model
/// does not have is left out.
#[derive(Clone, Debug, Default)]
pub struct ProfileChange {
    /// The new `first_name`, written as given.
    pub first_name: Option<String>,
    /// The new `last_name`, written as given.
    pub last_name: Option<String>,
    /// The new value of the `EMAIL_FIELD`, written as given (not normalised).
    pub email: Option<String>,
}

/// The fields `UserManager.create_user(username, email, password, **extra_fields)` takes. `username` is
/// the `USERNAME_FIELD`'s value (the address, when that field is the email); fields the model lacks are
/// ignored.
#[derive(Clone, Default)]
pub struct NewUser {
    /// The `USERNAME_FIELD`'s value, normalised as `create_user` does (`normalize_email` when that field
    /// is the email, NFKC otherwise); must not be empty.
    pub username: String,
    /// The `EMAIL_FIELD`'s value, stored through `normalize_email` (domain lowercased).
    pub email: String,
    /// `None` gives an unusable password (`set_unusable_password`), as `create_user(password=None)` does.
    pub password: Option<String>,
    /// `first_name`, stored as given.
    pub first_name: String,
    /// `last_name`, stored as given.
    pub last_name: String,
    /// `is_staff` (`create_user` defaults it to `False`).
    pub is_staff: bool,
    /// `is_superuser` (`create_user` defaults it to `False`).
    pub is_superuser: bool,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Why a user could not be read, created or changed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// PostgreSQL was unavailable or refused the query.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The password could not be hashed (e.g. a `PASSWORD_HASHERS` entry that cannot hash it).
    #[error(transparent)]
    Hasher(#[from] HasherError),
    /// A unique constraint (the `USERNAME_FIELD`'s): a user with that username exists.
    #[error("a user with that username already exists")]
    UsernameTaken,
    /// `create_user` with an empty username ("The given username must be set").
    #[error("the given username must be set")]
    EmptyUsername,
    /// No row has that primary key (or the key is not of the model's key type).
    #[error("no user with that id")]
    NotFound,
    /// The user table has `NOT NULL` columns without a database default that only the Django project
    /// knows how to fill: users are made there.
    #[error(
        "the user table has required columns without a database default ({}): create users with the \
         Django project",
        .0.join(", ")
    )]
    CannotCreate(Vec<String>),
    /// The model has no such field (`set_active` on a model without `is_active`).
    #[error("the user model has no field {0}")]
    NoSuchField(&'static str),
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

/// The users of one database's user table, with the project's `PASSWORD_HASHERS`.
#[derive(Clone, Debug)]
pub struct UserStore {
    db: Database,
    hashers: Arc<PasswordHashers>,
    model: Arc<UserModel>,
    lookups: Arc<Lookups>,
}

/// `get`s waiting for the next lookup query, and whether one is running. Concurrent `get`s are answered
/// by one `SELECT … WHERE pk = ANY($1)` rather than a query each: a request's id only ever joins a query
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
    /// `str(pk)` of each waiting lookup (already in the key's canonical form) and where its row goes.
    waiting: Vec<(String, Answer)>,
}

/// Where a waiting lookup's row (or the query's error) goes.
type Answer = tokio::sync::oneshot::Sender<Result<Option<User>, StoreError>>;

impl Lookups {
    fn lock(&self) -> std::sync::MutexGuard<'_, LookupState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends one query for everything waiting, then again for whatever arrived meanwhile, until nothing
    /// waits. Made before it is spawned, so that even a task dropped unpolled ends the run.
    fn run(
        self: Arc<Lookups>,
        db: Database,
        model: Arc<UserModel>,
    ) -> impl Future<Output = ()> + Send + 'static {
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
        let (before, after) = model.select_by_pks();
        let (before, after): (Arc<str>, Arc<str>) = (before.into(), after.into());
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
                let mut ids: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
                ids.sort_unstable();
                ids.dedup();
                let query = ByPks {
                    before: before.clone(),
                    after: after.clone(),
                    ids,
                };
                let rows = db
                    .run(move |conn| Box::pin(async move { query.load::<User>(conn).await }))
                    .await;
                lookups
                    .queries
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let rows = rows.map(|mut users| {
                    users.sort_unstable_by(|a, b| a.pk.cmp(&b.pk));
                    users
                });
                for (id, answer) in batch {
                    let _ = answer.send(match &rows {
                        Ok(users) => Ok(users
                            .binary_search_by(|u| u.pk.as_str().cmp(&id))
                            .ok()
                            .map(|i| users[i].clone())),
                        Err(e) => Err(same_error(e)),
                    });
                }
            }
        }
    }
}

/// The merged lookups' query, `<before>$1<after>` with the keys bound as one `text[]`. Its SQL is made at
/// run time (the user model's) but never changes, so unlike `sql_query`, which diesel never caches, it
/// is prepared once per connection and then sent in one round trip, as diesel's own DSL queries are.
struct ByPks {
    before: Arc<str>,
    after: Arc<str>,
    ids: Vec<String>,
}

impl diesel::query_builder::QueryId for ByPks {
    type QueryId = ();
    // No type names the query: diesel caches it by its SQL text instead.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::Query for ByPks {
    type SqlType = diesel::sql_types::Untyped;
}

impl diesel::query_builder::QueryFragment<Pg> for ByPks {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, Pg>,
    ) -> diesel::QueryResult<()> {
        out.push_sql(&self.before);
        out.push_bind_param::<Array<Text>, _>(&self.ids)?;
        out.push_sql(&self.after);
        Ok(())
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

/// A value bound to a user query whose SQL is made at run time.
enum Bound {
    Text(String),
    Bool(bool),
    Time(Option<DateTime<Utc>>),
}

impl UserStore {
    /// The store of a user model already read from the catalog ([`UserModel::inspect`]).
    pub fn new(db: Database, hashers: Arc<PasswordHashers>, model: Arc<UserModel>) -> UserStore {
        UserStore {
            db,
            hashers,
            model,
            lookups: Arc::default(),
        }
    }

    /// The same users through another connection pool (an api worker's own), without reading the catalog
    /// again.
    pub fn with_database(&self, db: Database) -> UserStore {
        UserStore::new(db, self.hashers.clone(), self.model.clone())
    }

    /// The same users with other `PASSWORD_HASHERS`.
    pub fn with_hashers(&self, hashers: Arc<PasswordHashers>) -> UserStore {
        UserStore::new(self.db.clone(), hashers, self.model.clone())
    }

    /// The `PASSWORD_HASHERS` passwords are checked and made with.
    pub fn hashers(&self) -> &Arc<PasswordHashers> {
        &self.hashers
    }

    /// The user model, as the table showed it at start.
    pub fn model(&self) -> &Arc<UserModel> {
        &self.model
    }

    /// `ModelBackend.get_user(user_id)`'s lookup: the row whose key is `user_id` (`_auth_user_id` as the
    /// session holds it, parsed as Django's `pk.to_python` would), active or not. A value of the wrong
    /// shape for the key finds nobody, without a query.
    pub async fn get(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        let Some(id) = self.model.pk_from_str(user_id) else {
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
            tokio::spawn(
                self.lookups
                    .clone()
                    .run(self.db.clone(), self.model.clone()),
            );
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

    /// `user.groups.values_list("name")`: the names of the groups of the user whose key is `pk`, sorted
    /// (one query; none for a model without a groups table).
    pub async fn groups(&self, pk: &str) -> Result<Vec<String>, StoreError> {
        #[derive(QueryableByName)]
        struct Name {
            #[diesel(sql_type = Text)]
            name: String,
        }
        let Some(sql) = self.model.select_groups() else {
            return Ok(Vec::new());
        };
        let pk = pk.to_string();
        let names: Vec<Name> = self
            .db
            .run(move |conn| {
                Box::pin(async move { diesel::sql_query(sql).bind::<Text, _>(pk).load(conn).await })
            })
            .await?;
        Ok(names.into_iter().map(|n| n.name).collect())
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

    /// Runs `sql` with `binds`, returning the rows.
    async fn rows(&self, sql: String, binds: Vec<Bound>) -> Result<Vec<User>, StoreError> {
        self.db
            .run(move |conn| {
                Box::pin(async move {
                    let mut query = diesel::sql_query(sql).into_boxed::<Pg>();
                    for bound in binds {
                        query = match bound {
                            Bound::Text(v) => query.bind::<Text, _>(v),
                            Bound::Bool(v) => query.bind::<Bool, _>(v),
                            Bound::Time(v) => query.bind::<Nullable<Timestamptz>, _>(v),
                        };
                    }
                    query.load::<User>(conn).await
                })
            })
            .await
    }

    /// `UserManager.get_by_natural_key(username)`: an exact, case-sensitive match on the
    /// `USERNAME_FIELD`.
    pub async fn get_by_natural_key(&self, username: &str) -> Result<Option<User>, StoreError> {
        let mut rows = self
            .rows(
                self.model.select_by_natural_key(),
                vec![Bound::Text(username.to_string())],
            )
            .await?;
        Ok(rows.pop())
    }

    /// `UserCreationForm.clean_username`'s check: is there a user whose username differs from this one at
    /// most in case (`username__iexact`, PostgreSQL's `UPPER(…) = UPPER(…)`)?
    pub async fn username_taken_iexact(&self, username: &str) -> Result<bool, StoreError> {
        let username = if self.model.username_is_email() {
            normalize_email(username)
        } else {
            normalize_username(username)
        };
        let sql = format!(
            "{} WHERE UPPER({}) = UPPER($1) LIMIT 1",
            self.model.select(),
            self.model.username_column_as_text()
        );
        Ok(!self
            .rows(sql, vec![Bound::Text(username)])
            .await?
            .is_empty())
    }

    /// `PasswordResetForm.get_users(email)`: the active users with a usable password whose `EMAIL_FIELD`
    /// matches case-insensitively (`__iexact`, then `_unicode_ci_compare`). The final comparison is NFKC
    /// then `to_lowercase` where Django uses `casefold`; the two differ only for a few letters such as
    /// `ß`, where this one matches fewer addresses, never more. A model without an email field has nobody
    /// to mail; one without `is_active` counts everyone as active.
    pub async fn users_for_password_reset(&self, email: &str) -> Result<Vec<User>, StoreError> {
        let Some(field) = self.model.email_field() else {
            return Ok(Vec::new());
        };
        let mut sql = format!(
            "{} WHERE UPPER({}::text) = UPPER($1)",
            self.model.select(),
            self.model.quoted(field)
        );
        if self.model.has(Field::IsActive) {
            sql.push_str(" AND \"is_active\"");
        }
        let candidates = self.rows(sql, vec![Bound::Text(email.to_string())]).await?;
        let fold = |s: &str| s.nfkc().collect::<String>().to_lowercase();
        Ok(candidates
            .into_iter()
            .filter(|u| {
                crate::hashers::is_password_usable(&u.password) && fold(u.email()) == fold(email)
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
        Ok(user.is_active().then_some(user))
    }

    /// `UserManager.create_user`: the `USERNAME_FIELD` NFKC-normalised (or, when it is the email field,
    /// normalised as an address), the email's domain lowercased, the password hashed (unusable when
    /// `None`), and the standard fields the model has: `is_active` true, `date_joined` now, `last_login`
    /// null, names empty. A UUID key the database does not make is made here, as `uuid.uuid4()`.
    pub async fn create_user(&self, new: NewUser) -> Result<User, UserError> {
        if new.username.is_empty() {
            return Err(UserError::EmptyUsername);
        }
        if !self.model.can_create_users() {
            return Err(UserError::CannotCreate(
                self.model.unfillable_columns().to_vec(),
            ));
        }
        let password = match new.password {
            Some(raw) => self.hashers.clone().make_password_blocking(raw).await?,
            None => crate::hashers::make_unusable_password()?,
        };
        let model = &self.model;
        let username_field = model.username_field().to_string();
        let username = if model.username_is_email() {
            normalize_email(&new.username)
        } else {
            normalize_username(&new.username)
        };
        let mut columns: Vec<String> = Vec::new();
        let mut values: Vec<String> = Vec::new();
        let mut binds: Vec<Bound> = Vec::new();
        let mut set = |column: &str, bound: Bound| {
            columns.push(model.quoted(column));
            binds.push(bound);
            values.push(format!("${}", binds.len()));
        };
        set("password", Bound::Text(password));
        set("last_login", Bound::Time(None));
        set(&username_field, Bound::Text(username));
        if let Some(email_field) = model.email_field() {
            if email_field != username_field {
                set(email_field, Bound::Text(normalize_email(&new.email)));
            }
        }
        let standard = [
            (Field::FirstName, "first_name", Bound::Text(new.first_name)),
            (Field::LastName, "last_name", Bound::Text(new.last_name)),
            (Field::IsActive, "is_active", Bound::Bool(true)),
            (Field::IsStaff, "is_staff", Bound::Bool(new.is_staff)),
            (
                Field::IsSuperuser,
                "is_superuser",
                Bound::Bool(new.is_superuser),
            ),
            (
                Field::DateJoined,
                "date_joined",
                Bound::Time(Some(Utc::now())),
            ),
        ];
        for (field, column, bound) in standard {
            if model.has(field) {
                set(column, bound);
            }
        }
        if model.pk_kind() == crate::user_model::PkKind::Uuid
            && !model.pk_has_default()
            && model.pk_column() != username_field
        {
            columns.push(model.quoted(model.pk_column()));
            values.push("gen_random_uuid()".into());
        }
        // Any unique constraint: the USERNAME_FIELD's is the one Django requires.
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING RETURNING {}",
            model.quoted(model.table()),
            columns.join(", "),
            values.join(", "),
            model.returning()
        );
        let mut inserted = self.rows(sql, binds).await?;
        inserted.pop().ok_or(UserError::UsernameTaken)
    }

    /// `user.set_password(raw); user.save()`. Changing the password changes the session auth hash, which
    /// logs out the user's other sessions (Django's `update_session_auth_hash` keeps the current one).
    pub async fn set_password(&self, pk: &str, raw: &str) -> Result<String, UserError> {
        let encoded = self
            .hashers
            .clone()
            .make_password_blocking(raw.to_string())
            .await?;
        self.update(pk, Column::Password(encoded.clone())).await?;
        Ok(encoded)
    }

    /// `update_last_login` (the `user_logged_in` receiver): `last_login = now()`.
    pub async fn update_last_login(&self, pk: &str) -> Result<DateTime<Utc>, UserError> {
        let now = Utc::now();
        self.update(pk, Column::LastLogin(now)).await?;
        Ok(now)
    }

    /// `user.is_active = value; user.save()`: an inactive user can neither log in nor keep a session.
    pub async fn set_active(&self, pk: &str, is_active: bool) -> Result<(), UserError> {
        if !self.model.has(Field::IsActive) {
            return Err(UserError::NoSuchField("is_active"));
        }
        self.update(pk, Column::IsActive(is_active)).await
    }

    /// `user.save(update_fields=["first_name", "last_name", "email"])` with the fields given (the others
    /// keep their value) and the model has; the row as written, in one `UPDATE … RETURNING`. Only the
    /// given columns are written, so a concurrent password change or deactivation is never undone.
    /// Validation is the caller's ([`crate::validators`]).
    pub async fn update_profile(&self, pk: &str, change: ProfileChange) -> Result<User, UserError> {
        let model = &self.model;
        let mut sets: Vec<String> = Vec::new();
        let mut binds: Vec<Bound> = Vec::new();
        let fields = [
            (Field::FirstName, Some("first_name"), change.first_name),
            (Field::LastName, Some("last_name"), change.last_name),
            (Field::Email, model.email_field(), change.email),
        ];
        for (field, column, value) in fields {
            if let (true, Some(column), Some(value)) = (model.has(field), column, value) {
                binds.push(Bound::Text(value));
                sets.push(format!("{} = ${}", model.quoted(column), binds.len()));
            }
        }
        if sets.is_empty() {
            // Nothing to write: the row as it is.
            return self.get(pk).await?.ok_or(UserError::NotFound);
        }
        let Some(id) = model.pk_from_str(pk) else {
            return Err(UserError::NotFound);
        };
        binds.push(Bound::Text(id));
        let sql = format!(
            "UPDATE {} SET {} WHERE {} RETURNING {}",
            model.quoted(model.table()),
            sets.join(", "),
            model.pk_is(binds.len()),
            model.returning()
        );
        // A unique column (the email, when it is the USERNAME_FIELD) taken by another user.
        let updated = self
            .db
            .run(move |conn| {
                Box::pin(async move {
                    let mut query = diesel::sql_query(sql).into_boxed::<Pg>();
                    for bound in binds {
                        if let Bound::Text(v) = bound {
                            query = query.bind::<Text, _>(v);
                        }
                    }
                    match query.load::<User>(conn).await {
                        Ok(rows) => Ok(Some(rows)),
                        Err(diesel::result::Error::DatabaseError(
                            diesel::result::DatabaseErrorKind::UniqueViolation,
                            _,
                        )) => Ok(None),
                        Err(e) => Err(e),
                    }
                })
            })
            .await?;
        match updated {
            None => Err(UserError::UsernameTaken),
            Some(mut rows) => rows.pop().ok_or(UserError::NotFound),
        }
    }

    /// `user.save(update_fields=[…])` for one column of the user with that pk.
    async fn update(&self, pk: &str, column: Column) -> Result<(), UserError> {
        let Some(id) = self.model.pk_from_str(pk) else {
            return Err(UserError::NotFound);
        };
        let (name, bound) = match column {
            Column::Password(encoded) => ("password", Bound::Text(encoded)),
            Column::LastLogin(when) => ("last_login", Bound::Time(Some(when))),
            Column::IsActive(value) => ("is_active", Bound::Bool(value)),
        };
        let sql = format!(
            "UPDATE {} SET {} = $1 WHERE {} RETURNING {}",
            self.model.quoted(self.model.table()),
            self.model.quoted(name),
            self.model.pk_is(2),
            self.model.returning()
        );
        let updated = self.rows(sql, vec![bound, Bound::Text(id)]).await?;
        if updated.is_empty() {
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
    let user = if authentication_backends.contains(&session_auth.backend) {
        users.get(&session_auth.user_id).await?
    } else {
        None
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
