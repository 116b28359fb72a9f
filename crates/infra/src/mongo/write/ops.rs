//! The writes a transaction keeps until its commit, and how each is applied inside the
//! MongoDB transaction.

use mongodb::ClientSession;
use mongodb::bson::{Bson, Document as Bson_, doc};
use shared_kernel::Error;

use super::super::Shared;
use super::super::error::{conflict_or_storage_error, storage_error};
use super::super::layout::{
    AUDIT_ENTRIES, COLLECTION_NAMES, COLLECTIONS, DOCUMENTS, IDEMPOTENCY_KEYS, OUTBOX, REVISIONS,
};
use super::super::rows::optional_i64;

/// What a collection update does, which decides whether it goes in two phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CollectionChange {
    /// The collection is deleted: two phases, the second counts its live documents.
    Delete,
    /// Its schema is replaced: two phases.
    Schema,
    /// Anything else (settings that no write relies on).
    Other,
}

/// A collection change that goes in two phases (`phases.rs`).
#[derive(Debug, Clone)]
pub(crate) struct PlannedChange {
    /// The collection's id.
    pub(crate) id: String,
    /// Delete or schema.
    pub(crate) change: CollectionChange,
    /// Its version as the transaction read it (the first phase requires it still).
    pub(crate) read_version: u64,
}

/// One kept write.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// A new collection and the claim on its name.
    InsertCollection {
        id: String,
        name: String,
        stored: Bson_,
    },
    /// A changed collection, replacing the stored one.
    UpdateCollection {
        id: String,
        name: String,
        change: CollectionChange,
        stored: Bson_,
    },
    /// A document's new current state and its revision.
    SaveDocument {
        key: Bson_,
        id: String,
        version: i64,
        stored: Bson_,
        revision: Bson_,
    },
    /// An audit entry; its `order` is set at commit.
    AppendAudit { stored: Bson_ },
    /// Outbox events.
    AppendOutbox { events: Vec<Bson_> },
    /// An idempotency record.
    RecordIdempotency { stored: Bson_ },
    /// Deletes an idempotency record older than `cutoff` (ms).
    PurgeScope { key: Bson_, cutoff: i64 },
    /// Refuses the commit (`CONFLICT`) if the collection holds a live document: the last
    /// step of a two-phase delete (`phases.rs`).
    RequireEmpty { collection: String },
}

