//! Django's sessions and authentication, byte for byte, for Rust services that run beside a Django project.
//!
//! Every rule of sessions and auth lives here; the services only speak HTTP. Names follow Django's
//! (`salted_hmac`, `Signer`, `get_session_auth_hash`, `check_password`) so a Django developer can grep for
//! them. The pure modules (formats) come first; `connections`, `store`, `users` and `migrate` add the
//! I/O on Redis and PostgreSQL.

pub mod auth;
pub mod cluster;
pub mod connections;
pub mod cookie;
pub mod crypto;
pub mod csrf;
pub mod hashers;
pub mod hosts;
pub mod idle;
pub mod json;
pub mod libpq;
pub mod metrics;
pub mod migrate;
pub mod password_validation;
pub mod pickle;
pub mod schema;
pub mod sentinel;
pub mod session;
pub mod settings;
pub mod signing;
pub mod store;
pub mod throttle;
pub mod tokens;
pub mod user_model;
pub mod users;
pub mod validators;
pub mod value;

pub use value::Value;
