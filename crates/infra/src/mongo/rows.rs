//! Domain values and their BSON documents, both ways (see `layout.rs` for where each lives).
//!
//! Reading is checked as in the embedded store: a document's data must hash to its stored
//! content hash, an audit entry's leaf to its leaf hash, so an edit made behind the store's
//! back surfaces as an error instead of as history. User data crosses only through
//! `json_bson.rs`; JSON Schemas are kept as text (they are full of `$` keys).

use audit_domain::merkle::Hash;
use audit_domain::succession::LogEntry;
use audit_domain::{AuditRecord, AuditSubject, LoggedAuditEntry};
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, Document as Bson_, doc};
use shared_kernel::{Actor, AuditId, CollectionId, Error, Position, Timestamp, canonical_json};
use storage_domain::collection::CollectionSnapshot;
use storage_domain::document::DocumentSnapshot;
use storage_domain::{
    Collection, CollectionName, Document, DocumentData, DocumentId, DocumentOperation, Revision,
    Version,
};

use super::error::corrupt;
use super::json_bson::{bson_from_json, json_from_bson};
use super::layout::{document_key, revision_key};

/// Where a collection stands in a two-phase change (`write/phases.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CollectionState {
    /// Writes may use it.
    Live,
    /// Being deleted since `since` (ms): writes wait for the outcome.
    Deleting { since: i64 },
    /// A new schema is waiting to be switched to, since `since` (ms): writes wait.
    Pending { since: i64 },
    /// Deleted.
    Deleted,
}

impl CollectionState {
    const LIVE: &'static str = "live";
    const DELETING: &'static str = "deleting";
    const PENDING: &'static str = "pending";
    const DELETED: &'static str = "deleted";
}

/// A stored collection: the aggregate and the state of a change in flight.
#[derive(Debug, Clone)]
pub(crate) struct StoredCollection {
    pub(crate) collection: Collection,
    pub(crate) state: CollectionState,
}

/// The document stored for `collection`, live (or deleted) with no change in flight.
pub(crate) fn collection_to_bson(collection: &Collection) -> Result<Bson_, Error> {
    let state = collection.snapshot();
    let schema = crate::stored_schema::schema_text(state.schema.as_ref())?;
    Ok(doc! {
        "_id": state.id.to_string(),
        "name": state.name.as_str(),
        "schema": schema.map_or(Bson::Null, Bson::String),
        "version": to_i64(state.version, "collection version")?,
        "created_at": state.created_at.as_millis(),
        "updated_at": state.updated_at.as_millis(),
        "deleted_at": state.deleted_at.map_or(Bson::Null, |t| Bson::Int64(t.as_millis())),
        "state": if state.deleted_at.is_some() { CollectionState::DELETED } else { CollectionState::LIVE },
        "state_since": Bson::Null,
    })
}

/// The `$set` that marks a collection as being changed since `since` (ms).
pub(crate) fn collection_mark(deleting: bool, since: i64) -> Bson_ {
    let state = if deleting {
        CollectionState::DELETING
    } else {
        CollectionState::PENDING
    };
    doc! { "state": state, "state_since": since }
}

/// The `$set` that takes a mark back.
pub(crate) fn collection_unmark() -> Bson_ {
    doc! { "state": CollectionState::LIVE, "state_since": Bson::Null }
}

/// Rebuilds a stored collection.
pub(crate) fn collection_from_bson(stored: &Bson_) -> Result<StoredCollection, Error> {
    let schema = optional_str(stored, "schema", "collection schema")?
        .map(crate::stored_schema::schema_from_text)
        .transpose()?;
    let deleted_at = optional_i64(stored, "deleted_at", "collection deletion time")?;
    let collection = Collection::restore(CollectionSnapshot {
        id: CollectionId::parse(str_field(stored, "_id", "collection id")?)
            .map_err(|e| corrupt("collection id", e))?,
        name: CollectionName::parse(str_field(stored, "name", "collection name")?)
            .map_err(|e| corrupt("collection name", e))?,
        schema,
        version: to_u64(
            i64_field(stored, "version", "collection version")?,
            "collection version",
        )?,
        created_at: Timestamp::from_millis(i64_field(stored, "created_at", "collection time")?),
        updated_at: Timestamp::from_millis(i64_field(stored, "updated_at", "collection time")?),
        deleted_at: deleted_at.map(Timestamp::from_millis),
    });
    let since = optional_i64(stored, "state_since", "collection state")?;
    let state = match (str_field(stored, "state", "collection state")?, since) {
        (CollectionState::LIVE, _) => CollectionState::Live,
        (CollectionState::DELETED, _) => CollectionState::Deleted,
        (CollectionState::DELETING, Some(since)) => CollectionState::Deleting { since },
        (CollectionState::PENDING, Some(since)) => CollectionState::Pending { since },
        (other, _) => {
            return Err(corrupt(
                "collection state",
                format!("`{other}` is no state a collection can be in"),
            ));
        }
    };
    Ok(StoredCollection { collection, state })
}

