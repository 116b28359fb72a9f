//! The composition root: turns a configuration into a running application. The backend the
//! `store` setting names is opened by [`crate::backend`], which hands back ports only; the
//! application, the log and the HTTP state are built over those ports here.

use std::sync::Arc;

use infra::pause::TokioPause;
use infra::schema::{JsonSchemaValidator, SchemaLimits, SchemaOptions};
use shared_kernel::{Error, SystemClock};
use storage_app::StorageApp;
use storage_domain::DocumentLimits;

use crate::backend;
use crate::config::Config;
use crate::http::AppState;
use crate::log_worker::{LogWiring, wire_log};

/// Opens the configured backend and wires the application and the verifiable log to its
/// ports (the log with `config.tlog`: by default a key in the data folder and an origin
/// derived from it). The caller runs the log's sequencer with the returned [`LogWiring`].
/// Opening and the key's file I/O run on the blocking pool.
///
/// The backend (for the embedded store, its data-folder lock) lives as long as the ports in
/// the returned state and wiring.
///
/// # Errors
/// `INVALID_INPUT` when the backend is not built yet, or as [`wire_log`]; `UNAVAILABLE`
/// when the store cannot be opened (the embedded store's folder locked by another process),
/// or the log's signing key cannot be read or created.
pub async fn wire(config: &Config) -> Result<(AppState, LogWiring), Error> {
    let ports = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || backend::open(&config))
            .await
            .map_err(|e| Error::internal("opening the store panicked", e))??
    };
    let limits = DocumentLimits {
        max_bytes: config.max_document_bytes,
    };
    let storage = StorageApp::new(
        ports.unit_of_work,
        ports.reader,
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
    let log = wire_log(ports.log, &config.data_dir, &config.tlog).await?;
    let state = AppState::new(
        storage,
        log.queries.clone(),
        ports.commits,
        config.request_timeout,
    );
    Ok((state, log))
}
