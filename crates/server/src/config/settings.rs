//! The settings a user can give, their defaults and their rules (their names in every layer
//! are in `key.rs`).
//!
//! [`Settings`] is what the TOML file, the environment and the flags describe; it becomes the
//! [`Config`] the server runs with. Integers are read strictly (whole numbers or strings of
//! digits only) because the `config` crate alone would turn `true`, `yes` or `1.7` into numbers.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use audit_app::sequencer::CHECKPOINT_INTERVAL;
use audit_domain::note::KeyName;
use infra::embedded::Durability;
use infra::mongo::{MAX_MONGO_DOCUMENT_BYTES, MongoFaults};
use infra::schema::limits::DEFAULT_MAX_SCHEMA_BYTES;
use serde::Deserialize;
use serde::de::{self, Deserializer, Unexpected, Visitor};
use shared_kernel::constants::{DEFAULT_MAX_DOCUMENT_BYTES, WORKER_SHUTDOWN_TIMEOUT};
use tracing_subscriber::EnvFilter;

use crate::connection_limits::{
    ConnectionLimits, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_KEEP_ALIVE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
};
use crate::log_worker::LogOptions;
use crate::serving::Serving;
use audit_app::SequencerOptions;

use super::key::Key;
use super::store::{MongoConfig, MongoUri, Store, StoreMode};
use super::value_names::named_value;
use super::{Config, DEFAULT_DATA_DIR, DEFAULT_LISTEN, DEFAULT_REQUEST_TIMEOUT};

/// The default `document_cache_mib`: [`infra::embedded::DEFAULT_DOCUMENT_CACHE_BYTES`].
pub const DEFAULT_DOCUMENT_CACHE_MIB: u64 = 64;

/// The default `schema_cache_mib`: [`infra::schema::cache::DEFAULT_SCHEMA_CACHE_BYTES`].
pub const DEFAULT_SCHEMA_CACHE_MIB: u64 = 32;
/// The smallest accepted `max_schema_bytes`: below this even small schemas are refused.
pub const MIN_MAX_SCHEMA_BYTES: usize = 1024;

/// The smallest accepted `max_document_bytes`: below this even small documents are refused.
pub const MIN_MAX_DOCUMENT_BYTES: usize = 1024;
/// The default `mongo.database`.
pub const DEFAULT_MONGO_DATABASE: &str = "offchain_db";
/// The longest MongoDB database name, in bytes.
pub const MAX_MONGO_DATABASE_NAME_BYTES: usize = 63;
/// The default log filter.
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// The longest accepted header read and keep-alive timeouts (an hour).
pub const MAX_CONNECTION_TIMEOUT_SECS: u64 = 3600;
/// The longest accepted checkpoint interval: clients wait this long for a proof.
pub const MAX_CHECKPOINT_INTERVAL_MS: u64 = 60_000;

/// Every setting of the server, after defaults, file, environment and flags are merged.
///
/// Unknown keys are rejected, so a typo in the TOML file stops the start instead of being
/// silently ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Which storage backend holds the data.
    pub store: StoreMode,
    /// Folder of the embedded store (and, on any store, of a generated signing key).
    pub data_dir: PathBuf,
    /// Largest document, in bytes of canonical JSON.
    #[serde(deserialize_with = "whole_number")]
    pub max_document_bytes: usize,
    /// How commits are made durable.
    pub durability: DurabilityMode,
    /// How connections are served on the machine's cores.
    pub serving: ServingMode,
    /// Memory for committed documents answering reads by id, in MiB (0: none).
    #[serde(deserialize_with = "whole_number")]
    pub document_cache_mib: u64,
    /// Largest collection schema that may be set, in bytes of canonical JSON.
    #[serde(deserialize_with = "whole_number")]
    pub max_schema_bytes: usize,
    /// Memory for compiled collection schemas, in MiB (estimated; 0: compile for each use).
    #[serde(deserialize_with = "whole_number")]
    pub schema_cache_mib: u64,
    /// Longest a request may take, in seconds.
    #[serde(deserialize_with = "whole_number")]
    pub request_timeout_secs: u64,
    /// Longest shutdown waits for in-flight requests, in seconds.
    #[serde(deserialize_with = "whole_number")]
    pub shutdown_timeout_secs: u64,
    /// Longest a request head may take to arrive once its first byte has, in seconds.
    #[serde(deserialize_with = "whole_number")]
    pub header_read_timeout_secs: u64,
    /// Longest a connection may stay open with nothing to do, in seconds.
    #[serde(deserialize_with = "whole_number")]
    pub keep_alive_timeout_secs: u64,
    /// Open connections at most.
    #[serde(deserialize_with = "whole_number")]
    pub max_connections: usize,
    /// Logging.
    pub log: LogSettings,
    /// The verifiable log (the transparency log over audit entries).
    pub tlog: TlogSettings,
    /// The MongoDB store (read when `store` is `mongo`).
    pub mongo: MongoSettings,
}

