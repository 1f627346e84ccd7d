//! `AUTH_USER_MODEL`: which table holds the users, and what it has, read once from PostgreSQL's catalog.
//!
//! Django projects rarely keep `auth.User`: most define their own model on `AbstractBaseUser` (often with
//! `USERNAME_FIELD = "email"`, a `UUIDField` or `BigAutoField` key, and columns of their own). The model's
//! Python class is not visible from here, so the settings name what Django's side has (`AUTH_USER_MODEL`,
//! `USERNAME_FIELD`, `EMAIL_FIELD`) and the table says the rest: its primary key's type and which of
//! Django's standard fields exist. The SQL every user query runs is made here, once, from that.
//!
//! Field names are column names, as Django makes them for these fields (a `db_column` on one of them is
//! not supported).

use diesel::QueryableByName;
use diesel::sql_types::{Bool, Nullable, Text};
use diesel_async::RunQueryDsl;

use crate::connections::{Database, StoreError};

/// Django's settings for the user model, as the environment names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserModelSettings {
    /// `AUTH_USER_MODEL`: `app_label.ModelName` (default `auth.User`).
    pub model: String,
    /// The model's `Meta.db_table`, when it sets one (`AUTH_USER_TABLE`); else Django's default name.
    pub table: Option<String>,
    /// The model's `USERNAME_FIELD` (`AUTH_USER_USERNAME_FIELD`, default `username`).
    pub username_field: String,
    /// The model's `EMAIL_FIELD` (`AUTH_USER_EMAIL_FIELD`, default `email`).
    pub email_field: String,
}

impl Default for UserModelSettings {
    fn default() -> UserModelSettings {
        UserModelSettings {
            model: DEFAULT_USER_MODEL.into(),
            table: None,
            username_field: "username".into(),
            email_field: "email".into(),
        }
    }
}

/// Django's default `AUTH_USER_MODEL`.
pub const DEFAULT_USER_MODEL: &str = "auth.User";

impl UserModelSettings {
    /// Whether the project swapped `auth.User` for a model of its own (Django's `swappable` check): then
    /// `auth`'s migrations create no `auth_user` table.
    pub fn is_swapped(&self) -> bool {
        !self.model.eq_ignore_ascii_case(DEFAULT_USER_MODEL)
    }

    /// The table: `AUTH_USER_TABLE`, or Django's default `db_table`, `<app_label>_<model name lowercased>`
    /// (`accounts.User` → `accounts_user`).
    pub fn table(&self) -> String {
        match &self.table {
            Some(table) => table.clone(),
            None => {
                let (app, model) = self.model.split_once('.').unwrap_or(("", &self.model));
                format!("{app}_{}", model.to_lowercase())
            }
        }
    }

    /// Checks the shapes of the settings (not the table, which [`UserModel::inspect`] reads).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let identifier = |s: &str| {
            !s.is_empty()
                && !s.starts_with(|c: char| c.is_ascii_digit())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        match self.model.split_once('.') {
            Some((app, model)) if identifier(app) && identifier(model) => {}
            _ => {
                return Err((
                    "AUTH_USER_MODEL",
                    format!(
                        "{:?} is not of the form app_label.ModelName (as Django's AUTH_USER_MODEL)",
                        self.model
                    ),
                ));
            }
        }
        if let Some(table) = &self.table {
            if table.is_empty() || table.contains('\0') || table.len() > 63 {
                return Err(("AUTH_USER_TABLE", format!("{table:?} is not a table name")));
            }
        }
        for (name, field) in [
            ("AUTH_USER_USERNAME_FIELD", &self.username_field),
            ("AUTH_USER_EMAIL_FIELD", &self.email_field),
        ] {
            if !identifier(field) {
                return Err((name, format!("{field:?} is not a model field name")));
            }
        }
        Ok(())
    }
}

/// The type of the model's primary key, which decides how `_auth_user_id` is parsed (Django's
/// `pk.to_python`) and how `str(pk)` looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PkKind {
    /// `SmallAutoField`/`SmallIntegerField` (`smallint`).
    SmallInt,
    /// `AutoField`/`IntegerField` (`integer`), `auth.User`'s.
    Int,
    /// `BigAutoField`/`BigIntegerField` (`bigint`).
    BigInt,
    /// `UUIDField` (`uuid`): `str(pk)` is the hyphenated lowercase form.
    Uuid,
    /// `CharField`/`TextField` (`varchar`, `text`).
    Text,
}

