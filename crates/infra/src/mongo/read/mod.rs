//! Reads of committed state: the [`StorageReader`] port on MongoDB (majority read concern,
//! so nothing read can be rolled back by a failover).

mod audit_list;
mod query;

use std::sync::Arc;

use async_trait::async_trait;
use audit_domain::LoggedAuditEntry;
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, doc};
use shared_kernel::{AuditId, CollectionId, Deadline, Error, Position, Sha256Digest, Timestamp};
use storage_app::StorageReader;
use storage_app::idempotency::{IdempotencyKey, IdempotencyRecord, IdempotencyScope, KeptAnswer};
use storage_app::ports::AuditQuery;
use storage_domain::query::DocumentQuery;
use storage_domain::{Collection, CollectionName, Document, DocumentId, Revision, Version};

use super::Shared;
use super::error::{corrupt, storage_error};
use super::layout::{
    AUDIT_ENTRIES, COLLECTIONS, DOCUMENTS, IDEMPOTENCY_KEYS, REVISIONS, document_key, revision_key,
};
use super::rows::{
    StoredCollection, binary_field, collection_from_bson, document_from_bson, i64_field,
    logged_entry_from_bson, revision_from_bson, str_field, to_i64,
};
use super::write::scope_key;

/// The store's reads.
pub(crate) struct MongoReader {
    shared: Arc<Shared>,
}

impl MongoReader {
    /// A reader of `shared`'s database.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The stored collection named `name` that is not deleted, with its change state.
    pub(crate) async fn stored_collection(
        &self,
        name: &CollectionName,
    ) -> Result<Option<StoredCollection>, Error> {
        self.shared
            .collection(COLLECTIONS)
            .find_one(doc! { "name": name.as_str(), "deleted_at": Bson::Null })
            .await
            .map_err(|e| storage_error("reading a collection", e))?
            .map(|stored| collection_from_bson(&stored))
            .transpose()
    }

    /// The stored collection with this id, deleted or not.
    pub(crate) async fn collection_by_id(
        &self,
        id: CollectionId,
    ) -> Result<Option<StoredCollection>, Error> {
        self.shared
            .collection(COLLECTIONS)
            .find_one(doc! { "_id": id.to_string() })
            .await
            .map_err(|e| storage_error("reading a collection", e))?
            .map(|stored| collection_from_bson(&stored))
            .transpose()
    }

    /// The `created_at` of the life `version` of a document belongs to: the time of its
    /// latest create at or before that version.
    async fn life_started(
        &self,
        collection: &str,
        id: &str,
        version: i64,
    ) -> Result<Option<i64>, Error> {
        let start = self
            .shared
            .collection(REVISIONS)
            .find_one(doc! {
                "_id.c": collection,
                "_id.d": id,
                "_id.v": { "$lte": version },
                "operation": "document.create",
            })
            .sort(doc! { "_id.v": -1 })
            .projection(doc! { "at": 1 })
            .await
            .map_err(|e| storage_error("reading a document's history", e))?;
        start
            .map(|stored| i64_field(&stored, "at", "revision time"))
            .transpose()
    }
}

#[async_trait]
impl StorageReader for MongoReader {
    async fn collection(&self, name: &CollectionName) -> Result<Option<Collection>, Error> {
        Ok(self.stored_collection(name).await?.map(|s| s.collection))
    }

    async fn collections(
        &self,
        after: Option<CollectionName>,
        limit: u32,
    ) -> Result<Vec<Collection>, Error> {
        let after = after.as_ref().map_or("", CollectionName::as_str);
        let stored: Vec<_> = self
            .shared
            .collection(COLLECTIONS)
            .find(doc! { "deleted_at": Bson::Null, "name": { "$gt": after } })
            .sort(doc! { "name": 1 })
            .limit(i64::from(limit))
            .await
            .map_err(|e| storage_error("listing collections", e))?
            .try_collect()
            .await
            .map_err(|e| storage_error("listing collections", e))?;
        stored
            .iter()
            .map(|s| collection_from_bson(s).map(|s| s.collection))
            .collect()
    }

    async fn document(
        &self,
        collection: CollectionId,
        id: DocumentId,
    ) -> Result<Option<Document>, Error> {
        self.shared
            .collection(DOCUMENTS)
            .find_one(doc! { "_id": document_key(&collection.to_string(), id.as_str()) })
            .await
            .map_err(|e| storage_error("reading a document", e))?
            .map(|stored| document_from_bson(&stored))
            .transpose()
    }