/// How applying a write failed.
#[derive(Debug)]
pub(crate) enum OpFailure {
    /// A document's version was taken by another writer: the command's reads are stale.
    VersionTaken(Error),
    /// Any other failure (a `CONFLICT` the port names, or storage).
    Failed(Error),
    /// The driver's error inside the transaction, to be classified by the commit.
    Driver(&'static str, mongodb::error::Error),
}

/// Applies `op` inside `session`'s transaction. `order` is the transaction's place among the
/// entries waiting for the sequencer (see `order_for`).
pub(crate) async fn apply(
    shared: &Shared,
    session: &mut ClientSession,
    op: Op,
    order: i64,
) -> Result<(), OpFailure> {
    match op {
        Op::InsertCollection { id, name, stored } => {
            shared
                .collection(COLLECTION_NAMES)
                .insert_one(doc! { "_id": &name, "collection": &id })
                .session(&mut *session)
                .await
                .map_err(|e| {
                    OpFailure::Failed(conflict_or_storage_error(
                        "claiming a collection name",
                        e,
                        || Error::conflict(format!("a collection named `{name}` already exists")),
                    ))
                })?;
            shared
                .collection(COLLECTIONS)
                .insert_one(stored)
                .session(&mut *session)
                .await
                .map_err(|e| OpFailure::Driver("inserting a collection", e))
                .map(drop)
        }
        Op::UpdateCollection {
            id,
            name,
            change,
            stored,
        } => {
            if change == CollectionChange::Delete {
                shared
                    .collection(COLLECTION_NAMES)
                    .delete_one(doc! { "_id": &name, "collection": &id })
                    .session(&mut *session)
                    .await
                    .map_err(|e| OpFailure::Driver("releasing a collection name", e))?;
            }
            let replaced = shared
                .collection(COLLECTIONS)
                .replace_one(doc! { "_id": &id }, stored)
                .session(&mut *session)
                .await
                .map_err(|e| OpFailure::Driver("updating a collection", e))?;
            if replaced.matched_count == 0 {
                return Err(OpFailure::Failed(Error::not_found(format!(
                    "collection `{name}` is not stored"
                ))));
            }
            Ok(())
        }
        Op::SaveDocument {
            key,
            id,
            version,
            stored,
            revision,
        } => save_document(shared, session, key, &id, version, stored, revision, order).await,
        Op::AppendAudit { mut stored } => {
            stored.insert("order", order);
            let id = stored.get_str("_id").unwrap_or_default().to_owned();
            shared
                .collection(AUDIT_ENTRIES)
                .insert_one(stored)
                .session(&mut *session)
                .await
                .map(drop)
                .map_err(|e| {
                    OpFailure::Failed(conflict_or_storage_error(
                        "appending an audit entry",
                        e,
                        || Error::conflict(format!("audit entry `{id}` already exists")),
                    ))
                })
        }
        Op::AppendOutbox { events } => {
            if events.is_empty() {
                return Ok(());
            }
            shared
                .collection(OUTBOX)
                .insert_many(events)
                .session(&mut *session)
                .await
                .map(drop)
                .map_err(|e| OpFailure::Driver("appending outbox events", e))
        }
        Op::RecordIdempotency { stored } => shared
            .collection(IDEMPOTENCY_KEYS)
            .insert_one(stored)
            .session(&mut *session)
            .await
            .map(drop)
            .map_err(|e| {
                OpFailure::Failed(conflict_or_storage_error(
                    "recording an idempotency key",
                    e,
                    || Error::conflict("a request with this Idempotency-Key was already recorded"),
                ))
            }),
        Op::RequireEmpty { collection } => require_empty(shared, session, &collection)
            .await
            .map_err(OpFailure::Failed),
        Op::PurgeScope { key, cutoff } => shared
            .collection(IDEMPOTENCY_KEYS)
            .delete_one(doc! { "_id": key, "created_at": { "$lt": cutoff } })
            .session(&mut *session)
            .await
            .map(drop)
            .map_err(|e| OpFailure::Driver("purging an expired idempotency key", e)),
    }
}

/// Stores version `version` of a document: version 1 only where none is stored, version N
/// only over N−1 (else `CONFLICT`), and its revision under the `_id` that makes two writers
/// of one version collide (`VersionTaken` when another writer's is already there).
#[expect(
    clippy::too_many_arguments,
    reason = "the parts of one kept write, taken apart by the caller's match"
)]
async fn save_document(
    shared: &Shared,
    session: &mut ClientSession,
    key: Bson_,
    id: &str,
    version: i64,
    mut stored: Bson_,
    revision: Bson_,
    order: i64,
) -> Result<(), OpFailure> {
    let documents = shared.collection(DOCUMENTS);
    let current = documents
        .find_one(doc! { "_id": key.clone() })
        .session(&mut *session)
        .await
        .map_err(|e| OpFailure::Driver("reading a document", e))?;
    let stored_version = current
        .as_ref()
        .map(|current| optional_i64(current, "version", "document version"))
        .transpose()
        .map_err(OpFailure::Failed)?
        .flatten();
    let expected = (version > 1).then_some(version - 1);
    if stored_version != expected {
        return Err(OpFailure::VersionTaken(Error::conflict(format!(
            "document `{id}` was changed concurrently (expected to store version {version})"
        ))));
    }
    shared
        .collection(REVISIONS)
        .insert_one(revision)
        .session(&mut *session)
        .await
        .map_err(|e| {
            if super::super::error::is_duplicate_key(&e) {
                OpFailure::VersionTaken(
                    Error::conflict(format!(
                        "revision {version} of document `{id}` already exists"
                    ))
                    .with_source(e),
                )
            } else {
                OpFailure::Driver("inserting a revision", e)
            }
        })?;
    stored.insert("order", Bson::Int64(order));
    if current.is_none() {
        return documents
            .insert_one(stored)
            .session(&mut *session)
            .await
            .map(drop)
            .map_err(|e| OpFailure::Driver("storing a document", e));
    }
    let replaced = documents
        .replace_one(doc! { "_id": key }, stored)
        .session(&mut *session)
        .await
        .map_err(|e| OpFailure::Driver("storing a document", e))?;
    if replaced.matched_count == 0 {
        return Err(OpFailure::VersionTaken(Error::conflict(format!(
            "document `{id}` was changed concurrently (expected to store version {version})"
        ))));
    }
    Ok(())
}

/// The order of the entries a transaction appends: the commit's time in microseconds, but
/// past every document's previous order (`documents.order`), so that a document's entries
/// wait for the sequencer in version order even when another server's clock is behind.
pub(crate) async fn order_for(
    shared: &Shared,
    session: &mut ClientSession,
    ops: &[Op],
    now_micros: i64,
) -> Result<i64, OpFailure> {
    let mut order = now_micros;
    for op in ops {
        if let Op::SaveDocument { key, .. } = op {
            let previous = shared
                .collection(DOCUMENTS)
                .find_one(doc! { "_id": key.clone() })
                .projection(doc! { "order": 1 })
                .session(&mut *session)
                .await
                .map_err(|e| OpFailure::Driver("reading a document's order", e))?
                .map(|d| optional_i64(&d, "order", "document order"))
                .transpose()
                .map_err(OpFailure::Failed)?
                .flatten();
            if let Some(previous) = previous {
                order = order.max(previous.saturating_add(1));
            }
        }
    }
    Ok(order)
}

/// Counts the collection's live documents inside the finishing transaction.
async fn require_empty(
    shared: &Shared,
    session: &mut mongodb::ClientSession,
    collection: &str,
) -> Result<(), Error> {
    let live = shared
        .collection(DOCUMENTS)
        .count_documents(doc! { "c": collection, "live": true })
        .session(session)
        .await
        .map_err(|e| storage_error("counting live documents", e))?;
    if live > 0 {
        return Err(Error::conflict(format!(
            "the collection still holds {live} live documents (written while it was being \
             deleted); delete them first"
        )));
    }
    Ok(())
}