impl PkKind {
    fn from_type(type_name: &str) -> Option<PkKind> {
        match type_name {
            "int2" => Some(PkKind::SmallInt),
            "int4" => Some(PkKind::Int),
            "int8" => Some(PkKind::BigInt),
            "uuid" => Some(PkKind::Uuid),
            // Not `char(n)`: PostgreSQL's text of it drops the padding Django's `str(pk)` keeps.
            "varchar" | "text" => Some(PkKind::Text),
            _ => None,
        }
    }

    /// Whether `str(pk)` is a number, so JSON shows it as one (as DRF does for an integer key).
    pub fn is_integer(self) -> bool {
        matches!(self, PkKind::SmallInt | PkKind::Int | PkKind::BigInt)
    }

    /// `pk.to_python(value)`, then `str()`: the canonical `str(pk)` of a key read from a session or a
    /// reset link, or `None` for a value of the wrong shape (Django raises `ValidationError` there; here it
    /// is anonymous, never a query error). Integers as Python's `int()` takes them (surrounding
    /// whitespace, a sign) within the column's range; UUIDs as `uuid.UUID(hex=…)` takes them (any case,
    /// hyphens anywhere, braces, a `urn:uuid:` prefix).
    pub fn to_python(self, value: &str) -> Option<String> {
        let integer = |min: i64, max: i64| {
            let n: i64 = value.trim().parse().ok()?;
            (min..=max).contains(&n).then(|| n.to_string())
        };
        match self {
            PkKind::SmallInt => integer(i16::MIN.into(), i16::MAX.into()),
            PkKind::Int => integer(i32::MIN.into(), i32::MAX.into()),
            PkKind::BigInt => integer(i64::MIN, i64::MAX),
            PkKind::Uuid => {
                let hex = value.replace("urn:", "").replace("uuid:", "");
                let hex = hex.trim_matches(|c| c == '{' || c == '}').replace('-', "");
                if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                let hex = hex.to_ascii_lowercase();
                Some(format!(
                    "{}-{}-{}-{}-{}",
                    &hex[..8],
                    &hex[8..12],
                    &hex[12..16],
                    &hex[16..20],
                    &hex[20..]
                ))
            }
            PkKind::Text => (!value.contains('\0')).then(|| value.to_string()),
        }
    }

    /// `str(pk)` as JSON: a number for an integer key, a string otherwise.
    pub fn to_json(self, pk: &str) -> serde_json::Value {
        if self.is_integer() {
            if let Ok(n) = pk.parse::<i64>() {
                return n.into();
            }
        }
        pk.into()
    }
}

/// Django's standard user fields that a model may or may not have (`AbstractUser` has them all,
/// `AbstractBaseUser` only `password` and `last_login`, `PermissionsMixin` adds `is_superuser`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// The `is_active` column (`AbstractUser.is_active`; without it every user is active, as
    /// `AbstractBaseUser.is_active = True`).
    IsActive,
    /// The `is_staff` column (`AbstractUser.is_staff`).
    IsStaff,
    /// The `is_superuser` column (`PermissionsMixin.is_superuser`).
    IsSuperuser,
    /// The `first_name` column (`AbstractUser.first_name`).
    FirstName,
    /// The `last_name` column (`AbstractUser.last_name`).
    LastName,
    /// The column `EMAIL_FIELD` names (`email` by default, `AbstractBaseUser.get_email_field_name()`).
    Email,
    /// The `date_joined` column (`AbstractUser.date_joined`).
    DateJoined,
}

/// The user model as the table shows it, with the SQL of every user query.
#[derive(Clone, Debug)]
pub struct UserModel {
    settings: UserModelSettings,
    table: String,
    pk_column: String,
    pk_kind: PkKind,
    /// The SQL type of the key (`integer`, `uuid`, …), for casting bound text to it.
    pk_type: String,
    /// Whether the database makes the key (an identity or serial column, a default).
    pk_has_default: bool,
    /// Which optional fields the table has.
    has: Vec<Field>,
    /// `NOT NULL` columns without a database default that an insert of ours would leave empty: a new user
    /// cannot be made here while the table has any.
    unfillable: Vec<String>,
    /// Whether the `USERNAME_FIELD`'s column is text (compared as it is) or another type (compared as
    /// text; users are then made by the project only).
    username_is_text: bool,
    /// Whether the table has a `username` column (what Django's password similarity check reads as
    /// `user.username`, whatever the `USERNAME_FIELD`).
    has_username_column: bool,
    /// The `max_length` of the `USERNAME_FIELD`, the email, `first_name` and `last_name` columns.
    max_lengths: std::collections::HashMap<String, usize>,
    /// The many-to-many table of `PermissionsMixin.groups` (`<table>_groups`) and its column naming the
    /// user, when the model has groups.
    groups: Option<GroupsTable>,
    /// `SELECT <columns> FROM <table>`: each row in the shape of [`crate::users::User`].
    select: String,
}

