//! Reads of committed state, on read-only connections beside the writer.
//!
//! WAL lets any number of readers run while the writer writes, each seeing the last commit
//! before its statement began. The reads run on a few dedicated threads, each owning one
//! read-only connection and taking reads from one shared queue.
//!
//! # Why dedicated threads
//!
//! SQLite must not run on the async workers, so every read is a hop to another thread and
//! back. Through tokio's blocking pool, each hop woke a parked thread (about a quarter of a
//! read's CPU went to context switches on 2 cores). A fixed set of threads that keep taking
//! reads while the queue is not empty only park when there is nothing to do, so under load
//! a read costs a queue push and a wake-up of the waiting task, not two thread switches.
//! The price is a bound: at most [`EmbeddedOptions::readers`](super::EmbeddedOptions) reads
//! run at once and the rest wait their turn in the queue.
//!
//! Running point reads (one index lookup) on the async worker itself was tried: it saved
//! about 15% of the server's CPU under a steady rate of reads by id, but not latency (p99
//! 2.5–5.3 ms against 2.9–3.4 ms at 18.5k/s), and a read that meets a cold page or a busy
//! WAL index would hold a worker and every request queued on it. Reads stay on these threads.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use async_trait::async_trait;
use audit_domain::LoggedAuditEntry;
use crossbeam_channel::{Receiver, Sender};
use rusqlite::Connection;
use shared_kernel::{CollectionId, Error, Position};
use storage_app::StorageReader;
use storage_app::idempotency::{IdempotencyRecord, IdempotencyScope};
use storage_app::queries::list_audit::AuditQuery;
use storage_domain::query::DocumentQuery;
use storage_domain::{Collection, CollectionName, Document, DocumentId, Revision, Version};
use tokio::sync::oneshot;

use super::collection_cache::CollectionCache;
use super::connection::open_reader;
use super::document_cache::{DocumentCache, DocumentKey};
use super::lock::DirLock;
use super::{history, idempotency, query, rows};

/// A read to run on one of the pool's connections; it answers through a channel it captured.
type Job = Box<dyn FnOnce(&Connection) + Send>;

/// Read-only connections to one database file, each owned by its own thread.
pub(super) struct ReaderPool {
    /// Taken (closed) on drop, which lets the threads finish the queue and stop.
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
    /// Keeps the folder locked for as long as a reader's connection is open.
    _lock: Arc<DirLock>,
}

impl ReaderPool {
    /// Opens `threads` (at least one) read-only connections to `path`, which must exist, and
    /// starts a thread for each. Every connection is opened here, so that a file readers cannot
    /// open fails at start rather than at the first request.
    ///
    /// # Errors
    /// As [`open_reader`]; `UNAVAILABLE` when a thread cannot be started.
    pub(super) fn new(path: &Path, threads: usize, lock: Arc<DirLock>) -> Result<Self, Error> {
        let connections = (0..threads.max(1))
            .map(|_| open_reader(path))
            .collect::<Result<Vec<_>, Error>>()?;
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        let mut pool = Self {
            jobs: Some(jobs),
            threads: Vec::with_capacity(connections.len()),
            _lock: lock,
        };
        for (index, connection) in connections.into_iter().enumerate() {
            let queue = queue.clone();
            let thread = std::thread::Builder::new()
                .name(format!("offchain-reader-{index}"))
                .spawn(move || serve(&connection, &queue))
                .map_err(|e| Error::unavailable("could not start a reader thread", e))?;
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    /// Runs `work` on one of the pool's connections, on its thread.
    ///
    /// # Errors
    /// What `work` returns; `INTERNAL_ERROR` if it panicked.
    pub(super) async fn read<T, F>(&self, work: F) -> Result<T, Error>
    where
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
            // The request may have been cancelled meanwhile; nobody is left to tell.
            let _ = answer.send(work(connection));
        });
        let queued = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(job).is_ok());
        if !queued {
            return Err(Error::internal(
                "the reader threads have stopped",
                "the read queue is closed",
            ));
        }
        answered
            .await
            .map_err(|e| Error::internal("a read did not complete (its statement panicked)", e))?
    }
}

impl Drop for ReaderPool {
    fn drop(&mut self) {
        drop(self.jobs.take());
        for thread in self.threads.drain(..) {
            // A reader thread catches the panics of its reads, so joining cannot fail on one.
            let _ = thread.join();
        }
    }
}

/// A reader thread: runs reads from `queue` on `connection` until the queue is closed and empty.
fn serve(connection: &Connection, queue: &Receiver<Job>) {
    while let Ok(job) = queue.recv() {
        // A panicking read drops its answer channel (its caller gets an error) and must not
        // take the thread, and with it a connection, down.
        if catch_unwind(AssertUnwindSafe(|| job(connection))).is_err() {
            tracing::error!("a read panicked; its request was answered with an error");
        }
    }
}

/// The [`StorageReader`] of the embedded store.
pub(super) struct SqliteReader {
    pool: Arc<ReaderPool>,
    /// Live collections as committed: nearly every read starts by looking its collection up,
    /// and collections rarely change, so the lookup is answered from memory.
    collections: Arc<CollectionCache>,
    /// Committed documents: a read by id that finds its document here needs no reader thread.
    documents: Arc<DocumentCache>,
}

