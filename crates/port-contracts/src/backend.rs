//! What a backend hands the contract suites.

use std::sync::Arc;

use async_trait::async_trait;
use audit_app::LogStore;
use audit_app::auditor::AuditSource;
use storage_app::{StorageReader, UnitOfWork};

/// The ports of one open store, the same bundle the composition root wires the server with.
#[derive(Clone)]
pub struct Ports {
    /// Write transactions and the repositories bound to them.
    pub unit_of_work: Arc<dyn UnitOfWork>,
    /// Reads of committed state.
    pub reader: Arc<dyn StorageReader>,
    /// The Merkle log's storage.
    pub log: Arc<dyn LogStore>,
}

/// A backend under test: a fixture owning one fresh, empty store (and whatever it needs to
/// live: a temporary folder, a database on a test server), dropped at the end of a contract.
#[async_trait]
pub trait Backend: Send + Sync + Sized + 'static {
    /// Opens a fresh, empty store.
    async fn fresh() -> Self;

    /// Its ports. Every call hands out ports of the same store.
    fn ports(&self) -> Ports;

    /// A read snapshot of the whole store for the auditor, as `offchain-db audit` opens it.
    async fn audit_source(&self) -> Box<dyn AuditSource + Send>;

    /// Makes every commit from now on fail (`on`) as on a failing disk, or heal (`!on`): the
    /// commit answers `UNAVAILABLE` or `INTERNAL_ERROR` and stores nothing, while reads keep
    /// answering. The storage contracts provoke the "when storage fails" clauses of the write
    /// ports with it; a backend hooks it wherever its commits reach storage.
    fn fail_commits(&self, on: bool);
}