/// The document stored for `document`'s current state.
pub(crate) fn document_to_bson(document: &Document) -> Result<Bson_, Error> {
    let state = document.snapshot();
    let collection = state.collection_id.to_string();
    let (data, hash) = data_fields(state.data.as_ref())?;
    Ok(doc! {
        "_id": document_key(&collection, state.id.as_str()),
        "c": &collection,
        "d": state.id.as_str(),
        "live": state.data.is_some(),
        "version": to_i64(state.version.get(), "document version")?,
        "data": data,
        "hash": hash,
        "created_at": state.created_at.as_millis(),
        "updated_at": state.updated_at.as_millis(),
        "audit_id": state.audit_id.to_string(),
    })
}

/// Rebuilds a document (a tombstone when it has no data), checking its data's hash.
pub(crate) fn document_from_bson(stored: &Bson_) -> Result<Document, Error> {
    let id = str_field(stored, "d", "document id")?;
    Ok(Document::restore(DocumentSnapshot {
        collection_id: CollectionId::parse(str_field(stored, "c", "document collection id")?)
            .map_err(|e| corrupt("document collection id", e))?,
        id: DocumentId::parse(id).map_err(|e| corrupt("document id", e))?,
        version: version_field(stored, "version")?,
        data: checked_data(stored, id)?,
        created_at: Timestamp::from_millis(i64_field(stored, "created_at", "document time")?),
        updated_at: Timestamp::from_millis(i64_field(stored, "updated_at", "document time")?),
        audit_id: AuditId::parse(str_field(stored, "audit_id", "document audit id")?)
            .map_err(|e| corrupt("document audit id", e))?,
    }))
}

/// The document stored for a revision (its data kept whole: BSON has no cheap way to share
/// it with the document, and a revision is written once).
pub(crate) fn revision_to_bson(revision: &Revision) -> Result<Bson_, Error> {
    let collection = revision.collection_id.to_string();
    let version = to_i64(revision.version.get(), "revision version")?;
    let (data, hash) = data_fields(revision.data.as_ref())?;
    Ok(doc! {
        "_id": revision_key(&collection, revision.document_id.as_str(), version),
        "operation": revision.operation.as_str(),
        "data": data,
        "hash": hash,
        "at": revision.at.as_millis(),
        "actor": revision.actor.to_string(),
        "audit_id": revision.audit_id.to_string(),
    })
}

/// Rebuilds a revision of `document` in `collection`.
pub(crate) fn revision_from_bson(
    stored: &Bson_,
    collection: CollectionId,
    document: &DocumentId,
) -> Result<Revision, Error> {
    let key = stored
        .get_document("_id")
        .map_err(|e| corrupt("revision key", e))?;
    Ok(Revision {
        collection_id: collection,
        document_id: document.clone(),
        version: version_field(key, "v")?,
        operation: DocumentOperation::parse(str_field(stored, "operation", "revision operation")?)
            .map_err(|e| corrupt("revision operation", e))?,
        data: checked_data(stored, document.as_str())?,
        at: Timestamp::from_millis(i64_field(stored, "at", "revision time")?),
        actor: Actor::parse(str_field(stored, "actor", "revision actor")?)
            .map_err(|e| corrupt("revision actor", e))?,
        audit_id: AuditId::parse(str_field(stored, "audit_id", "revision audit id")?)
            .map_err(|e| corrupt("revision audit id", e))?,
    })
}

/// The document stored for an audit record: its exact leaf bytes and hash, its patch as
/// canonical JSON text, the fields listings filter on, and `order`, its place among the
/// entries waiting for the sequencer (`write/order.rs`). `leaf_index` is null until the
/// sequencer sets it.
pub(crate) fn audit_to_bson(record: &AuditRecord, order: i64) -> Result<Bson_, Error> {
    let entry = &record.entry;
    let leaf = entry.leaf_bytes();
    let leaf_hash = audit_domain::merkle::leaf_hash(&leaf);
    let (document_id, version) = match &entry.subject {
        AuditSubject::Collection => (Bson::Null, Bson::Null),
        AuditSubject::Document {
            document_id,
            version,
            ..
        } => (
            Bson::String(document_id.clone()),
            Bson::Int64(to_i64(*version, "audit entry version")?),
        ),
    };
    Ok(doc! {
        "_id": entry.id.to_string(),
        "at": entry.at.as_millis(),
        "actor": entry.actor.to_string(),
        "operation": entry.operation.as_str(),
        "collection": &entry.collection,
        "collection_id": entry.collection_id.to_string(),
        "document_id": document_id,
        "version": version,
        "leaf": binary(leaf),
        "leaf_hash": binary(leaf_hash.into_bytes().to_vec()),
        "patch": record.patch.as_ref().map_or(Bson::Null, |p| Bson::String(canonical_json(p))),
        "order": order,
        "leaf_index": Bson::Null,
    })
}