/// The `[mongo]` table: where the MongoDB store is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MongoSettings {
    /// The connection string (`mongodb://...`); required with `store = "mongo"`. It may hold
    /// a password, so `offchain-db config` and the logs print it masked.
    pub uri: Option<String>,
    /// The database holding the store.
    pub database: String,
}

impl Default for MongoSettings {
    fn default() -> Self {
        Self {
            uri: None,
            database: DEFAULT_MONGO_DATABASE.to_owned(),
        }
    }
}

/// The `[tlog]` table: the verifiable log's key, name and checkpoint rate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlogSettings {
    /// The Ed25519 signing key file; unset means `<data_dir>/log-signing.key`, generated on
    /// first start. A configured file must exist: a typo must not silently mint a new key.
    pub signing_key: Option<PathBuf>,
    /// The log's origin (also the key name in notes); unset means `offchain-db/` + 16 hex
    /// characters of SHA-256 of the public key.
    pub origin: Option<String>,
    /// The file where the signer keeps the last checkpoint it signed, outside the database;
    /// unset means beside the key file, `<key file>.signer-state`.
    pub signer_state: Option<PathBuf>,
    /// Shortest time between two checkpoints while the tree grows, in milliseconds.
    #[serde(deserialize_with = "whole_number")]
    pub checkpoint_interval_ms: u64,
}

/// The `[log]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// A `tracing` filter (`info`, `server=debug,warn`, ...).
    pub level: String,
    /// How log lines are written.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Deserialize)]
#[serde(try_from = "String")]
pub enum LogFormat {
    /// One JSON object per line (for log shippers).
    #[default]
    Json,
    /// Human-readable lines.
    Text,
}

/// How connections are served on the machine's cores (the user-facing names of [`Serving`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Deserialize)]
#[serde(try_from = "String")]
pub enum ServingMode {
    /// One thread per core, each with its own runtime and its own connections.
    #[default]
    PerThread,
    /// One runtime whose worker threads share every connection (tokio's work stealing).
    Shared,
}

/// How the embedded store makes commits durable (the user-facing names of [`Durability`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Deserialize)]
#[serde(try_from = "String")]
pub enum DurabilityMode {
    /// fsync on every commit: survives power loss.
    #[default]
    Full,
    /// Survives a process crash; may lose the last commits on power or OS failure.
    Normal,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080))),
            store: StoreMode::Embedded,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
            durability: DurabilityMode::Full,
            serving: ServingMode::PerThread,
            document_cache_mib: DEFAULT_DOCUMENT_CACHE_MIB,
            max_schema_bytes: DEFAULT_MAX_SCHEMA_BYTES,
            schema_cache_mib: DEFAULT_SCHEMA_CACHE_MIB,
            request_timeout_secs: DEFAULT_REQUEST_TIMEOUT.as_secs(),
            shutdown_timeout_secs: WORKER_SHUTDOWN_TIMEOUT.as_secs(),
            header_read_timeout_secs: DEFAULT_HEADER_READ_TIMEOUT.as_secs(),
            keep_alive_timeout_secs: DEFAULT_KEEP_ALIVE_TIMEOUT.as_secs(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            log: LogSettings::default(),
            tlog: TlogSettings::default(),
            mongo: MongoSettings::default(),
        }
    }
}

impl Default for TlogSettings {
    fn default() -> Self {
        Self {
            signing_key: None,
            origin: None,
            signer_state: None,
            checkpoint_interval_ms: u64::try_from(CHECKPOINT_INTERVAL.as_millis())
                .unwrap_or(u64::MAX),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: DEFAULT_LOG_LEVEL.to_owned(),
            format: LogFormat::Json,
        }
    }
}

