//! The port contract suites (`port-contracts`) run against the embedded store: each contract
//! opens a fresh SQLite file in a folder of its own.

use async_trait::async_trait;
use audit_app::auditor::AuditSource;
use infra::embedded::{AuditReader, EmbeddedOptions, EmbeddedStore};
use port_contracts::{Backend, Ports};

/// One embedded store in a temporary folder, removed when the fixture drops.
struct Embedded {
    store: EmbeddedStore,
    folder: tempfile::TempDir,
}

#[async_trait]
impl Backend for Embedded {
    async fn fresh() -> Self {
        let folder = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary folder: {e}"));
        let path = folder.path().to_path_buf();
        let store = tokio::task::spawn_blocking(move || {
            EmbeddedStore::open(&path, EmbeddedOptions::default())
        })
        .await
        .unwrap_or_else(|e| panic!("opening the store panicked: {e}"))
        .unwrap_or_else(|e| panic!("opening the store: {}", e.chain()));
        Self { store, folder }
    }

    fn ports(&self) -> Ports {
        Ports {
            unit_of_work: self.store.unit_of_work(),
            reader: self.store.reader(),
            log: self.store.log(),
        }
    }

    async fn audit_source(&self) -> Box<dyn AuditSource + Send> {
        let path = self.folder.path().to_path_buf();
        let reader = tokio::task::spawn_blocking(move || AuditReader::open(&path))
            .await
            .unwrap_or_else(|e| panic!("opening the audit reader panicked: {e}"))
            .unwrap_or_else(|e| panic!("opening the audit reader: {}", e.chain()));
        Box::new(reader)
    }
}

port_contracts::storage_contracts!(Embedded);
port_contracts::log_contracts!(Embedded);
