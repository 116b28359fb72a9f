//! The composition root: turns a configuration into a running application.

use std::sync::Arc;

use infra::embedded::{CommitHealth, EmbeddedOptions, EmbeddedStore};
use infra::pause::TokioPause;
use infra::schema::{JsonSchemaValidator, SchemaLimits, SchemaOptions};
use shared_kernel::{Error, SystemClock};
use storage_app::StorageApp;
use storage_domain::DocumentLimits;

use crate::config::Config;
use crate::http::{AppState, CommitState};
use crate::log_worker::{LogWiring, wire_log};

/// Opens the embedded store and wires the application and the verifiable log to it (the log
/// with `config.tlog`: by default a key in the data folder and an origin derived from it). The
/// caller runs the log's sequencer with the returned [`LogWiring`]. Blocking: file I/O.
///
/// The store (and its data-folder lock) lives as long as the returned state.
///
/// # Errors
/// `UNAVAILABLE` when the data folder cannot be opened or is locked by another process, or
/// the log's signing key cannot be read or created.
pub fn embedded(config: &Config) -> Result<(AppState, LogWiring), Error> {
    let store = EmbeddedStore::open(
        &config.data_dir,
        EmbeddedOptions {
            durability: config.durability,
            document_cache_bytes: config.document_cache_bytes,
            commit_faults: config.commit_faults.clone(),
            ..EmbeddedOptions::default()
        },
    )?;
    let limits = DocumentLimits {
        max_bytes: config.max_document_bytes,
    };
    let storage = StorageApp::new(
        store.unit_of_work(),
        store.reader(),
        Arc::new(JsonSchemaValidator::new(SchemaOptions {
            limits: SchemaLimits {
                max_schema_bytes: config.max_schema_bytes,
            },
            cache_bytes: config.schema_cache_bytes,
            stall: config.schema_stall.clone(),
            ..SchemaOptions::default()
        })?),
        Arc::new(SystemClock),
        limits,
        Arc::new(TokioPause),
    );
    let log = wire_log(&store, &config.data_dir, &config.tlog)?;
    let commits = Arc::new(StoreCommits(store.commit_health()));
    let state = AppState::new(
        storage,
        log.queries.clone(),
        Arc::new(store),
        commits,
        config.request_timeout,
    );
    Ok((state, log))
}

/// The embedded store's commit health, as `/readyz` reads it.
struct StoreCommits(CommitHealth);

impl CommitState for StoreCommits {
    fn failing(&self) -> Option<String> {
        self.0.last_failure().map(|failure| {
            format!(
                "{} ({} failed attempts over {} s)",
                failure.reason,
                failure.attempts,
                failure.since.elapsed().as_secs()
            )
        })
    }
}
