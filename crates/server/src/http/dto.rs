//! Response bodies: the wire shapes of API.md, kept apart from the domain types.

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use storage_app::DocumentView;
use storage_app::queries::Page;
use storage_domain::Collection;

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

/// `{"id","collection","version","data","content_hash","created_at","updated_at","audit_id"}`.
/// `data` is the stored canonical text, sent as is, so numbers come back in JCS form.
#[derive(Debug, Serialize)]
pub struct DocumentDto {
    id: String,
    collection: String,
    version: u64,
    data: Option<Box<RawValue>>,
    content_hash: Option<String>,
    created_at: String,
    updated_at: String,
    audit_id: String,
}

impl From<&DocumentView> for DocumentDto {
    fn from(view: &DocumentView) -> Self {
        let document = &view.document;
        let data = document.data();
        Self {
            id: document.id().to_string(),
            collection: view.collection.to_string(),
            version: document.version().get(),
            data: data.and_then(|d| RawValue::from_string(d.canonical().to_owned()).ok()),
            content_hash: data.map(|d| d.content_hash().to_hex()),
            created_at: document.created_at().to_rfc3339(),
            updated_at: document.updated_at().to_rfc3339(),
            audit_id: document.audit_id().to_string(),
        }
    }
}

/// `{"items":[...],"next_cursor":string|null}`.
#[derive(Debug, Serialize)]
pub struct ListDto<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

impl<T> ListDto<T> {
    /// Maps a page's items.
    pub fn from_page<U>(page: Page<U>, map: impl Fn(&U) -> T) -> Self {
        Self {
            items: page.items.iter().map(map).collect(),
            next_cursor: page.next_cursor,
        }
    }
}
