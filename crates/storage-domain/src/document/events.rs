//! What happened to a document: past-tense events recorded by the entity.
//!
//! They are what the outbox publishes and what the audit entry is made from, so they carry
//! exactly the facts both need: version, hashes before and after, and the RFC 6902 patch.

use serde_json::Value;
use shared_kernel::{AuditId, CollectionId, Sha256Digest, Timestamp};

use super::{DocumentId, DocumentOperation, Version};

/// One change to one document.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentEvent {
    /// Which change.
    pub operation: DocumentOperation,
    /// The collection's immutable id.
    pub collection_id: CollectionId,
    /// The document.
    pub document_id: DocumentId,
    /// The version the change produced.
    pub version: Version,
    /// Content hash before the change (`None` when it created the document).
    pub hash_before: Option<Sha256Digest>,
    /// Content hash after the change (`None` when it deleted the document).
    pub hash_after: Option<Sha256Digest>,
    /// The RFC 6902 patch from the previous data to the new data (replace and patch only).
    pub patch: Option<Value>,
    /// The audit entry that records this change.
    pub audit_id: AuditId,
    /// When.
    pub at: Timestamp,
}
