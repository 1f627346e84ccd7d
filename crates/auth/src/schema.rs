//! Django's tables as diesel sees them, column for column as Django 4.2/5.2 create them (see
//! `migrations/django/`). Only the tables the stores query are declared; the user table is the project's
//! (`AUTH_USER_MODEL`), so its queries are made at run time ([`crate::user_model`]).

diesel::table! {
    /// `django.contrib.sessions.models.Session`.
    django_session (session_key) {
        /// The primary key: the session key (Django makes 32 characters of `[a-z0-9]`; `varchar(40)`).
        session_key -> Varchar,
        /// The session dict as `SessionBase.encode` writes it: signed, compressed JSON.
        session_data -> Text,
        /// When the session expires; rows past it are treated as absent and removed by `clearsessions`.
        expire_date -> Timestamptz,
    }
}

diesel::table! {
    /// `django.db.migrations.recorder.MigrationRecorder.Migration`.
    django_migrations (id) {
        /// The auto primary key (`integer` or `bigint` per `DEFAULT_AUTO_FIELD`; declared as the wider).
        id -> Int8,
        /// The app label of the migration, e.g. `sessions`.
        app -> Varchar,
        /// The migration's name, e.g. `0001_initial`.
        name -> Varchar,
        /// When the migration was recorded as applied.
        applied -> Timestamptz,
    }
}