    async fn document_at(
        &self,
        collection: CollectionId,
        id: DocumentId,
        version: Version,
    ) -> Result<Option<Document>, Error> {
        let collection_text = collection.to_string();
        let number = to_i64(version.get(), "document version")?;
        let Some(stored) = self
            .shared
            .collection(REVISIONS)
            .find_one(doc! { "_id": revision_key(&collection_text, id.as_str(), number) })
            .await
            .map_err(|e| storage_error("reading a revision", e))?
        else {
            return Ok(None);
        };
        let revision = revision_from_bson(&stored, collection, &id)?;
        let created_at = self
            .life_started(&collection_text, id.as_str(), number)
            .await?
            .map_or(revision.at, Timestamp::from_millis);
        Ok(Some(Document::restore(
            storage_domain::document::DocumentSnapshot {
                collection_id: collection,
                id,
                version,
                data: revision.data,
                created_at,
                updated_at: revision.at,
                audit_id: revision.audit_id,
            },
        )))
    }

    async fn revisions(
        &self,
        collection: CollectionId,
        id: DocumentId,
        after: Option<Version>,
        limit: u32,
    ) -> Result<Vec<Revision>, Error> {
        let after = to_i64(after.map_or(0, Version::get), "revision version")?;
        let stored: Vec<_> = self
            .shared
            .collection(REVISIONS)
            .find(doc! {
                "_id.c": collection.to_string(),
                "_id.d": id.as_str(),
                "_id.v": { "$gt": after },
            })
            .sort(doc! { "_id.v": 1 })
            .limit(i64::from(limit))
            .await
            .map_err(|e| storage_error("listing revisions", e))?
            .try_collect()
            .await
            .map_err(|e| storage_error("listing revisions", e))?;
        stored
            .iter()
            .map(|s| revision_from_bson(s, collection, &id))
            .collect()
    }

    async fn idempotency_record(
        &self,
        scope: IdempotencyScope,
    ) -> Result<Option<IdempotencyRecord>, Error> {
        let Some(stored) = self
            .shared
            .collection(IDEMPOTENCY_KEYS)
            .find_one(doc! { "_id": scope_key(&scope) })
            .await
            .map_err(|e| storage_error("reading an idempotency key", e))?
        else {
            return Ok(None);
        };
        let answer = match stored.get("outcome") {
            None | Some(Bson::Null) => KeptAnswer::RunAgain,
            Some(_) => KeptAnswer::Replay(crate::idempotency_format::decode(
                str_field(&stored, "outcome", "idempotency outcome")?,
                binary_field(&stored, "body", "idempotency body")?,
            )?),
        };
        Ok(Some(IdempotencyRecord {
            key: IdempotencyKey {
                scope,
                request_hash: Sha256Digest::parse_hex(str_field(
                    &stored,
                    "request_hash",
                    "request hash",
                )?)
                .map_err(|e| corrupt("request hash", e))?,
            },
            answer,
            created_at: Timestamp::from_millis(i64_field(&stored, "created_at", "key time")?),
        }))
    }

    async fn document_audit_trail(
        &self,
        collection: CollectionId,
        id: DocumentId,
        after: Option<Position>,
        limit: u32,
    ) -> Result<Vec<LoggedAuditEntry>, Error> {
        // A document's entries in version order, one per version: the version is the
        // position.
        let after = match after {
            None => 0,
            Some(position) => position.numbers(1)?.first().copied().unwrap_or(0),
        };
        let stored: Vec<_> = self
            .shared
            .collection(AUDIT_ENTRIES)
            .find(doc! {
                "collection_id": collection.to_string(),
                "document_id": id.as_str(),
                "version": { "$gt": to_i64(after, "audit position")? },
            })
            .sort(doc! { "version": 1 })
            .limit(i64::from(limit))
            .await
            .map_err(|e| storage_error("listing audit entries", e))?
            .try_collect()
            .await
            .map_err(|e| storage_error("listing audit entries", e))?;
        stored
            .iter()
            .map(|s| {
                let version = i64_field(s, "version", "audit entry version")?;
                let version =
                    u64::try_from(version).map_err(|e| corrupt("audit entry version", e))?;
                logged_entry_from_bson(s, Position::from_numbers(&[version]))
            })
            .collect()
    }

    async fn query_documents(
        &self,
        collection: CollectionId,
        query: DocumentQuery,
        deadline: Option<Deadline>,
    ) -> Result<Vec<Document>, Error> {
        query::query_documents(&self.shared, collection, query, deadline).await
    }

    async fn audit_entries(
        &self,
        filter: AuditQuery,
        after: Option<Position>,
        limit: u32,
        deadline: Option<Deadline>,
    ) -> Result<Vec<LoggedAuditEntry>, Error> {
        audit_list::audit_entries(&self.shared, &filter, after.as_ref(), limit, deadline).await
    }

    async fn audit_entry_stored(&self, audit_id: AuditId) -> Result<bool, Error> {
        // A commit whose answer was lost may still land until its lifetime is over (its
        // commit may take half of it: `write/commit.rs`); only then is a `false` final.
        tokio::time::sleep(self.shared.options.transaction_lifetime).await;
        let found = self
            .shared
            .collection(AUDIT_ENTRIES)
            .find_one(doc! { "_id": audit_id.to_string() })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(|e| storage_error("looking an audit entry up", e))?;
        Ok(found.is_some())
    }
}
