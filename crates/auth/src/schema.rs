//! Django's tables as diesel sees them, column for column as Django 4.2/5.2 create them (see
//! `migrations/django/`). Only the tables the stores query are declared; the user table is the project's
//! (`AUTH_USER_MODEL`), so its queries are made at run time ([`crate::user_model`]).

diesel::table! {
    /// `django.contrib.sessions.models.Session`.
    django_session (session_key) {
        session_key -> Varchar,
        session_data -> Text,
        expire_date -> Timestamptz,
    }
}

diesel::table! {
    /// `django.db.migrations.recorder.MigrationRecorder.Migration`.
    django_migrations (id) {
        id -> Int8,
        app -> Varchar,
        name -> Varchar,
        applied -> Timestamptz,
    }
}
