//! Response bodies: the wire shapes of API.md, kept apart from the domain types.

use audit_domain::LoggedAuditEntry;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use storage_app::DocumentView;
use storage_app::idempotency::{CollectionOutcome, DocumentOutcome};
use storage_app::queries::Page;
use storage_domain::{Collection, DocumentData, Revision};

/// `{"name","id","schema","version","created_at","updated_at"}`.
#[derive(Debug, Serialize)]
pub struct CollectionDto {
    name: String,
    id: String,
    schema: Option<Value>,
    version: u64,
    created_at: String,
    updated_at: String,
}

impl From<&Collection> for CollectionDto {
    fn from(collection: &Collection) -> Self {
        Self {
            name: collection.name().to_string(),
            id: collection.id().to_string(),
            schema: collection.schema().map(|s| s.as_value().clone()),
            version: collection.version(),
            created_at: collection.created_at().to_rfc3339(),
            updated_at: collection.updated_at().to_rfc3339(),
        }
    }
}

/// A collection answer kept for an `Idempotency-Key`, shown again: the same fields
/// [`From<&Collection>`] shows (`CollectionOutcome` is made from a collection the same way).
impl From<&CollectionOutcome> for CollectionDto {
    fn from(kept: &CollectionOutcome) -> Self {
        Self {
            name: kept.name.clone(),
            id: kept.id.clone(),
            schema: kept.schema.clone(),
            version: kept.version,
            created_at: kept.created_at.clone(),
            updated_at: kept.updated_at.clone(),
        }
    }
}

/// `{"id","collection","version","data","content_hash","created_at","updated_at","audit_id"}`.
/// `data` is the stored canonical text, sent as is, so numbers come back in JCS form.
///
/// It borrows the view's strings and data rather than copying them: a read by id is mostly
/// this body, and the copy of `data` alone was a second kilobyte-sized allocation per read.
#[derive(Debug, Serialize)]
pub struct DocumentDto<'a> {
    id: &'a str,
    collection: &'a str,
    version: u64,
    data: Option<&'a RawValue>,
    content_hash: Option<String>,
    created_at: String,
    updated_at: String,
    audit_id: String,
}

impl<'a> From<&'a DocumentView> for DocumentDto<'a> {
    fn from(view: &'a DocumentView) -> Self {
        let document = &view.document;
        let data = document.data();
        Self {
            id: document.id().as_str(),
            collection: view.collection.as_str(),
            version: document.version().get(),
            data: data.map(DocumentData::raw),
            content_hash: data.map(|d| d.content_hash().to_hex()),
            created_at: document.created_at().to_rfc3339(),
            updated_at: document.updated_at().to_rfc3339(),
            audit_id: document.audit_id().to_string(),
        }
    }
}

/// A document answer kept for an `Idempotency-Key`, shown again (see `CollectionDto`'s).
impl<'a> From<&'a DocumentOutcome> for DocumentDto<'a> {
    fn from(kept: &'a DocumentOutcome) -> Self {
        Self {
            id: &kept.id,
            collection: &kept.collection,
            version: kept.version,
            data: kept.data.as_deref(),
            content_hash: kept.content_hash.clone(),
            created_at: kept.created_at.clone(),
            updated_at: kept.updated_at.clone(),
            audit_id: kept.audit_id.clone(),
        }
    }
}

impl DocumentDto<'_> {
    /// The document id.
    pub fn id(&self) -> &str {
        self.id
    }

    /// The collection's name.
    pub fn collection(&self) -> &str {
        self.collection
    }

    /// The version (the `ETag`'s value).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The body's size before it is written, give or take a little: the data, plus room for
    /// the other fields (names, ids, hash and times come to about 300 bytes). Sizing the
    /// buffer once spares the five or six doublings a kilobyte body takes from a small start.
    pub fn size_hint(&self) -> usize {
        const FIELDS: usize = 384;
        self.data.map_or(0, |d| d.get().len()) + self.id.len() + self.collection.len() + FIELDS
    }
}

/// `{"items":[...],"next_cursor":string|null}`.
#[derive(Debug, Serialize)]
pub struct ListDto<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

impl<T> ListDto<T> {
    /// A page of `items`, then `next_cursor`.
    pub fn new(items: Vec<T>, next_cursor: Option<String>) -> Self {
        Self { items, next_cursor }
    }

    /// Maps a page's items; the items may borrow from the page, which outlives the answer.
    pub fn from_page<'a, U>(page: &'a Page<U>, map: impl Fn(&'a U) -> T) -> Self {
        Self {
            items: page.items.iter().map(map).collect(),
            next_cursor: page.next_cursor.clone(),
        }
    }
}

/// `{version, operation, content_hash, data, at, actor, audit_id}`; `data` and
/// `content_hash` are null for a deletion.
#[derive(Debug, Serialize)]
pub struct RevisionDto {
    version: u64,
    operation: &'static str,
    content_hash: Option<String>,
    data: Option<Box<RawValue>>,
    at: String,
    actor: String,
    audit_id: String,
}

impl From<&Revision> for RevisionDto {
    fn from(revision: &Revision) -> Self {
        let data = revision.data.as_ref();
        Self {
            version: revision.version.get(),
            operation: revision.operation.as_str(),
            content_hash: data.map(|d| d.content_hash().to_hex()),
            data: data.map(|d| d.raw().to_owned()),
            at: revision.at.to_rfc3339(),
            actor: revision.actor.to_string(),
            audit_id: revision.audit_id.to_string(),
        }
    }
}

/// `{"entry": {...}, "leaf_index": n|null, "leaf_hash", "patch"}` (API.md "Audit entries").
#[derive(Debug, Serialize)]
pub struct AuditEntryDto {
    entry: Value,
    leaf_index: Option<u64>,
    leaf_hash: String,
    patch: Option<Value>,
}

impl From<&LoggedAuditEntry> for AuditEntryDto {
    fn from(logged: &LoggedAuditEntry) -> Self {
        Self {
            entry: logged.entry.to_json(),
            leaf_index: logged.leaf_index,
            leaf_hash: logged.leaf_hash.to_hex(),
            patch: logged.patch.clone(),
        }
    }
}