/// Rebuilds a stored audit entry, listed at `position`, checking its leaf hash.
pub(crate) fn logged_entry_from_bson(
    stored: &Bson_,
    position: Position,
) -> Result<LoggedAuditEntry, Error> {
    let leaf = binary_field(stored, "leaf", "audit entry leaf")?;
    let entry = LogEntry::from_leaf_bytes(leaf).map_err(|e| corrupt("audit entry leaf", e))?;
    let leaf_hash = Hash::try_from(binary_field(stored, "leaf_hash", "audit leaf hash")?)
        .map_err(|e| corrupt("audit leaf hash", e))?;
    if entry.leaf_hash() != leaf_hash {
        return Err(corrupt(
            "audit leaf hash",
            format!("entry {} does not match its leaf hash", entry.id()),
        ));
    }
    let patch = optional_str(stored, "patch", "audit patch")?
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| corrupt("audit patch", e))?;
    let leaf_index = optional_i64(stored, "leaf_index", "leaf index")?
        .map(|index| to_u64(index, "leaf index"))
        .transpose()?;
    Ok(LoggedAuditEntry {
        position,
        entry,
        leaf_hash,
        leaf_index,
        patch,
    })
}

/// Generic binary bytes.
pub(crate) fn binary(bytes: Vec<u8>) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes,
    })
}

/// A document's data as BSON and its content hash (both null for a tombstone).
fn data_fields(data: Option<&DocumentData>) -> Result<(Bson, Bson), Error> {
    match data {
        None => Ok((Bson::Null, Bson::Null)),
        Some(data) => Ok((
            bson_from_json(data.value())?,
            Bson::String(data.content_hash().to_hex()),
        )),
    }
}

/// The data of a stored document or revision, which must hash to its stored hash.
fn checked_data(stored: &Bson_, id: &str) -> Result<Option<DocumentData>, Error> {
    let hash = optional_str(stored, "hash", "content hash")?;
    let data = match stored.get("data") {
        None | Some(Bson::Null) => None,
        Some(bson) => Some(DocumentData::restore(canonical_json(&json_from_bson(
            bson,
        )?))?),
    };
    let actual = data.as_ref().map(|d| d.content_hash().to_hex());
    if actual.as_deref() != hash {
        return Err(Error::internal(
            format!("stored document `{id}` does not match its content hash"),
            std::io::Error::other("content hash mismatch"),
        ));
    }
    Ok(data)
}

/// A version field.
fn version_field(stored: &Bson_, key: &str) -> Result<Version, Error> {
    Version::new(to_u64(i64_field(stored, key, "version")?, "version")?)
        .map_err(|e| corrupt("version", e))
}

/// A required string field.
pub(crate) fn str_field<'d>(stored: &'d Bson_, key: &str, what: &str) -> Result<&'d str, Error> {
    stored.get_str(key).map_err(|e| corrupt(what, e))
}

/// A required integer field (Int64, or Int32 as a server may narrow it).
pub(crate) fn i64_field(stored: &Bson_, key: &str, what: &str) -> Result<i64, Error> {
    optional_i64(stored, key, what)?
        .ok_or_else(|| corrupt(what, format!("the field `{key}` is missing")))
}

/// An integer field that may be null or missing.
pub(crate) fn optional_i64(stored: &Bson_, key: &str, what: &str) -> Result<Option<i64>, Error> {
    match stored.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Int64(value)) => Ok(Some(*value)),
        Some(Bson::Int32(value)) => Ok(Some(i64::from(*value))),
        Some(other) => Err(corrupt(
            what,
            format!("`{key}` is a {:?}, not an integer", other.element_type()),
        )),
    }
}

/// A string field that may be null or missing.
pub(crate) fn optional_str<'d>(
    stored: &'d Bson_,
    key: &str,
    what: &str,
) -> Result<Option<&'d str>, Error> {
    match stored.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::String(text)) => Ok(Some(text)),
        Some(other) => Err(corrupt(
            what,
            format!("`{key}` is a {:?}, not a string", other.element_type()),
        )),
    }
}

/// A required binary field's bytes.
pub(crate) fn binary_field<'d>(
    stored: &'d Bson_,
    key: &str,
    what: &str,
) -> Result<&'d [u8], Error> {
    match stored.get(key) {
        Some(Bson::Binary(binary)) => Ok(&binary.bytes),
        _ => Err(corrupt(what, format!("`{key}` is not binary"))),
    }
}

/// A count, version or index as BSON's signed 64-bit integer.
pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64, Error> {
    i64::try_from(value)
        .map_err(|e| Error::internal(format!("the {what} {value} does not fit in BSON"), e))
}

/// A stored integer that must not be negative.
pub(crate) fn to_u64(value: i64, what: &str) -> Result<u64, Error> {
    u64::try_from(value).map_err(|e| corrupt(what, e))
}
