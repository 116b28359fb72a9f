//! `DocumentRepository` and the reader's view of documents: versions stored one after the
//! other, never two of one version, every revision kept.

use serde_json::json;
use shared_kernel::ErrorCode;
use storage_domain::{Document, Precondition, Version};

use super::build::{
    begin, collection, commit_collection, commit_document, data, document, id, ok, refused_with,
    stamp,
};
use crate::Backend;

/// The next version of `document`, replacing its data with `value`.
fn replaced(document: &Document, value: serde_json::Value, at: i64) -> Document {
    let mut next = document.clone();
    ok(
        "replacing",
        next.replace(data(value), &Precondition::None, stamp(at)),
    );
    next
}

/// `save` MUST return `CONFLICT` for version 1 of a document that exists.
pub async fn saving_version_one_of_a_stored_document_is_a_conflict<B: Backend>(backend: &B) {
    let orders = collection("orders");
    commit_collection(backend, &orders).await;
    commit_document(
        backend,
        &orders,
        &document(&orders, "d", json!({"by": "first"})),
    )
    .await;
    let again = document(&orders, "d", json!({"by": "second"}));
    let mut tx = begin(backend).await;
    let done = tx.documents().save(&again, &again.current_revision()).await;
    refused_with("a second version 1", done, tx, ErrorCode::Conflict).await;
    let stored = ok(
        "reading",
        backend.ports().reader.document(orders.id(), id("d")).await,
    );
    assert_eq!(
        stored.and_then(|d| d.data().map(|v| v.value().clone())),
        Some(json!({"by": "first"})),
        "the first writer's data stays"
    );
}

/// `save` MUST return `CONFLICT` when the stored version is not the one just before: a
/// second writer of the same version loses.
pub async fn saving_a_version_already_stored_is_a_conflict<B: Backend>(backend: &B) {
    let orders = collection("orders");
    commit_collection(backend, &orders).await;
    let first = document(&orders, "d", json!({"v": 1}));
    commit_document(backend, &orders, &first).await;
    commit_document(backend, &orders, &replaced(&first, json!({"v": "a"}), 3)).await;
    let loser = replaced(&first, json!({"v": "b"}), 4);
    let mut tx = begin(backend).await;
    let done = tx.documents().save(&loser, &loser.current_revision()).await;
    refused_with("a second version 2", done, tx, ErrorCode::Conflict).await;
    let revisions = ok(
        "listing revisions",
        backend
            .ports()
            .reader
            .revisions(orders.id(), id("d"), None, 10)
            .await,
    );
    assert_eq!(
        revisions.len(),
        2,
        "one revision per version: {revisions:?}"
    );
}

/// `save` MUST return `CONFLICT` when the stored version is not the one just before, so a
/// version that skips one is refused too.
pub async fn saving_a_version_that_skips_one_is_a_conflict<B: Backend>(backend: &B) {
    let orders = collection("orders");
    commit_collection(backend, &orders).await;
    let first = document(&orders, "d", json!({"v": 1}));
    commit_document(backend, &orders, &first).await;
    let third = replaced(&replaced(&first, json!({"v": 2}), 3), json!({"v": 3}), 4);
    let mut tx = begin(backend).await;
    let done = tx.documents().save(&third, &third.current_revision()).await;
    refused_with("version 3 over version 1", done, tx, ErrorCode::Conflict).await;
}

/// A saved document reads back as saved, through the transaction (`find`) and the reader;
/// a delete leaves a tombstone both still find.
pub async fn a_saved_document_and_its_tombstone_read_back<B: Backend>(backend: &B) {
    let orders = collection("orders");
    commit_collection(backend, &orders).await;
    let first = document(&orders, "d", json!({"b": 1, "a": [true, null]}));
    commit_document(backend, &orders, &first).await;
    let reader = backend.ports().reader;
    let stored = ok("reading", reader.document(orders.id(), id("d")).await);
    assert_eq!(
        stored.as_ref().map(Document::snapshot),
        Some(first.snapshot())
    );
    let mut gone = first.clone();
    ok("deleting", gone.delete(&Precondition::None, stamp(5)));
    commit_document(backend, &orders, &gone).await;
    let mut tx = begin(backend).await;
    let found = ok("finding", tx.documents().find(orders.id(), &id("d")).await)
        .unwrap_or_else(|| panic!("the tombstone is found"));
    assert!(!found.is_live(), "{found:?}");
    assert_eq!(found.version(), gone.version());
    let read = ok("reading", reader.document(orders.id(), id("d")).await)
        .unwrap_or_else(|| panic!("the reader finds the tombstone"));
    assert_eq!(read.snapshot(), gone.snapshot());
    assert!(ok("missing", reader.document(orders.id(), id("never")).await).is_none());
}

/// `document_at` gives each version as it was (a delete's as a tombstone), with the
/// `created_at` of the life it belongs to; a version never stored is `None`.
pub async fn each_version_reads_back_as_it_was<B: Backend>(backend: &B) {
    let orders = collection("orders");
    commit_collection(backend, &orders).await;
    let first = document(&orders, "d", json!({"v": 1}));
    commit_document(backend, &orders, &first).await;
    let second = replaced(&first, json!({"v": 2}), 3);
    commit_document(backend, &orders, &second).await;
    let mut third = second.clone();
    ok("deleting", third.delete(&Precondition::None, stamp(4)));
    commit_document(backend, &orders, &third).await;
    let mut fourth = third.clone();
    ok(
        "re-creating",
        fourth.recreate(data(json!({"v": 4})), stamp(9)),
    );
    commit_document(backend, &orders, &fourth).await;
    let reader = backend.ports().reader;
    for expected in [&first, &second, &third, &fourth] {
        let at = ok(
            "reading a version",
            reader
                .document_at(orders.id(), id("d"), expected.version())
                .await,
        )
        .unwrap_or_else(|| panic!("version {} is stored", expected.version().get()));
        assert_eq!(at.version(), expected.version());
        assert_eq!(
            at.data(),
            expected.data(),
            "version {}",
            expected.version().get()
        );
        assert_eq!(
            at.created_at(),
            expected.created_at(),
            "version {}",
            expected.version().get()
        );
    }
    let fifth = ok("version 5", Version::new(5));
    assert!(
        ok(
            "reading",
            reader.document_at(orders.id(), id("d"), fifth).await
        )
        .is_none()
    );
}

/// `revisions` lists a document's revisions oldest first, after `after`, at most `limit`.
pub async fn revisions_list_oldest_first_after_a_version_up_to_a_limit<B: Backend>(backend: &B) {
    let orders = collection("orders");
    commit_collection(backend, &orders).await;
    let mut current = document(&orders, "d", json!({"v": 1}));
    commit_document(backend, &orders, &current).await;
    for n in 2..=5 {
        current = replaced(&current, json!({"v": n}), n);
        commit_document(backend, &orders, &current).await;
    }
    let reader = backend.ports().reader;
    let versions = |revisions: Vec<storage_domain::Revision>| -> Vec<u64> {
        revisions.iter().map(|r| r.version.get()).collect()
    };
    let all = ok(
        "all",
        reader.revisions(orders.id(), id("d"), None, 10).await,
    );
    assert_eq!(versions(all), [1, 2, 3, 4, 5]);
    let two = ok("version 2", Version::new(2));
    let page = ok(
        "a page",
        reader.revisions(orders.id(), id("d"), Some(two), 2).await,
    );
    assert_eq!(versions(page), [3, 4]);
}
