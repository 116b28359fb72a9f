//! The storage backends, one module each; the composition root picks one by the `store`
//! setting. A backend opens its storage and hands the rest of the program its ports only
//! ([`StorePorts`] to serve, [`AuditPorts`] to audit): the application, the log's sequencer,
//! `/readyz` and the auditor never see which backend they run on. Every port holds what it
//! needs of its backend, so the backend (and, for the embedded store, its data-folder lock)
//! lives exactly as long as the last port handed out.
//!
//! Each backend is a module ([`embedded`], [`mongo`]) with the same two functions, and one
//! arm in [`open`] and [`open_audit`] each.

mod embedded;
mod mongo;

use std::path::PathBuf;
use std::sync::Arc;

use audit_app::LogStore;
use audit_app::auditor::AuditSource;
use shared_kernel::Error;
use storage_app::{StorageReader, UnitOfWork};

use crate::config::{Config, MongoConfig, Store};
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
/// The backend's own: for the embedded store, `UNAVAILABLE` when its folder cannot be opened
/// or is locked by another process; for MongoDB, `UNAVAILABLE` when it cannot be reached,
/// cannot run transactions, or another server holds its sequencer lock.
pub fn open(config: &Config) -> Result<StorePorts, Error> {
    match &config.store {
        Store::Embedded => embedded::open(config),
        Store::Mongo(mongo) => mongo::open(mongo),
    }
}

/// What `offchain-db audit` audits.
#[derive(Debug, Clone)]
pub enum AuditTarget {
    /// The embedded store in this data folder.
    Embedded {
        /// Its data folder.
        data_dir: PathBuf,
    },
    /// The MongoDB store in this database.
    Mongo(MongoConfig),
}

/// Opens the store `target` names read-only for the auditor. Blocking: file or network I/O.
///
/// # Errors
/// The backend's own (for the embedded store, `UNAVAILABLE` when the folder holds no store;
/// for MongoDB, when it cannot be reached).
pub fn open_audit(target: &AuditTarget) -> Result<AuditPorts, Error> {
    match target {
        AuditTarget::Embedded { data_dir } => embedded::open_audit(data_dir),
        AuditTarget::Mongo(mongo) => mongo::open_audit(mongo),
    }
}
