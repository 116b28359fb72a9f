//! Reads of committed state, on read-only connections beside the writer.
//!
//! WAL lets any number of readers run while the writer writes, each seeing the last commit
//! before its statement began. Connections are pooled: a read takes an idle one (or opens a
//! new one when none is idle), runs on a blocking thread and puts it back; at most
//! `max_idle` stay open between reads.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use audit_domain::LoggedAuditEntry;
use rusqlite::Connection;
use shared_kernel::{CollectionId, Error};
use storage_app::StorageReader;
use storage_app::idempotency::{IdempotencyRecord, IdempotencyScope};
use storage_app::queries::list_audit::AuditQuery;
use storage_domain::query::DocumentQuery;
use storage_domain::{Collection, CollectionName, Document, DocumentId, Revision, Version};

use super::collection_cache::CollectionCache;
use super::connection::open_reader;
use super::error::task_failed;
use super::lock::DirLock;
use super::{history, idempotency, query, rows};

/// A pool of read-only connections to one database file.
pub(super) struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
    /// Keeps the folder locked for as long as readers can be opened.
    _lock: Arc<DirLock>,
}

impl ReaderPool {
    /// A pool over `path` (which must exist), opening one connection now so that a file
    /// readers cannot open fails at start rather than at the first request.
    ///
    /// # Errors
    /// As [`open_reader`].
    pub(super) fn new(path: PathBuf, max_idle: usize, lock: Arc<DirLock>) -> Result<Self, Error> {
        let first = open_reader(&path)?;
        Ok(Self {
            path,
            idle: Mutex::new(vec![first]),
            max_idle,
            _lock: lock,
        })
    }

    /// An idle connection, or a new one.
    fn take(&self) -> Result<Connection, Error> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(connection) => Ok(connection),
            None => open_reader(&self.path),
        }
    }

    /// Returns a connection to the pool, or closes it when enough are idle.
    fn give_back(&self, connection: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.max_idle {
            idle.push(connection);
        }
    }

    /// Runs `work` with a pooled connection on a blocking thread.
    pub(super) async fn read<T, F>(self: &Arc<Self>, work: F) -> Result<T, Error>
    where
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let connection = pool.take()?;
            let result = work(&connection);
            pool.give_back(connection);
            result
        })
        .await
        .map_err(task_failed)?
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
    #[tracing::instrument(name = "embedded.read.collection", skip_all)]
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

    #[tracing::instrument(name = "embedded.read.collections", skip_all)]
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

    #[tracing::instrument(name = "embedded.read.document", skip_all)]
    async fn document(
        &self,
        collection: CollectionId,
        id: DocumentId,
    ) -> Result<Option<Document>, Error> {
        let collection = collection.to_string();
        self.pool
            .read(move |connection| rows::select_document(connection, &collection, id.as_str()))
            .await
    }

    #[tracing::instrument(name = "embedded.read.document_at", skip_all)]
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

    #[tracing::instrument(name = "embedded.read.revisions", skip_all)]
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

    #[tracing::instrument(name = "embedded.read.audit_trail", skip_all)]
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

    #[tracing::instrument(name = "embedded.read.idempotency", skip_all)]
    async fn idempotency_record(
        &self,
        scope: IdempotencyScope,
    ) -> Result<Option<IdempotencyRecord>, Error> {
        self.pool
            .read(move |connection| idempotency::select_record(connection, scope))
            .await
    }

    #[tracing::instrument(name = "embedded.read.query_documents", skip_all)]
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

    #[tracing::instrument(name = "embedded.read.audit_entries", skip_all)]
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