impl Settings {
    /// Checks the rules a type cannot express; the error names the broken setting.
    ///
    /// # Errors
    /// The first setting (in [`Key::ALL`] order) whose value breaks its rule, and why.
    pub fn validate(&self) -> Result<(), (Key, String)> {
        if self.data_dir.as_os_str().is_empty() {
            return Err((Key::DataDir, "must not be empty".to_owned()));
        }
        if self.max_document_bytes < MIN_MAX_DOCUMENT_BYTES {
            return Err((
                Key::MaxDocumentBytes,
                format!(
                    "must be at least {MIN_MAX_DOCUMENT_BYTES}, got {}",
                    self.max_document_bytes
                ),
            ));
        }
        if self.store == StoreMode::Mongo
            && u64::try_from(self.max_document_bytes).unwrap_or(u64::MAX) > MAX_MONGO_DOCUMENT_BYTES
        {
            return Err((
                Key::MaxDocumentBytes,
                format!(
                    "must be at most {MAX_MONGO_DOCUMENT_BYTES} with `store = \"mongo\"` (a \
                     revision holds the document and its patch, and must fit MongoDB's 16 MiB \
                     document limit), got {}",
                    self.max_document_bytes
                ),
            ));
        }
        if self.max_schema_bytes < MIN_MAX_SCHEMA_BYTES {
            return Err((
                Key::MaxSchemaBytes,
                format!(
                    "must be at least {MIN_MAX_SCHEMA_BYTES}, got {}",
                    self.max_schema_bytes
                ),
            ));
        }
        if self.request_timeout_secs < 1 {
            return Err((
                Key::RequestTimeoutSecs,
                "must be at least 1, got 0".to_owned(),
            ));
        }
        for (key, secs) in [
            (Key::HeaderReadTimeoutSecs, self.header_read_timeout_secs),
            (Key::KeepAliveTimeoutSecs, self.keep_alive_timeout_secs),
        ] {
            if !(1..=MAX_CONNECTION_TIMEOUT_SECS).contains(&secs) {
                return Err((
                    key,
                    format!("must be between 1 and {MAX_CONNECTION_TIMEOUT_SECS}, got {secs}"),
                ));
            }
        }
        if self.max_connections < 1 {
            return Err((Key::MaxConnections, "must be at least 1, got 0".to_owned()));
        }
        if self.log.level.trim().is_empty() {
            return Err((Key::LogLevel, "must not be empty".to_owned()));
        }
        if let Err(error) = EnvFilter::try_new(&self.log.level) {
            return Err((
                Key::LogLevel,
                format!("{:?} is not a tracing filter: {error}", self.log.level),
            ));
        }
        if matches!(&self.tlog.signing_key, Some(path) if path.as_os_str().is_empty()) {
            return Err((
                Key::TlogSigningKey,
                "must not be empty (leave it unset for a key in the data folder)".to_owned(),
            ));
        }
        if matches!(&self.tlog.signer_state, Some(path) if path.as_os_str().is_empty()) {
            return Err((
                Key::TlogSignerState,
                "must not be empty (leave it unset for a file beside the key)".to_owned(),
            ));
        }
        if let Some(origin) = &self.tlog.origin
            && KeyName::new(origin.clone()).is_err()
        {
            return Err((
                Key::TlogOrigin,
                format!("{origin:?} must be non-empty, without spaces or `+`"),
            ));
        }
        if !(1..=MAX_CHECKPOINT_INTERVAL_MS).contains(&self.tlog.checkpoint_interval_ms) {
            return Err((
                Key::TlogCheckpointIntervalMs,
                format!(
                    "must be between 1 and {MAX_CHECKPOINT_INTERVAL_MS}, got {}",
                    self.tlog.checkpoint_interval_ms
                ),
            ));
        }
        if self.store == StoreMode::Mongo {
            self.validate_mongo()?;
        }
        Ok(())
    }

