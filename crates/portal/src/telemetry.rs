//! Structured logs on stderr (tracing), filtered by `RUST_LOG` (default `info`). Nothing the services log
//! carries a cookie, a session key, a hash or a password: the shared crate's `Debug` hides them.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
