//! `AuditLogger`: one entry per id, stored if and only if its transaction commits.

use serde_json::json;
use shared_kernel::ErrorCode;

use super::build::{
    begin, collection, collection_entry, commit, commit_collection, document, document_entry, ok,
    refused_with,
};
use crate::Backend;

/// `append` MUST return `CONFLICT` when an entry with the same id was committed before.
pub async fn appending_an_entry_whose_id_is_stored_is_a_conflict<B: Backend>(backend: &B) {
    let orders = collection("orders");
    let record = collection_entry(&orders);
    let mut tx = begin(backend).await;
    ok("appending", tx.audit().append(record.clone()).await);
    commit(tx).await;
    let mut tx = begin(backend).await;
    let done = tx.audit().append(record).await;
    refused_with("the same id again", done, tx, ErrorCode::Conflict).await;
}

/// `append` MUST return `CONFLICT` for a second entry of one id in the same transaction, and
/// the transaction stores none of it.
pub async fn appending_one_id_twice_in_a_transaction_is_a_conflict<B: Backend>(backend: &B) {
    let orders = collection("orders");
    commit_collection(backend, &orders).await;
    let doc = document(&orders, "d", json!({"a": 1}));
    let record = document_entry(&orders, &doc);
    let mut tx = begin(backend).await;
    ok(
        "saving",
        tx.documents().save(&doc, &doc.current_revision()).await,
    );
    ok("appending", tx.audit().append(record.clone()).await);
    let done = tx.audit().append(record).await;
    refused_with("the same id twice", done, tx, ErrorCode::Conflict).await;
    let reader = backend.ports().reader;
    assert!(!ok(
        "asking",
        reader.audit_entry_stored(doc.audit_id()).await
    ));
    assert!(
        ok(
            "reading",
            reader.document(orders.id(), doc.id().clone()).await
        )
        .is_none()
    );
}
