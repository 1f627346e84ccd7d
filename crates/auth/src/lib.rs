#![deny(missing_docs)]
#![forbid(unsafe_code)]
//! Django's sessions and authentication, byte for byte, for Rust services that run beside a Django project.
//!
//! Every rule of sessions and auth lives here; the services only speak HTTP. Names follow Django's
//! (`salted_hmac`, `Signer`, `get_session_auth_hash`, `check_password`, `cycle_key`, `USERNAME_FIELD`) so
//! a Django developer can grep for them.
//!
//! - The pure formats, always compiled: [`signing`] (`django.core.signing`), [`pickle`] (the protocol
//!   Django's cache sessions are stored in), [`session`] (each engine's codec), [`hashers`]
//!   (`PASSWORD_HASHERS`), [`csrf`] (`CsrfViewMiddleware`'s tokens), [`tokens`]
//!   (`PasswordResetTokenGenerator`), [`hosts`] (`ALLOWED_HOSTS`), [`cookie`], [`auth`]
//!   (`_auth_user_hash`), [`validators`] and [`password_validation`].
//! - With the `stores` feature (on by default): the I/O on Redis and PostgreSQL, the session engines
//!   (`store`), the user model's table (`users`, `user_model`), the throttle, the settings read from
//!   the environment (`settings`). Without it (`default-features = false`) neither tokio, diesel nor
//!   redis is compiled: enough for a service that only verifies a cookie or a password hash.
//!
//! # Quick start
//!
//! Check a password against the hash Django stored (`check_password`), and sign and read a value as
//! `django.core.signing.dumps` and `loads` do, with the site's `SECRET_KEY`:
//!
//! ```
//! use django_auth_core::hashers::PasswordHashers;
//! use django_auth_core::signing::{self, Keys};
//! use django_auth_core::Value;
//!
//! // Made by Django 5.0's make_password("correct horse battery staple", salt="abcdefghijklmnopqrstuv").
//! let encoded =
//!     "pbkdf2_sha256$720000$abcdefghijklmnopqrstuv$x00J3PDqUaldgnay5qHSvDpf/yJIBA8odZH+A+C234U=";
//! let hashers = PasswordHashers::default();
//! assert!(hashers.check_password("correct horse battery staple", encoded).is_correct);
//! assert!(!hashers.check_password("wrong", encoded).is_correct);
//!
//! let keys = Keys::new("the Django site's SECRET_KEY", vec![]);
//! let signed = signing::dumps(&Value::from("hello"), &keys, signing::DUMPS_SALT, false).unwrap();
//! let value = signing::loads(&signed, &keys, signing::DUMPS_SALT, None).unwrap();
//! assert_eq!(value, Value::from("hello"));
//! ```
//!
//! The request path on top of this (Django's middleware for actix-web and axum) is the
//! `django-auth-web` crate.

pub mod auth;
#[cfg(feature = "stores")]
pub mod cluster;
#[cfg(feature = "stores")]
pub mod connections;
pub mod cookie;
pub mod crypto;
pub mod csrf;
pub mod hashers;
pub mod hosts;
pub mod idle;
pub mod json;
#[cfg(feature = "stores")]
pub mod libpq;
#[cfg(feature = "stores")]
pub mod metrics;
#[cfg(feature = "stores")]
pub mod migrate;
pub mod password_validation;
pub mod pickle;
#[cfg(feature = "stores")]
pub mod schema;
#[cfg(feature = "stores")]
pub mod sentinel;
pub mod session;
#[cfg(feature = "stores")]
pub mod settings;
pub mod signing;
#[cfg(feature = "stores")]
pub mod store;
#[cfg(feature = "stores")]
pub mod throttle;
pub mod tokens;
#[cfg(feature = "stores")]
pub mod user_model;
#[cfg(feature = "stores")]
pub mod users;
pub mod validators;
pub mod value;

pub use value::Value;
