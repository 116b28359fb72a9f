//! How a setting is named in every layer ([`Key`]: its TOML path, environment variable and
//! flag) and which layer a value came from ([`Origin`]). Loading, validation and errors all
//! name settings through these two, so they sit apart from each of them.

use std::fmt;
use std::path::PathBuf;

/// One setting: its key in the TOML file, its environment variable and its flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// `listen`
    Listen,
    /// `store`
    Store,
    /// `data_dir`
    DataDir,
    /// `max_document_bytes`
    MaxDocumentBytes,
    /// `durability`
    Durability,
    /// `serving`
    Serving,
    /// `document_cache_mib`
    DocumentCacheMib,
    /// `max_schema_bytes`
    MaxSchemaBytes,
    /// `schema_cache_mib`
    SchemaCacheMib,
    /// `request_timeout_secs`
    RequestTimeoutSecs,
    /// `shutdown_timeout_secs`
    ShutdownTimeoutSecs,
    /// `header_read_timeout_secs`
    HeaderReadTimeoutSecs,
    /// `keep_alive_timeout_secs`
    KeepAliveTimeoutSecs,
    /// `max_connections`
    MaxConnections,
    /// `log.level`
    LogLevel,
    /// `log.format`
    LogFormat,
    /// `tlog.signing_key`
    TlogSigningKey,
    /// `tlog.origin`
    TlogOrigin,
    /// `tlog.signer_state`
    TlogSignerState,
    /// `tlog.checkpoint_interval_ms`
    TlogCheckpointIntervalMs,
    /// `mongo.uri`
    MongoUri,
    /// `mongo.database`
    MongoDatabase,
}

impl Key {
    /// Every setting, in the order they are printed and checked.
    pub const ALL: [Self; 22] = [
        Self::Listen,
        Self::Store,
        Self::DataDir,
        Self::MaxDocumentBytes,
        Self::Durability,
        Self::Serving,
        Self::DocumentCacheMib,
        Self::MaxSchemaBytes,
        Self::SchemaCacheMib,
        Self::RequestTimeoutSecs,
        Self::ShutdownTimeoutSecs,
        Self::HeaderReadTimeoutSecs,
        Self::KeepAliveTimeoutSecs,
        Self::MaxConnections,
        Self::LogLevel,
        Self::LogFormat,
        Self::TlogSigningKey,
        Self::TlogOrigin,
        Self::TlogSignerState,
        Self::TlogCheckpointIntervalMs,
        Self::MongoUri,
        Self::MongoDatabase,
    ];

