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
//! # Guards
//!
//! A first attempt ([`Attempt::First`]) does not take the writer at `begin`: its reads go to
//! the readers (committed state), and what the command relies on it states as a [`Guard`],
//! kept as an [`Assumption`]. The assumptions are checked on the writer, in the write's group
//! transaction and before its statements, so the check and the writes are one atomic step; a
//! failed check at commit has written nothing and answers [`CommitError::Stale`], and the
//! application runs its command again ([`Attempt::Again`], which takes the writer at `begin`,
//! so its reads cannot go stale). A write that only reads and then writes is thus served by the writer in
//! a single hand-off ([`Writer::write_whole`]) and holds it only while its statements run,
//! instead of from `begin` to `commit` while its task works on an async worker. A transaction
//! that needs more than reads of collections and documents (changing a collection, counting,
//! purging) takes the writer at that point; its assumptions are then checked first, and if
//! one fails the transaction goes on (every later read is exact, under the writer) but its
//! commit is refused as `Stale` and rolls back.
//!
//! `commit()` returns only once the group holding the write has committed durably, so an
//! answer the application sends after it never names a change that could still be lost.
//! Dropping the transaction without a commit, at any point (an error, a cancelled request),
//! rolls back its rows and only its rows; the writer does it, so nothing is left half done.

use async_trait::async_trait;
use audit_domain::AuditLogger;
use rusqlite::{Connection, OptionalExtension, params};
use shared_kernel::{CollectionId, Error};
use storage_app::idempotency::IdempotencyStore;
use storage_app::{
    Attempt, CommitError, EventOutbox, Guard, StorageReader, Transaction, UnitOfWork,
};
use storage_domain::repository::{CollectionRepository, DocumentRepository};
use storage_domain::{Collection, CollectionName, Document, DocumentId};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::writer::{Session, Statements, Writer};
use crate::embedded::error::storage_error;
use crate::embedded::read::collection_cache::{CollectionCache, Stamp};
use crate::embedded::read::document_cache::DocumentCache;
use crate::embedded::read::reader::SqliteReader;
use crate::embedded::rows::to_sql_integer;

/// Opens write transactions on the writer.
pub(crate) struct SqliteUnitOfWork {
    writer: Writer,
    /// Where optimistic transactions read.
    reader: Arc<SqliteReader>,
    collections: Arc<CollectionCache>,
    /// The readers' cache of committed collections, which a transaction that changed a
    /// collection makes stale once its outcome is known (before anyone is told of it).
    committed_collections: Arc<CollectionCache>,
    /// The readers' cache of committed documents, which every document write passes to the
    /// writer thread (see `read/document_cache.rs`).
    documents: Arc<DocumentCache>,
}

impl SqliteUnitOfWork {
    /// A unit of work over `writer` (which keeps the folder locked) that keeps
    /// `committed_collections`, the readers' cache, exact.
    pub(crate) fn new(
        writer: Writer,
        reader: Arc<SqliteReader>,
        committed_collections: Arc<CollectionCache>,
        documents: Arc<DocumentCache>,
    ) -> Self {
        Self {
            writer,
            reader,
            collections: Arc::new(CollectionCache::default()),
            committed_collections,
            documents,
        }
    }
}

#[async_trait]
impl UnitOfWork for SqliteUnitOfWork {
    #[tracing::instrument(level = "debug", name = "embedded.begin", skip_all)]
    async fn begin(&self, attempt: Attempt) -> Result<Box<dyn Transaction>, Error> {
        let session = match attempt {
            Attempt::Again => Some(self.writer.begin().await?),
            Attempt::First => None,
        };
        Ok(Box::new(SqliteTransaction {
            writer: self.writer.clone(),
            reader: Arc::clone(&self.reader),
            session,
            assumed: Vec::new(),
            stale: Arc::new(AtomicBool::new(false)),
            collections: CollectionsSeen {
                cache: Arc::clone(&self.collections),
                committed: Arc::clone(&self.committed_collections),
                changed: false,
            },
            deferred: Vec::new(),
            documents: Arc::clone(&self.documents),
        }))
    }
}

/// One open write transaction.
pub(crate) struct SqliteTransaction {
    writer: Writer,
    reader: Arc<SqliteReader>,
    /// The writer, once this transaction holds it (from `begin` when exclusive).
    session: Option<Session>,
    /// The guards not yet checked on the writer.
    assumed: Vec<Assumption>,
    /// Set on the writer thread when a guard was found not to hold.
    stale: Arc<AtomicBool>,
    collections: CollectionsSeen,
    /// Deferred writes, in call order, run first in the next hand-off to the writer.
    deferred: Vec<Statements>,
    /// The readers' cache of committed documents.
    documents: Arc<DocumentCache>,
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
    pub(crate) fn cached_collections(&self) -> Option<(&CollectionCache, Stamp)> {
        let session = self.session.as_ref()?;
        (!self.collections.changed).then(|| {
            let cache = self.collections.cache.as_ref();
            (cache, cache.stamp(session.lost_groups()))
        })
    }

    /// Whether this transaction reads without holding the writer (see the module
    /// documentation): it has not taken the writer yet.
    pub(crate) fn is_optimistic(&self) -> bool {
        self.session.is_none()
    }

    /// The live collection `name` as committed (what the command relies on, it guards).
    pub(crate) async fn read_collection_optimistically(
        &mut self,
        name: &CollectionName,
    ) -> Result<Option<Collection>, Error> {
        self.reader.collection(name).await
    }

    /// The document `id` (live or tombstone) as committed (what the command relies on, it
    /// guards).
    pub(crate) async fn read_document_optimistically(
        &mut self,
        collection: CollectionId,
        id: &DocumentId,
    ) -> Result<Option<Document>, Error> {
        self.reader.document(collection, id.clone()).await
    }

