//! The port contract suites (`port-contracts`) run against the embedded store: each contract
//! opens a fresh SQLite file in a folder of its own.

use async_trait::async_trait;
use audit_app::auditor::AuditSource;
use infra::embedded::{AuditReader, CommitFaults, EmbeddedOptions, EmbeddedStore};
use port_contracts::{Backend, Ports};

/// One embedded store in a temporary folder, removed when the fixture drops.
struct Embedded {
    store: EmbeddedStore,
    folder: tempfile::TempDir,
    /// The switch that makes the writer's commits fail as on a full disk.
    faults: CommitFaults,
}

#[async_trait]
impl Backend for Embedded {
    async fn fresh() -> Self {
        let folder = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary folder: {e}"));
        let path = folder.path().to_path_buf();
        let faults = CommitFaults::default();
        let options = EmbeddedOptions {
            commit_faults: faults.clone(),
            ..EmbeddedOptions::default()
        };
        let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(&path, options))
            .await
            .unwrap_or_else(|e| panic!("opening the store panicked: {e}"))
            .unwrap_or_else(|e| panic!("opening the store: {}", e.chain()));
        Self {
            store,
            folder,
            faults,
        }
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

    fn fail_commits(&self, on: bool) {
        self.faults.fail_commits(on);
    }
}

port_contracts::storage_contracts!(Embedded);
port_contracts::log_contracts!(Embedded);
