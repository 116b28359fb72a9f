//! Rows and domain values: how each aggregate is laid out in the tables, both ways.
//!
//! Reading is two steps on purpose: a row is first copied into plain values (which can only
//! fail as a driver error), then rebuilt into the domain through its `restore` constructor
//! (which can only fail as corrupt data). The queries shared by the writer's repositories and
//! the reader live here too, so both read exactly the same way.

use rusqlite::{Connection, OptionalExtension, Row, params};
use shared_kernel::{AuditId, CollectionId, Error, ErrorCode, Timestamp};
use storage_domain::collection::CollectionSnapshot;
use storage_domain::document::DocumentSnapshot;
use storage_domain::{Collection, CollectionName, Document, DocumentData, DocumentId, Version};

use super::error::{corrupt, storage_error};

/// The columns [`CollectionRow::read`] expects, in order.
const COLLECTION_COLUMNS: &str = "id, name, schema, version, created_at, updated_at, deleted_at";

/// A `collections` row as plain values.
pub(super) struct CollectionRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) schema: Option<String>,
    pub(super) version: i64,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
    pub(super) deleted_at: Option<i64>,
}

impl CollectionRow {
    /// The row to store for `collection`.
    pub(super) fn from_domain(collection: &Collection) -> Result<Self, Error> {
        let state = collection.snapshot();
        let schema = crate::stored_schema::schema_text(state.schema.as_ref())?;
        Ok(Self {
            id: state.id.to_string(),
            name: state.name.as_str().to_owned(),
            schema,
            version: to_sql_integer(state.version, "collection version")?,
            created_at: state.created_at.as_millis(),
            updated_at: state.updated_at.as_millis(),
            deleted_at: state.deleted_at.map(Timestamp::as_millis),
        })
    }

    /// Copies a row selected with [`COLLECTION_COLUMNS`].
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            name: row.get(1)?,
            schema: row.get(2)?,
            version: row.get(3)?,
            created_at: row.get(4)?,
            updated_at: row.get(5)?,
            deleted_at: row.get(6)?,
        })
    }

    /// Rebuilds the aggregate.
    fn into_domain(self) -> Result<Collection, Error> {
        let schema = self
            .schema
            .map(|text| crate::stored_schema::schema_from_text(&text))
            .transpose()?;
        Ok(Collection::restore(CollectionSnapshot {
            id: CollectionId::parse(&self.id).map_err(|e| corrupt("collection id", e))?,
            name: CollectionName::parse(&self.name).map_err(|e| corrupt("collection name", e))?,
            schema,
            version: from_sql_integer(self.version, "collection version")?,
            created_at: Timestamp::from_millis(self.created_at),
            updated_at: Timestamp::from_millis(self.updated_at),
            deleted_at: self.deleted_at.map(Timestamp::from_millis),
        }))
    }
}

/// A `documents` row as plain values (the key is known to the caller).
pub(super) struct DocumentRow {
    pub(super) collection_id: String,
    pub(super) id: String,
    pub(super) version: i64,
    pub(super) data: Option<String>,
    pub(super) content_hash: Option<String>,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
    pub(super) audit_id: String,
}

impl DocumentRow {
    /// The row to store for `document`.
    pub(super) fn from_domain(document: &Document) -> Result<Self, Error> {
        let state = document.snapshot();
        Ok(Self {
            collection_id: state.collection_id.to_string(),
            id: state.id.as_str().to_owned(),
            version: to_sql_integer(state.version.get(), "document version")?,
            data: state.data.as_ref().map(|d| d.canonical().to_owned()),
            content_hash: state.data.as_ref().map(|d| d.content_hash().to_hex()),
            created_at: state.created_at.as_millis(),
            updated_at: state.updated_at.as_millis(),
            audit_id: state.audit_id.to_string(),
        })
    }

