//! Structured logs through `tracing`: JSON lines by default, text on request.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The environment variable holding a `tracing` filter (`info`, `server=debug,warn`, ...).
pub const LOG_FILTER_ENV: &str = "OFFCHAIN_LOG";

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env(LOG_FILTER_ENV).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    // A second initialisation fails harmlessly (tests start several servers in one process).
    let _already_set = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
