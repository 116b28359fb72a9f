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
//! # Point reads run where they are asked
//!
//! A read whose cost is bounded by one index lookup (a document by id, a collection by name,
//! an idempotency record) takes a few microseconds with the file mapped, less than the hop:
//! under a steady request rate the reader thread is parked, so the hop costs two wake-ups,
//! and at 12k reads/s on 2 cores those wake-ups pushed p99 from under a millisecond to a
//! hundred. Such a read runs on the calling thread, on a connection of its own taken from
//! [`ReaderPool::at_hand`]; only when every one of those is busy does it queue like the rest.
//! Reads that walk a range (query pages, history, audit trails) always go to the threads,
//! so that no async worker is held for longer than a point read.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use async_trait::async_trait;
use audit_domain::LoggedAuditEntry;
use crossbeam_channel::{Receiver, Sender};
use rusqlite::Connection;
use shared_kernel::{CollectionId, Error};
use storage_app::StorageReader;
use storage_app::idempotency::{IdempotencyRecord, IdempotencyScope};
use storage_app::queries::list_audit::AuditQuery;
use storage_domain::query::DocumentQuery;
use storage_domain::{Collection, CollectionName, Document, DocumentId, Revision, Version};
use tokio::sync::oneshot;

use super::collection_cache::CollectionCache;
use super::connection::open_reader;
use super::lock::DirLock;
use super::{history, idempotency, query, rows};

/// A read to run on one of the pool's connections; it answers through a channel it captured.
type Job = Box<dyn FnOnce(&Connection) + Send>;

/// Read-only connections to one database file, each owned by its own thread.
pub(super) struct ReaderPool {
    /// Taken (closed) on drop, which lets the threads finish the queue and stop.
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
    /// Idle connections for point reads on the calling thread (see the module's doc).
    at_hand: Mutex<Vec<Connection>>,
    /// Keeps the folder locked for as long as a reader's connection is open.
    _lock: Arc<DirLock>,
}

impl ReaderPool {
    /// Opens `threads` (at least one) read-only connections to `path`, which must exist, and
    /// starts a thread for each, and as many again for point reads on the calling thread.
    /// Every connection is opened here, so that a file readers cannot open fails at start
    /// rather than at the first request.
    ///
    /// # Errors
    /// As [`open_reader`]; `UNAVAILABLE` when a thread cannot be started.
    pub(super) fn new(path: &Path, threads: usize, lock: Arc<DirLock>) -> Result<Self, Error> {
        let open = |count: usize| {
            (0..count)
                .map(|_| open_reader(path))
                .collect::<Result<Vec<_>, Error>>()
        };
        let connections = open(threads.max(1))?;
        let at_hand = open(threads.max(1))?;
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        let mut pool = Self {
            jobs: Some(jobs),
            threads: Vec::with_capacity(connections.len()),
            at_hand: Mutex::new(at_hand),
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

    /// Runs `work`, a point read (bounded by one index lookup), on the calling thread when a
    /// connection is at hand, and on a reader thread otherwise.
    ///
    /// # Errors
    /// What `work` returns; as [`ReaderPool::read`] when it had to queue.
    pub(super) async fn read_point<T, F>(&self, work: F) -> Result<T, Error>
    where
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let Some(borrowed) = self.take_at_hand() else {
            return self.read(work).await;
        };
        // As on a reader thread, a panicking read answers its request with an error (and
        // the borrow gives its connection back while unwinding).
        catch_unwind(AssertUnwindSafe(|| work(borrowed.connection()))).unwrap_or_else(|_| {
            tracing::error!("a read panicked; its request was answered with an error");
            Err(Error::internal(
                "a read did not complete (its statement panicked)",
                "the point read panicked",
            ))
        })
    }

    /// An idle point-read connection, returned to the pool when the borrow is dropped.
    fn take_at_hand(&self) -> Option<Borrowed<'_>> {
        let connection = self
            .at_hand
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()?;
        Some(Borrowed {
            pool: self,
            connection: Some(connection),
        })
    }
}

/// A point-read connection taken from [`ReaderPool::at_hand`]; dropping it (also while a
/// panic unwinds) gives it back.
struct Borrowed<'pool> {
    pool: &'pool ReaderPool,
    /// Always `Some` until dropped.
    connection: Option<Connection>,
}

