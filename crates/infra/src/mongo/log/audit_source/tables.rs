//! The tables beside the log, as the auditor reads them from MongoDB
//! ([`audit_app::auditor::TableSource`]'s listings, on the source's thread): collections
//! with their entries, orphaned collection entries, the outbox, entries no event names,
//! idempotency records.
//!
//! The two "entries without" listings page over the audit entries by `(order, _id)` and
//! keep those whose collection (or event) is not stored, a batch at a time, until they have
//! `limit` rows or reach the end: a short page means the end, as the port says. Collections,
//! entries and events are written together and never deleted, so reading an entry before
//! what names it needs no snapshot: what an entry's transaction wrote is all there once the
//! entry is.

use std::collections::{BTreeMap, HashSet};

use audit_app::auditor::{
    CollectionEntryRow, CollectionRow, IdempotencyRecordKey, IdempotencyRow, OutboxRow,
};
use audit_domain::AuditOperation;
use audit_domain::succession::SUCCESSION_OPERATION;
use mongodb::bson::{Bson, Document as Bson_, doc};
use shared_kernel::{Error, Position};

use super::super::super::layout::{AUDIT_ENTRIES, COLLECTIONS, IDEMPOTENCY_KEYS, OUTBOX};
use super::super::super::rows::{i64_field, optional_i64};
use super::positions::{both, entries_after, entry_position, event_position, events_after};
use super::reader::Reader;
use super::rows::{bytes_of, text, unsigned};
use super::snapshot::{Query, after_id, any_of};

/// The operations of collection entries.
fn collection_operations() -> Vec<Bson> {
    [
        AuditOperation::CollectionCreate,
        AuditOperation::CollectionSchemaChange,
        AuditOperation::CollectionDelete,
    ]
    .iter()
    .map(|operation| Bson::String(operation.as_str().to_owned()))
    .collect()
}

/// A collection entry.
fn collection_entry(stored: &Bson_) -> Result<CollectionEntryRow, Error> {
    let id = text(stored, "_id", "audit entry id")?;
    Ok(CollectionEntryRow {
        position: entry_position(i64_field(stored, "order", "audit entry order")?, &id),
        collection_id: text(stored, "collection_id", "audit entry collection id")?,
        operation: text(stored, "operation", "audit entry operation")?,
        collection: text(stored, "collection", "audit entry collection")?,
        at_millis: i64_field(stored, "at", "audit entry time")?,
        id,
    })
}

impl Reader {
    /// Collections by id, each with its collection entries in commit order, from one
    /// snapshot (a schema change moves both).
    pub(super) async fn collections(
        &self,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<CollectionRow>, Error> {
        let filter = after.map_or_else(Bson_::new, |after| doc! { "_id": { "$gt": after } });
        let mut snapshot = self.snapshot().await?;
        let stored = snapshot
            .find(
                &self.database,
                COLLECTIONS,
                Query::new(filter).sort(doc! { "_id": 1 }).limit(limit),
            )
            .await?;
        let ids = stored
            .iter()
            .map(|c| text(c, "_id", "collection id").map(Bson::String))
            .collect::<Result<Vec<_>, Error>>()?;
        let entries = snapshot
            .find(
                &self.database,
                AUDIT_ENTRIES,
                Query::new(both(
                    any_of("collection_id", ids),
                    any_of("operation", collection_operations()),
                ))
                .sort(doc! { "order": 1, "_id": 1 }),
            )
            .await?;
        snapshot.end().await?;
        let mut by_collection: BTreeMap<String, Vec<CollectionEntryRow>> = BTreeMap::new();
        for entry in &entries {
            let entry = collection_entry(entry)?;
            by_collection
                .entry(entry.collection_id.clone())
                .or_default()
                .push(entry);
        }
        stored
            .iter()
            .map(|stored| {
                let id = text(stored, "_id", "collection id")?;
                Ok(CollectionRow {
                    name: text(stored, "name", "collection name")?,
                    version: unsigned(stored, "version", "collection version")?,
                    created_at: i64_field(stored, "created_at", "collection time")?,
                    deleted_at: optional_i64(stored, "deleted_at", "collection deletion time")?,
                    entries: by_collection.remove(&id).unwrap_or_default(),
                    id,
                })
            })
            .collect()
    }

    /// Collection entries whose collection is not stored.
    pub(super) async fn orphan_collection_entries(
        &self,
        after: Option<Position>,
        limit: usize,
    ) -> Result<Vec<CollectionEntryRow>, Error> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut after = after;
        let mut orphans = Vec::new();
        loop {
            let filter = both(
                any_of("operation", collection_operations()),
                entries_after(after.as_ref())?,
            );
            let batch = self.list(AUDIT_ENTRIES, filter, limit).await?;
            let ids: HashSet<String> = batch
                .iter()
                .map(|e| text(e, "collection_id", "audit entry collection id"))
                .collect::<Result<_, Error>>()?;
            let stored = self
                .list(
                    COLLECTIONS,
                    any_of("_id", ids.into_iter().map(Bson::String).collect()),
                    0,
                )
                .await?
                .iter()
                .map(|c| text(c, "_id", "collection id"))
                .collect::<Result<HashSet<String>, Error>>()?;
            let full = batch.len() >= limit;
            for entry in &batch {
                let entry = collection_entry(entry)?;
                after = Some(entry.position.clone());
                if !stored.contains(&entry.collection_id) && orphans.len() < limit {
                    orphans.push(entry);
                }
            }
            if !full || orphans.len() >= limit {
                return Ok(orphans);
            }
        }
    }

