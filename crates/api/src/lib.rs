//! The JSON API. Every request is authenticated from the session Django and the portal share, with
//! Django's exact rules (`django_auth_core::users::get_user`), through the shared middleware (`middleware`); this crate
//! only speaks JSON.

pub mod cli;
pub mod errors;
pub mod openapi;
pub mod routes;
pub mod startup;
