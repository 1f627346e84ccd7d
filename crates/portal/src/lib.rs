//! The browser-facing service. Layout after zero2prod: `cli` (the commands), `config` (the environment,
//! typed), `startup` (builds the actix-web server, on any port, as the tests do), `routes` (one module per
//! page), `pages` (templates and error pages), `mail`; `session` and `csrf` (Django's two middlewares) come
//! from the `middleware` crate, shared with the api.
//! Every rule of sessions and auth is the `auth` crate's; this crate only speaks HTTP.

pub mod cli;
pub mod commands;
pub mod config;
pub mod mail;
pub mod pages;
pub mod routes;
pub mod startup;
pub mod telemetry;

/// Django's `SessionMiddleware` and `CsrfViewMiddleware`, shared with the api.
pub use django_auth_web::{csrf, session};