/// The table Django makes for `PermissionsMixin.groups`: one row per (user, `auth_group`) pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupsTable {
    /// Its name: `<user table>_groups` (`auth_user_groups`) unless Django shortened it.
    pub table: String,
    /// The column holding the user's key (`user_id`; `<model name>_id` for a custom model).
    pub user_column: String,
}

/// Why the user model cannot be used; each names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum UserModelError {
    /// The catalog could not be read (PostgreSQL down, a wrong `DATABASE_URL`).
    #[error("cannot read the user table's columns: {0}")]
    Store(#[from] StoreError),
    /// A setting names a table or column the database does not have, or one Django's user model cannot be.
    #[error("{setting}: {reason}")]
    Invalid {
        /// The setting to fix, e.g. `AUTH_USER_MODEL` or `AUTH_USER_TABLE`.
        setting: &'static str,
        /// What is wrong, in a sentence that says how to fix it.
        reason: String,
    },
}

#[derive(QueryableByName)]
struct CatalogColumn {
    #[diesel(sql_type = Text)]
    name: String,
    /// `pg_type.typname` (`int4`, `uuid`, `varchar`).
    #[diesel(sql_type = Text)]
    type_name: String,
    /// `format_type` without the length: the type as SQL spells it (`integer`, `character varying`), so
    /// a cast to it never cuts a value.
    #[diesel(sql_type = Text)]
    sql_type: String,
    /// A `varchar(n)`'s `n` (Django's `max_length`).
    #[diesel(sql_type = Nullable<diesel::sql_types::Integer>)]
    max_length: Option<i32>,
    #[diesel(sql_type = Bool)]
    not_null: bool,
    #[diesel(sql_type = Bool)]
    has_default: bool,
    #[diesel(sql_type = Bool)]
    primary: bool,
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Nullable<Text>)]
    table: Option<String>,
}

/// Django's `truncate_name(name, 63)` (PostgreSQL's `max_name_length`): a name longer than 63 characters
/// is cut to 59 and ends with the first 4 hex digits of its MD5 (`names_digest`), as Django names the
/// tables it makes.
pub fn django_table_name(name: &str) -> String {
    use md5::Digest;
    const MAX: usize = 63;
    const HASH_LEN: usize = 4;
    if name.chars().count() <= MAX {
        return name.to_string();
    }
    let digest = md5::Md5::digest(name.as_bytes());
    let hash: String = digest.iter().take(2).map(|b| format!("{b:02x}")).collect();
    let kept: String = name.chars().take(MAX - HASH_LEN).collect();
    format!("{kept}{hash}")
}

