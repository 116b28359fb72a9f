//! The audit entry: exactly the fields of API.md "Audit entries", and nothing else.
//!
//! Its leaf bytes (the RFC 8785 canonical JSON of those fields) are what the Merkle log
//! hashes, so the field set and their encodings are frozen: `v` names the format version.

use serde_json::{Map, Value};
use shared_kernel::{
    Actor, AuditId, CollectionId, Error, RequestContext, RequestId, Sha256Digest, Timestamp,
    TraceId,
};

use crate::merkle::{Hash, leaf_hash};

/// The format version written in every entry's `v` field.
pub const AUDIT_ENTRY_FORMAT_VERSION: u64 = 1;

/// The seven auditable operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditOperation {
    /// A collection was created.
    CollectionCreate,
    /// A collection's schema was set, replaced or removed.
    CollectionSchemaChange,
    /// A collection was deleted.
    CollectionDelete,
    /// A document was created or re-created.
    DocumentCreate,
    /// A document was replaced.
    DocumentReplace,
    /// A document was merge-patched.
    DocumentPatch,
    /// A document was deleted.
    DocumentDelete,
}

impl AuditOperation {
    /// Every operation.
    pub const ALL: [AuditOperation; 7] = [
        AuditOperation::CollectionCreate,
        AuditOperation::CollectionSchemaChange,
        AuditOperation::CollectionDelete,
        AuditOperation::DocumentCreate,
        AuditOperation::DocumentReplace,
        AuditOperation::DocumentPatch,
        AuditOperation::DocumentDelete,
    ];

    /// The wire name (`document.patch`).
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditOperation::CollectionCreate => "collection.create",
            AuditOperation::CollectionSchemaChange => "collection.schema_change",
            AuditOperation::CollectionDelete => "collection.delete",
            AuditOperation::DocumentCreate => "document.create",
            AuditOperation::DocumentReplace => "document.replace",
            AuditOperation::DocumentPatch => "document.patch",
            AuditOperation::DocumentDelete => "document.delete",
        }
    }

    /// Parses a wire name.
    ///
    /// # Errors
    /// `INVALID_INPUT` for any other text.
    pub fn parse(text: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|op| op.as_str() == text)
            .ok_or_else(|| Error::invalid_input(format!("`{text}` is not an audit operation")))
    }
}

/// What an entry is about: a collection, or one version of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditSubject {
    /// A collection operation (document fields are null).
    Collection,
    /// A document operation.
    Document {
        /// The document id.
        document_id: String,
        /// The version the change produced.
        version: u64,
        /// Content hash before (null at create).
        hash_before: Option<Sha256Digest>,
        /// Content hash after (null at delete).
        hash_after: Option<Sha256Digest>,
        /// SHA-256 of the JCS of the RFC 6902 patch (replace and patch only).
        patch_sha256: Option<Sha256Digest>,
    },
}

/// An entry's fields as its JSON object and leaf bytes spell them, in RFC 8785 order (names sorted by UTF-16
/// code units, which for these ASCII names is byte order). Keep the order when adding one.
#[derive(serde::Serialize)]
struct EntryFields<'a> {
    actor: String,
    at: String,
    collection: &'a str,
    collection_id: String,
    document_id: Option<&'a str>,
    hash_after: Option<String>,
    hash_before: Option<String>,
    id: String,
    operation: &'static str,
    patch_sha256: Option<String>,
    request_id: &'a str,
    trace_id: Option<&'a str>,
    v: u64,
    version: Option<u64>,
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// The entry's id (UUIDv7).
    pub id: AuditId,
    /// When the change happened, taken inside its transaction.
    pub at: Timestamp,
    /// Who made it.
    pub actor: Actor,
    /// Which request.
    pub request_id: RequestId,
    /// Which trace, if any.
    pub trace_id: Option<TraceId>,
    /// What was done.
    pub operation: AuditOperation,
    /// The collection's name at the time.
    pub collection: String,
    /// The collection's immutable id.
    pub collection_id: CollectionId,
    /// The document part, or none for collection operations.
    pub subject: AuditSubject,
}

impl AuditEntry {
    /// A new entry for `operation` in `context`.
    pub fn new(
        id: AuditId,
        at: Timestamp,
        context: &RequestContext,
        operation: AuditOperation,
        collection: (&str, CollectionId),
        subject: AuditSubject,
    ) -> Self {
        Self {
            id,
            at,
            actor: context.actor.clone(),
            request_id: context.request_id.clone(),
            trace_id: context.trace_id.clone(),
            operation,
            collection: collection.0.to_owned(),
            collection_id: collection.1,
            subject,
        }
    }

