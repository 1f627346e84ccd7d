//! Django's sessions and authentication, byte for byte, for Rust services that run beside a Django project.
//!
//! Every rule of sessions and auth lives here; the services only speak HTTP. Names follow Django's
//! (`salted_hmac`, `Signer`, `get_session_auth_hash`, `check_password`) so a Django developer can grep for
//! them. This crate is pure: the Redis and PostgreSQL stores build on it.

pub mod auth;
pub mod crypto;
pub mod csrf;
pub mod hashers;
pub mod json;
pub mod pickle;
pub mod session;
pub mod signing;
pub mod tokens;
pub mod value;

pub use value::Value;
