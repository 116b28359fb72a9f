//! Reads of committed state, on read-only connections beside the writer.
//!
//! WAL lets any number of readers run while the writer writes, each seeing the last commit
//! before its statement began. The reads run on a few dedicated threads, each owning one
//! read-only connection.
//!
//! [`ReaderPool`] (`reader_pool.rs`) owns the threads and their two lanes: point reads here go
//! through [`ReaderPool::read`], query pages and the store-wide audit listing, whose cost the
//! client chooses, through [`ReaderPool::scan`] with the request's deadline, so they never take
//! every thread and stop when their request is over.

use std::sync::Arc;

use async_trait::async_trait;
use audit_domain::LoggedAuditEntry;
use shared_kernel::{AuditId, CollectionId, Deadline, Error, Position};
use storage_app::StorageReader;
use storage_app::idempotency::{IdempotencyRecord, IdempotencyScope};
use storage_app::ports::AuditQuery;
use storage_domain::query::DocumentQuery;
use storage_domain::{Collection, CollectionName, Document, DocumentId, Revision, Version};

use super::collection_cache::CollectionCache;
use super::document_cache::{DocumentCache, DocumentKey};
use super::reader_pool::ReaderPool;
use super::{audit_list, history, idempotency, query};
use crate::embedded::rows;

/// The [`StorageReader`] of the embedded store.
pub(crate) struct SqliteReader {
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
    /// stale after its outcome is known and before it is acknowledged (`write/transaction.rs`), and
    /// an entry is filled under the stamp read *before* its statement: an entry filled from a
    /// snapshot older than a change is stamped older than that change's invalidation.
    /// `documents` stays exact by the same principle (see `document_cache.rs`).
    pub(crate) fn new(
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
        after: Option<Position>,
        limit: u32,
    ) -> Result<Vec<LoggedAuditEntry>, Error> {
        let collection = collection.to_string();
        self.pool
            .read(move |connection| {
                history::select_audit_trail(
                    connection,
                    &collection,
                    id.as_str(),
                    after.as_ref(),
                    limit,
                )
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

    #[tracing::instrument(level = "debug", name = "embedded.read.audit_entry_stored", skip_all)]
    async fn audit_entry_stored(&self, audit_id: AuditId) -> Result<bool, Error> {
        // The writer answers every commit, so a committed entry is visible here once its
        // commit was answered: a `false` is final.
        let id = audit_id.to_string();
        self.pool
            .read(move |connection| {
                connection
                    .prepare_cached("SELECT 1 FROM audit_entries WHERE id = ?1")
                    .and_then(|mut statement| statement.exists(rusqlite::params![id]))
                    .map_err(|e| {
                        crate::embedded::error::storage_error("looking an audit entry up", e)
                    })
            })
            .await
    }

    #[tracing::instrument(level = "debug", name = "embedded.read.query_documents", skip_all)]
    async fn query_documents(
        &self,
        collection: CollectionId,
        query: DocumentQuery,
        deadline: Option<Deadline>,
    ) -> Result<Vec<Document>, Error> {
        self.pool
            .scan(deadline, move |connection, stop| {
                query::select_documents(
                    connection,
                    collection,
                    &query,
                    query::Finish::InMemory,
                    stop,
                )
            })
            .await
    }

    #[tracing::instrument(level = "debug", name = "embedded.read.audit_entries", skip_all)]
    async fn audit_entries(
        &self,
        filter: AuditQuery,
        after: Option<Position>,
        limit: u32,
        deadline: Option<Deadline>,
    ) -> Result<Vec<LoggedAuditEntry>, Error> {
        self.pool
            .scan(deadline, move |connection, _| {
                audit_list::select_audit_entries(connection, &filter, after.as_ref(), limit)
            })
            .await
    }
}