    /// The entry as the JSON object of API.md (every field present, null where absent).
    pub fn to_json(&self) -> Value {
        // Strings, integers and nulls always serialise (see `fields`).
        serde_json::to_value(self.fields()).expect("an audit entry's fields serialise")
    }

    /// The leaf bytes: the RFC 8785 canonical JSON of [`to_json`](Self::to_json).
    ///
    /// Written straight from the fields (every write makes one), not through a tree of JSON
    /// values: [`EntryFields`] lists them in RFC 8785 order, and for what an entry holds
    /// (strings, integers below 2^53, nulls) serde_json's compact output is byte for byte the
    /// canonical form. A test holds the two together.
    pub fn leaf_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.fields()).expect("an audit entry's fields serialise")
    }

    /// The fields of API.md "Audit entries", as both the JSON object and the leaf bytes spell
    /// them. Only strings, integers and nulls: serialising them cannot fail.
    fn fields(&self) -> EntryFields<'_> {
        let hex = |digest: &Option<Sha256Digest>| digest.map(|d| d.to_hex());
        let (document_id, version, hash_before, hash_after, patch_sha256) = match &self.subject {
            AuditSubject::Collection => (None, None, None, None, None),
            AuditSubject::Document {
                document_id,
                version,
                hash_before,
                hash_after,
                patch_sha256,
            } => (
                Some(document_id.as_str()),
                Some(*version),
                hex(hash_before),
                hex(hash_after),
                hex(patch_sha256),
            ),
        };
        EntryFields {
            actor: self.actor.to_string(),
            at: self.at.to_rfc3339(),
            collection: &self.collection,
            collection_id: self.collection_id.to_string(),
            document_id,
            hash_after,
            hash_before,
            id: self.id.to_string(),
            operation: self.operation.as_str(),
            patch_sha256,
            request_id: self.request_id.as_str(),
            trace_id: self.trace_id.as_ref().map(TraceId::as_str),
            v: AUDIT_ENTRY_FORMAT_VERSION,
            version,
        }
    }

    /// The RFC 9162 leaf hash, SHA-256(0x00 ‖ leaf bytes).
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.leaf_bytes())
    }

    /// Parses leaf bytes back into an entry, insisting they are exactly canonical: a verifier
    /// must never accept two byte strings for one entry.
    ///
    /// # Errors
    /// `INVALID_INPUT` naming the first field that is missing, extra or malformed, or when
    /// the bytes are not the canonical form of the entry they describe.
    pub fn from_leaf_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let value = shared_kernel::json::parse_strict(bytes)?;
        let Value::Object(object) = value else {
            return Err(Error::invalid_input("an audit entry must be a JSON object"));
        };
        let entry = Self::from_object(&object)?;
        if entry.leaf_bytes() != bytes {
            return Err(Error::invalid_input(
                "audit entry bytes are not in canonical form",
            ));
        }
        Ok(entry)
    }

    fn from_object(object: &Map<String, Value>) -> Result<Self, Error> {
        const FIELDS: [&str; 14] = [
            "v",
            "id",
            "at",
            "actor",
            "request_id",
            "trace_id",
            "operation",
            "collection",
            "collection_id",
            "document_id",
            "version",
            "hash_before",
            "hash_after",
            "patch_sha256",
        ];
        if let Some(extra) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(Error::invalid_input(format!(
                "unexpected audit entry field `{extra}`"
            )));
        }
        let field = |name: &str| object.get(name).ok_or_else(|| missing(name));
        let text = |name: &str| field(name)?.as_str().ok_or_else(|| malformed(name));
        let optional_text = |name: &str| match field(name)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.as_str())),
            Value::Bool(_) | Value::Number(_) | Value::Array(_) | Value::Object(_) => {
                Err(malformed(name))
            }
        };
        let optional_digest = |name: &str| {
            optional_text(name)?
                .map(Sha256Digest::parse_hex)
                .transpose()
                .map_err(|_| malformed(name))
        };
        if field("v")?.as_u64() != Some(AUDIT_ENTRY_FORMAT_VERSION) {
            return Err(malformed("v"));
        }
        let operation = AuditOperation::parse(text("operation")?)?;
        let is_document = operation.as_str().starts_with("document.");
        let subject = match (optional_text("document_id")?, field("version")?.as_u64()) {
            (Some(document_id), Some(version)) if is_document => AuditSubject::Document {
                document_id: document_id.to_owned(),
                version,
                hash_before: optional_digest("hash_before")?,
                hash_after: optional_digest("hash_after")?,
                patch_sha256: optional_digest("patch_sha256")?,
            },
            (None, None) if !is_document => AuditSubject::Collection,
            _ => return Err(malformed("document_id")),
        };
        Ok(Self {
            id: AuditId::parse(text("id")?)?,
            at: Timestamp::parse_rfc3339(text("at")?)?,
            actor: Actor::parse(text("actor")?)?,
            request_id: RequestId::parse(text("request_id")?)?,
            trace_id: optional_text("trace_id")?.map(TraceId::parse).transpose()?,
            operation,
            collection: text("collection")?.to_owned(),
            collection_id: CollectionId::parse(text("collection_id")?)?,
            subject,
        })
    }
}

