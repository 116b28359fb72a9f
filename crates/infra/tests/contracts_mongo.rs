//! The port contract suites (`port-contracts`) run against the MongoDB store: each contract
//! opens a database of its own on the test server (`test-servers`: `OFFCHAIN_TEST_MONGO_URI`,
//! Docker, or the pinned stand-in). The databases are left behind: the stand-in keeps them in
//! memory and ends with the test process; on a server of your own they are named
//! `contracts_*`.

use std::time::Duration;

use async_trait::async_trait;
use audit_app::auditor::AuditSource;
use infra::mongo::{MongoOptions, MongoStore};
use port_contracts::{Backend, Ports};

/// One MongoDB store in a fresh database.
struct Mongo {
    store: MongoStore,
    options: MongoOptions,
}

/// Short enough that a contract with a two-phase collection change stays quick; long enough
/// for a commit on a loaded test machine (a commit past half of it is retried, not lost).
const TEST_TRANSACTION_LIFETIME: Duration = Duration::from_millis(600);

#[async_trait]
impl Backend for Mongo {
    async fn fresh() -> Self {
        let server = test_servers::mongo();
        let mut options = MongoOptions::new(&server.uri, server.database_name("contracts"));
        options.transaction_lifetime = TEST_TRANSACTION_LIFETIME;
        let store = MongoStore::open(options.clone()).await.unwrap_or_else(|e| {
            panic!(
                "opening the MongoDB store ({}): {}",
                server.describe(),
                e.chain()
            )
        });
        Self { store, options }
    }

    fn ports(&self) -> Ports {
        Ports {
            unit_of_work: self.store.unit_of_work(),
            reader: self.store.reader(),
            log: self.store.log(),
        }
    }

    async fn audit_source(&self) -> Box<dyn AuditSource + Send> {
        Box::new(
            self.store
                .audit_source()
                .await
                .unwrap_or_else(|e| panic!("opening the audit source: {}", e.chain())),
        )
    }

    fn fail_commits(&self, on: bool) {
        self.options.faults.fail_commits(on);
    }
}

port_contracts::storage_contracts!(Mongo);
port_contracts::log_contracts!(Mongo);
