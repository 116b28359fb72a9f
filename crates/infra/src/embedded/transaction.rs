//! Write transactions: the [`UnitOfWork`] port over the store's one writer.
//!
//! [`SqliteUnitOfWork::begin`] waits for the writer (see `writer.rs`) and hands out a
//! [`SqliteTransaction`], which is one [`Session`]: its own savepoint inside a group
//! transaction. Every statement runs on the writer thread, never on an async worker.
//!
//! Writes whose only answer is success or failure (saving a document and its revision,
//! appending the audit entry, the outbox events, the idempotency record) are *deferred*: kept
//! in the transaction and run on the writer at the start of its next hand-off — a read, or the
//! commit. While a write holds the writer, every hand-off between its task and the writer
//! thread is on every other write's path; a document write thus takes two (read the document,
//! then write everything and commit) instead of five. The price is when a failure shows: a
//! deferred statement's error (a `CONFLICT`, a full disk) is answered by the call that ran it,
//! at the latest `commit()`, and the whole transaction is rolled back as before. Nothing is
//! ever acknowledged that was not written.
//!
//! `commit()` returns only once the group holding the write has committed durably, so an
//! answer the application sends after it never names a change that could still be lost.
//! Dropping the transaction without a commit, at any point (an error, a cancelled request),
//! rolls back its rows and only its rows; the writer does it, so nothing is left half done.

use async_trait::async_trait;
use audit_domain::AuditLogger;
use rusqlite::Connection;
use shared_kernel::Error;
use storage_app::idempotency::IdempotencyStore;
use storage_app::{EventOutbox, Transaction, UnitOfWork};
use storage_domain::repository::{CollectionRepository, DocumentRepository};

use std::sync::Arc;

use super::collection_cache::{CollectionCache, Stamp};
use super::writer::{Session, Statements, Writer};

/// Opens write transactions on the writer.
pub(super) struct SqliteUnitOfWork {
    writer: Writer,
    collections: Arc<CollectionCache>,
    /// The readers' cache of committed collections, which a transaction that changed a
    /// collection makes stale once its outcome is known (before anyone is told of it).
    committed_collections: Arc<CollectionCache>,
}

impl SqliteUnitOfWork {
    /// A unit of work over `writer` (which keeps the folder locked) that keeps
    /// `committed_collections`, the readers' cache, exact.
    pub(super) fn new(writer: Writer, committed_collections: Arc<CollectionCache>) -> Self {
        Self {
            writer,
            collections: Arc::new(CollectionCache::default()),
            committed_collections,
        }
    }
}

#[async_trait]
impl UnitOfWork for SqliteUnitOfWork {
    #[tracing::instrument(name = "embedded.begin", skip_all)]
    async fn begin(&self) -> Result<Box<dyn Transaction>, Error> {
        let session = self.writer.begin().await?;
        Ok(Box::new(SqliteTransaction {
            session,
            collections: CollectionsSeen {
                cache: Arc::clone(&self.collections),
                committed: Arc::clone(&self.committed_collections),
                changed: false,
            },
            deferred: Vec::new(),
        }))
    }
}

/// One open write transaction.
pub(super) struct SqliteTransaction {
    session: Session,
    collections: CollectionsSeen,
    /// Deferred writes, in call order, run first in the next hand-off to the writer.
    deferred: Vec<Statements>,
}

/// This transaction's use of the collection cache: once it changed a collection, it neither
/// reads nor fills the cache, and its end (commit or rollback) makes every entry stale, in
/// the writer's cache and in the readers'.
struct CollectionsSeen {
    cache: Arc<CollectionCache>,
    committed: Arc<CollectionCache>,
    changed: bool,
}

impl Drop for CollectionsSeen {
    fn drop(&mut self) {
        if self.changed {
            self.cache.invalidate();
            self.committed.invalidate();
        }
    }
}

impl SqliteTransaction {
    /// The collection cache, unless this transaction changed a collection.
    pub(super) fn cached_collections(&self) -> Option<(&CollectionCache, Stamp)> {
        (!self.collections.changed).then(|| {
            let cache = self.collections.cache.as_ref();
            (cache, cache.stamp(self.session.lost_groups()))
        })
    }

    /// Records that this transaction is about to change a collection row.
    pub(super) fn changing_collections(&mut self) {
        self.collections.changed = true;
        self.collections.cache.invalidate();
    }

    /// Runs `work` on the writer thread, inside this transaction, after the deferred writes
    /// (whose error, if any, is returned instead).
    pub(super) async fn run<T, F>(&mut self, work: F) -> Result<T, Error>
    where
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        match self.take_deferred() {
            None => self.session.run(work).await,
            Some(deferred) => {
                self.session
                    .run(move |connection| {
                        deferred(connection)?;
                        work(connection)
                    })
                    .await
            }
        }
    }

    /// Keeps `work`, a write whose only answer is success or failure, for the next hand-off
    /// to the writer (see the module documentation).
    pub(super) fn defer<F>(&mut self, work: F)
    where
        F: FnOnce(&Connection) -> Result<(), Error> + Send + 'static,
    {
        self.deferred.push(Box::new(work));
    }

    /// The deferred writes as one batch that stops at the first failure.
    fn take_deferred(&mut self) -> Option<Statements> {
        if self.deferred.is_empty() {
            return None;
        }
        let deferred = std::mem::take(&mut self.deferred);
        Some(Box::new(move |connection: &Connection| {
            deferred.into_iter().try_for_each(|work| work(connection))
        }))
    }
}

#[async_trait]
impl Transaction for SqliteTransaction {
    fn collections(&mut self) -> &mut dyn CollectionRepository {
        self
    }

    fn documents(&mut self) -> &mut dyn DocumentRepository {
        self
    }

    fn audit(&mut self) -> &mut dyn AuditLogger {
        self
    }

    fn outbox(&mut self) -> &mut dyn EventOutbox {
        self
    }

    fn idempotency(&mut self) -> &mut dyn IdempotencyStore {
        self
    }

    #[tracing::instrument(name = "embedded.commit", skip_all)]
    async fn commit(mut self: Box<Self>) -> Result<(), Error> {
        let last = self.take_deferred();
        let Self {
            session,
            collections,
            deferred: _,
        } = *self;
        let committed = session.commit_after(last).await;
        // Only now, once the group's outcome is known, may the cache be refilled.
        drop(collections);
        committed
    }
}
