//! Stored MongoDB documents as the auditor's rows, kept close to what is stored: bytes as
//! they are, JSON data as the canonical text of what the BSON holds (or, for BSON that is no
//! JSON a client could have sent, BSON's own text of it, which the auditor then reports as
//! data that is not JSON or does not hash to its content hash), a leaf index beyond the
//! audited head as none (`reader.rs`). A value of the wrong type altogether is an
//! `INTERNAL_ERROR`, as the port says.

use std::collections::BTreeMap;

use audit_app::auditor::{EntryRow, RevisionKey};
use mongodb::bson::{Bson, Document as Bson_};
use shared_kernel::{Error, canonical_json};

use super::super::super::json_bson::json_from_bson;
use super::super::super::rows::{i64_field, optional_i64, optional_str, str_field, to_u64};
use super::positions::entry_position;

/// The bytes of a binary (or, tampered, string) field; empty when missing or null.
pub(super) fn bytes_of(stored: &Bson_, key: &str) -> Vec<u8> {
    match stored.get(key) {
        Some(Bson::Binary(binary)) => binary.bytes.clone(),
        Some(Bson::String(text)) => text.as_bytes().to_vec(),
        _ => Vec::new(),
    }
}

/// A document's or revision's data as JSON text; `None` for a tombstone.
pub(super) fn data_text(stored: &Bson_) -> Option<String> {
    match stored.get("data") {
        None | Some(Bson::Null) => None,
        Some(data) => Some(
            json_from_bson(data).map_or_else(|_| data.to_string(), |value| canonical_json(&value)),
        ),
    }
}

/// An unsigned integer field.
pub(super) fn unsigned(stored: &Bson_, key: &str, what: &str) -> Result<u64, Error> {
    to_u64(i64_field(stored, key, what)?, what)
}

/// An unsigned integer field that may be null.
pub(super) fn optional_unsigned(
    stored: &Bson_,
    key: &str,
    what: &str,
) -> Result<Option<u64>, Error> {
    optional_i64(stored, key, what)?
        .map(|value| to_u64(value, what))
        .transpose()
}

/// A string field.
pub(super) fn text(stored: &Bson_, key: &str, what: &str) -> Result<String, Error> {
    Ok(str_field(stored, key, what)?.to_owned())
}

/// A string field that may be null.
pub(super) fn optional_text(
    stored: &Bson_,
    key: &str,
    what: &str,
) -> Result<Option<String>, Error> {
    Ok(optional_str(stored, key, what)?.map(str::to_owned))
}

/// The revision a document entry names, by its `(collection id, document id, version)`.
pub(super) fn entry_revision_key(stored: &Bson_) -> Result<Option<RevisionKey>, Error> {
    let (Some(document_id), Some(version)) = (
        optional_text(stored, "document_id", "audit entry document id")?,
        optional_unsigned(stored, "version", "audit entry version")?,
    ) else {
        return Ok(None);
    };
    Ok(Some(RevisionKey {
        collection_id: text(stored, "collection_id", "audit entry collection id")?,
        document_id,
        version,
    }))
}

/// A stored audit entry; `sequenced_below` is the audited head's size (a leaf index at or
/// beyond it is none for this audit), `revisions` the audit ids of the revisions entries
/// name.
pub(super) fn entry_row(
    stored: &Bson_,
    sequenced_below: u64,
    revisions: &BTreeMap<RevisionKey, String>,
) -> Result<EntryRow, Error> {
    let id = text(stored, "_id", "audit entry id")?;
    let order = i64_field(stored, "order", "audit entry order")?;
    let revision = entry_revision_key(stored)?;
    Ok(EntryRow {
        position: entry_position(order, &id),
        at_millis: i64_field(stored, "at", "audit entry time")?,
        actor: text(stored, "actor", "audit entry actor")?,
        operation: text(stored, "operation", "audit entry operation")?,
        collection: text(stored, "collection", "audit entry collection")?,
        collection_id: text(stored, "collection_id", "audit entry collection id")?,
        document_id: optional_text(stored, "document_id", "audit entry document id")?,
        version: optional_unsigned(stored, "version", "audit entry version")?,
        leaf: bytes_of(stored, "leaf"),
        leaf_hash: bytes_of(stored, "leaf_hash"),
        patch: optional_text(stored, "patch", "audit patch")?,
        leaf_index: optional_unsigned(stored, "leaf_index", "leaf index")?
            .filter(|index| *index < sequenced_below),
        revision_audit_id: revision.and_then(|key| revisions.get(&key).cloned()),
        id,
    })
}

/// A revision's key from its `_id`.
pub(super) fn revision_key(stored: &Bson_) -> Result<RevisionKey, Error> {
    let key = stored
        .get_document("_id")
        .map_err(|e| super::super::super::error::corrupt("revision key", e))?;
    Ok(RevisionKey {
        collection_id: text(key, "c", "revision collection id")?,
        document_id: text(key, "d", "revision document id")?,
        version: unsigned(key, "v", "revision version")?,
    })
}
