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
//! - `log/`: the log's store, the sequencer lock and the auditor's source;
//! - `health.rs`: the probe that tells `/readyz` MongoDB is back.
//!
//! [`UnitOfWork`]: storage_app::UnitOfWork
//! [`StorageReader`]: storage_app::StorageReader

pub(crate) mod error;
mod health;
pub(crate) mod json_bson;
pub(crate) mod layout;
mod log;
mod options;
mod read;
mod rows;
mod write;

pub use health::PROBE_INTERVAL;
pub use json_bson::MAX_MONGO_DOCUMENT_BYTES;
pub use log::{LockTiming, MAX_LOG_BATCH, MongoAuditSource, SequencerLock};
pub use options::{CommitFault, MongoFaults, MongoOptions};

use std::sync::{Arc, OnceLock};

use audit_app::LogStore;
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
    /// One log store for every caller (it keeps the committed head in memory), made on
    /// first use: [`Self::open_blocking`] needs the only reference to `shared` until then.
    log: Arc<OnceLock<Arc<log::MongoLogStore>>>,
}

/// What every port of one store shares.
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) database: Database,
    pub(crate) options: MongoOptions,
    /// Held by every multi-document transaction of this process, from start to commit, on a
    /// server that runs transactions without isolating them (see [`Isolation`]).
    pub(crate) serialized: Option<tokio::sync::Mutex<()>>,
    /// The runtime the driver's connection pool and monitors run on, when the store was
    /// opened outside any long-lived runtime ([`MongoStore::open_blocking`]); it lives as long
    /// as the last port.
    pub(crate) own_runtime: Option<OwnRuntime>,
    /// The last commit's failure to reach MongoDB, if the last commit failed so, for
    /// `/readyz`.
    pub(crate) health: std::sync::Mutex<Option<String>>,
}

/// A runtime owned by the store, shut down without waiting when the last port goes (a
/// runtime dropped the ordinary way panics inside another runtime's task).
pub(crate) struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Whether the server isolates concurrent transactions.
///
/// A replica set member (its `hello` names the set) or a `mongos` (`msg: "isdbgrid"`) does.
/// A server that runs transactions but is neither is not MongoDB: the jongodb stand-in the
/// tests use is one, and it was seen losing inserts and updates of concurrent transactions
/// (two commits into one collection, the last one wins: 30 of 33 documents left after 32
/// concurrent one-insert transactions). On such a server this process runs its transactions
/// one at a time, which keeps one server correct and says so in the log; several servers on
/// one such database would still lose writes, which is one more reason it is for tests only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// The server isolates transactions.
    Server,
    /// This process serialises its own transactions.
    SerializedInProcess,
}

impl MongoStore {
    /// Connects, checks that the deployment runs multi-document transactions (by running
    /// one: the stand-in's `hello` does not say), and creates the indexes.
    ///
    /// # Errors
    /// `INVALID_INPUT` for a URI that does not parse; `UNAVAILABLE` when the server cannot be
    /// reached or cannot run transactions (with what to do about it).
    pub async fn open(options: MongoOptions) -> Result<Self, Error> {
        let store = Self::open_on(options).await?;
        store
            .shared
            .spawn(health::probe_while_open(Arc::downgrade(&store.shared)));
        Ok(store)
    }

