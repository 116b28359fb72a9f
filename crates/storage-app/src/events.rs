//! Outbox events: what leaves the service after a change commits.
//!
//! They are written in the change's own transaction, so an event exists if and only if its
//! change does; a relay publishes them afterwards (in-process or to Redis Streams).

use serde::Serialize;
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
    /// The event body as JSON text: the change's facts and its request context. Written
    /// once, when the event is made, straight from those facts: the outbox stores the text,
    /// and a tree of JSON values built on every write only to be serialised would cost a
    /// request an allocation per field.
    pub payload: String,
}

/// The request context an event carries. Fields in name order, as every payload's are, so
/// the text reads the same as the canonical form of the same object.
#[derive(Serialize)]
struct ContextPayload<'a> {
    actor: String,
    request_id: &'a str,
    trace_id: Option<&'a str>,
}

impl<'a> ContextPayload<'a> {
    fn of(context: &'a RequestContext) -> Self {
        Self {
            actor: context.actor.to_string(),
            request_id: context.request_id.as_str(),
            trace_id: context.trace_id.as_ref().map(TraceId::as_str),
        }
    }
}

#[derive(Serialize)]
struct CollectionPayload<'a> {
    audit_id: String,
    collection: &'a str,
    collection_id: String,
    context: ContextPayload<'a>,
    version: Option<u64>,
}

#[derive(Serialize)]
struct DocumentPayload<'a> {
    audit_id: String,
    collection: &'a str,
    collection_id: String,
    context: ContextPayload<'a>,
    document_id: &'a str,
    hash_after: Option<String>,
    hash_before: Option<String>,
    version: u64,
}

/// The JSON text of a payload: its fields are strings, numbers and nulls, which always
/// serialise.
fn to_text(payload: &impl Serialize) -> String {
    serde_json::to_string(payload).expect("an outbox payload's fields serialise")
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
            payload: to_text(&CollectionPayload {
                audit_id: audit_id.to_string(),
                collection: name.as_str(),
                collection_id: id.to_string(),
                context: ContextPayload::of(context),
                version,
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
            payload: to_text(&DocumentPayload {
                audit_id: event.audit_id.to_string(),
                collection,
                collection_id: event.collection_id.to_string(),
                context: ContextPayload::of(context),
                document_id: event.document_id.as_str(),
                hash_after: event.hash_after.map(|h| h.to_hex()),
                hash_before: event.hash_before.map(|h| h.to_hex()),
                version: event.version.get(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use shared_kernel::{CollectionId, Sha256Digest};
    use storage_domain::{CollectionName, DocumentId, Version};

    use super::*;
    use crate::commands::test_support::context;

    fn parsed(event: &OutboxEvent) -> Value {
        serde_json::from_str(&event.payload).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_document_event_carries_its_facts_and_context() {
        let collection_id = CollectionId::generate();
        let audit_id = AuditId::generate();
        let change = DocumentEvent {
            operation: DocumentOperation::Replace,
            collection_id,
            document_id: DocumentId::parse("o-1").unwrap_or_else(|e| panic!("{e}")),
            version: Version::new(2).unwrap_or_else(|e| panic!("{e}")),
            hash_before: Some(Sha256Digest::of(b"before")),
            hash_after: None,
            patch: None,
            audit_id,
            at: Timestamp::from_millis(7),
        };
        let event = OutboxEvent::from_document(&change, "orders", &context());
        assert_eq!(event.event_type, "document.replaced");
        assert_eq!(
            parsed(&event),
            json!({
                "audit_id": audit_id.to_string(),
                "collection": "orders",
                "collection_id": collection_id.to_string(),
                "context": {"actor": "anonymous", "request_id": "req-1", "trace_id": null},
                "document_id": "o-1",
                "hash_after": null,
                "hash_before": Sha256Digest::of(b"before").to_hex(),
                "version": 2,
            })
        );
        assert!(
            event.payload.starts_with(r#"{"audit_id":"#),
            "fields in name order: {}",
            event.payload
        );
    }

    #[test]
    fn a_collection_event_carries_its_name_and_version() {
        let id = CollectionId::generate();
        let audit_id = AuditId::generate();
        let change = CollectionEvent::SchemaChanged {
            id,
            name: CollectionName::parse("orders").unwrap_or_else(|e| panic!("{e}")),
            version: 3,
            at: Timestamp::from_millis(7),
        };
        let event = OutboxEvent::from_collection(&change, audit_id, &context());
        assert_eq!(event.event_type, "collection.schema_changed");
        assert_eq!(
            parsed(&event),
            json!({
                "audit_id": audit_id.to_string(),
                "collection": "orders",
                "collection_id": id.to_string(),
                "context": {"actor": "anonymous", "request_id": "req-1", "trace_id": null},
                "version": 3,
            })
        );
    }
}
