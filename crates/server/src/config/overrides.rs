//! The command-line layer, the highest: typed by clap, applied over the merged settings.
//!
//! Flags are not fed through the `config` crate: they are already typed, and a path given as
//! a flag need not be Unicode.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::key::Key;
use super::settings::{DurabilityMode, LogFormat, ServingMode, Settings};
use super::store::StoreMode;

/// The command-line layer: each field is `Some` only when its flag was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--config`: the TOML file to read.
    pub config_file: Option<PathBuf>,
    /// `--listen`
    pub listen: Option<SocketAddr>,
    /// `--store`
    pub store: Option<StoreMode>,
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--max-document-bytes`
    pub max_document_bytes: Option<usize>,
    /// `--durability`
    pub durability: Option<DurabilityMode>,
    /// `--serving`
    pub serving: Option<ServingMode>,
    /// `--document-cache-mib`
    pub document_cache_mib: Option<u64>,
    /// `--max-schema-bytes`
    pub max_schema_bytes: Option<usize>,
    /// `--schema-cache-mib`
    pub schema_cache_mib: Option<u64>,
    /// `--request-timeout-secs`
    pub request_timeout_secs: Option<u64>,
    /// `--shutdown-timeout-secs`
    pub shutdown_timeout_secs: Option<u64>,
    /// `--header-read-timeout-secs`
    pub header_read_timeout_secs: Option<u64>,
    /// `--keep-alive-timeout-secs`
    pub keep_alive_timeout_secs: Option<u64>,
    /// `--max-connections`
    pub max_connections: Option<usize>,
    /// `--log-level`
    pub log_level: Option<String>,
    /// `--log-format`
    pub log_format: Option<LogFormat>,
    /// `--tlog-signing-key`
    pub tlog_signing_key: Option<PathBuf>,
    /// `--tlog-origin`
    pub tlog_origin: Option<String>,
    /// `--tlog-signer-state`
    pub tlog_signer_state: Option<PathBuf>,
    /// `--tlog-checkpoint-interval-ms`
    pub tlog_checkpoint_interval_ms: Option<u64>,
    /// `--mongo-uri`
    pub mongo_uri: Option<String>,
    /// `--mongo-database`
    pub mongo_database: Option<String>,
}

impl Overrides {
    pub(super) fn has(&self, key: Key) -> bool {
        match key {
            Key::Listen => self.listen.is_some(),
            Key::Store => self.store.is_some(),
            Key::DataDir => self.data_dir.is_some(),
            Key::MaxDocumentBytes => self.max_document_bytes.is_some(),
            Key::Durability => self.durability.is_some(),
            Key::Serving => self.serving.is_some(),
            Key::DocumentCacheMib => self.document_cache_mib.is_some(),
            Key::MaxSchemaBytes => self.max_schema_bytes.is_some(),
            Key::SchemaCacheMib => self.schema_cache_mib.is_some(),
            Key::RequestTimeoutSecs => self.request_timeout_secs.is_some(),
            Key::ShutdownTimeoutSecs => self.shutdown_timeout_secs.is_some(),
            Key::HeaderReadTimeoutSecs => self.header_read_timeout_secs.is_some(),
            Key::KeepAliveTimeoutSecs => self.keep_alive_timeout_secs.is_some(),
            Key::MaxConnections => self.max_connections.is_some(),
            Key::LogLevel => self.log_level.is_some(),
            Key::LogFormat => self.log_format.is_some(),
            Key::TlogSigningKey => self.tlog_signing_key.is_some(),
            Key::TlogOrigin => self.tlog_origin.is_some(),
            Key::TlogSignerState => self.tlog_signer_state.is_some(),
            Key::TlogCheckpointIntervalMs => self.tlog_checkpoint_interval_ms.is_some(),
            Key::MongoUri => self.mongo_uri.is_some(),
            Key::MongoDatabase => self.mongo_database.is_some(),
        }
    }

    pub(super) fn apply(&self, settings: &mut Settings) {
        if let Some(listen) = self.listen {
            settings.listen = listen;
        }
        if let Some(store) = self.store {
            settings.store = store;
        }
        if let Some(data_dir) = &self.data_dir {
            settings.data_dir.clone_from(data_dir);
        }
        if let Some(bytes) = self.max_document_bytes {
            settings.max_document_bytes = bytes;
        }
        if let Some(durability) = self.durability {
            settings.durability = durability;
        }
        if let Some(serving) = self.serving {
            settings.serving = serving;
        }
        if let Some(mib) = self.document_cache_mib {
            settings.document_cache_mib = mib;
        }
        if let Some(bytes) = self.max_schema_bytes {
            settings.max_schema_bytes = bytes;
        }
        if let Some(mib) = self.schema_cache_mib {
            settings.schema_cache_mib = mib;
        }
        if let Some(secs) = self.request_timeout_secs {
            settings.request_timeout_secs = secs;
        }
        if let Some(secs) = self.shutdown_timeout_secs {
            settings.shutdown_timeout_secs = secs;
        }
        if let Some(secs) = self.header_read_timeout_secs {
            settings.header_read_timeout_secs = secs;
        }
        if let Some(secs) = self.keep_alive_timeout_secs {
            settings.keep_alive_timeout_secs = secs;
        }
        if let Some(count) = self.max_connections {
            settings.max_connections = count;
        }
        if let Some(level) = &self.log_level {
            settings.log.level.clone_from(level);
        }
        if let Some(format) = self.log_format {
            settings.log.format = format;
        }
        if let Some(path) = &self.tlog_signing_key {
            settings.tlog.signing_key = Some(path.clone());
        }
        if let Some(origin) = &self.tlog_origin {
            settings.tlog.origin = Some(origin.clone());
        }
        if let Some(path) = &self.tlog_signer_state {
            settings.tlog.signer_state = Some(path.clone());
        }
        if let Some(ms) = self.tlog_checkpoint_interval_ms {
            settings.tlog.checkpoint_interval_ms = ms;
        }
        if let Some(uri) = &self.mongo_uri {
            settings.mongo.uri = Some(uri.clone());
        }
        if let Some(database) = &self.mongo_database {
            settings.mongo.database.clone_from(database);
        }
    }
}