    /// [`Self::open`] from outside a runtime that lives as long as the store (the server's
    /// start-up): the store gets a small runtime of its own (two threads, `mongo-driver`) for
    /// the driver's connection pool and server monitors, kept alive by its ports, so the
    /// ports can be called from any runtime or thread. Blocking.
    ///
    /// # Errors
    /// As [`Self::open`]; `UNAVAILABLE` when the runtime cannot be started.
    pub fn open_blocking(options: MongoOptions) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mongo-driver")
            .enable_all()
            .build()
            .map_err(|e| Error::unavailable("could not start the MongoDB driver's threads", e))?;
        let mut store = runtime.block_on(Self::open_on(options))?;
        let shared = Arc::get_mut(&mut store.shared).ok_or_else(|| {
            Error::internal(
                "the store was shared while it opened",
                std::io::Error::other("unexpected reference"),
            )
        })?;
        shared.own_runtime = Some(OwnRuntime(Some(runtime)));
        store
            .shared
            .spawn(health::probe_while_open(Arc::downgrade(&store.shared)));
        Ok(store)
    }

    async fn open_on(options: MongoOptions) -> Result<Self, Error> {
        let client = connect(&options).await?;
        let database = client.database(&options.database);
        let isolation = isolation_of(&client).await?;
        if isolation == Isolation::SerializedInProcess {
            tracing::warn!(
                "this MongoDB server is neither a replica set member nor a mongos: it runs \
                 transactions without isolating them (the jongodb test stand-in does), so this \
                 process runs its transactions one at a time; use real MongoDB in production"
            );
        }
        let store = Self {
            shared: Arc::new(Shared {
                client,
                database,
                options,
                serialized: (isolation == Isolation::SerializedInProcess)
                    .then(|| tokio::sync::Mutex::new(())),
                own_runtime: None,
                health: std::sync::Mutex::new(None),
            }),
            log: Arc::new(OnceLock::new()),
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

    /// Why the last commit could not reach MongoDB, while no commit has succeeded since:
    /// what `/readyz` reports (naming the dependency).
    pub fn commits_failing(&self) -> Option<String> {
        self.shared.last_failure()
    }

    /// How this store's transactions are isolated.
    pub fn isolation(&self) -> Isolation {
        if self.shared.serialized.is_some() {
            Isolation::SerializedInProcess
        } else {
            Isolation::Server
        }
    }

    /// The Merkle log's storage (the same one for every call).
    pub fn log(&self) -> Arc<dyn LogStore> {
        let log = self
            .log
            .get_or_init(|| Arc::new(log::MongoLogStore::new(self.shared())));
        Arc::clone(log) as Arc<dyn LogStore>
    }

    /// Takes the database's sequencer lock for `owner` (a name for people: the host, the
    /// process), beating every 2 s, stale after 6 s; see [`Self::lock_sequencer_with`].
    ///
    /// # Errors
    /// As [`Self::lock_sequencer_with`].
    pub async fn lock_sequencer(&self, owner: &str) -> Result<SequencerLock, Error> {
        self.lock_sequencer_with(owner, LockTiming::default()).await
    }

    /// Takes the database's sequencer lock for `owner` with `timing`: until issue 24's lease,
    /// a second server on one database refuses to start. The lock's heartbeat runs on the
    /// store's own runtime ([`Self::open_blocking`]), else on the caller's, which must then
    /// live as long as the lock.
    ///
    /// # Errors
    /// `UNAVAILABLE` when another server holds the lock and beat within
    /// `timing.stale_after` (the message names it and when it was last seen), or when MongoDB
    /// cannot be reached; `INTERNAL_ERROR` for a malformed lock document.
    pub async fn lock_sequencer_with(
        &self,
        owner: &str,
        timing: LockTiming,
    ) -> Result<SequencerLock, Error> {
        log::lock_sequencer(self.shared(), owner, timing).await
    }

    /// [`Self::lock_sequencer`] for a store opened with [`Self::open_blocking`], from a
    /// thread that may block (the server's start-up): the lock is taken, and beats, on the
    /// store's own runtime. Blocking.
    ///
    /// # Errors
    /// As [`Self::lock_sequencer_with`]; `INTERNAL_ERROR` for a store opened with
    /// [`Self::open`], which has no runtime of its own to block on.
    pub fn lock_sequencer_blocking(&self, owner: &str) -> Result<SequencerLock, Error> {
        let Some(runtime) = self
            .shared
            .own_runtime
            .as_ref()
            .and_then(|own| own.0.as_ref())
        else {
            return Err(Error::internal(
                "lock_sequencer_blocking needs a store opened with open_blocking",
                std::io::Error::other("no runtime of its own"),
            ));
        };
        runtime.block_on(log::lock_sequencer(
            self.shared(),
            owner,
            LockTiming::default(),
        ))
    }

    /// The auditor's source over this database, auditing the log up to the head stored when
    /// it opens (a MongoDB snapshot cannot span a long audit; see [`MongoAuditSource`]). It
    /// has its own client on a thread of its own, so its synchronous calls may come from any
    /// thread, an async runtime's included.
    ///
    /// # Errors
    /// `UNAVAILABLE` when MongoDB cannot be reached; `INTERNAL_ERROR` for a malformed head.
    pub async fn audit_source(&self) -> Result<MongoAuditSource, Error> {
        MongoAuditSource::open(self.shared.options.clone()).await
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

/// Reads the server's `hello` to tell whether it isolates transactions (see [`Isolation`]).
pub(crate) async fn isolation_of(client: &Client) -> Result<Isolation, Error> {
    let hello = client
        .database("admin")
        .run_command(doc! { "hello": 1 })
        .await
        .map_err(|e| storage_error("greeting the MongoDB server", e))?;
    let replica_set = hello.get_str("setName").is_ok();
    let router = hello.get_str("msg").is_ok_and(|msg| msg == "isdbgrid");
    Ok(if replica_set || router {
        Isolation::Server
    } else {
        Isolation::SerializedInProcess
    })
}

/// A client configured as every part of the store uses it: majority reads and writes, and
/// the server selection timeout of `options`.
pub(crate) async fn connect(options: &MongoOptions) -> Result<Client, Error> {
    let mut client_options = ClientOptions::parse(&options.uri)
        .await
        .map_err(|e| Error::invalid_input(format!("`mongo_uri` does not parse: {e}")))?;
    client_options.app_name = Some("offchain-db".to_owned());
    client_options.server_selection_timeout = Some(options.server_selection_timeout);
    client_options.read_concern = Some(ReadConcern::majority());
    client_options.write_concern = Some(WriteConcern::majority());
    Client::with_options(client_options)
        .map_err(|e| storage_error("configuring the MongoDB client", e))
}

impl Shared {
    /// Runs `task` in the background on the store's own runtime when it has one (it was
    /// opened with [`MongoStore::open_blocking`] and lives as long as the store), else on the
    /// caller's.
    ///
    /// # Panics
    /// Outside any runtime when the store has none of its own (as `tokio::spawn`).
    pub(crate) fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.own_runtime.as_ref().and_then(|own| own.0.as_ref()) {
            Some(runtime) => runtime.spawn(task),
            None => tokio::spawn(task),
        }
    }

    /// Records how a commit ended, for [`MongoStore::commits_failing`]: a failure to reach
    /// MongoDB is kept until a commit succeeds; other refusals (stale reads, conflicts) say
    /// nothing about MongoDB's health.
    pub(crate) fn record_commit(&self, outcome: &Result<(), storage_app::CommitError>) {
        let unreachable = match outcome {
            Ok(()) => None,
            Err(
                storage_app::CommitError::Retryable(error)
                | storage_app::CommitError::OutcomeUnknown(error)
                | storage_app::CommitError::Failed(error),
            ) if error.code() == shared_kernel::ErrorCode::Unavailable => {
                Some(format!("MongoDB: {}", error.detail()))
            }
            Err(_) => return,
        };
        self.set_failure(unreachable);
    }

    /// Why commits fail to reach MongoDB, if the last one did.
    pub(crate) fn last_failure(&self) -> Option<String> {
        self.health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Records whether commits reach MongoDB.
    pub(crate) fn set_failure(&self, failure: Option<String>) {
        *self
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = failure;
    }

    /// Taken for the life of one multi-document transaction: nothing on a server that
    /// isolates transactions, this process's one turn on a server that does not.
    pub(crate) async fn transaction_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.serialized {
            Some(turn) => Some(turn.lock().await),
            None => None,
        }
    }

    /// A collection of raw BSON documents (every adapter maps them itself: no serde on user
    /// data, see `json_bson.rs`).
    pub(crate) fn collection(&self, name: &str) -> Collection<Document> {
        self.database.collection(name)
    }
}
