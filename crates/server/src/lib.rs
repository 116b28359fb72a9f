//! The `offchain-db` server: configuration, wiring, the REST API and graceful shutdown.
//!
//! - [`cli`]: the command line (`serve`, ...), the only entry point of the binary.
//! - [`audit_cmd`]: `offchain-db audit`, the whole-store auditor's command and report.
//! - [`cli_input`]: the inputs `verify` and `audit` share (key, files, notes) and their exit codes.
//! - [`config`]: the configuration in layers (defaults, TOML file, environment, flags).
//! - [`wiring`]: builds the application from the configuration (the composition root).
//! - [`backend`]: the storage backends the composition root chooses from, each handing out
//!   ports only.
//! - [`http`]: axum routes, middleware, extractors and the one mapping of errors to HTTP.
//! - [`run`]: binds, serves, and shuts down within the shutdown timeout.
//! - [`log_worker`]: the verifiable log's key, wiring and sequencer task.
//! - [`log_cmd`]: `offchain-db log succeed`, which starts a successor log.
//! - [`workers`]: background tasks (the purge of expired idempotency keys).
//! - [`verify_cmd`]: `offchain-db verify`, the offline verifier of receipts and checkpoints.
//!
//! Tests build the router with [`http::router`] or start a real server with [`start`].

pub mod audit_cmd;
pub mod backend;
pub mod cli;
pub mod cli_input;
pub mod config;
pub mod connection_limits;
pub mod http;
pub mod log_cmd;
pub mod log_worker;
pub mod run;
pub mod serving;
pub mod telemetry;
pub mod verify_cmd;
pub mod wiring;
pub mod workers;

pub use run::{RunningServer, start};