    /// Rebuilds the entity; a row without data is a tombstone. The stored hash must be the
    /// hash of the stored data: a mismatch means the file was edited behind the store's back.
    pub(super) fn into_domain(self) -> Result<Document, Error> {
        let data = self.data.map(DocumentData::restore).transpose()?;
        let actual_hash = data.as_ref().map(|d| d.content_hash().to_hex());
        if actual_hash != self.content_hash {
            return Err(Error::new(
                ErrorCode::Internal,
                format!(
                    "stored document `{}` does not match its content hash",
                    self.id
                ),
            ));
        }
        Ok(Document::restore(DocumentSnapshot {
            collection_id: CollectionId::parse(&self.collection_id)
                .map_err(|e| corrupt("document collection id", e))?,
            id: DocumentId::parse(&self.id).map_err(|e| corrupt("document id", e))?,
            version: Version::new(from_sql_integer(self.version, "document version")?)
                .map_err(|e| corrupt("document version", e))?,
            data,
            created_at: Timestamp::from_millis(self.created_at),
            updated_at: Timestamp::from_millis(self.updated_at),
            audit_id: AuditId::parse(&self.audit_id)
                .map_err(|e| corrupt("document audit id", e))?,
        }))
    }
}

/// The live collection named `name`.
pub(super) fn select_live_collection(
    connection: &Connection,
    name: &str,
) -> Result<Option<Collection>, Error> {
    // Every write looks its collection up: the text is built once, not per call.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {COLLECTION_COLUMNS} FROM collections WHERE name = ?1 AND deleted_at IS NULL"
        )
    });
    connection
        .prepare_cached(&SQL)
        .and_then(|mut statement| {
            statement
                .query_row(params![name], CollectionRow::read)
                .optional()
        })
        .map_err(|e| storage_error("reading a collection", e))?
        .map(CollectionRow::into_domain)
        .transpose()
}

/// Live collections with a name after `after` (all when empty), by name, at most `limit`.
pub(super) fn select_live_collections(
    connection: &Connection,
    after: &str,
    limit: u32,
) -> Result<Vec<Collection>, Error> {
    let sql = format!(
        "SELECT {COLLECTION_COLUMNS} FROM collections \
         WHERE deleted_at IS NULL AND name > ?1 ORDER BY name LIMIT ?2"
    );
    let rows = connection
        .prepare_cached(&sql)
        .and_then(|mut statement| {
            statement
                .query_map(params![after, i64::from(limit)], CollectionRow::read)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| storage_error("listing collections", e))?;
    rows.into_iter().map(CollectionRow::into_domain).collect()
}

/// The document (live or tombstone) `id` of `collection_id`.
pub(super) fn select_document(
    connection: &Connection,
    collection_id: &str,
    id: &str,
) -> Result<Option<Document>, Error> {
    connection
        .prepare_cached(
            "SELECT version, data, content_hash, created_at, updated_at, audit_id \
             FROM documents WHERE collection_id = ?1 AND id = ?2",
        )
        .and_then(|mut statement| {
            statement
                .query_row(params![collection_id, id], |row| {
                    Ok(DocumentRow {
                        collection_id: collection_id.to_owned(),
                        id: id.to_owned(),
                        version: row.get(0)?,
                        data: row.get(1)?,
                        content_hash: row.get(2)?,
                        created_at: row.get(3)?,
                        updated_at: row.get(4)?,
                        audit_id: row.get(5)?,
                    })
                })
                .optional()
        })
        .map_err(|e| storage_error("reading a document", e))?
        .map(DocumentRow::into_domain)
        .transpose()
}

/// A count, version or sequence number as SQLite's signed 64-bit integer.
pub(super) fn to_sql_integer(value: u64, what: &str) -> Result<i64, Error> {
    i64::try_from(value).map_err(|e| {
        Error::internal(
            format!("the {what} {value} does not fit in a SQLite integer"),
            e,
        )
    })
}

/// A stored integer that must not be negative.
pub(super) fn from_sql_integer(value: i64, what: &str) -> Result<u64, Error> {
    u64::try_from(value).map_err(|e| corrupt(what, e))
}
