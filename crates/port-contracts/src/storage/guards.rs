//! `Transaction::require`: a guard that no longer holds at commit refuses it as
//! [`CommitError::Stale`], and the refused commit stored nothing.
//!
//! Each contract opens the guarded transaction as a first attempt, lets another transaction
//! commit the change that breaks the guard, then commits the guarded one. The outbox has no
//! reading port, so "nothing stored" is checked on what the reader shows: documents,
//! revisions, collections and audit entries.

use serde_json::json;
use shared_kernel::ErrorCode;
use storage_app::{CommitError, Guard, Transaction};
use storage_domain::{Collection, CollectionSchema, Document};

use super::build::{
    begin, collection, commit, commit_collection, commit_document, data, document, document_entry,
    id, name, ok, stamp,
};
use crate::Backend;

/// A first attempt that reads `orders`, guards it live at the version read, and saves a new
/// document `d` with its audit entry, left open before its commit.
async fn guarded_create<B: Backend>(backend: &B) -> (Box<dyn Transaction>, Document) {
    let mut tx = begin(backend).await;
    let orders = ok(
        "finding",
        tx.collections().find_by_name(&name("orders")).await,
    )
    .unwrap_or_else(|| panic!("`orders` is live"));
    tx.require(Guard::CollectionLive {
        collection: orders.id(),
        version: orders.version(),
    });
    let doc = Document::create(orders.id(), id("d"), data(json!({"a": 1})), stamp(5));
    ok(
        "saving",
        tx.documents().save(&doc, &doc.current_revision()).await,
    );
    ok(
        "its entry",
        tx.audit().append(document_entry(&orders, &doc)).await,
    );
    (tx, doc)
}

/// Changes `orders` through `change` in a transaction of its own, committed.
async fn change_orders<B: Backend>(backend: &B, change: impl FnOnce(&mut Collection)) {
    let mut tx = begin(backend).await;
    let mut orders = ok(
        "finding",
        tx.collections().find_by_name(&name("orders")).await,
    )
    .unwrap_or_else(|| panic!("`orders` is live"));
    change(&mut orders);
    ok("updating", tx.collections().update(&orders).await);
    commit(tx).await;
}

/// Asserts that `doc` was not stored: no document, no revision, no audit entry.
async fn assert_not_stored<B: Backend>(backend: &B, doc: &Document) {
    let reader = backend.ports().reader;
    let collection = doc.collection_id();
    assert!(
        ok(
            "reading",
            reader.document(collection, doc.id().clone()).await
        )
        .is_none()
    );
    let revisions = ok(
        "revisions",
        reader
            .revisions(collection, doc.id().clone(), None, 10)
            .await,
    );
    assert!(revisions.is_empty(), "{revisions:?}");
    assert!(!ok(
        "asking",
        reader.audit_entry_stored(doc.audit_id()).await
    ));
}

/// Asserts that `tx`'s commit was refused as stale.
async fn assert_stale(tx: Box<dyn Transaction>) {
    let refused = tx.commit().await;
    assert!(matches!(refused, Err(CommitError::Stale)), "{refused:?}");
}

/// `Guard::CollectionLive` refuses a commit after the collection was deleted.
pub async fn a_create_into_a_collection_deleted_before_its_commit_is_stale<B: Backend>(
    backend: &B,
) {
    commit_collection(backend, &collection("orders")).await;
    let (create, doc) = guarded_create(backend).await;
    change_orders(backend, |c| {
        ok(
            "deleting",
            c.delete(0, shared_kernel::Timestamp::from_millis(9)),
        );
    })
    .await;
    assert_stale(create).await;
    assert_not_stored(backend, &doc).await;
}

/// `Guard::CollectionLive` refuses a commit after the collection's schema changed (its
/// version moved), so nothing validated against the old schema lands.
pub async fn a_write_validated_under_a_replaced_schema_is_stale<B: Backend>(backend: &B) {
    commit_collection(backend, &collection("orders")).await;
    let (create, doc) = guarded_create(backend).await;
    change_orders(backend, |c| {
        let schema = ok(
            "a schema",
            CollectionSchema::new(json!({"required": ["b"]})),
        );
        ok(
            "changing",
            c.change_schema(Some(schema), shared_kernel::Timestamp::from_millis(9)),
        );
    })
    .await;
    assert_stale(create).await;
    assert_not_stored(backend, &doc).await;
}

