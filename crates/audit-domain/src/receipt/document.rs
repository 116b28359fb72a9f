//! The document a receipt speaks about, read from the API's document object
//! `{"id","collection","version","data","content_hash","created_at","updated_at","audit_id"}`.
//!
//! Only `id`, `collection`, `version` and `data` are required, so a user can hand the verifier
//! a document trimmed to what they care about. Every other field that is present is checked
//! against the audit entry (`content_hash`, `audit_id`, `updated_at`) except `created_at`: it
//! is the start of the document's current life, which no entry of this revision records, so
//! it is only checked to be text and a verifier must not rely on it. `data` is `null` for a
//! deletion.

use serde_json::{Map, Value};
use shared_kernel::Sha256Digest;

use super::error::ReceiptError;

/// The fields a document object may have.
const FIELDS: [&str; 8] = [
    "id",
    "collection",
    "version",
    "data",
    "content_hash",
    "created_at",
    "updated_at",
    "audit_id",
];

/// A document as claimed by a receipt or a user, checked only for shape here; the verifier
/// checks it against the audit entry.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentClaim {
    collection: String,
    id: String,
    version: u64,
    data: Option<Value>,
    content_hash: Option<Option<String>>,
    updated_at: Option<String>,
    audit_id: Option<String>,
}

impl DocumentClaim {
    /// Reads a document object.
    ///
    /// # Errors
    /// [`ReceiptError::Malformed`] naming the missing, unknown or mistyped field.
    pub fn from_json(value: &Value) -> Result<Self, ReceiptError> {
        let Value::Object(object) = value else {
            return Err(ReceiptError::malformed("a document must be a JSON object"));
        };
        if let Some(extra) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(ReceiptError::malformed(format!(
                "unknown document field `{extra}`"
            )));
        }
        let data = match required(object, "data")? {
            Value::Null => None,
            Value::Object(data) => Some(Value::Object(data.clone())),
            Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Array(_) => {
                return Err(mistyped("data"));
            }
        };
        let content_hash = match object.get("content_hash") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(hash)) => Some(Some(hash.clone())),
            Some(_) => return Err(mistyped("content_hash")),
        };
        // `created_at` is signed nowhere (see the module docs), but must at least be text.
        optional_text(object, "created_at")?;
        Ok(Self {
            collection: text(object, "collection")?.to_owned(),
            id: text(object, "id")?.to_owned(),
            version: required(object, "version")?
                .as_u64()
                .ok_or_else(|| mistyped("version"))?,
            data,
            content_hash,
            updated_at: optional_text(object, "updated_at")?,
            audit_id: optional_text(object, "audit_id")?,
        })
    }

    /// The collection's name.
    #[must_use]
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// The document id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The version.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The data, or `None` for a deletion.
    #[must_use]
    pub fn data(&self) -> Option<&Value> {
        self.data.as_ref()
    }

    /// The stated content hash: absent, stated null, or stated text.
    pub(crate) fn content_hash(&self) -> Option<Option<&str>> {
        self.content_hash.as_ref().map(Option::as_deref)
    }

    /// The stated `updated_at`, when present.
    pub(crate) fn updated_at(&self) -> Option<&str> {
        self.updated_at.as_deref()
    }

    /// The stated `audit_id`, when present.
    pub(crate) fn audit_id(&self) -> Option<&str> {
        self.audit_id.as_deref()
    }

    /// The content hash of the data (SHA-256 of its RFC 8785 bytes), `None` for a deletion.
    pub fn computed_content_hash(&self) -> Option<Sha256Digest> {
        self.data.as_ref().map(Sha256Digest::of_json)
    }
}

fn required<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a Value, ReceiptError> {
    object
        .get(name)
        .ok_or_else(|| ReceiptError::malformed(format!("document field `{name}` is missing")))
}

fn text<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str, ReceiptError> {
    required(object, name)?
        .as_str()
        .ok_or_else(|| mistyped(name))
}

fn optional_text(object: &Map<String, Value>, name: &str) -> Result<Option<String>, ReceiptError> {
    match object.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(mistyped(name)),
    }
}

fn mistyped(name: &str) -> ReceiptError {
    ReceiptError::malformed(format!("document field `{name}` has the wrong type"))
}
