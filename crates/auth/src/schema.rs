//! Django's tables as diesel sees them, column for column as Django 4.2/5.2 create them (see
//! `migrations/django/`). Only the tables the stores query are declared.

diesel::table! {
    /// `django.contrib.sessions.models.Session`.
    django_session (session_key) {
        session_key -> Varchar,
        session_data -> Text,
        expire_date -> Timestamptz,
    }
}

diesel::table! {
    /// `django.contrib.auth.models.User`. No column has a database default: inserts supply every one.
    auth_user (id) {
        id -> Int4,
        password -> Varchar,
        last_login -> Nullable<Timestamptz>,
        is_superuser -> Bool,
        username -> Varchar,
        first_name -> Varchar,
        last_name -> Varchar,
        email -> Varchar,
        is_staff -> Bool,
        is_active -> Bool,
        date_joined -> Timestamptz,
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