/// A guard that still holds lets the commit through.
pub async fn a_guard_that_still_holds_commits<B: Backend>(backend: &B) {
    commit_collection(backend, &collection("orders")).await;
    let (create, doc) = guarded_create(backend).await;
    commit(create).await;
    let reader = backend.ports().reader;
    let stored = ok(
        "reading",
        reader.document(doc.collection_id(), id("d")).await,
    );
    assert_eq!(stored.map(|d| d.version()), Some(doc.version()));
}

/// `Guard::DocumentAt { version: None }` refuses a create after another writer created the
/// document first; the first writer's document stays.
pub async fn a_create_after_another_writer_created_the_document_is_stale<B: Backend>(backend: &B) {
    let orders = collection("orders");
    commit_collection(backend, &orders).await;
    let mut tx = begin(backend).await;
    assert!(ok("finding", tx.documents().find(orders.id(), &id("d")).await).is_none());
    tx.require(Guard::DocumentAt {
        collection: orders.id(),
        id: id("d"),
        version: None,
    });
    let mine = document(&orders, "d", json!({"by": "me"}));
    ok(
        "saving",
        tx.documents().save(&mine, &mine.current_revision()).await,
    );
    ok(
        "its entry",
        tx.audit().append(document_entry(&orders, &mine)).await,
    );
    let first = document(&orders, "d", json!({"by": "first"}));
    commit_document(backend, &orders, &first).await;
    assert_stale(tx).await;
    let reader = backend.ports().reader;
    let stored = ok("reading", reader.document(orders.id(), id("d")).await);
    assert_eq!(
        stored.as_ref().map(|d| d.snapshot()),
        Some(first.snapshot())
    );
    assert!(!ok(
        "asking",
        reader.audit_entry_stored(mine.audit_id()).await
    ));
}

/// `Guard::DocumentAt { version: Some(v) }` refuses a change after another writer stored a
/// later version; one revision per version stays.
pub async fn a_change_after_another_writer_moved_the_document_is_stale<B: Backend>(backend: &B) {
    let orders = collection("orders");
    commit_collection(backend, &orders).await;
    let first = document(&orders, "d", json!({"v": 1}));
    commit_document(backend, &orders, &first).await;
    let mut tx = begin(backend).await;
    let mut mine = ok("finding", tx.documents().find(orders.id(), &id("d")).await)
        .unwrap_or_else(|| panic!("`d` is stored"));
    tx.require(Guard::DocumentAt {
        collection: orders.id(),
        id: id("d"),
        version: Some(mine.version()),
    });
    let mut theirs = first.clone();
    ok(
        "their replace",
        theirs.replace(data(json!({"by": "them"})), &Default::default(), stamp(3)),
    );
    commit_document(backend, &orders, &theirs).await;
    // A store may see the other writer's version already and refuse the save itself; the
    // guard must refuse the commit either way.
    ok(
        "my replace",
        mine.replace(data(json!({"by": "me"})), &Default::default(), stamp(4)),
    );
    match tx.documents().save(&mine, &mine.current_revision()).await {
        Ok(()) => {
            ok(
                "my entry",
                tx.audit().append(document_entry(&orders, &mine)).await,
            );
            assert_stale(tx).await;
        }
        Err(error) => assert_eq!(error.code(), ErrorCode::Conflict, "{}", error.chain()),
    }
    let reader = backend.ports().reader;
    let revisions = ok(
        "revisions",
        reader.revisions(orders.id(), id("d"), None, 10).await,
    );
    assert_eq!(
        revisions,
        [first.current_revision(), theirs.current_revision()]
    );
    assert!(!ok(
        "asking",
        reader.audit_entry_stored(mine.audit_id()).await
    ));
}
