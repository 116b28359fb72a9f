//! Outbox events: what leaves the service after a change commits.
//!
//! They are written in the change's own transaction, so an event exists if and only if its
//! change does; a relay publishes them afterwards (in-process or to Redis Streams).

use serde_json::{Value, json};
use shared_kernel::{AuditId, RequestContext, Timestamp, TraceId};
use storage_domain::{CollectionEvent, DocumentEvent, DocumentOperation};

/// One event waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// A UUIDv7, unique per event (consumers de-duplicate on it).
    pub id: uuid::Uuid,
    /// The past-tense event type (`document.patched`).
    pub event_type: &'static str,
    /// The audit entry of the change.
    pub audit_id: AuditId,
    /// When the change happened.
    pub occurred_at: Timestamp,
    /// The event body: the change's facts and its request context.
    pub payload: Value,
}

fn context_json(context: &RequestContext) -> Value {
    json!({
        "actor": context.actor.to_string(),
        "request_id": context.request_id.as_str(),
        "trace_id": context.trace_id.as_ref().map(TraceId::as_str),
    })
}

impl OutboxEvent {
    /// The event for a collection change.
    pub fn from_collection(
        event: &CollectionEvent,
        audit_id: AuditId,
        context: &RequestContext,
    ) -> Self {
        let (event_type, id, name, at, version) = match event {
            CollectionEvent::Created { id, name, at } => ("collection.created", id, name, at, None),
            CollectionEvent::SchemaChanged {
                id,
                name,
                version,
                at,
            } => ("collection.schema_changed", id, name, at, Some(*version)),
            CollectionEvent::Deleted { id, name, at } => ("collection.deleted", id, name, at, None),
        };
        Self {
            id: uuid::Uuid::now_v7(),
            event_type,
            audit_id,
            occurred_at: *at,
            payload: json!({
                "collection": name.as_str(),
                "collection_id": id.to_string(),
                "version": version,
                "audit_id": audit_id.to_string(),
                "context": context_json(context),
            }),
        }
    }

    /// The event for a document change.
    pub fn from_document(
        event: &DocumentEvent,
        collection: &str,
        context: &RequestContext,
    ) -> Self {
        let event_type = match event.operation {
            DocumentOperation::Create => "document.created",
            DocumentOperation::Replace => "document.replaced",
            DocumentOperation::Patch => "document.patched",
            DocumentOperation::Delete => "document.deleted",
        };
        Self {
            id: uuid::Uuid::now_v7(),
            event_type,
            audit_id: event.audit_id,
            occurred_at: event.at,
            payload: json!({
                "collection": collection,
                "collection_id": event.collection_id.to_string(),
                "document_id": event.document_id.as_str(),
                "version": event.version.get(),
                "hash_before": event.hash_before.map(|h| h.to_hex()),
                "hash_after": event.hash_after.map(|h| h.to_hex()),
                "audit_id": event.audit_id.to_string(),
                "context": context_json(context),
            }),
        }
    }
}
