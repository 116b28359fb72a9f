//! The storage backends, one module each; the composition root picks one by the `store`
//! setting. A backend opens its storage and hands the rest of the program its ports only
//! ([`StorePorts`] to serve, [`AuditPorts`] to audit): the application, the log's sequencer,
//! `/readyz` and the auditor never see which backend they run on. Every port holds what it
//! needs of its backend, so the backend (and, for the embedded store, its data-folder lock)
//! lives exactly as long as the last port handed out.
//!
//! A second backend plugs in as a second module beside [`embedded`] with the same two
//! functions, and one arm in [`open`] and [`open_audit`] each.

mod embedded;

use std::path::Path;
use std::sync::Arc;

use audit_app::LogStore;
use audit_app::auditor::AuditSource;
use shared_kernel::Error;
use storage_app::{StorageReader, UnitOfWork};

use crate::config::{Config, StoreMode};
use crate::http::CommitState;

/// What a backend hands the server: the ports of the application, of the log and of
/// readiness.
pub struct StorePorts {
    /// Write transactions (and the transaction-bound repositories they hand out).
    pub unit_of_work: Arc<dyn UnitOfWork>,
    /// Reads of committed state.
    pub reader: Arc<dyn StorageReader>,
    /// The Merkle log's storage, for the sequencer and the proofs.
    pub log: Arc<dyn LogStore>,
    /// Whether the backend's commits fail, for `/readyz`.
    pub commits: Arc<dyn CommitState>,
}

/// What a backend hands `offchain-db audit`: one read snapshot of a whole store.
pub struct AuditPorts {
    /// The auditor's port over the store.
    pub source: Box<dyn AuditSource>,
    /// What is audited, in words, for the report (the embedded store's folder).
    pub location: String,
}

/// Opens the backend `config.store` names. Blocking: file or network I/O.
///
/// # Errors
/// `INVALID_INPUT` when that backend is not built yet; else the backend's own (for the
/// embedded store, `UNAVAILABLE` when its folder cannot be opened or is locked by another
/// process).
pub fn open(config: &Config) -> Result<StorePorts, Error> {
    match config.store {
        StoreMode::Embedded => embedded::open(config),
        StoreMode::Mongodb => Err(not_built(config.store)),
    }
}

/// Opens the store `store` names read-only for the auditor, `data_dir` being where the
/// embedded store keeps it. Blocking: file or network I/O.
///
/// # Errors
/// `INVALID_INPUT` when that backend is not built yet; else the backend's own (for the
/// embedded store, `UNAVAILABLE` when the folder holds no store).
pub fn open_audit(store: StoreMode, data_dir: &Path) -> Result<AuditPorts, Error> {
    match store {
        StoreMode::Embedded => embedded::open_audit(data_dir),
        StoreMode::Mongodb => Err(not_built(store)),
    }
}

/// The refusal of a backend this build does not have.
fn not_built(store: StoreMode) -> Error {
    Error::invalid_input(format!(
        "`store`: {}",
        store
            .not_built()
            .unwrap_or_else(|| "this store cannot be opened".to_owned())
    ))
}

#[cfg(test)]
mod tests {
    use shared_kernel::ErrorCode;

    use super::*;

    #[test]
    fn a_backend_that_is_not_built_is_refused_by_name_and_opens_nothing() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut config = Config::with_data_dir(dir.path().join("data"));
        config.store = StoreMode::Mongodb;
        let Err(error) = open(&config) else {
            panic!("the mongodb store opened");
        };
        assert_eq!(error.code(), ErrorCode::InvalidInput);
        assert!(error.to_string().contains("`store`"), "{}", error.chain());
        assert!(
            error.to_string().contains("not built yet"),
            "{}",
            error.chain()
        );
        let Err(error) = open_audit(StoreMode::Mongodb, dir.path()) else {
            panic!("the mongodb store opened for an audit");
        };
        assert!(
            error.to_string().contains("not built yet"),
            "{}",
            error.chain()
        );
        assert!(!dir.path().join("data").exists(), "nothing was created");
    }
}
