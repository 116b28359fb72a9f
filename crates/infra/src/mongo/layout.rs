//! Where each aggregate lives in the database: the collection names, and the `_id` of each
//! kind of document, which is where every invariant rests.
//!
//! On real MongoDB two transactions that write one document conflict; on the test stand-in
//! only an `_id` collision is reported (../shared/DEPENDENCIES.md). So every rule two
//! concurrent writers could break is an insert whose `_id` encodes it:
//!
//! | collection | `_id` | the rule it keeps |
//! |---|---|---|
//! | `collections` | the collection id | — |
//! | `collection_names` | the name | one live collection per name (deleted with it) |
//! | `documents` | `{c: collection id, d: document id}` | — (current state, replaced) |
//! | `revisions` | `{c, d, v: version}` | one writer per version of a document |
//! | `audit_entries` | the audit id | one entry per change |
//! | `outbox` | the event id | — |
//! | `idempotency_keys` | `{a: actor, m: method, p: path, k: key}` | one record per scope |
//! | `log_leaves` | the leaf index | one entry per leaf |
//! | `log_hashes` | the stored-hash position | one hash per position |
//! | `log_head` | `"head"` | — (moved only by the one sequencer) |
//! | `checkpoints` | the tree size | one checkpoint per size |
//! | `server_locks` | what is locked (`"sequencer"`) | one sequencer per database |
//!
//! No secondary index is unique: on the stand-in a clash on one between two transactions
//! closes the connection instead of answering.

use mongodb::IndexModel;
use mongodb::bson::{Document, doc};

/// Collections (settings, schema, state of a two-phase change).
pub(crate) const COLLECTIONS: &str = "collections";
/// The live collection of each name.
pub(crate) const COLLECTION_NAMES: &str = "collection_names";
/// Documents' current state (live or tombstone).
pub(crate) const DOCUMENTS: &str = "documents";
/// Every version of every document.
pub(crate) const REVISIONS: &str = "revisions";
/// Audit entries with their leaf bytes and, once sequenced, their leaf index.
pub(crate) const AUDIT_ENTRIES: &str = "audit_entries";
/// The transactional outbox.
pub(crate) const OUTBOX: &str = "outbox";
/// Idempotency keys and their kept answers.
pub(crate) const IDEMPOTENCY_KEYS: &str = "idempotency_keys";
/// The log's leaves by index.
pub(crate) const LOG_LEAVES: &str = "log_leaves";
/// The log's stored complete-subtree hashes by position.
pub(crate) const LOG_HASHES: &str = "log_hashes";
/// The committed tree head (one document).
pub(crate) const LOG_HEAD: &str = "log_head";
/// Every published checkpoint by tree size.
pub(crate) const CHECKPOINTS: &str = "checkpoints";
/// Locks held by a running server (until the lease of issue 24).
pub(crate) const SERVER_LOCKS: &str = "server_locks";

/// The `_id` of a document.
pub(crate) fn document_key(collection: &str, document: &str) -> Document {
    doc! { "c": collection, "d": document }
}

/// The `_id` of a document's revision.
pub(crate) fn revision_key(collection: &str, document: &str, version: i64) -> Document {
    doc! { "c": collection, "d": document, "v": version }
}

/// The secondary indexes of each collection, created at start (creating an existing index
/// with the same keys is a no-op, so this is idempotent).
pub(crate) fn indexes() -> Vec<(&'static str, IndexModel)> {
    let index = |keys: Document| IndexModel::builder().keys(keys).build();
    vec![
        (COLLECTIONS, index(doc! { "name": 1 })),
        // Queries: a collection's live documents by id.
        (DOCUMENTS, index(doc! { "c": 1, "live": 1, "d": 1 })),
        // A document's revisions by version.
        (
            REVISIONS,
            index(doc! { "_id.c": 1, "_id.d": 1, "_id.v": 1 }),
        ),
        // The sequencer's pending entries, and the audit listing's both parts.
        (
            AUDIT_ENTRIES,
            index(doc! { "leaf_index": 1, "order": 1, "_id": 1 }),
        ),
        // A document's audit trail in version order.
        (
            AUDIT_ENTRIES,
            index(doc! { "collection_id": 1, "document_id": 1, "version": 1 }),
        ),
        // Purging idempotency keys by age.
        (IDEMPOTENCY_KEYS, index(doc! { "created_at": 1 })),
        // The relay's unpublished events, oldest first.
        (OUTBOX, index(doc! { "published_at": 1, "occurred_at": 1 })),
    ]
}
