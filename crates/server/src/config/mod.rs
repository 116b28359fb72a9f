//! The configuration of a server process, in layers: defaults → TOML file (`--config FILE` or
//! `OFFCHAIN_CONFIG`) → environment (`OFFCHAIN_` + upper snake case, `__` into a table) →
//! command-line flags, the highest.
//!
//! - [`settings`]: every setting, its default and its rules; [`Key`]: its names in each layer,
//!   and [`Origin`]: which layer a value came from.
//! - [`load`](mod@load): merges the layers (with the `config` crate) and remembers where each
//!   value came from; the environment is passed in, never read here.
//! - [`Overrides`]: the flags, applied last.
//! - [`SettingsError`]: why a configuration is refused, naming the setting and its source.
//! - `render`: `offchain-db config`, the effective settings as commented TOML.
//!
//! The loaded [`Settings`] become the [`Config`] that [`run`](crate::run) and
//! [`wiring`](crate::wiring) use, plus the [`LogSettings`] for [`telemetry`](crate::telemetry).
//! This module must not start anything: it only reads the file it is pointed at.

mod error;
mod key;
pub mod load;
mod overrides;
mod render;
pub mod settings;
mod store;
mod value_names;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use infra::embedded::{CommitFaults, DEFAULT_DOCUMENT_CACHE_BYTES, Durability};
use infra::schema::ValidationStall;
use infra::schema::cache::DEFAULT_SCHEMA_CACHE_BYTES;
use infra::schema::limits::DEFAULT_MAX_SCHEMA_BYTES;

use crate::connection_limits::ConnectionLimits;
use crate::log_worker::LogOptions;
use crate::serving::Serving;
use shared_kernel::constants::{DEFAULT_MAX_DOCUMENT_BYTES, WORKER_SHUTDOWN_TIMEOUT};

pub use error::SettingsError;
pub use key::{Key, Origin};
pub use load::{CONFIG_FILE_ENV, CONFIG_FILE_FLAG, Loaded, load};
pub use overrides::Overrides;
pub use settings::{
    DurabilityMode, LogFormat, LogSettings, MongoSettings, ServingMode, Settings, TlogSettings,
};
pub use store::{MongoConfig, MongoUri, Store, StoreMode, mask_password};

/// Default listen address: loopback only, so a fresh start exposes nothing.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default data folder.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// Default time one request may take before it is answered 503.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The exit code of a start refused because of its configuration (as for a bad flag).
pub const CONFIG_ERROR_EXIT_CODE: u8 = 2;

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Which storage backend [`crate::backend::open`] opens, and where it is.
    pub store: Store,
    /// The data folder of the embedded store (and, on any store, of a generated signing
    /// key).
    pub data_dir: PathBuf,
    /// Largest canonical document size, in bytes.
    pub max_document_bytes: usize,
    /// fsync policy of the embedded store.
    pub durability: Durability,
    /// How connections are served on the machine's cores.
    pub serving: Serving,
    /// Bytes of committed documents the embedded store keeps for reads by id.
    pub document_cache_bytes: usize,
    /// Largest schema that may be set, in canonical bytes.
    pub max_schema_bytes: usize,
    /// Estimated bytes of compiled schemas kept.
    pub schema_cache_bytes: usize,
    /// Test seam: holds schema validation threads (see [`ValidationStall`]); never set by a
    /// setting.
    pub schema_stall: Option<ValidationStall>,
    /// Longest time a request may take.
    pub request_timeout: Duration,
    /// Longest time shutdown waits for in-flight requests.
    pub shutdown_timeout: Duration,
    /// Timeouts of request heads and idle connections, and the cap on open connections.
    pub connections: ConnectionLimits,
    /// The verifiable log's key, origin and checkpoint rate.
    pub tlog: LogOptions,
    /// A switch that makes the store's commits fail as on a full disk, for tests of what
    /// clients and `/readyz` see then; it stays off unless a test turns it on.
    pub commit_faults: CommitFaults,
}

impl Config {
    /// The defaults, with a given data folder (handy in tests).
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            store: Store::Embedded,
            data_dir: data_dir.into(),
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
            durability: Durability::Full,
            serving: Serving::one_thread_per_core(),
            document_cache_bytes: DEFAULT_DOCUMENT_CACHE_BYTES,
            max_schema_bytes: DEFAULT_MAX_SCHEMA_BYTES,
            schema_cache_bytes: DEFAULT_SCHEMA_CACHE_BYTES,
            schema_stall: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            shutdown_timeout: WORKER_SHUTDOWN_TIMEOUT,
            connections: ConnectionLimits::default(),
            tlog: LogOptions::default(),
            commit_faults: CommitFaults::default(),
        }
    }
}
