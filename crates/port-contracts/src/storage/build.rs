//! Small builders for the contracts: domain values as a command would make them, and the
//! steps a contract repeats (commit a change alone, expect a refusal). They panic with the
//! error chain, so a failing contract says which step broke.

use audit_domain::{AuditEntry, AuditOperation, AuditRecord, AuditSubject};
use serde_json::Value;
use shared_kernel::{Actor, AuditId, Error, ErrorCode, RequestContext, Timestamp};
use storage_app::{Attempt, CommitError, Transaction};
use storage_domain::document::ChangeStamp;
use storage_domain::{
    Collection, CollectionName, Document, DocumentData, DocumentId, DocumentLimits,
};

use crate::Backend;

/// The value of a step that must succeed.
pub(crate) fn ok<T>(what: &str, result: Result<T, Error>) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {}", e.chain()))
}

/// A collection name.
pub(crate) fn name(text: &str) -> CollectionName {
    ok("a valid collection name", CollectionName::parse(text))
}

/// A new collection without a schema.
pub(crate) fn collection(text: &str) -> Collection {
    Collection::create(name(text), None, Timestamp::from_millis(1))
}

/// A document id.
pub(crate) fn id(text: &str) -> DocumentId {
    ok("a valid document id", DocumentId::parse(text))
}

/// Document data.
pub(crate) fn data(value: Value) -> DocumentData {
    ok(
        "valid document data",
        DocumentData::parse(value, &DocumentLimits::default()),
    )
}

/// A change made at `ms` by the anonymous actor, recorded under a fresh audit id.
pub(crate) fn stamp(ms: i64) -> ChangeStamp {
    ChangeStamp {
        at: Timestamp::from_millis(ms),
        actor: Actor::Anonymous,
        audit_id: AuditId::generate(),
    }
}

/// Version 1 of document `text` of `collection`, holding `value`.
pub(crate) fn document(collection: &Collection, text: &str, value: Value) -> Document {
    Document::create(collection.id(), id(text), data(value), stamp(2))
}

/// The audit record of creating `collection`.
pub(crate) fn collection_entry(collection: &Collection) -> AuditRecord {
    let entry = AuditEntry::new(
        AuditId::generate(),
        Timestamp::from_millis(3),
        &RequestContext::system(),
        AuditOperation::CollectionCreate,
        (collection.name().as_str(), collection.id()),
        AuditSubject::Collection,
    );
    AuditRecord { entry, patch: None }
}

/// The audit record of the change that left `document` at its version, under the audit id
/// its stamp chose.
pub(crate) fn document_entry(collection: &Collection, document: &Document) -> AuditRecord {
    let operation = if document.version().get() == 1 {
        AuditOperation::DocumentCreate
    } else if document.is_live() {
        AuditOperation::DocumentReplace
    } else {
        AuditOperation::DocumentDelete
    };
    let entry = AuditEntry::new(
        document.audit_id(),
        document.updated_at(),
        &RequestContext::system(),
        operation,
        (collection.name().as_str(), collection.id()),
        AuditSubject::Document {
            document_id: document.id().as_str().to_owned(),
            version: document.version().get(),
            hash_before: None,
            hash_after: document.data().map(DocumentData::content_hash),
            patch_sha256: None,
        },
    );
    AuditRecord { entry, patch: None }
}

/// A transaction begun as a command's first attempt (which may leave the store's writer
/// free until its commit, so other transactions can commit meanwhile).
pub(crate) async fn begin<B: Backend>(backend: &B) -> Box<dyn Transaction> {
    let unit_of_work = backend.ports().unit_of_work;
    ok(
        "beginning a transaction",
        unit_of_work.begin(Attempt::First).await,
    )
}

/// Commits `tx`, which must succeed.
pub(crate) async fn commit(tx: Box<dyn Transaction>) {
    ok("committing", tx.commit().await.map_err(Error::from));
}

/// Creates `collection` with its audit entry in a transaction of its own.
pub(crate) async fn commit_collection<B: Backend>(backend: &B, collection: &Collection) {
    let mut tx = begin(backend).await;
    ok(
        "inserting the collection",
        tx.collections().insert(collection).await,
    );
    ok(
        "its audit entry",
        tx.audit().append(collection_entry(collection)).await,
    );
    commit(tx).await;
}

/// Saves `document`'s current state with its revision and audit entry in a transaction of
/// its own.
pub(crate) async fn commit_document<B: Backend>(
    backend: &B,
    collection: &Collection,
    document: &Document,
) {
    let mut tx = begin(backend).await;
    ok(
        "saving the document",
        tx.documents()
            .save(document, &document.current_revision())
            .await,
    );
    ok(
        "its audit entry",
        tx.audit()
            .append(document_entry(collection, document))
            .await,
    );
    commit(tx).await;
}

/// Asserts that a write was refused with `code`: either by the call itself (`done`), or, as
/// a store may defer a write until its commit, by the commit of `tx`. A refusal at commit
/// must not be [`CommitError::Stale`]: no guard was asked for.
pub(crate) async fn refused_with(
    what: &str,
    done: Result<(), Error>,
    tx: Box<dyn Transaction>,
    code: ErrorCode,
) -> Error {
    let error = match done {
        Err(error) => error,
        Ok(()) => match tx.commit().await {
            Ok(()) => panic!("{what}: accepted, expected {code:?}"),
            Err(CommitError::Stale) => panic!("{what}: refused as stale, expected {code:?}"),
            Err(error) => Error::from(error),
        },
    };
    assert_eq!(error.code(), code, "{what}: {}", error.chain());
    error
}
