//! Password hashers.
