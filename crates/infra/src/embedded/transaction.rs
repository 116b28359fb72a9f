//! Write transactions: the [`UnitOfWork`] port over the store's one writer.
//!
//! [`SqliteUnitOfWork::begin`] waits for the writer (see `writer.rs`) and hands out a
//! [`SqliteTransaction`], which is one [`Session`]: its own savepoint inside a group
//! transaction. Every statement runs on the writer thread, never on an async worker.
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
use super::writer::{Session, Writer};

/// Opens write transactions on the writer.
pub(super) struct SqliteUnitOfWork {
    writer: Writer,
    collections: Arc<CollectionCache>,
}

impl SqliteUnitOfWork {
    /// A unit of work over `writer` (which keeps the folder locked).
    pub(super) fn new(writer: Writer) -> Self {
        Self {
            writer,
            collections: Arc::new(CollectionCache::default()),
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
                changed: false,
            },
        }))
    }
}

/// One open write transaction.
pub(super) struct SqliteTransaction {
    session: Session,
    collections: CollectionsSeen,
}

/// This transaction's use of the collection cache: once it changed a collection, it neither
/// reads nor fills the cache, and its end (commit or rollback) makes every entry stale.
struct CollectionsSeen {
    cache: Arc<CollectionCache>,
    changed: bool,
}

impl Drop for CollectionsSeen {
    fn drop(&mut self) {
        if self.changed {
            self.cache.invalidate();
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

    /// Runs `work` on the writer thread, inside this transaction.
    pub(super) async fn run<T, F>(&mut self, work: F) -> Result<T, Error>
    where
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        self.session.run(work).await
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
    async fn commit(self: Box<Self>) -> Result<(), Error> {
        let Self {
            session,
            collections,
        } = *self;
        let committed = session.commit().await;
        // Only now, once the group's outcome is known, may the cache be refilled.
        drop(collections);
        committed
    }
}