    /// The rules of `store = "mongo"`: a URI, a database name MongoDB accepts, and a
    /// configured signing key (a key generated in one server's data folder would not be the
    /// key of the log every server of the database shares).
    fn validate_mongo(&self) -> Result<(), (Key, String)> {
        match &self.mongo.uri {
            None => {
                return Err((
                    Key::MongoUri,
                    "is required with `store = \"mongo\"` (a `mongodb://` or `mongodb+srv://` \
                     connection string)"
                        .to_owned(),
                ));
            }
            Some(uri) if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) => {
                return Err((
                    Key::MongoUri,
                    "must start with `mongodb://` or `mongodb+srv://`".to_owned(),
                ));
            }
            Some(_) => {}
        }
        let database = &self.mongo.database;
        if database.is_empty()
            || database.len() > MAX_MONGO_DATABASE_NAME_BYTES
            || database.contains(['/', '\\', '.', ' ', '"', '$', '\0'])
        {
            return Err((
                Key::MongoDatabase,
                format!(
                    "{database:?} is not a MongoDB database name (1 to \
                     {MAX_MONGO_DATABASE_NAME_BYTES} bytes, none of `/\\. \"$`)"
                ),
            ));
        }
        if self.tlog.signing_key.is_none() {
            return Err((
                Key::TlogSigningKey,
                "is required with `store = \"mongo\"`: every server on the database must sign \
                 with the log's one key, so it cannot be generated in a data folder"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// The configuration the server runs with.
    pub fn to_config(&self) -> Config {
        Config {
            listen: self.listen,
            store: match self.store {
                StoreMode::Embedded => Store::Embedded,
                StoreMode::Mongo => Store::Mongo(MongoConfig {
                    uri: MongoUri::new(self.mongo.uri.clone().unwrap_or_default()),
                    database: self.mongo.database.clone(),
                    faults: MongoFaults::default(),
                }),
            },
            data_dir: self.data_dir.clone(),
            max_document_bytes: self.max_document_bytes,
            durability: match self.durability {
                DurabilityMode::Full => Durability::Full,
                DurabilityMode::Normal => Durability::Normal,
            },
            serving: match self.serving {
                ServingMode::PerThread => Serving::one_thread_per_core(),
                ServingMode::Shared => Serving::Shared,
            },
            document_cache_bytes: usize::try_from(self.document_cache_mib)
                .unwrap_or(usize::MAX)
                .saturating_mul(1 << 20),
            max_schema_bytes: self.max_schema_bytes,
            schema_cache_bytes: usize::try_from(self.schema_cache_mib)
                .unwrap_or(usize::MAX)
                .saturating_mul(1 << 20),
            schema_stall: None,
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_secs),
            connections: ConnectionLimits {
                header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
                keep_alive_timeout: Duration::from_secs(self.keep_alive_timeout_secs),
                max_connections: self.max_connections,
            },
            tlog: LogOptions {
                signing_key: self.tlog.signing_key.clone(),
                origin: self.tlog.origin.clone(),
                signer_state: self.tlog.signer_state.clone(),
                sequencer: SequencerOptions {
                    checkpoint_interval: Duration::from_millis(self.tlog.checkpoint_interval_ms),
                    // A batch must fit MongoDB's transaction limits.
                    batch_size: match self.store {
                        StoreMode::Embedded => SequencerOptions::default().batch_size,
                        StoreMode::Mongo => infra::mongo::MAX_LOG_BATCH,
                    },
                },
            },
            commit_faults: infra::embedded::CommitFaults::default(),
        }
    }
}

impl TryFrom<String> for LogFormat {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        named_value(&value)
    }
}

impl TryFrom<String> for ServingMode {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        named_value(&value)
    }
}

impl TryFrom<String> for DurabilityMode {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        named_value(&value)
    }
}

/// Reads a non-negative whole number from an integer or a string of decimal digits (the
/// environment only has strings), and nothing else: no booleans, no fractions.
fn whole_number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    struct WholeNumber;

    impl Visitor<'_> for WholeNumber {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number ≥ 0")
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
            Ok(value)
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
            u64::try_from(value).map_err(|_| E::invalid_value(Unexpected::Signed(value), &self))
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<u64, E> {
            let digits = value.trim();
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(E::invalid_value(Unexpected::Str(value), &self));
            }
            digits
                .parse()
                .map_err(|_| E::invalid_value(Unexpected::Str(value), &Self))
        }
    }

    let value = deserializer.deserialize_any(WholeNumber)?;
    T::try_from(value).map_err(|_| {
        de::Error::invalid_value(Unexpected::Unsigned(value), &"a smaller whole number")
    })
}