fn missing(name: &str) -> Error {
    Error::invalid_input(format!("audit entry field `{name}` is missing"))
}

fn malformed(name: &str) -> Error {
    Error::invalid_input(format!("audit entry field `{name}` is malformed"))
}

/// An entry and the RFC 6902 patch stored beside it (not inside it, so a patch can later be
/// redacted while every proof stays valid).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// The entry.
    pub entry: AuditEntry,
    /// The patch whose hash is `patch_sha256`, for replace and patch.
    pub patch: Option<Value>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shared_kernel::canonical_json;

    use super::*;

    fn entry(subject: AuditSubject, operation: AuditOperation) -> AuditEntry {
        let context = RequestContext {
            actor: Actor::Anonymous,
            request_id: RequestId::parse("req-1").unwrap_or_else(|e| panic!("{e}")),
            trace_id: None,
            deadline: None,
        };
        AuditEntry::new(
            AuditId::generate(),
            Timestamp::from_millis(1_764_063_000_123),
            &context,
            operation,
            ("orders", CollectionId::generate()),
            subject,
        )
    }

    #[test]
    fn a_collection_entry_has_every_field_with_nulls_for_the_document_part() {
        let json = entry(AuditSubject::Collection, AuditOperation::CollectionCreate).to_json();
        let object = json.as_object().cloned().unwrap_or_default();
        assert_eq!(object.len(), 14);
        for field in [
            "document_id",
            "version",
            "hash_before",
            "hash_after",
            "patch_sha256",
            "trace_id",
        ] {
            assert_eq!(object.get(field), Some(&Value::Null), "{field}");
        }
        assert_eq!(object.get("v"), Some(&json!(1)));
        assert_eq!(object.get("at"), Some(&json!("2025-11-25T09:30:00.123Z")));
    }

    #[test]
    fn leaf_bytes_are_canonical_and_parse_back_to_the_same_entry() {
        let subject = AuditSubject::Document {
            document_id: "doc-1".into(),
            version: 2,
            hash_before: Some(Sha256Digest::of(b"a")),
            hash_after: Some(Sha256Digest::of(b"b")),
            patch_sha256: Some(Sha256Digest::of(b"p")),
        };
        let original = entry(subject, AuditOperation::DocumentReplace);
        let bytes = original.leaf_bytes();
        assert!(
            bytes.starts_with(br#"{"actor":"anonymous","at":"#),
            "keys are sorted"
        );
        assert_eq!(AuditEntry::from_leaf_bytes(&bytes).ok(), Some(original));
    }

    #[test]
    fn leaf_bytes_are_the_canonical_form_of_the_entry_json() {
        let awkward = "naïve \u{1}\u{1f}\"q\" \\ / \u{7f} \u{2028} 😀\t\n";
        let document = AuditSubject::Document {
            document_id: awkward.into(),
            version: (1 << 53) - 1,
            hash_before: None,
            hash_after: Some(Sha256Digest::of(b"b")),
            patch_sha256: None,
        };
        for subject in [AuditSubject::Collection, document] {
            for operation in AuditOperation::ALL {
                let mut entry = entry(subject.clone(), operation);
                entry.collection = awkward.into();
                let canonical = canonical_json(&entry.to_json());
                assert_eq!(
                    String::from_utf8_lossy(&entry.leaf_bytes()),
                    canonical,
                    "{operation:?}"
                );
            }
        }
    }

    #[test]
    fn non_canonical_or_incomplete_leaf_bytes_are_rejected() {
        let original = entry(AuditSubject::Collection, AuditOperation::CollectionDelete);
        let bytes = original.leaf_bytes();
        let spaced = String::from_utf8_lossy(&bytes).replace(",", ", ");
        assert!(AuditEntry::from_leaf_bytes(spaced.as_bytes()).is_err());
        let missing = String::from_utf8_lossy(&bytes).replace(r#""trace_id":null,"#, "");
        assert!(AuditEntry::from_leaf_bytes(missing.as_bytes()).is_err());
        let mismatched =
            String::from_utf8_lossy(&bytes).replace(r#""version":null"#, r#""version":3"#);
        assert!(AuditEntry::from_leaf_bytes(mismatched.as_bytes()).is_err());
    }
}