/// `"name"`: a column or table name quoted for SQL.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl UserModel {
    /// Reads the table of `settings` from the catalog: its primary key, the standard fields it has, and
    /// the columns an insert could not fill. A missing table, key or required column is an error naming
    /// the setting to fix.
    pub async fn inspect(
        db: &Database,
        settings: &UserModelSettings,
    ) -> Result<UserModel, UserModelError> {
        settings
            .validate()
            .map_err(|(setting, reason)| UserModelError::Invalid { setting, reason })?;
        let table = settings.table();
        let wanted = table.clone();
        let found: Found = db
            .run(move |conn| {
                Box::pin(async move {
                    diesel::sql_query("SELECT to_regclass(quote_ident($1))::text AS table")
                        .bind::<Text, _>(wanted)
                        .get_result(conn)
                        .await
                })
            })
            .await?;
        if found.table.is_none() {
            let setting = if settings.table.is_some() {
                "AUTH_USER_TABLE"
            } else {
                "AUTH_USER_MODEL"
            };
            return Err(UserModelError::Invalid {
                setting,
                reason: format!(
                    "the user table {table:?} ({}) does not exist in DATABASE_URL's database: run the \
                     Django project's `manage.py migrate` first{}",
                    settings.model,
                    if settings.table.is_some() {
                        ""
                    } else {
                        ", or set AUTH_USER_TABLE to the model's Meta.db_table"
                    }
                ),
            });
        }
        let wanted = table.clone();
        let columns: Vec<CatalogColumn> = db
            .run(move |conn| {
                Box::pin(async move {
                    diesel::sql_query(
                        "SELECT a.attname::text AS name, t.typname::text AS type_name, \
                         format_type(a.atttypid, NULL) AS sql_type, \
                         CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 \
                              THEN a.atttypmod - 4 END AS max_length, \
                         a.attnotnull AS not_null, \
                         (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '') AS has_default, \
                         EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid \
                                 AND i.indisprimary AND a.attnum = ANY(i.indkey)) AS primary \
                         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
                         WHERE a.attrelid = to_regclass(quote_ident($1)) AND a.attnum > 0 \
                         AND NOT a.attisdropped ORDER BY a.attnum",
                    )
                    .bind::<Text, _>(wanted)
                    .load(conn)
                    .await
                })
            })
            .await?;
        let mut model = UserModel::from_columns(settings.clone(), table, &columns)?;
        model.groups = UserModel::find_groups_table(db, &model.table).await?;
        model.select = format!("SELECT {} FROM {}", model.columns(), quote(&model.table));
        Ok(model)
    }

    /// The table of the user's groups, as Django makes it for `PermissionsMixin.groups`: named
    /// `<user table>_groups` (shortened as Django's `truncate_name` does past PostgreSQL's 63 bytes), with a
    /// foreign key to the user table and one, `group_id`, to `auth_group`. Only that name: another table
    /// linking users and groups (invitations, say) is not membership. A model without `PermissionsMixin`
    /// has none, and its users are in no group.
    async fn find_groups_table(
        db: &Database,
        user_table: &str,
    ) -> Result<Option<GroupsTable>, UserModelError> {
        #[derive(QueryableByName)]
        struct Candidate {
            #[diesel(sql_type = Text)]
            table: String,
            #[diesel(sql_type = Text)]
            user_column: String,
        }
        let name = django_table_name(&format!("{user_table}_groups"));
        let (wanted_user, wanted_groups) = (user_table.to_string(), name.clone());
        let candidates: Vec<Candidate> = db
            .run(move |conn| {
                Box::pin(async move {
                    diesel::sql_query(
                        "SELECT c.relname::text AS table, ua.attname::text AS user_column \
                         FROM pg_constraint uf \
                         JOIN pg_class c ON c.oid = uf.conrelid \
                         JOIN pg_attribute ua ON ua.attrelid = uf.conrelid AND ua.attnum = uf.conkey[1] \
                         WHERE uf.contype = 'f' AND uf.confrelid = to_regclass(quote_ident($1)) \
                         AND uf.conrelid = to_regclass(quote_ident($2)) \
                         AND array_length(uf.conkey, 1) = 1 \
                         AND EXISTS (SELECT 1 FROM pg_constraint gf \
                                     JOIN pg_attribute ga ON ga.attrelid = gf.conrelid \
                                      AND ga.attnum = gf.conkey[1] \
                                     WHERE gf.conrelid = uf.conrelid AND gf.contype = 'f' \
                                     AND gf.confrelid = to_regclass('auth_group') \
                                     AND ga.attname = 'group_id')",
                    )
                    .bind::<Text, _>(wanted_user)
                    .bind::<Text, _>(wanted_groups)
                    .load(conn)
                    .await
                })
            })
            .await?;
        // One foreign key to the user table (a self-referencing model's table would have two).
        let chosen = match candidates.as_slice() {
            [one] => Some(one),
            _ => None,
        };
        Ok(chosen.map(|c| GroupsTable {
            table: c.table.clone(),
            user_column: c.user_column.clone(),
        }))
    }

    fn from_columns(
        settings: UserModelSettings,
        table: String,
        columns: &[CatalogColumn],
    ) -> Result<UserModel, UserModelError> {
        let model_setting = if settings.table.is_some() {
            "AUTH_USER_TABLE"
        } else {
            "AUTH_USER_MODEL"
        };
        let invalid = |setting, reason: String| UserModelError::Invalid { setting, reason };
        let column = |name: &str| columns.iter().find(|c| c.name == name);
        let keys: Vec<&CatalogColumn> = columns.iter().filter(|c| c.primary).collect();
        let [pk] = keys.as_slice() else {
            return Err(invalid(
                model_setting,
                format!(
                    "the user table {table:?} has {} primary key columns; a Django model has one",
                    keys.len()
                ),
            ));
        };
        let pk_kind = PkKind::from_type(&pk.type_name).ok_or_else(|| {
            invalid(
                model_setting,
                format!(
                    "the primary key {:?} of {table:?} is a {}; supported: integer, bigint, smallint, \
                     uuid, varchar, text",
                    pk.name, pk.sql_type
                ),
            )
        })?;
        for required in ["password", "last_login"] {
            if column(required).is_none() {
                return Err(invalid(
                    model_setting,
                    format!(
                        "the user table {table:?} has no column {required:?}: it is not a model on \
                         Django's AbstractBaseUser"
                    ),
                ));
            }
        }
        let Some(username) = column(&settings.username_field) else {
            return Err(invalid(
                "AUTH_USER_USERNAME_FIELD",
                format!(
                    "the user table {table:?} has no column {:?}: set AUTH_USER_USERNAME_FIELD to the \
                     model's USERNAME_FIELD",
                    settings.username_field
                ),
            ));
        };
        let username_is_text = matches!(
            username.type_name.as_str(),
            "varchar" | "text" | "bpchar" | "citext"
        );
        let standard = [
            (Field::IsActive, "is_active"),
            (Field::IsStaff, "is_staff"),
            (Field::IsSuperuser, "is_superuser"),
            (Field::FirstName, "first_name"),
            (Field::LastName, "last_name"),
            (Field::Email, settings.email_field.as_str()),
            (Field::DateJoined, "date_joined"),
        ];
        let has: Vec<Field> = standard
            .iter()
            .filter(|(_, name)| column(name).is_some())
            .map(|(field, _)| *field)
            .collect();
        // What an insert of ours writes: the key when the database does not make it (a UUID we make, or
        // a key that is the USERNAME_FIELD), and every standard column the table has.
        let mut filled: Vec<&str> =
            vec!["password", "last_login", settings.username_field.as_str()];
        filled.extend(standard.iter().map(|(_, name)| *name));
        let pk_has_default = pk.has_default;
        if pk_kind == PkKind::Uuid {
            filled.push(pk.name.as_str());
        }
        let mut unfillable: Vec<String> = columns
            .iter()
            .filter(|c| c.not_null && !c.has_default && !filled.contains(&c.name.as_str()))
            .map(|c| c.name.clone())
            .collect();
        if !username_is_text {
            // A login that is not text (a number) is the project's to make.
            unfillable.push(format!("{} (not a text column)", username.name));
        }
        let max_lengths = columns
            .iter()
            .filter_map(|c| Some((c.name.clone(), usize::try_from(c.max_length?).ok()?)))
            .collect();
        let mut model = UserModel {
            table,
            pk_column: pk.name.clone(),
            pk_kind,
            pk_type: pk.sql_type.clone(),
            pk_has_default,
            has,
            unfillable,
            username_is_text,
            has_username_column: column("username").is_some(),
            max_lengths,
            groups: None,
            select: String::new(),
            settings,
        };
        model.select = format!("SELECT {} FROM {}", model.columns(), quote(&model.table));
        Ok(model)
    }

    /// The select list in the shape of [`crate::users::User`]: a field the model lacks is `NULL`.
    fn columns(&self) -> String {
        let mut list = vec![
            format!("{}::text AS pk", quote(&self.pk_column)),
            "\"password\"::text AS password".to_string(),
            "\"last_login\" AS last_login".to_string(),
            // A nullable login (`unique=True, null=True`) reads as empty: the row must still load.
            format!(
                "COALESCE({}::text, '') AS username",
                quote(&self.settings.username_field)
            ),
        ];
        // (whether the table has it, its column, the type every row has, the name `User` reads).
        let optional = [
            (
                self.has(Field::Email),
                self.settings.email_field.as_str(),
                "text",
                "email",
            ),
            (
                self.has(Field::FirstName),
                "first_name",
                "text",
                "first_name",
            ),
            (self.has(Field::LastName), "last_name", "text", "last_name"),
            (
                self.has(Field::IsActive),
                "is_active",
                "boolean",
                "is_active",
            ),
            (self.has(Field::IsStaff), "is_staff", "boolean", "is_staff"),
            (
                self.has(Field::IsSuperuser),
                "is_superuser",
                "boolean",
                "is_superuser",
            ),
            (
                self.has(Field::DateJoined),
                "date_joined",
                "timestamptz",
                "date_joined",
            ),
            (
                self.has_username_column,
                "username",
                "text",
                "username_attribute",
            ),
        ];
        list.extend(optional.iter().map(|(has, column, sql_type, name)| {
            let value = if *has { quote(column) } else { "NULL".into() };
            format!("{value}::{sql_type} AS {name}")
        }));
        // The groups are read by their own query (`select_groups`), only where they are needed (forward
        // auth): a subquery per row here cost every `/api/v1/me` a quarter of PostgreSQL's time.
        list.push("ARRAY[]::text[] AS groups".into());
        list.join(", ")
    }

    /// The settings it was read with.
    pub fn settings(&self) -> &UserModelSettings {
        &self.settings
    }

    /// The table of the users' groups, if the model has `PermissionsMixin.groups`.
    pub fn groups_table(&self) -> Option<&GroupsTable> {
        self.groups.as_ref()
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The primary key's type.
    pub fn pk_kind(&self) -> PkKind {
        self.pk_kind
    }

    /// The primary key's column.
    pub fn pk_column(&self) -> &str {
        &self.pk_column
    }

    /// Whether the model has this standard field.
    pub fn has(&self, field: Field) -> bool {
        self.has.contains(&field)
    }

    /// The model's `USERNAME_FIELD`.
    pub fn username_field(&self) -> &str {
        &self.settings.username_field
    }

    /// The model's `EMAIL_FIELD`, when the table has it.
    pub fn email_field(&self) -> Option<&str> {
        self.has(Field::Email)
            .then_some(self.settings.email_field.as_str())
    }

    /// `getattr(user, "username", None)` as Django's password similarity check reads it: the value when
    /// the table has a `username` column, else nothing to compare.
    pub fn username_attribute<'a>(&self, value: &'a str) -> &'a str {
        if self.has_username_column { value } else { "" }
    }

    /// A column's `max_length` (a `varchar(n)`'s `n`), for the forms' "at most N characters" checks;
    /// `default` when the column is unbounded or absent.
    pub fn max_length(&self, column: &str, default: usize) -> usize {
        self.max_lengths.get(column).copied().unwrap_or(default)
    }

    /// Whether the login name is the email address (`USERNAME_FIELD == EMAIL_FIELD`).
    pub fn username_is_email(&self) -> bool {
        self.settings.username_field == self.settings.email_field
    }

    /// The label Django's `AuthenticationForm` gives the login field: `capfirst(verbose_name)` of the
    /// `USERNAME_FIELD`. A field's default `verbose_name` is its name with spaces for underscores; an
    /// `email` field is labelled as `AbstractUser`'s ("email address"), which custom models copy.
    pub fn username_label(&self) -> String {
        field_label(&self.settings.username_field)
    }

    /// The columns that stop us from making users (see [`UserModel::can_create_users`]).
    pub fn unfillable_columns(&self) -> &[String] {
        &self.unfillable
    }

    /// Whether an insert of ours can make a complete row: no `NOT NULL` column without a database default
    /// is left that we do not know how to fill, and the database makes the key unless it is a UUID (which
    /// we make, as `uuid.uuid4`) or the `USERNAME_FIELD`.
    pub fn can_create_users(&self) -> bool {
        self.unfillable.is_empty()
    }

    /// `pk.to_python(value)` as `str(pk)`, see [`PkKind::to_python`].
    pub fn pk_from_str(&self, value: &str) -> Option<String> {
        self.pk_kind.to_python(value)
    }

    pub(crate) fn select(&self) -> &str {
        &self.select
    }

    /// `WHERE <pk> = ANY($1::<type>[])`, the merged lookups' query, as the SQL before and after `$1`.
    pub(crate) fn select_by_pks(&self) -> (String, String) {
        (
            format!("{} WHERE {} = ANY(", self.select, quote(&self.pk_column)),
            format!("::{}[])", self.pk_type),
        )
    }

    /// `SELECT name FROM auth_group … WHERE <user column> = $1::<pk type> ORDER BY name`: the names of a
    /// user's groups; `None` for a model without a groups table.
    pub(crate) fn select_groups(&self) -> Option<String> {
        let groups = self.groups.as_ref()?;
        Some(format!(
            "SELECT g.\"name\"::text AS name FROM \"auth_group\" g JOIN {} m ON m.\"group_id\" = g.\"id\" \
             WHERE m.{} = $1::{} ORDER BY g.\"name\"",
            quote(&groups.table),
            quote(&groups.user_column),
            self.pk_type,
        ))
    }

    /// `WHERE <pk> = $n::<type>`.
    pub(crate) fn pk_is(&self, n: usize) -> String {
        format!("{} = ${n}::{}", quote(&self.pk_column), self.pk_type)
    }

    /// `WHERE <USERNAME_FIELD> = $1`: `get_by_natural_key`'s exact match.
    pub(crate) fn select_by_natural_key(&self) -> String {
        format!(
            "{} WHERE {} = $1",
            self.select,
            self.username_column_as_text()
        )
    }

    /// The `USERNAME_FIELD`'s column, as text.
    pub(crate) fn username_column_as_text(&self) -> String {
        if self.username_is_text {
            quote(&self.settings.username_field)
        } else {
            format!("{}::text", quote(&self.settings.username_field))
        }
    }

    /// A column named for SQL.
    pub(crate) fn quoted(&self, column: &str) -> String {
        quote(column)
    }

    /// The list of returned columns, for `… RETURNING`.
    pub(crate) fn returning(&self) -> String {
        self.columns()
    }

    /// Whether the database makes the primary key.
    pub(crate) fn pk_has_default(&self) -> bool {
        self.pk_has_default
    }
}

