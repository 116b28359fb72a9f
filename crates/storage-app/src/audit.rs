//! Turning Storage's domain events into audit records: the anti-corruption layer between the
//! two bounded contexts (the audit context knows no storage types).

use audit_domain::{AuditEntry, AuditOperation, AuditRecord, AuditSubject};
use shared_kernel::{AuditId, Error, RequestContext, Sha256Digest};
use storage_domain::{CollectionEvent, DocumentEvent, DocumentOperation};

/// The audit record of a collection change.
pub(crate) fn collection_record(
    event: &CollectionEvent,
    audit_id: AuditId,
    context: &RequestContext,
) -> AuditRecord {
    let (operation, id, name, at) = match event {
        CollectionEvent::Created { id, name, at } => {
            (AuditOperation::CollectionCreate, id, name, at)
        }
        CollectionEvent::SchemaChanged { id, name, at, .. } => {
            (AuditOperation::CollectionSchemaChange, id, name, at)
        }
        CollectionEvent::Deleted { id, name, at } => {
            (AuditOperation::CollectionDelete, id, name, at)
        }
    };
    let entry = AuditEntry::new(
        audit_id,
        *at,
        context,
        operation,
        (name.as_str(), *id),
        AuditSubject::Collection,
    );
    AuditRecord { entry, patch: None }
}

/// The audit record of a document change; the patch's hash goes into the entry, the patch
/// itself beside it.
pub(crate) fn document_record(
    event: &DocumentEvent,
    collection: &str,
    context: &RequestContext,
) -> Result<AuditRecord, Error> {
    let operation = match event.operation {
        DocumentOperation::Create => AuditOperation::DocumentCreate,
        DocumentOperation::Replace => AuditOperation::DocumentReplace,
        DocumentOperation::Patch => AuditOperation::DocumentPatch,
        DocumentOperation::Delete => AuditOperation::DocumentDelete,
    };
    let patch_sha256 = event.patch.as_ref().map(Sha256Digest::of_json);
    let subject = AuditSubject::Document {
        document_id: event.document_id.as_str().to_owned(),
        version: event.version.get(),
        hash_before: event.hash_before,
        hash_after: event.hash_after,
        patch_sha256,
    };
    let entry = AuditEntry::new(
        event.audit_id,
        event.at,
        context,
        operation,
        (collection, event.collection_id),
        subject,
    );
    Ok(AuditRecord {
        entry,
        patch: event.patch.clone(),
    })
}
