//! Django's sessions and authentication, byte for byte, for Rust services that run beside a Django project.
//!
//! Every rule of sessions and auth lives here; the services only speak HTTP. Names follow Django's
//! (`salted_hmac`, `Signer`, `cycle_key`, `get_session_auth_hash`) so a Django developer can grep for them.

pub mod crypto;
pub mod hashers;
pub mod pickle;
pub mod value;

pub use value::Value;