impl Borrowed<'_> {
    fn connection(&self) -> &Connection {
        self.connection
            .as_ref()
            .expect("a borrowed connection is held until the borrow is dropped")
    }
}

impl Drop for Borrowed<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.pool
                .at_hand
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(connection);
        }
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
}

impl SqliteReader {
    /// A reader over `pool`, with `collections` as its cache of committed collections.
    ///
    /// The cache stays exact because every transaction that changes a collection makes it
    /// stale after its outcome is known and before it is acknowledged (`transaction.rs`), and
    /// an entry is filled under the stamp read *before* its statement: an entry filled from a
    /// snapshot older than a change is stamped older than that change's invalidation.
    pub(super) fn new(pool: Arc<ReaderPool>, collections: Arc<CollectionCache>) -> Self {
        Self { pool, collections }
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
            .read_point(move |connection| rows::select_live_collection(connection, &key))
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
        let collection = collection.to_string();
        self.pool
            .read_point(move |connection| {
                rows::select_document(connection, &collection, id.as_str())
            })
            .await
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
        after_seq: Option<u64>,
        limit: u32,
    ) -> Result<Vec<LoggedAuditEntry>, Error> {
        let collection = collection.to_string();
        let after = after_seq.unwrap_or(0);
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
            .read_point(move |connection| idempotency::select_record(connection, scope))
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
        after_seq: Option<u64>,
        limit: u32,
    ) -> Result<Vec<LoggedAuditEntry>, Error> {
        let after = after_seq.unwrap_or(0);
        self.pool
            .read(move |connection| query::select_audit_entries(connection, &filter, after, limit))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::Durability;
    use crate::embedded::connection::open_writer;

    /// A pool of `threads` reader threads over a fresh file in `dir`.
    fn pool(dir: &Path, threads: usize) -> ReaderPool {
        let lock = Arc::new(DirLock::acquire(dir).unwrap_or_else(|e| panic!("{e}")));
        let path = dir.join("readers.db");
        let writer = open_writer(&path, Durability::Full).unwrap_or_else(|e| panic!("{e}"));
        writer
            .execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (7);")
            .unwrap_or_else(|e| panic!("{e}"));
        ReaderPool::new(&path, threads, lock).unwrap_or_else(|e| panic!("{e}"))
    }

    fn select_v(connection: &Connection) -> Result<i64, Error> {
        connection
            .query_row("SELECT v FROM t", [], |row| row.get(0))
            .map_err(|e| Error::internal("select", e))
    }

    fn idle_at_hand(pool: &ReaderPool) -> usize {
        pool.at_hand
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    #[tokio::test]
    async fn a_point_read_runs_on_a_connection_at_hand_and_gives_it_back() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let pool = pool(dir.path(), 2);
        assert_eq!(idle_at_hand(&pool), 2);
        let on_thread = std::thread::current().id();
        let ran_on = pool
            .read_point(move |connection| {
                select_v(connection).map(|v| (v, std::thread::current().id()))
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ran_on,
            (7, on_thread),
            "the read ran on the caller's thread"
        );
        assert_eq!(idle_at_hand(&pool), 2, "the connection came back");
    }

    #[tokio::test]
    async fn a_point_read_queues_for_the_threads_when_no_connection_is_at_hand() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let pool = pool(dir.path(), 1);
        let held = pool.take_at_hand();
        assert!(held.is_some());
        assert_eq!(idle_at_hand(&pool), 0);
        let on_thread = std::thread::current().id();
        let (v, ran_on) = pool
            .read_point(move |connection| {
                select_v(connection).map(|v| (v, std::thread::current().id()))
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v, 7);
        assert_ne!(ran_on, on_thread, "the read went to a reader thread");
        drop(held);
        assert_eq!(idle_at_hand(&pool), 1);
    }

    #[tokio::test]
    async fn a_panicking_point_read_still_gives_its_connection_back() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let pool = pool(dir.path(), 1);
        let outcome = pool
            .read_point(|_connection| -> Result<(), Error> { panic!("a read that panics") })
            .await;
        let error = outcome.err().map(|e| e.code());
        assert_eq!(error, Some(shared_kernel::ErrorCode::Internal));
        assert_eq!(idle_at_hand(&pool), 1);
    }
}
