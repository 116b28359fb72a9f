//! Revisions: every version of a document is kept, tombstones included.

use shared_kernel::{Actor, AuditId, CollectionId, Timestamp};

use super::{DocumentData, DocumentId, DocumentOperation, Version};

/// One stored version of a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    /// The collection's immutable id.
    pub collection_id: CollectionId,
    /// The document.
    pub document_id: DocumentId,
    /// This version.
    pub version: Version,
    /// The change that produced it.
    pub operation: DocumentOperation,
    /// The data at this version (`None` for a tombstone).
    pub data: Option<DocumentData>,
    /// When.
    pub at: Timestamp,
    /// Who.
    pub actor: Actor,
    /// The audit entry of the change.
    pub audit_id: AuditId,
}