    /// The readers' cache of committed documents, which a statement that changes a document
    /// must tell first, on the writer thread.
    pub(crate) fn document_cache(&self) -> Arc<DocumentCache> {
        Arc::clone(&self.documents)
    }

    /// Records that this transaction is about to change a collection row.
    pub(crate) fn changing_collections(&mut self) {
        self.collections.changed = true;
        self.collections.cache.invalidate();
    }

    /// Runs `work` on the writer thread, inside this transaction, after the deferred writes
    /// (whose error, if any, is returned instead).
    pub(crate) async fn run<T, F>(&mut self, work: F) -> Result<T, Error>
    where
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let session = match self.session.take() {
            Some(session) => session,
            None => self.writer.begin().await?,
        };
        let deferred = self.take_deferred(Stale::GoOn);
        let session = &*self.session.insert(session);
        match deferred {
            None => session.run(work).await,
            Some(deferred) => {
                session
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
    pub(crate) fn defer<F>(&mut self, work: F)
    where
        F: Fn(&Connection) -> Result<(), Error> + Send + 'static,
    {
        self.deferred.push(Box::new(work));
    }

    /// The check of the assumptions, then the deferred writes, as one batch that stops at
    /// the first failure. A guard that does not hold marks the transaction stale; under
    /// [`Stale::Refuse`] (the commit) it also stops the batch, so nothing is written.
    fn take_deferred(&mut self, on_stale: Stale) -> Option<Statements> {
        if self.deferred.is_empty() && self.assumed.is_empty() {
            return None;
        }
        let assumed = std::mem::take(&mut self.assumed);
        let deferred = std::mem::take(&mut self.deferred);
        let stale = Arc::clone(&self.stale);
        Some(Box::new(move |connection: &Connection| {
            for assumption in &assumed {
                if !assumption.holds(connection)? {
                    stale.store(true, Ordering::Release);
                }
            }
            if on_stale == Stale::Refuse && stale.load(Ordering::Acquire) {
                return Err(Error::conflict(CommitError::Stale.to_string()));
            }
            deferred.iter().try_for_each(|work| work(connection))
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

    fn require(&mut self, guard: Guard) {
        self.assumed.push(Assumption::from(guard));
    }

    #[tracing::instrument(level = "debug", name = "embedded.commit", skip_all)]
    async fn commit(mut self: Box<Self>) -> Result<(), CommitError> {
        let last = self.take_deferred(Stale::Refuse);
        let Self {
            writer,
            session,
            collections,
            stale,
            ..
        } = *self;
        let committed = if stale.load(Ordering::Acquire) {
            // A guard broke when the writer was taken: dropping the session rolls back.
            drop(session);
            Err(Error::conflict(CommitError::Stale.to_string()))
        } else {
            match session {
                Some(session) => session.commit_after(last).await,
                None => match last {
                    Some(statements) => writer.write_whole(statements).await,
                    // Nothing read, nothing written: there is nothing to commit.
                    None => Ok(()),
                },
            }
        };
        // Only now, once the group's outcome is known, may the cache be refilled.
        drop(collections);
        // The writer knows every outcome it answers: never `OutcomeUnknown`, and a failed
        // commit (a full disk, a failed fsync) is not worth repeating at once.
        committed.map_err(|error| {
            if stale.load(Ordering::Acquire) {
                CommitError::Stale
            } else {
                CommitError::Failed(error)
            }
        })
    }
}

/// What a guard that does not hold does to the batch that checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stale {
    /// Mark the transaction stale and go on (a hand-off before the commit: the commit will
    /// be refused).
    GoOn,
    /// Mark it stale and write nothing (the commit).
    Refuse,
}

/// A [`Guard`] as the writer checks it.
enum Assumption {
    /// The collection `id` is live at `version`.
    LiveCollection { id: String, version: u64 },
    /// The document row is at `version`, or there is none.
    Document {
        collection_id: String,
        id: String,
        version: Option<u64>,
    },
}

impl From<Guard> for Assumption {
    fn from(guard: Guard) -> Self {
        match guard {
            Guard::CollectionLive {
                collection,
                version,
            } => Self::LiveCollection {
                id: collection.to_string(),
                version,
            },
            Guard::DocumentAt {
                collection,
                id,
                version,
            } => Self::Document {
                collection_id: collection.to_string(),
                id: id.as_str().to_owned(),
                version: version.map(|version| version.get()),
            },
        }
    }
}

impl Assumption {
    /// Whether the guard holds on the writer's connection.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the check cannot be read.
    fn holds(&self, connection: &Connection) -> Result<bool, Error> {
        Ok(match self {
            Self::LiveCollection { id, version } => {
                let current = select_integer(
                    connection,
                    "SELECT version FROM collections WHERE id = ?1 AND deleted_at IS NULL",
                    params![id],
                )?;
                current == Some(to_sql_integer(*version, "collection version")?)
            }
            Self::Document {
                collection_id,
                id,
                version,
            } => {
                let current = select_integer(
                    connection,
                    "SELECT version FROM documents WHERE collection_id = ?1 AND id = ?2",
                    params![collection_id, id],
                )?;
                let version = version
                    .map(|version| to_sql_integer(version, "document version"))
                    .transpose()?;
                current == version
            }
        })
    }
}

/// The integer in the first column of the one row `sql` selects, if any.
fn select_integer(
    connection: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Option<i64>, Error> {
    connection
        .prepare_cached(sql)
        .and_then(|mut statement| statement.query_row(params, |row| row.get(0)).optional())
        .map_err(|e| storage_error("checking what an optimistic write read", e))
}
