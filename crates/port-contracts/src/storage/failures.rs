//! The "`UNAVAILABLE` or `INTERNAL_ERROR` when storage fails" clauses of the write ports,
//! provoked with [`Backend::fail_commits`]: a store whose commits fail (a full or failing
//! disk) answers a storage error, from the write itself or at the latest from the commit,
//! stores nothing of the transaction, and works again once healed.

use serde_json::json;
use shared_kernel::{Error, ErrorCode, RequestContext, Timestamp};
use storage_app::idempotency::{IdempotencyKey, IdempotencyScope, KeptAnswer};
use storage_app::{CommitError, OutboxEvent, Transaction};

use super::build::{
    begin, collection, commit, commit_collection, document, document_entry, id, ok,
};
use crate::Backend;

/// Asserts that `done` or, when it succeeded, the commit of `tx` failed as storage fails:
/// `UNAVAILABLE` or `INTERNAL_ERROR`, never `Stale` (no guard was asked for).
async fn assert_storage_failure(what: &str, done: Result<(), Error>, tx: Box<dyn Transaction>) {
    let error = match done {
        Err(error) => error,
        Ok(()) => match tx.commit().await {
            Ok(()) => panic!("{what}: committed while storage fails"),
            Err(CommitError::Stale) => panic!("{what}: answered stale while storage fails"),
            Err(error) => Error::from(error),
        },
    };
    assert!(
        matches!(error.code(), ErrorCode::Unavailable | ErrorCode::Internal),
        "{what}: {:?}: {}",
        error.code(),
        error.chain()
    );
}

/// `Transaction::commit` fails with a storage error while storage fails, and stores nothing
/// of the transaction; once healed, the same work commits.
pub async fn a_commit_while_storage_fails_stores_nothing_and_works_once_healed<B: Backend>(
    backend: &B,
) {
    let orders = collection("orders");
    let reader = backend.ports().reader;
    backend.fail_commits(true);
    let mut tx = begin(backend).await;
    let done = tx.collections().insert(&orders).await;
    assert_storage_failure("inserting a collection", done, tx).await;
    backend.fail_commits(false);
    assert!(ok("finding", reader.collection(orders.name()).await).is_none());
    commit_collection(backend, &orders).await;
    assert!(ok("finding", reader.collection(orders.name()).await).is_some());
}

/// `AuditLogger::append` (and the document save beside it) fails with a storage error, at
/// the latest at commit, while storage fails; neither the entry nor the document is stored.
pub async fn an_audit_append_while_storage_fails_is_a_storage_error<B: Backend>(backend: &B) {
    let orders = collection("orders");
    commit_collection(backend, &orders).await;
    let doc = document(&orders, "d", json!({"a": 1}));
    backend.fail_commits(true);
    let mut tx = begin(backend).await;
    ok(
        "saving",
        tx.documents().save(&doc, &doc.current_revision()).await,
    );
    let done = tx.audit().append(document_entry(&orders, &doc)).await;
    assert_storage_failure("appending an audit entry", done, tx).await;
    backend.fail_commits(false);
    let reader = backend.ports().reader;
    assert!(!ok(
        "asking",
        reader.audit_entry_stored(doc.audit_id()).await
    ));
    assert!(ok("reading", reader.document(orders.id(), id("d")).await).is_none());
}

/// `EventOutbox::append` fails with a storage error, at the latest at commit, while storage
/// fails; the document beside it is not stored.
pub async fn an_outbox_append_while_storage_fails_is_a_storage_error<B: Backend>(backend: &B) {
    let orders = collection("orders");
    commit_collection(backend, &orders).await;
    let mut doc = document(&orders, "d", json!({"a": 1}));
    backend.fail_commits(true);
    let mut tx = begin(backend).await;
    ok(
        "saving",
        tx.documents().save(&doc, &doc.current_revision()).await,
    );
    let events = doc
        .take_events()
        .iter()
        .map(|e| OutboxEvent::from_document(e, "orders", &RequestContext::system()))
        .collect();
    let done = tx.outbox().append(events).await;
    assert_storage_failure("appending outbox events", done, tx).await;
    backend.fail_commits(false);
    let reader = backend.ports().reader;
    assert!(ok("reading", reader.document(orders.id(), id("d")).await).is_none());
}

/// The idempotency key of the contracts below.
fn key() -> IdempotencyKey {
    let scope = IdempotencyScope::new(
        "anonymous".to_owned(),
        "POST".to_owned(),
        "/v1/collections".to_owned(),
        "k",
    );
    IdempotencyKey {
        scope: ok("a valid key", scope),
        request_hash: shared_kernel::Sha256Digest::of(b"request"),
    }
}

/// `IdempotencyStore::record`, `purge_scope_if_expired` and `purge_before` fail with a
/// storage error, at the latest at commit, while storage fails; nothing is recorded or
/// purged.
pub async fn idempotency_writes_while_storage_fails_are_storage_errors<B: Backend>(backend: &B) {
    let reader = backend.ports().reader;
    backend.fail_commits(true);
    let mut tx = begin(backend).await;
    let done = tx
        .idempotency()
        .record(&key(), &KeptAnswer::RunAgain, Timestamp::from_millis(10))
        .await;
    assert_storage_failure("recording a key", done, tx).await;
    backend.fail_commits(false);
    let found = ok("reading", reader.idempotency_record(key().scope).await);
    assert!(found.is_none(), "{found:?}");

    let mut tx = begin(backend).await;
    ok(
        "recording",
        tx.idempotency()
            .record(&key(), &KeptAnswer::RunAgain, Timestamp::from_millis(10))
            .await,
    );
    commit(tx).await;
    backend.fail_commits(true);
    let mut tx = begin(backend).await;
    let done = tx
        .idempotency()
        .purge_scope_if_expired(&key().scope, Timestamp::from_millis(20))
        .await;
    assert_storage_failure("purging a scope", done, tx).await;
    let mut tx = begin(backend).await;
    let done = tx
        .idempotency()
        .purge_before(Timestamp::from_millis(20))
        .await
        .map(drop);
    assert_storage_failure("purging before a cutoff", done, tx).await;
    backend.fail_commits(false);
    let found = ok("reading", reader.idempotency_record(key().scope).await);
    assert!(found.is_some(), "a failed purge purged nothing");
}
