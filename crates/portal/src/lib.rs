//! The browser-facing service. Layout after zero2prod: `cli` (the commands), `startup` (builds the
//! actix-web server from typed settings, on any port, as the tests do), `routes` (one module per page).
//! Every rule of sessions and auth is the `auth` crate's; this crate only speaks HTTP.

pub mod cli;
pub mod commands;
pub mod mail;
pub mod routes;
pub mod session;
pub mod startup;
pub mod telemetry;