impl SqliteReader {
    /// A reader over `pool`, with `collections` as its cache of committed collections.
    ///
    /// The cache stays exact because every transaction that changes a collection makes it
    /// stale after its outcome is known and before it is acknowledged (`transaction.rs`), and
    /// an entry is filled under the stamp read *before* its statement: an entry filled from a
    /// snapshot older than a change is stamped older than that change's invalidation.
    /// `documents` stays exact by the same principle (see `document_cache.rs`).
    pub(super) fn new(
        pool: Arc<ReaderPool>,
        collections: Arc<CollectionCache>,
        documents: Arc<DocumentCache>,
    ) -> Self {
        Self {
            pool,
            collections,
            documents,
        }
    }
}

/// Committed state never loses a group: the stamp of the readers' cache only follows changes.
const NO_LOST_GROUPS: u64 = 0;

#[async_trait]
impl StorageReader for SqliteReader {
    #[tracing::instrument(level = "debug", name = "embedded.read.collection", skip_all)]
    async fn collection(&self, name: &CollectionName) -> Result<Option<Collection>, Error> {
        let stamp = self.collections.stamp(NO_LOST_GROUPS);
        if let Some(collection) = self.collections.get(name.as_str(), stamp) {
            return Ok(Some(collection));
        }
        let key = name.as_str().to_owned();
        let found = self
            .pool
            .read(move |connection| rows::select_live_collection(connection, &key))
            .await?;
        if let Some(collection) = &found {
            self.collections.put(name.as_str(), stamp, collection);
        }
        Ok(found)
    }

    #[tracing::instrument(level = "debug", name = "embedded.read.collections", skip_all)]
    async fn collections(
        &self,
        after: Option<CollectionName>,
        limit: u32,
    ) -> Result<Vec<Collection>, Error> {
        // Every name is non-empty, so "after the empty string" means "from the start".
        let after = after
            .map(|name| name.as_str().to_owned())
            .unwrap_or_default();
        self.pool
            .read(move |connection| rows::select_live_collections(connection, &after, limit))
            .await
    }

    #[tracing::instrument(level = "debug", name = "embedded.read.document", skip_all)]
    async fn document(
        &self,
        collection: CollectionId,
        id: DocumentId,
    ) -> Result<Option<Document>, Error> {
        let key = DocumentKey::new(collection, id.clone());
        if let Some(document) = self.documents.get(&key) {
            return Ok(Some(document));
        }
        // Taken before the statement starts: see rule 3 in `document_cache.rs`.
        let ticket = self.documents.ticket(&key);
        let collection = collection.to_string();
        let found = self
            .pool
            .read(move |connection| rows::select_document(connection, &collection, id.as_str()))
            .await?;
        if let Some(document) = &found {
            self.documents.fill(key, ticket, document);
        }
        Ok(found)
    }

    #[tracing::instrument(level = "debug", name = "embedded.read.document_at", skip_all)]
    async fn document_at(
        &self,
        collection: CollectionId,
        id: DocumentId,
        version: Version,
    ) -> Result<Option<Document>, Error> {
        let collection = collection.to_string();
        self.pool
            .read(move |connection| {
                history::select_document_at(connection, &collection, id.as_str(), version.get())
            })
            .await
    }

    #[tracing::instrument(level = "debug", name = "embedded.read.revisions", skip_all)]
    async fn revisions(
        &self,
        collection: CollectionId,
        id: DocumentId,
        after: Option<Version>,
        limit: u32,
    ) -> Result<Vec<Revision>, Error> {
        let after = after.map_or(0, Version::get);
        self.pool
            .read(move |connection| {
                history::select_revisions(connection, collection, &id, after, limit)
            })
            .await
    }

    #[tracing::instrument(level = "debug", name = "embedded.read.audit_trail", skip_all)]
    async fn document_audit_trail(
        &self,
        collection: CollectionId,
        id: DocumentId,
        after_seq: Option<Position>,
        limit: u32,
    ) -> Result<Vec<LoggedAuditEntry>, Error> {
        let collection = collection.to_string();
        let after = after_seq.map_or(0, Position::get);
        self.pool
            .read(move |connection| {
                history::select_audit_trail(connection, &collection, id.as_str(), after, limit)
            })
            .await
    }

    #[tracing::instrument(level = "debug", name = "embedded.read.idempotency", skip_all)]
    async fn idempotency_record(
        &self,
        scope: IdempotencyScope,
    ) -> Result<Option<IdempotencyRecord>, Error> {
        self.pool
            .read(move |connection| idempotency::select_record(connection, scope))
            .await
    }

    #[tracing::instrument(level = "debug", name = "embedded.read.query_documents", skip_all)]
    async fn query_documents(
        &self,
        collection: CollectionId,
        query: DocumentQuery,
    ) -> Result<Vec<Document>, Error> {
        self.pool
            .read(move |connection| {
                query::select_documents(connection, collection, &query, query::Finish::InMemory)
            })
            .await
    }

    #[tracing::instrument(level = "debug", name = "embedded.read.audit_entries", skip_all)]
    async fn audit_entries(
        &self,
        filter: AuditQuery,
        after_seq: Option<Position>,
        limit: u32,
    ) -> Result<Vec<LoggedAuditEntry>, Error> {
        let after = after_seq.map_or(0, Position::get);
        self.pool
            .read(move |connection| query::select_audit_entries(connection, &filter, after, limit))
            .await
    }
}
