//! The production store: every port on MongoDB (6 or 7, a replica set: transactions need
//! one), with the same hashes and proofs as the embedded store.
//!
//! - `layout.rs`: the collections and the `_id` each invariant rests on;
//! - `json_bson.rs`: the anti-corruption layer between JSON documents and BSON;
//! - `error.rs`: driver errors into the kernel's codes;
//! - `options.rs`: the settings (the database, the bounded transaction lifetime, fault seams);
//! - `transaction.rs` with `write/`: the [`UnitOfWork`] port (writes kept until the commit,
//!   then applied in one multi-document transaction; collection changes in two phases);
//! - `read/`: the [`StorageReader`] port;
//! - `log/`: the log's store, the sequencer lock and the auditor's source.
//!
//! [`UnitOfWork`]: storage_app::UnitOfWork
//! [`StorageReader`]: storage_app::StorageReader

pub(crate) mod error;
pub(crate) mod json_bson;
pub(crate) mod layout;
mod options;
mod read;
mod rows;
mod write;

pub use options::{CommitFault, MongoFaults, MongoOptions};

use std::sync::Arc;

use storage_app::{StorageReader, UnitOfWork};

use mongodb::bson::{Document, doc};
use mongodb::options::{ClientOptions, ReadConcern, WriteConcern};
use mongodb::{Client, Collection, Database};
use shared_kernel::Error;

use error::storage_error;

/// An open MongoDB store: a client (its own connection pool) and the database.
#[derive(Clone)]
pub struct MongoStore {
    shared: Arc<Shared>,
}

/// What every port of one store shares.
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) database: Database,
    pub(crate) options: MongoOptions,
}

impl MongoStore {
    /// Connects, checks that the deployment runs multi-document transactions (by running
    /// one: the stand-in's `hello` does not say), and creates the indexes.
    ///
    /// # Errors
    /// `INVALID_INPUT` for a URI that does not parse; `UNAVAILABLE` when the server cannot be
    /// reached or cannot run transactions (with what to do about it).
    pub async fn open(options: MongoOptions) -> Result<Self, Error> {
        let mut client_options = ClientOptions::parse(&options.uri)
            .await
            .map_err(|e| Error::invalid_input(format!("`mongo_uri` does not parse: {e}")))?;
        client_options.app_name = Some("offchain-db".to_owned());
        client_options.server_selection_timeout = Some(options.server_selection_timeout);
        client_options.read_concern = Some(ReadConcern::majority());
        client_options.write_concern = Some(WriteConcern::majority());
        let client = Client::with_options(client_options)
            .map_err(|e| storage_error("configuring the MongoDB client", e))?;
        let database = client.database(&options.database);
        let store = Self {
            shared: Arc::new(Shared {
                client,
                database,
                options,
            }),
        };
        store.check_transactions().await?;
        store.create_indexes().await?;
        Ok(store)
    }

    /// Write transactions.
    pub fn unit_of_work(&self) -> Arc<dyn UnitOfWork> {
        Arc::new(write::MongoUnitOfWork::new(
            self.shared(),
            Arc::new(read::MongoReader::new(self.shared())),
        ))
    }

    /// Reads of committed state.
    pub fn reader(&self) -> Arc<dyn StorageReader> {
        Arc::new(read::MongoReader::new(self.shared()))
    }

    /// What the ports share.
    pub(crate) fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    /// Runs one small transaction (an upsert of a marker document), which fails on a server
    /// that is not a replica set member.
    async fn check_transactions(&self) -> Result<(), Error> {
        let refused = |e: mongodb::error::Error| {
            Error::unavailable(
                "MongoDB cannot run multi-document transactions here: Offchain DB needs a \
                 replica set (a single node started with `--replSet` will do); \
                 check `--mongo-uri`",
                e,
            )
        };
        let markers = self.shared.collection(layout::SERVER_LOCKS);
        let mut session = self.shared.client.start_session().await.map_err(refused)?;
        session.start_transaction().await.map_err(refused)?;
        markers
            .update_one(
                doc! { "_id": "transactions-check" },
                doc! { "$set": { "checked": true } },
            )
            .upsert(true)
            .session(&mut session)
            .await
            .map_err(refused)?;
        session.commit_transaction().await.map_err(refused)
    }

    /// Creates every secondary index (idempotent).
    async fn create_indexes(&self) -> Result<(), Error> {
        for (collection, index) in layout::indexes() {
            self.shared
                .collection(collection)
                .create_index(index)
                .await
                .map_err(|e| storage_error(&format!("creating an index on `{collection}`"), e))?;
        }
        Ok(())
    }
}

impl Shared {
    /// A collection of raw BSON documents (every adapter maps them itself: no serde on user
    /// data, see `json_bson.rs`).
    pub(crate) fn collection(&self, name: &str) -> Collection<Document> {
        self.database.collection(name)
    }
}