/// `capfirst(field.verbose_name)` for a field with Django's default `verbose_name` (see
/// [`UserModel::username_label`]).
pub fn field_label(field: &str) -> String {
    let words = if field == "email" {
        "email address".to_string()
    } else {
        field.replace('_', " ")
    };
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_as_djangos_truncate_name() {
        // Golden values from Django 6.1's `django.db.backends.utils.truncate_name(name, 63)`.
        assert_eq!(django_table_name("auth_user_groups"), "auth_user_groups");
        let long = format!("accounts_{}_groups", "a".repeat(60));
        assert_eq!(
            django_table_name(&long),
            format!("accounts_{}0f2b", "a".repeat(50))
        );
        let accented = format!("comptes_{}_groups", "é".repeat(60));
        assert_eq!(
            django_table_name(&accented),
            format!("comptes_{}9d2f", "é".repeat(51))
        );
    }

    fn col(name: &str, type_name: &str, not_null: bool, has_default: bool) -> CatalogColumn {
        CatalogColumn {
            name: name.into(),
            type_name: type_name.into(),
            sql_type: match type_name {
                "int4" => "integer".into(),
                "int8" => "bigint".into(),
                other => other.into(),
            },
            max_length: None,
            not_null,
            has_default,
            primary: false,
        }
    }

    #[test]
    fn table_names_as_django() {
        let mut s = UserModelSettings::default();
        assert_eq!(s.table(), "auth_user");
        assert!(!s.is_swapped());
        s.model = "accounts.User".into();
        assert_eq!(s.table(), "accounts_user");
        assert!(s.is_swapped());
        s.model = "my_app.CustomerAccount".into();
        assert_eq!(s.table(), "my_app_customeraccount");
        s.table = Some("people".into());
        assert_eq!(s.table(), "people");
        for bad in ["User", "a.b.c", ".User", "app.", "app.Us er", "1app.User"] {
            s.model = bad.into();
            assert_eq!(s.validate().unwrap_err().0, "AUTH_USER_MODEL", "{bad}");
        }
    }

    #[test]
    fn keys_parse_as_to_python() {
        assert_eq!(PkKind::Int.to_python(" 42 ").as_deref(), Some("42"));
        assert_eq!(PkKind::Int.to_python("+7").as_deref(), Some("7"));
        assert_eq!(PkKind::Int.to_python("2147483648"), None);
        assert_eq!(
            PkKind::BigInt.to_python("2147483648").as_deref(),
            Some("2147483648")
        );
        assert_eq!(PkKind::SmallInt.to_python("40000"), None);
        for bad in ["", "4.2", "abc", "0x10", "1e3"] {
            assert_eq!(PkKind::Int.to_python(bad), None, "{bad}");
        }
        let canonical = "0f0e2f3a-6c4b-4d2e-9a1b-3c4d5e6f7a8b";
        for form in [
            canonical,
            "0F0E2F3A-6C4B-4D2E-9A1B-3C4D5E6F7A8B",
            "0f0e2f3a6c4b4d2e9a1b3c4d5e6f7a8b",
            "{0f0e2f3a-6c4b-4d2e-9a1b-3c4d5e6f7a8b}",
            "urn:uuid:0f0e2f3a-6c4b-4d2e-9a1b-3c4d5e6f7a8b",
        ] {
            assert_eq!(PkKind::Uuid.to_python(form).as_deref(), Some(canonical));
        }
        for bad in [
            "42",
            "",
            "0f0e2f3a-6c4b-4d2e-9a1b-3c4d5e6f7a8",
            "zz0e2f3a6c4b4d2e9a1b3c4d5e6f7a8b",
        ] {
            assert_eq!(PkKind::Uuid.to_python(bad), None, "{bad}");
        }
        assert_eq!(PkKind::Int.to_json("42"), serde_json::json!(42));
        assert_eq!(
            PkKind::Uuid.to_json(canonical),
            serde_json::json!(canonical)
        );
    }

    #[test]
    fn a_model_from_its_columns() {
        let mut id = col("id", "uuid", true, false);
        id.primary = true;
        let columns = vec![
            id,
            col("password", "varchar", true, false),
            col("last_login", "timestamptz", false, false),
            col("is_superuser", "bool", true, false),
            col("email", "varchar", true, false),
            col("is_active", "bool", true, false),
            col("plan", "varchar", true, true),
        ];
        let settings = UserModelSettings {
            model: "emailusers.User".into(),
            table: None,
            username_field: "email".into(),
            email_field: "email".into(),
        };
        let model = UserModel::from_columns(settings.clone(), settings.table(), &columns).unwrap();
        assert_eq!(model.pk_kind(), PkKind::Uuid);
        assert!(model.has(Field::IsActive) && model.has(Field::Email));
        assert!(!model.has(Field::FirstName) && !model.has(Field::IsStaff));
        assert!(model.can_create_users(), "{:?}", model.unfillable_columns());
        assert_eq!(model.username_label(), "Email address");
        assert!(model.select().contains("NULL::text AS first_name"));
        assert!(
            model
                .select()
                .contains("COALESCE(\"email\"::text, '') AS username"),
            "{}",
            model.select()
        );
        assert!(
            model
                .select()
                .contains("\"is_active\"::boolean AS is_active")
        );
        // A NOT NULL column without a default that we cannot fill.
        let mut more = columns;
        more.push(col("tenant_id", "int4", true, false));
        let model = UserModel::from_columns(settings.clone(), settings.table(), &more).unwrap();
        assert_eq!(model.unfillable_columns(), ["tenant_id"]);
        // No password column: not an AbstractBaseUser.
        let without: Vec<CatalogColumn> =
            more.into_iter().filter(|c| c.name != "password").collect();
        let error =
            UserModel::from_columns(settings.clone(), settings.table(), &without).unwrap_err();
        assert!(
            error.to_string().starts_with("AUTH_USER_MODEL: "),
            "{error}"
        );
        // A USERNAME_FIELD the table lacks names its setting.
        let mut settings = settings;
        settings.username_field = "username".into();
        let error =
            UserModel::from_columns(settings.clone(), settings.table(), &without[..1]).unwrap_err();
        assert!(
            error.to_string().starts_with("AUTH_USER_MODEL: "),
            "{error}"
        );
        let with_password: Vec<CatalogColumn> = vec![
            {
                let mut id = col("id", "int8", true, true);
                id.primary = true;
                id
            },
            col("password", "varchar", true, false),
            col("last_login", "timestamptz", false, false),
        ];
        let error = UserModel::from_columns(settings.clone(), settings.table(), &with_password)
            .unwrap_err();
        assert!(
            error.to_string().starts_with("AUTH_USER_USERNAME_FIELD: "),
            "{error}"
        );
    }

    #[test]
    fn labels_as_capfirst_verbose_name() {
        assert_eq!(field_label("username"), "Username");
        assert_eq!(field_label("email"), "Email address");
        assert_eq!(field_label("phone_number"), "Phone number");
    }
}
