//! The browser-facing service. Layout after zero2prod: `cli` (the commands), `config` (the environment,
//! typed), `startup` (builds the actix-web server, on any port, as the tests do), `routes` (one module per
//! page), `pages` (templates and error pages), `session` and `csrf` (Django's two middlewares), `mail`.
//! Every rule of sessions and auth is the `auth` crate's; this crate only speaks HTTP.

pub mod cli;
pub mod commands;
pub mod config;
pub mod csrf;
pub mod mail;
pub mod pages;
pub mod routes;
pub mod session;
pub mod startup;
pub mod telemetry;
