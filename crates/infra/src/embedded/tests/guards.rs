//! The guards a write asks for, on the embedded store: checked on the writer, a guard that no
//! longer holds refuses the commit as `Stale` and nothing of the write is stored. These are
//! the two races of issue 21 (a delete of a collection against a create into it, a schema
//! change against a write validated under the old schema) played out step by step.

use serde_json::json;
use storage_app::{Attempt, CommitError, Guard};
use storage_domain::{Collection, CollectionSchema, Document, DocumentId};

use super::{collection, count, data, ok, open, stamp, tempdir};
use crate::embedded::EmbeddedStore;

async fn commit_collection(store: &EmbeddedStore, collection: &Collection) {
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(tx.collections().insert(collection).await);
    ok(tx.commit().await.map_err(shared_kernel::Error::from));
}

/// A first attempt that reads `orders`, guards it, and saves a new document into it,
/// left open before its commit.
async fn create_into(store: &EmbeddedStore, id: &str) -> Box<dyn storage_app::Transaction> {
    let mut tx = ok(store.unit_of_work().begin(Attempt::First).await);
    let name = ok(storage_domain::CollectionName::parse("orders"));
    let found = ok(tx.collections().find_by_name(&name).await);
    let collection = found.unwrap_or_else(|| panic!("orders is live"));
    tx.require(Guard::CollectionLive {
        collection: collection.id(),
        version: collection.version(),
    });
    let document = Document::create(
        collection.id(),
        ok(DocumentId::parse(id)),
        data(json!({"a": 1})),
        stamp(5),
    );
    ok(tx
        .documents()
        .save(&document, &document.current_revision())
        .await);
    tx
}

/// Changes `orders` through `change` in a transaction of its own, committed.
async fn change_collection(store: &EmbeddedStore, change: impl FnOnce(&mut Collection)) {
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    let name = ok(storage_domain::CollectionName::parse("orders"));
    let mut current =
        ok(tx.collections().find_by_name(&name).await).unwrap_or_else(|| panic!("orders is live"));
    change(&mut current);
    ok(tx.collections().update(&current).await);
    ok(tx.commit().await.map_err(shared_kernel::Error::from));
}

#[tokio::test]
async fn a_create_into_a_collection_deleted_before_its_commit_is_refused_as_stale() {
    let dir = tempdir();
    let store = open(dir.path());
    commit_collection(&store, &collection("orders")).await;
    let create = create_into(&store, "late").await;
    // The delete counted zero live documents: the create has not committed.
    change_collection(&store, |c| {
        ok(c.delete(0, shared_kernel::Timestamp::from_millis(9)))
    })
    .await;
    let refused = create.commit().await;
    assert!(matches!(refused, Err(CommitError::Stale)), "{refused:?}");
    assert_eq!(
        count(&store, "documents"),
        0,
        "nothing of the create was stored"
    );
    assert_eq!(count(&store, "revisions"), 0);
}

#[tokio::test]
async fn a_write_validated_under_a_replaced_schema_is_refused_as_stale() {
    let dir = tempdir();
    let store = open(dir.path());
    commit_collection(&store, &collection("orders")).await;
    let create = create_into(&store, "old-schema").await;
    change_collection(&store, |c| {
        let schema = ok(CollectionSchema::new(json!({"required": ["b"]})));
        ok(c.change_schema(Some(schema), shared_kernel::Timestamp::from_millis(9)));
    })
    .await;
    let refused = create.commit().await;
    assert!(matches!(refused, Err(CommitError::Stale)), "{refused:?}");
    assert_eq!(count(&store, "documents"), 0);
}

#[tokio::test]
async fn a_document_guard_that_no_longer_holds_refuses_the_commit() {
    let dir = tempdir();
    let store = open(dir.path());
    let orders = collection("orders");
    commit_collection(&store, &orders).await;
    let mut tx = ok(store.unit_of_work().begin(Attempt::First).await);
    let id = ok(DocumentId::parse("d-1"));
    assert!(ok(tx.documents().find(orders.id(), &id).await).is_none());
    tx.require(Guard::DocumentAt {
        collection: orders.id(),
        id: id.clone(),
        version: None,
    });
    let mine = Document::create(orders.id(), id.clone(), data(json!({"by": "me"})), stamp(4));
    ok(tx.documents().save(&mine, &mine.current_revision()).await);
    // Someone else creates the document first.
    let first = Document::create(
        orders.id(),
        id.clone(),
        data(json!({"by": "first"})),
        stamp(3),
    );
    ok(super::save_alone(&store, &first).await);
    // Stale, not a conflict: run again, the command would see the document and decide anew.
    let refused = tx.commit().await;
    assert!(matches!(refused, Err(CommitError::Stale)), "{refused:?}");
    assert_eq!(count(&store, "documents"), 1);
}

#[tokio::test]
async fn a_guard_broken_before_the_writer_is_taken_refuses_the_commit_and_rolls_back() {
    let dir = tempdir();
    let store = open(dir.path());
    commit_collection(&store, &collection("orders")).await;
    // A delete's first attempt: read and guard, then count under the writer.
    let mut delete = ok(store.unit_of_work().begin(Attempt::First).await);
    let name = ok(storage_domain::CollectionName::parse("orders"));
    let mut read = ok(delete.collections().find_by_name(&name).await)
        .unwrap_or_else(|| panic!("orders is live"));
    delete.require(Guard::CollectionLive {
        collection: read.id(),
        version: read.version(),
    });
    change_collection(&store, |c| {
        let schema = ok(CollectionSchema::new(json!({"type": "object"})));
        ok(c.change_schema(Some(schema), shared_kernel::Timestamp::from_millis(8)));
    })
    .await;
    assert_eq!(
        ok(delete.collections().count_live_documents(read.id()).await),
        0
    );
    ok(read.delete(0, shared_kernel::Timestamp::from_millis(9)));
    ok(delete.collections().update(&read).await);
    let refused = delete.commit().await;
    assert!(matches!(refused, Err(CommitError::Stale)), "{refused:?}");
    let again = ok(store.reader().collection(&name).await);
    assert!(again.is_some(), "the delete was rolled back");
}

#[tokio::test]
async fn guards_that_hold_let_the_write_commit() {
    let dir = tempdir();
    let store = open(dir.path());
    commit_collection(&store, &collection("orders")).await;
    let create = create_into(&store, "on-time").await;
    ok(create.commit().await.map_err(shared_kernel::Error::from));
    assert_eq!(count(&store, "documents"), 1);
}

#[tokio::test]
async fn the_reader_tells_whether_an_audit_id_was_stored() {
    let dir = tempdir();
    let store = open(dir.path());
    let orders = collection("orders");
    let record = super::audit_record(&orders);
    let stored = record.entry.id;
    let mut tx = ok(store.unit_of_work().begin(Attempt::First).await);
    ok(tx.collections().insert(&orders).await);
    ok(tx.audit().append(record).await);
    ok(tx.commit().await.map_err(shared_kernel::Error::from));
    let reader = store.reader();
    assert!(ok(reader.audit_entry_stored(stored).await));
    let never = shared_kernel::AuditId::generate();
    assert!(!ok(reader.audit_entry_stored(never).await));
}
