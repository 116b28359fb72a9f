//! The transaction-bound ports on a [`MongoTransaction`]: reads go to committed state (what
//! a command relies on it guards), writes are kept as [`Op`]s for the commit.

use async_trait::async_trait;
use audit_domain::{AuditLogger, AuditRecord};
use mongodb::bson::{Bson, doc};
use shared_kernel::{CollectionId, Error, Timestamp};
use storage_app::idempotency::{IdempotencyKey, IdempotencyScope, IdempotencyStore, KeptAnswer};
use storage_app::{EventOutbox, OutboxEvent, StorageReader};
use storage_domain::repository::{CollectionRepository, DocumentRepository};
use storage_domain::{Collection, CollectionName, Document, DocumentId, Revision};

use super::super::error::storage_error;
use super::super::layout::{DOCUMENTS, IDEMPOTENCY_KEYS, document_key};
use super::super::rows::{
    audit_to_bson, binary, collection_to_bson, document_to_bson, revision_to_bson, to_i64,
};
use super::ops::{CollectionChange, Op, PlannedChange};
use super::phases;
use super::transaction::MongoTransaction;
use crate::idempotency_format;

impl MongoTransaction {
    /// Refuses writes while the store's commits are made to fail (tests), so a write port's
    /// "when storage fails" answers at the call as well as at the commit.
    fn check_storage(&self) -> Result<(), Error> {
        if self.shared.options.faults.commits_fail() {
            let error = Error::unavailable(
                "MongoDB refuses writes (injected: the store's commit fault)",
                std::io::Error::other("injected commit failure"),
            );
            self.shared
                .set_failure(Some(format!("MongoDB: {}", error.detail())));
            return Err(error);
        }
        Ok(())
    }
}

#[async_trait]
impl CollectionRepository for MongoTransaction {
    async fn find_by_name(&mut self, name: &CollectionName) -> Result<Option<Collection>, Error> {
        phases::live_collection(&self.shared, &self.reader, name).await
    }

    async fn insert(&mut self, collection: &Collection) -> Result<(), Error> {
        self.ops.push(Op::InsertCollection {
            id: collection.id().to_string(),
            name: collection.name().as_str().to_owned(),
            stored: collection_to_bson(collection)?,
        });
        Ok(())
    }

    async fn update(&mut self, collection: &Collection) -> Result<(), Error> {
        let name = collection.name().as_str().to_owned();
        let Some(stored) = self.reader.collection_by_id(collection.id()).await? else {
            return Err(Error::not_found(format!("collection `{name}` not found")));
        };
        let change = if collection.is_deleted() {
            CollectionChange::Delete
        } else if collection.schema() != stored.collection.schema() {
            CollectionChange::Schema
        } else {
            CollectionChange::Other
        };
        if change != CollectionChange::Other {
            self.collection_change = Some(PlannedChange {
                id: collection.id().to_string(),
                change,
                read_version: stored.collection.version(),
            });
        }
        self.ops.push(Op::UpdateCollection {
            id: collection.id().to_string(),
            name,
            change,
            stored: collection_to_bson(collection)?,
        });
        Ok(())
    }

    async fn count_live_documents(&mut self, id: CollectionId) -> Result<u64, Error> {
        let count = self
            .shared
            .collection(DOCUMENTS)
            .count_documents(doc! { "c": id.to_string(), "live": true })
            .await
            .map_err(|e| storage_error("counting documents", e))?;
        Ok(count)
    }
}

#[async_trait]
impl DocumentRepository for MongoTransaction {
    async fn find(
        &mut self,
        collection: CollectionId,
        id: &DocumentId,
    ) -> Result<Option<Document>, Error> {
        self.reader.document(collection, id.clone()).await
    }

    async fn save(&mut self, document: &Document, revision: &Revision) -> Result<(), Error> {
        let collection = document.collection_id().to_string();
        self.ops.push(Op::SaveDocument {
            key: document_key(&collection, document.id().as_str()),
            id: document.id().as_str().to_owned(),
            version: to_i64(document.version().get(), "document version")?,
            stored: document_to_bson(document)?,
            revision: revision_to_bson(revision)?,
        });
        Ok(())
    }
}

#[async_trait]
impl AuditLogger for MongoTransaction {
    async fn append(&mut self, record: AuditRecord) -> Result<(), Error> {
        self.check_storage()?;
        if !self.audit_ids.insert(record.entry.id) {
            return Err(Error::conflict(format!(
                "audit entry `{}` already exists",
                record.entry.id
            )));
        }
        // The order is the commit's (`ops.rs`, `order_for`).
        self.ops.push(Op::AppendAudit {
            stored: audit_to_bson(&record, 0)?,
        });
        Ok(())
    }
}

#[async_trait]
impl EventOutbox for MongoTransaction {
    async fn append(&mut self, events: Vec<OutboxEvent>) -> Result<(), Error> {
        self.check_storage()?;
        let events = events
            .into_iter()
            .map(|event| {
                doc! {
                    "_id": event.id.to_string(),
                    "event_type": event.event_type,
                    "audit_id": event.audit_id.to_string(),
                    "occurred_at": event.occurred_at.as_millis(),
                    "payload": event.payload,
                    "published_at": Bson::Null,
                }
            })
            .collect();
        self.ops.push(Op::AppendOutbox { events });
        Ok(())
    }
}

/// The `_id` of an idempotency scope.
pub(crate) fn scope_key(scope: &IdempotencyScope) -> mongodb::bson::Document {
    doc! { "a": &scope.actor, "m": &scope.method, "p": &scope.path, "k": &scope.key }
}

#[async_trait]
impl IdempotencyStore for MongoTransaction {
    async fn record(
        &mut self,
        key: &IdempotencyKey,
        answer: &KeptAnswer,
        at: Timestamp,
    ) -> Result<(), Error> {
        self.check_storage()?;
        let (kind, body) = match answer {
            KeptAnswer::Replay(outcome) => {
                let (kind, body) = idempotency_format::encode(outcome)?;
                (Bson::String(kind.to_owned()), body)
            }
            KeptAnswer::RunAgain => (Bson::Null, Vec::new()),
        };
        self.ops.push(Op::RecordIdempotency {
            stored: doc! {
                "_id": scope_key(&key.scope),
                "request_hash": key.request_hash.to_hex(),
                "outcome": kind,
                "body": binary(body),
                "created_at": at.as_millis(),
            },
        });
        Ok(())
    }

    async fn purge_scope_if_expired(
        &mut self,
        scope: &IdempotencyScope,
        cutoff: Timestamp,
    ) -> Result<(), Error> {
        self.check_storage()?;
        self.ops.push(Op::PurgeScope {
            key: scope_key(scope),
            cutoff: cutoff.as_millis(),
        });
        Ok(())
    }

    /// Runs at once, outside the transaction: deleting keys that expired is right whether or
    /// not the caller's transaction commits, and the count is the answer.
    async fn purge_before(&mut self, cutoff: Timestamp) -> Result<u64, Error> {
        self.check_storage()?;
        let deleted = self
            .shared
            .collection(IDEMPOTENCY_KEYS)
            .delete_many(doc! { "created_at": { "$lt": cutoff.as_millis() } })
            .await
            .map_err(|e| storage_error("purging expired idempotency keys", e))?;
        Ok(deleted.deleted_count)
    }
}
