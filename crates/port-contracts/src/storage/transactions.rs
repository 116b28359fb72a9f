//! `UnitOfWork` and `Transaction`: everything done through one transaction is stored
//! together at its commit, or not at all when it is dropped.

use serde_json::json;
use shared_kernel::RequestContext;
use storage_app::OutboxEvent;

use super::build::{
    begin, collection, collection_entry, commit, document, document_entry, id, name, ok,
};
use crate::Backend;

/// A commit makes the collection, the document, its revision and the audit entries visible
/// to the reader, together with the outbox events appended beside them.
pub async fn what_a_transaction_commits_is_visible_to_the_reader<B: Backend>(backend: &B) {
    let orders = collection("orders");
    let mut doc = document(&orders, "d", json!({"a": 1}));
    let created = collection_entry(&orders);
    let created_id = created.entry.id;
    let mut tx = begin(backend).await;
    ok("inserting", tx.collections().insert(&orders).await);
    ok(
        "saving",
        tx.documents().save(&doc, &doc.current_revision()).await,
    );
    ok("appending an entry", tx.audit().append(created).await);
    ok(
        "appending an entry",
        tx.audit().append(document_entry(&orders, &doc)).await,
    );
    let events = doc
        .take_events()
        .iter()
        .map(|e| OutboxEvent::from_document(e, "orders", &RequestContext::system()))
        .collect();
    ok("appending events", tx.outbox().append(events).await);
    commit(tx).await;

    let reader = backend.ports().reader;
    let found = ok("finding", reader.collection(&name("orders")).await);
    assert_eq!(found.map(|c| c.id()), Some(orders.id()));
    let stored = ok("reading", reader.document(orders.id(), id("d")).await);
    assert_eq!(stored.as_ref().map(|d| d.snapshot()), Some(doc.snapshot()));
    let revisions = ok(
        "revisions",
        reader.revisions(orders.id(), id("d"), None, 10).await,
    );
    assert_eq!(revisions, [doc.current_revision()]);
    for audit_id in [created_id, doc.audit_id()] {
        assert!(
            ok("asking", reader.audit_entry_stored(audit_id).await),
            "{audit_id}"
        );
    }
}

/// Dropping a transaction without committing stores nothing of it: no collection, document,
/// revision or audit entry, and its collection's name stays free.
pub async fn a_transaction_dropped_without_commit_stores_nothing<B: Backend>(backend: &B) {
    let orders = collection("orders");
    let doc = document(&orders, "d", json!({"a": 1}));
    let mut tx = begin(backend).await;
    ok("inserting", tx.collections().insert(&orders).await);
    ok(
        "saving",
        tx.documents().save(&doc, &doc.current_revision()).await,
    );
    ok(
        "appending an entry",
        tx.audit().append(document_entry(&orders, &doc)).await,
    );
    drop(tx);

    let reader = backend.ports().reader;
    assert!(ok("finding", reader.collection(&name("orders")).await).is_none());
    assert!(ok("reading", reader.document(orders.id(), id("d")).await).is_none());
    let revisions = ok(
        "revisions",
        reader.revisions(orders.id(), id("d"), None, 10).await,
    );
    assert!(revisions.is_empty(), "{revisions:?}");
    assert!(!ok(
        "asking",
        reader.audit_entry_stored(doc.audit_id()).await
    ));
    // The name is free: the dropped insert holds nothing.
    let mut again = begin(backend).await;
    ok(
        "inserting again",
        again.collections().insert(&collection("orders")).await,
    );
    commit(again).await;
}

/// `audit_entry_stored` answers `false` for an id no commit stored.
pub async fn an_audit_id_never_committed_is_not_stored<B: Backend>(backend: &B) {
    let reader = backend.ports().reader;
    let never = shared_kernel::AuditId::generate();
    assert!(!ok("asking", reader.audit_entry_stored(never).await));
}