    /// Outbox events by id, with the leaf of the entry each names.
    pub(super) async fn outbox(
        &self,
        after: Option<Position>,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, Error> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let filter = events_after(after.as_ref())?;
        let events = self.list(OUTBOX, filter, limit).await?;
        let ids = events
            .iter()
            .map(|e| text(e, "audit_id", "event audit id").map(Bson::String))
            .collect::<Result<Vec<_>, Error>>()?;
        let leaves = self
            .list(AUDIT_ENTRIES, any_of("_id", ids), 0)
            .await?
            .iter()
            .map(|e| Ok((text(e, "_id", "audit entry id")?, bytes_of(e, "leaf"))))
            .collect::<Result<BTreeMap<_, _>, Error>>()?;
        events
            .iter()
            .map(|stored| {
                let id = text(stored, "_id", "event id")?;
                let audit_id = text(stored, "audit_id", "event audit id")?;
                Ok(OutboxRow {
                    position: event_position(&id),
                    event_type: text(stored, "event_type", "event type")?,
                    occurred_at: i64_field(stored, "occurred_at", "event time")?,
                    payload: text(stored, "payload", "event payload")?,
                    entry_leaf: leaves.get(&audit_id).cloned(),
                    audit_id,
                    id,
                })
            })
            .collect()
    }

    /// `(position, id)` of audit entries no outbox event names (`log.succession` entries,
    /// which have none, left out).
    pub(super) async fn entries_without_event(
        &self,
        after: Option<Position>,
        limit: usize,
    ) -> Result<Vec<(Position, String)>, Error> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut after = after;
        let mut unexplained = Vec::new();
        loop {
            let batch = self
                .list(AUDIT_ENTRIES, entries_after(after.as_ref())?, limit)
                .await?;
            let ids = batch
                .iter()
                .map(|e| text(e, "_id", "audit entry id").map(Bson::String))
                .collect::<Result<Vec<_>, Error>>()?;
            let explained = self
                .list(OUTBOX, any_of("audit_id", ids), 0)
                .await?
                .iter()
                .map(|e| text(e, "audit_id", "event audit id"))
                .collect::<Result<HashSet<String>, Error>>()?;
            let full = batch.len() >= limit;
            for entry in &batch {
                let id = text(entry, "_id", "audit entry id")?;
                let position = entry_position(i64_field(entry, "order", "audit entry order")?, &id);
                after = Some(position.clone());
                let succession =
                    text(entry, "operation", "audit entry operation")? == SUCCESSION_OPERATION;
                if !succession && !explained.contains(&id) && unexplained.len() < limit {
                    unexplained.push((position, id));
                }
            }
            if !full || unexplained.len() >= limit {
                return Ok(unexplained);
            }
        }
    }

    /// Idempotency records by scope and key.
    pub(super) async fn idempotency_records(
        &self,
        after: Option<IdempotencyRecordKey>,
        limit: usize,
    ) -> Result<Vec<IdempotencyRow>, Error> {
        let filter = after.map_or_else(Bson_::new, |key| {
            let scope = doc! { "a": key.actor, "m": key.method, "p": key.path, "k": key.key };
            after_id(&scope, self.documents_compare)
        });
        if limit == 0 {
            return Ok(Vec::new());
        }
        let stored = self.list(IDEMPOTENCY_KEYS, filter, limit).await?;
        stored
            .iter()
            .map(|stored| {
                let scope = stored
                    .get_document("_id")
                    .map_err(|e| super::super::super::error::corrupt("idempotency key", e))?;
                Ok(IdempotencyRow {
                    key: IdempotencyRecordKey {
                        actor: text(scope, "a", "idempotency actor")?,
                        method: text(scope, "m", "idempotency method")?,
                        path: text(scope, "p", "idempotency path")?,
                        key: text(scope, "k", "idempotency key")?,
                    },
                    request_hash: text(stored, "request_hash", "request hash")?,
                    // This store keeps outcomes, never rendered answers.
                    status: 0,
                    body: bytes_of(stored, "body"),
                })
            })
            .collect()
    }

    /// The leaf of the entry with this id.
    pub(super) async fn entry_leaf(&self, id: String) -> Result<Option<Vec<u8>>, Error> {
        let found = self.list(AUDIT_ENTRIES, doc! { "_id": id }, 1).await?;
        Ok(found.first().map(|entry| bytes_of(entry, "leaf")))
    }

    /// Up to `limit` documents of `collection` matching `filter`, by `_id` (audit entries by
    /// `(order, _id)`), every match for a limit of 0.
    async fn list(
        &self,
        collection: &str,
        filter: Bson_,
        limit: usize,
    ) -> Result<Vec<Bson_>, Error> {
        let sort = if collection == AUDIT_ENTRIES {
            doc! { "order": 1, "_id": 1 }
        } else {
            doc! { "_id": 1 }
        };
        let mut query = Query::new(filter).sort(sort);
        if limit > 0 {
            query = query.limit(limit);
        }
        let mut snapshot = self.snapshot().await?;
        let found = snapshot.find(&self.database, collection, query).await?;
        snapshot.end().await?;
        Ok(found)
    }
}
