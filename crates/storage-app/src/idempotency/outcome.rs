//! What a keyed request produced, kept so that a repeat gets the same answer: the neutral
//! outcome, never a rendered HTTP answer. The server renders replays from it with the same
//! code that rendered the first answer, so a replay is that answer again.
//!
//! Each value holds exactly what its answer shows (the fields of API.md's document and
//! collection answers, times in its RFC 3339 form, hashes in hex), so rendering it again
//! needs no store and no parse of what was sent. Serde gives backends a stable encoding:
//! the field names are API.md's, which also lets a record written as a rendered answer by
//! an earlier build be read back as one of these.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use shared_kernel::{Error, ErrorCode, FieldError};
use storage_domain::{Collection, DocumentData};

use crate::DocumentView;
use crate::queries::Page;

/// The outcome of a request made with an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A collection was created.
    Collection(CollectionOutcome),
    /// A document was created (or re-created after delete).
    Document(DocumentOutcome),
    /// A read answered one page of documents.
    Page(PageOutcome),
    /// The request was refused and changed nothing.
    Refused(Refusal),
}

/// A collection as a change left it: `{"name","id","schema","version","created_at","updated_at"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionOutcome {
    /// The name.
    pub name: String,
    /// The immutable id (UUIDv7).
    pub id: String,
    /// The JSON Schema, if any.
    pub schema: Option<Value>,
    /// The collection's version.
    pub version: u64,
    /// When it was created (RFC 3339, 3 fractional digits).
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

impl From<&Collection> for CollectionOutcome {
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

/// A document version as a change or read showed it:
/// `{"id","collection","version","data","content_hash","created_at","updated_at","audit_id"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocumentOutcome {
    /// The document id.
    pub id: String,
    /// The collection's name.
    pub collection: String,
    /// The version.
    pub version: u64,
    /// The stored canonical text of the data, exactly as sent (null for a tombstone).
    pub data: Option<Box<RawValue>>,
    /// Hex SHA-256 of the data's JCS bytes (null for a tombstone).
    pub content_hash: Option<String>,
    /// When the document was created (RFC 3339, 3 fractional digits).
    pub created_at: String,
    /// When this version was written.
    pub updated_at: String,
    /// The audit entry of the change that produced this version.
    pub audit_id: String,
}

impl From<&DocumentView> for DocumentOutcome {
    fn from(view: &DocumentView) -> Self {
        let document = &view.document;
        let data = document.data();
        Self {
            id: document.id().as_str().to_owned(),
            collection: view.collection.as_str().to_owned(),
            version: document.version().get(),
            data: data.map(|d| d.raw().to_owned()),
            content_hash: data.map(DocumentData::content_hash).map(|h| h.to_hex()),
            created_at: document.created_at().to_rfc3339(),
            updated_at: document.updated_at().to_rfc3339(),
            audit_id: document.audit_id().to_string(),
        }
    }
}

/// Compares data by its text (`RawValue` has no equality of its own).
impl PartialEq for DocumentOutcome {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.collection == other.collection
            && self.version == other.version
            && self.data.as_ref().map(|d| d.get()) == other.data.as_ref().map(|d| d.get())
            && self.content_hash == other.content_hash
            && self.created_at == other.created_at
            && self.updated_at == other.updated_at
            && self.audit_id == other.audit_id
    }
}

/// One page of documents: `{"items":[...],"next_cursor"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageOutcome {
    /// The documents, in the page's order.
    pub items: Vec<DocumentOutcome>,
    /// The opaque cursor of the next page, if any.
    pub next_cursor: Option<String>,
}

impl From<&Page<DocumentView>> for PageOutcome {
    fn from(page: &Page<DocumentView>) -> Self {
        Self {
            items: page.items.iter().map(DocumentOutcome::from).collect(),
            next_cursor: page.next_cursor.clone(),
        }
    }
}

/// A refused request: the whole problem as it was answered, so its replay names the same
/// code, detail, field errors, details and request id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// The stable code (API.md "Errors"); it alone decides the answer's status.
    #[serde(with = "code_text")]
    pub code: ErrorCode,
    /// The detail sentence as shown.
    pub detail: String,
    /// Every failing JSON pointer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The problem's `details` object.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub details: Map<String, Value>,
    /// Extension members beside the standard ones.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extensions: Map<String, Value>,
    /// The id of the request that was refused first (a replay shows it again).
    pub request_id: String,
}

impl Refusal {
    /// The refusal `error` gives the request `request_id`, with `detail` as shown to the
    /// client (a server fault's detail is hidden, but server faults are never kept).
    pub fn of(error: &Error, detail: String, request_id: String) -> Self {
        let code = error.code();
        Self {
            code,
            detail,
            errors: error.field_errors().to_vec(),
            details: if code.is_server_fault() {
                Map::new()
            } else {
                error.details().clone()
            },
            extensions: error.extensions().clone(),
            request_id,
        }
    }
}

/// `ErrorCode` as its wire text (`"NOT_FOUND"`).
mod code_text {
    use super::{Deserialize, Deserializer, ErrorCode, Serializer};

    pub(super) fn serialize<S: Serializer>(code: &ErrorCode, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(code.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ErrorCode, D::Error> {
        let text = String::deserialize(d)?;
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown error code `{text}`")))
    }
}
