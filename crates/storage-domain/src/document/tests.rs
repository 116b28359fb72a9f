//! Given/when/then tests of the `Document` entity: each change records exactly one event.

use serde_json::{Value, json};
use shared_kernel::{Actor, AuditId, CollectionId, ErrorCode, Timestamp};

use super::*;

fn data(value: Value) -> DocumentData {
    DocumentData::parse(value, &DocumentLimits::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn stamp(ms: i64) -> ChangeStamp {
    ChangeStamp {
        at: Timestamp::from_millis(ms),
        actor: Actor::Anonymous,
        audit_id: AuditId::generate(),
    }
}

fn v(n: u64) -> Version {
    Version::new(n).unwrap_or(Version::FIRST)
}

/// Given a freshly created document with its creation event drained.
fn given_document(value: Value) -> Document {
    let id = DocumentId::parse("doc-1").unwrap_or_else(|e| panic!("{e}"));
    let mut document = Document::create(CollectionId::generate(), id, data(value), stamp(1));
    document.take_events();
    document
}

#[test]
fn when_created_then_version_one_and_a_create_event_with_only_hash_after() {
    let id = DocumentId::parse("doc-1").unwrap_or_else(|e| panic!("{e}"));
    let first = stamp(5);
    let mut document = Document::create(
        CollectionId::generate(),
        id,
        data(json!({"a": 1})),
        first.clone(),
    );
    assert_eq!(document.version(), Version::FIRST);
    let events = document.take_events();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.operation, DocumentOperation::Create);
    assert_eq!(event.hash_before, None);
    assert_eq!(event.hash_after, Some(data(json!({"a": 1})).content_hash()));
    assert_eq!(event.patch, None);
    assert_eq!(event.audit_id, first.audit_id);
    assert_eq!(
        document.current_revision().operation,
        DocumentOperation::Create
    );
}

#[test]
fn given_a_document_when_replaced_then_hashes_chain_and_the_patch_is_rfc6902() {
    let mut document = given_document(json!({"a": 1, "b": 2}));
    let before = document.data().map(DocumentData::content_hash);
    let result = document.replace(data(json!({"a": 1, "c": 3})), &Precondition::None, stamp(2));
    assert!(result.is_ok());
    assert_eq!(document.version(), v(2));
    let events = document.take_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].operation, DocumentOperation::Replace);
    assert_eq!(events[0].hash_before, before);
    assert_eq!(
        events[0].hash_after,
        Some(data(json!({"a": 1, "c": 3})).content_hash())
    );
    let mut replayed = json!({"a": 1, "b": 2});
    let patch: json_patch::Patch =
        serde_json::from_value(events[0].patch.clone().unwrap_or_default()).unwrap_or_default();
    assert!(json_patch::patch(&mut replayed, &patch).is_ok());
    assert_eq!(
        replayed,
        json!({"a": 1, "c": 3}),
        "applying the patch to N-1 gives N"
    );
}

#[test]
fn given_a_document_when_merge_patched_then_nulls_remove_keys_and_the_result_is_validated() {
    let mut document = given_document(json!({"a": 1, "b": {"c": 2}}));
    let limits = DocumentLimits::default();
    let result = document.merge_patch(
        &json!({"b": {"c": null, "d": 4}}),
        &limits,
        &Precondition::None,
        stamp(2),
    );
    assert!(result.is_ok());
    assert_eq!(
        document.data().map(DocumentData::value),
        Some(&json!({"a": 1, "b": {"d": 4}}))
    );
    assert_eq!(
        document.take_events()[0].operation,
        DocumentOperation::Patch
    );

    let bad = document.merge_patch(&json!({"$x": 1}), &limits, &Precondition::None, stamp(3));
    assert_eq!(bad.err().map(|e| e.code()), Some(ErrorCode::InvalidInput));
    assert_eq!(document.version(), v(2), "a rejected patch changes nothing");
    assert!(document.take_events().is_empty());
}

#[test]
fn given_a_stale_if_match_when_changed_then_precondition_failed_and_nothing_recorded() {
    let mut document = given_document(json!({"a": 1}));
    let stale = Precondition::OneOf(vec![v(7)]);
    let result = document.replace(data(json!({"a": 2})), &stale, stamp(2));
    assert_eq!(
        result.err().map(|e| e.code()),
        Some(ErrorCode::PreconditionFailed)
    );
    assert_eq!(
        document.delete(&stale, stamp(2)).err().map(|e| e.code()),
        Some(ErrorCode::PreconditionFailed)
    );
    assert!(document.take_events().is_empty());
    assert!(
        document
            .replace(
                data(json!({"a": 2})),
                &Precondition::OneOf(vec![v(1)]),
                stamp(2)
            )
            .is_ok()
    );
}

#[test]
fn given_a_document_when_deleted_then_a_tombstone_with_only_hash_before() {
    let mut document = given_document(json!({"a": 1}));
    assert!(document.delete(&Precondition::AnyLive, stamp(2)).is_ok());
    assert!(!document.is_live());
    assert_eq!(document.version(), v(2));
    let events = document.take_events();
    assert_eq!(events[0].operation, DocumentOperation::Delete);
    assert_eq!(events[0].hash_after, None);
    assert!(events[0].hash_before.is_some());
    assert_eq!(document.current_revision().data, None);
}

#[test]
fn given_a_tombstone_when_changed_then_not_found_and_if_match_star_does_not_match() {
    let mut document = given_document(json!({"a": 1}));
    assert!(document.delete(&Precondition::None, stamp(2)).is_ok());
    document.take_events();
    let replace = document.replace(data(json!({})), &Precondition::AnyLive, stamp(3));
    assert_eq!(replace.err().map(|e| e.code()), Some(ErrorCode::NotFound));
    let delete = document.delete(&Precondition::None, stamp(3));
    assert_eq!(delete.err().map(|e| e.code()), Some(ErrorCode::NotFound));
    assert!(document.take_events().is_empty());
}

#[test]
fn given_a_tombstone_when_recreated_then_the_version_sequence_continues() {
    let mut document = given_document(json!({"a": 1}));
    assert!(document.delete(&Precondition::None, stamp(2)).is_ok());
    document.take_events();
    assert!(document.recreate(data(json!({"b": 2})), stamp(3)).is_ok());
    assert_eq!(document.version(), v(3));
    assert_eq!(document.created_at(), Timestamp::from_millis(3));
    let events = document.take_events();
    assert_eq!(events[0].operation, DocumentOperation::Create);
    assert_eq!(events[0].hash_before, None);
}

#[test]
fn given_a_live_document_when_recreated_then_conflict() {
    let mut document = given_document(json!({"a": 1}));
    let result = document.recreate(data(json!({"b": 2})), stamp(3));
    assert_eq!(result.err().map(|e| e.code()), Some(ErrorCode::Conflict));
}

#[test]
fn operations_round_trip_through_their_names() {
    for op in [
        DocumentOperation::Create,
        DocumentOperation::Replace,
        DocumentOperation::Patch,
        DocumentOperation::Delete,
    ] {
        assert_eq!(DocumentOperation::parse(op.as_str()).ok(), Some(op));
    }
    assert!(DocumentOperation::parse("document.burn").is_err());
}
