//! The effective configuration of a server process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use infra::embedded::Durability;
use shared_kernel::constants::{DEFAULT_MAX_DOCUMENT_BYTES, WORKER_SHUTDOWN_TIMEOUT};

/// Default listen address: loopback only, so a fresh start exposes nothing.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default data folder.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// Default time one request may take before it is answered 503.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for log shippers).
    Json,
    /// Human-readable lines.
    Text,
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The data folder of the embedded store.
    pub data_dir: PathBuf,
    /// Largest canonical document size, in bytes.
    pub max_document_bytes: usize,
    /// fsync policy of the embedded store.
    pub durability: Durability,
    /// Longest time a request may take.
    pub request_timeout: Duration,
    /// Longest time shutdown waits for in-flight requests.
    pub shutdown_timeout: Duration,
}

impl Config {
    /// The defaults, with a given data folder (handy in tests).
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
            durability: Durability::Full,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            shutdown_timeout: WORKER_SHUTDOWN_TIMEOUT,
        }
    }
}
