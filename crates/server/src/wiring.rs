//! The composition root: turns a configuration into a running application.

use std::sync::Arc;

use infra::embedded::{EmbeddedOptions, EmbeddedStore};
use infra::schema::JsonSchemaValidator;
use shared_kernel::{Error, SystemClock};
use storage_app::StorageApp;
use storage_domain::DocumentLimits;

use crate::config::Config;
use crate::http::AppState;

/// Opens the embedded store and wires the application to it. The store (and its data-folder
/// lock) lives as long as the returned state.
///
/// # Errors
/// `UNAVAILABLE` when the data folder cannot be opened or is locked by another process.
pub fn embedded_state(config: &Config) -> Result<AppState, Error> {
    let store = EmbeddedStore::open(
        &config.data_dir,
        EmbeddedOptions {
            durability: config.durability,
            ..EmbeddedOptions::default()
        },
    )?;
    let limits = DocumentLimits {
        max_bytes: config.max_document_bytes,
    };
    let storage = StorageApp::new(
        store.unit_of_work(),
        store.reader(),
        Arc::new(JsonSchemaValidator::new()),
        Arc::new(SystemClock),
        limits,
    );
    Ok(AppState::new(
        storage,
        Arc::new(store),
        config.request_timeout,
    ))
}
