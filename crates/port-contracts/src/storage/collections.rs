//! `CollectionRepository`: collections stored inside a transaction, a live name unique.

use serde_json::json;
use shared_kernel::{ErrorCode, Timestamp};
use storage_domain::CollectionSchema;

use super::build::{
    begin, collection, commit, commit_collection, commit_document, document, name, ok,
    refused_with, stamp,
};
use crate::Backend;

/// `insert` MUST return `CONFLICT` when a live collection has the same name.
pub async fn inserting_a_second_live_collection_of_a_name_is_a_conflict<B: Backend>(backend: &B) {
    commit_collection(backend, &collection("orders")).await;
    let mut tx = begin(backend).await;
    let done = tx.collections().insert(&collection("orders")).await;
    refused_with("a second `orders`", done, tx, ErrorCode::Conflict).await;
    let listed = ok(
        "listing",
        backend.ports().reader.collections(None, 10).await,
    );
    assert_eq!(listed.len(), 1, "one `orders` is stored: {listed:?}");
}

/// Only a *live* collection holds its name: once deleted, a new collection may take it.
pub async fn a_deleted_collections_name_may_be_taken_again<B: Backend>(backend: &B) {
    let mut first = collection("orders");
    commit_collection(backend, &first).await;
    ok("deleting", first.delete(0, Timestamp::from_millis(5)));
    let mut tx = begin(backend).await;
    ok("storing the delete", tx.collections().update(&first).await);
    commit(tx).await;
    let second = collection("orders");
    commit_collection(backend, &second).await;
    let found = ok(
        "finding",
        backend.ports().reader.collection(&name("orders")).await,
    );
    assert_eq!(
        found.map(|c| c.id()),
        Some(second.id()),
        "the new one is live"
    );
}

/// `update` MUST return `NOT_FOUND` when no collection has its id.
pub async fn updating_a_collection_never_stored_is_not_found<B: Backend>(backend: &B) {
    let mut never = collection("ghosts");
    let schema = ok("a schema", CollectionSchema::new(json!({"type": "object"})));
    ok(
        "changing the schema",
        never.change_schema(Some(schema), Timestamp::from_millis(5)),
    );
    let mut tx = begin(backend).await;
    let done = tx.collections().update(&never).await;
    refused_with("updating `ghosts`", done, tx, ErrorCode::NotFound).await;
}

/// An update stores the new settings: the reader sees the schema and the moved version; a
/// deleted collection is no longer found by name nor listed.
pub async fn an_updated_collection_reads_back_changed_and_a_deleted_one_is_gone<B: Backend>(
    backend: &B,
) {
    let mut orders = collection("orders");
    commit_collection(backend, &orders).await;
    let schema = ok(
        "a schema",
        CollectionSchema::new(json!({"required": ["a"]})),
    );
    ok(
        "changing the schema",
        orders.change_schema(Some(schema.clone()), Timestamp::from_millis(5)),
    );
    let mut tx = begin(backend).await;
    ok("storing the change", tx.collections().update(&orders).await);
    commit(tx).await;
    let reader = backend.ports().reader;
    let found = ok("finding", reader.collection(&name("orders")).await)
        .unwrap_or_else(|| panic!("`orders` is live"));
    assert_eq!(found.version(), orders.version());
    assert_eq!(found.schema(), Some(&schema));
    ok("deleting", orders.delete(0, Timestamp::from_millis(6)));
    let mut tx = begin(backend).await;
    ok("storing the delete", tx.collections().update(&orders).await);
    commit(tx).await;
    assert!(ok("finding", reader.collection(&name("orders")).await).is_none());
    assert!(ok("listing", reader.collections(None, 10).await).is_empty());
}

/// `count_live_documents` counts live documents of that collection only: a deleted one
/// (a tombstone) and another collection's are not counted.
pub async fn live_documents_are_counted_without_tombstones_or_other_collections<B: Backend>(
    backend: &B,
) {
    let orders = collection("orders");
    let other = collection("other");
    commit_collection(backend, &orders).await;
    commit_collection(backend, &other).await;
    commit_document(backend, &orders, &document(&orders, "a", json!({"n": 1}))).await;
    let mut gone = document(&orders, "b", json!({"n": 2}));
    commit_document(backend, &orders, &gone).await;
    ok("deleting b", gone.delete(&Default::default(), stamp(4)));
    commit_document(backend, &orders, &gone).await;
    commit_document(backend, &other, &document(&other, "c", json!({}))).await;
    let mut tx = begin(backend).await;
    let counted = ok(
        "counting",
        tx.collections().count_live_documents(orders.id()).await,
    );
    assert_eq!(counted, 1);
}