    /// The dotted path in the TOML file (`log.level` is `level` in the `[log]` table).
    pub fn path(self) -> &'static str {
        match self {
            Self::Listen => "listen",
            Self::Store => "store",
            Self::DataDir => "data_dir",
            Self::MaxDocumentBytes => "max_document_bytes",
            Self::Durability => "durability",
            Self::Serving => "serving",
            Self::DocumentCacheMib => "document_cache_mib",
            Self::MaxSchemaBytes => "max_schema_bytes",
            Self::SchemaCacheMib => "schema_cache_mib",
            Self::RequestTimeoutSecs => "request_timeout_secs",
            Self::ShutdownTimeoutSecs => "shutdown_timeout_secs",
            Self::HeaderReadTimeoutSecs => "header_read_timeout_secs",
            Self::KeepAliveTimeoutSecs => "keep_alive_timeout_secs",
            Self::MaxConnections => "max_connections",
            Self::LogLevel => "log.level",
            Self::LogFormat => "log.format",
            Self::TlogSigningKey => "tlog.signing_key",
            Self::TlogOrigin => "tlog.origin",
            Self::TlogSignerState => "tlog.signer_state",
            Self::TlogCheckpointIntervalMs => "tlog.checkpoint_interval_ms",
            Self::MongoUri => "mongo.uri",
            Self::MongoDatabase => "mongo.database",
        }
    }

    /// The environment variable: `OFFCHAIN_` + upper snake case, `__` between table and key.
    pub fn env(self) -> &'static str {
        match self {
            Self::Listen => "OFFCHAIN_LISTEN",
            Self::Store => "OFFCHAIN_STORE",
            Self::DataDir => "OFFCHAIN_DATA_DIR",
            Self::MaxDocumentBytes => "OFFCHAIN_MAX_DOCUMENT_BYTES",
            Self::Durability => "OFFCHAIN_DURABILITY",
            Self::Serving => "OFFCHAIN_SERVING",
            Self::DocumentCacheMib => "OFFCHAIN_DOCUMENT_CACHE_MIB",
            Self::MaxSchemaBytes => "OFFCHAIN_MAX_SCHEMA_BYTES",
            Self::SchemaCacheMib => "OFFCHAIN_SCHEMA_CACHE_MIB",
            Self::RequestTimeoutSecs => "OFFCHAIN_REQUEST_TIMEOUT_SECS",
            Self::ShutdownTimeoutSecs => "OFFCHAIN_SHUTDOWN_TIMEOUT_SECS",
            Self::HeaderReadTimeoutSecs => "OFFCHAIN_HEADER_READ_TIMEOUT_SECS",
            Self::KeepAliveTimeoutSecs => "OFFCHAIN_KEEP_ALIVE_TIMEOUT_SECS",
            Self::MaxConnections => "OFFCHAIN_MAX_CONNECTIONS",
            Self::LogLevel => "OFFCHAIN_LOG__LEVEL",
            Self::LogFormat => "OFFCHAIN_LOG__FORMAT",
            Self::TlogSigningKey => "OFFCHAIN_TLOG__SIGNING_KEY",
            Self::TlogOrigin => "OFFCHAIN_TLOG__ORIGIN",
            Self::TlogSignerState => "OFFCHAIN_TLOG__SIGNER_STATE",
            Self::TlogCheckpointIntervalMs => "OFFCHAIN_TLOG__CHECKPOINT_INTERVAL_MS",
            Self::MongoUri => "OFFCHAIN_MONGO__URI",
            Self::MongoDatabase => "OFFCHAIN_MONGO__DATABASE",
        }
    }

    /// The command-line flag of `serve` and `config`.
    pub fn flag(self) -> &'static str {
        match self {
            Self::Listen => "--listen",
            Self::Store => "--store",
            Self::DataDir => "--data-dir",
            Self::MaxDocumentBytes => "--max-document-bytes",
            Self::Durability => "--durability",
            Self::Serving => "--serving",
            Self::DocumentCacheMib => "--document-cache-mib",
            Self::MaxSchemaBytes => "--max-schema-bytes",
            Self::SchemaCacheMib => "--schema-cache-mib",
            Self::RequestTimeoutSecs => "--request-timeout-secs",
            Self::ShutdownTimeoutSecs => "--shutdown-timeout-secs",
            Self::HeaderReadTimeoutSecs => "--header-read-timeout-secs",
            Self::KeepAliveTimeoutSecs => "--keep-alive-timeout-secs",
            Self::MaxConnections => "--max-connections",
            Self::LogLevel => "--log-level",
            Self::LogFormat => "--log-format",
            Self::TlogSigningKey => "--tlog-signing-key",
            Self::TlogOrigin => "--tlog-origin",
            Self::TlogSignerState => "--tlog-signer-state",
            Self::TlogCheckpointIntervalMs => "--tlog-checkpoint-interval-ms",
            Self::MongoUri => "--mongo-uri",
            Self::MongoDatabase => "--mongo-database",
        }
    }

    /// The setting with this dotted path.
    pub fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|key| key.path() == path)
    }

    /// The setting read from this environment variable.
    pub fn from_env(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|key| key.env() == name)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path())
    }
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Nobody set it.
    Default,
    /// The TOML file at this path.
    File(PathBuf),
    /// This environment variable.
    Env(&'static str),
    /// This command-line flag.
    Flag(&'static str),
}

impl Origin {
    /// The trailing comment `offchain-db config` prints after the value.
    pub fn comment(&self) -> String {
        match self {
            Self::Default => "# default".to_owned(),
            // A comment ends at a line break: keep odd file names on one line.
            Self::File(path) => {
                format!("# from file {}", path.display()).replace(|c: char| c.is_control(), "?")
            }
            Self::Env(name) | Self::Flag(name) => format!("# from {name}"),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("the default"),
            Self::File(path) => write!(f, "configuration file {}", path.display()),
            Self::Env(name) => write!(f, "environment variable {name}"),
            Self::Flag(name) => write!(f, "flag {name}"),
        }
    }
}
