//! Structured logs through `tracing`: JSON lines by default, text on request; the filter and
//! the format come from the `[log]` settings.

mod json_span_fields;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::settings::DEFAULT_LOG_LEVEL;
use crate::config::{LogFormat, LogSettings};
use json_span_fields::JsonSpanFields;

/// Installs the global subscriber once; later calls (tests) are no-ops.
///
/// `settings.level` was checked when the settings were loaded; should it still not parse, the
/// default filter is used rather than logging nothing.
pub fn init(settings: &LogSettings) {
    let filter =
        EnvFilter::try_new(&settings.level).unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_LEVEL));
    // Colours only for a person at a terminal: in a file they are escape codes to strip, and
    // they are paid for in every span's fields.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(true);
    // A second initialisation fails harmlessly (tests start several servers in one process).
    let _already_set = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .fmt_fields(JsonSpanFields)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
