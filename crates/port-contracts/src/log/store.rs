//! `LogStore`: the head, what is pending, and whether the log was ever written.

use audit_app::ports::StoredCheckpoint;
use audit_domain::merkle::empty_root;
use shared_kernel::{AuditId, Timestamp};
use storage_domain::{Collection, CollectionName};

use super::fixture::{Model, PENDING_LIMIT, commit_collections, commit_document_entry, ok};
use crate::Backend;

/// The ids of what the log has pending, in its order.
async fn pending_ids<B: Backend>(backend: &B, limit: usize) -> Vec<AuditId> {
    let pending = ok(
        "reading pending leaves",
        backend.ports().log.pending(limit).await,
    );
    pending.iter().map(|leaf| leaf.id).collect()
}

/// A fresh store's log is empty, has nothing pending, no checkpoint, and its head is the
/// empty tree (size 0, the empty root), whether read from memory or from storage.
pub async fn a_fresh_log_is_empty<B: Backend>(backend: &B) {
    let log = backend.ports().log;
    let empty = ok("asking whether the log is empty", log.is_empty().await);
    assert!(empty, "a fresh store's log holds leaves");
    assert!(
        pending_ids(backend, 10).await.is_empty(),
        "a fresh store has pending leaves"
    );
    let head = ok("reading the head", log.head().await);
    assert_eq!((head.size, head.root), (0, empty_root()), "a fresh head");
    let stored = ok(
        "reading the head from storage",
        log.head_from_storage().await,
    );
    assert_eq!(stored, head, "head_from_storage disagrees with head");
    let checkpoint = ok(
        "reading the latest checkpoint",
        log.latest_checkpoint().await,
    );
    assert_eq!(checkpoint, None, "a fresh store has a checkpoint");
}

/// A committed audit entry, even one not sequenced yet, makes the log non-empty (a new
/// signing key would be refused); so does a kept checkpoint alone.
pub async fn an_audit_entry_or_a_checkpoint_makes_the_log_non_empty<B: Backend>(backend: &B) {
    commit_collections(backend, 1).await;
    let with_entry = ok(
        "asking whether the log is empty",
        backend.ports().log.is_empty().await,
    );
    assert!(
        !with_entry,
        "a log with a pending audit entry says it is empty"
    );

    let other = B::fresh().await;
    let checkpoint = StoredCheckpoint {
        tree_size: 0,
        root_hash: empty_root(),
        note: "a note".to_owned(),
        signed_at: Timestamp::from_millis(1),
    };
    ok(
        "keeping a checkpoint",
        other.ports().log.save_checkpoint(checkpoint).await,
    );
    let with_checkpoint = ok(
        "asking whether the log is empty",
        other.ports().log.is_empty().await,
    );
    assert!(!with_checkpoint, "a log with a checkpoint says it is empty");
}

/// `pending` hands out only entries without a leaf index, at most `limit` of them; a
/// sequenced entry is never handed out again.
pub async fn pending_hands_only_unsequenced_entries_and_at_most_the_limit<B: Backend>(backend: &B) {
    let mut model = Model::default();
    let sequenced = commit_collections(backend, 2).await;
    model.sequence_pending(backend).await;
    let waiting = commit_collections(backend, 3).await;
    let mut pending = pending_ids(backend, PENDING_LIMIT).await;
    for entry in &sequenced {
        assert!(
            !pending.contains(&entry.id),
            "a sequenced entry is pending again"
        );
    }
    pending.sort();
    let mut expected: Vec<AuditId> = waiting.iter().map(|e| e.id).collect();
    expected.sort();
    assert_eq!(
        pending, expected,
        "pending is not exactly the unsequenced entries"
    );
    assert_eq!(
        pending_ids(backend, 2).await.len(),
        2,
        "more than the limit"
    );
    assert!(
        pending_ids(backend, 0).await.is_empty(),
        "a limit of 0 hands out entries"
    );
    let leaves = ok(
        "reading pending leaves",
        backend.ports().log.pending(1).await,
    );
    let first = waiting
        .iter()
        .find(|e| Some(e.id) == leaves.first().map(|l| l.id));
    let first = first.unwrap_or_else(|| panic!("pending(1) is not a waiting entry"));
    assert_eq!(
        leaves[0].leaf,
        first.leaf_bytes(),
        "a pending leaf is not the entry's bytes"
    );
}

/// An entry `pending` handed out keeps coming before every entry committed after it was
/// handed out, until it is sequenced: a stream of writes cannot starve it.
pub async fn a_pending_entry_keeps_coming_before_entries_committed_after_it<B: Backend>(
    backend: &B,
) {
    commit_collections(backend, 3).await;
    let handed = pending_ids(backend, PENDING_LIMIT).await;
    let later: Vec<AuditId> = commit_collections(backend, 3)
        .await
        .iter()
        .map(|e| e.id)
        .collect();
    let now = pending_ids(backend, PENDING_LIMIT).await;
    assert_eq!(now.len(), 6, "pending lost or invented entries: {now:?}");
    // Among themselves the entries handed out may be reordered (only a document's versions
    // keep their order); none may fall behind a later one.
    let mut first_three = now[..3].to_vec();
    first_three.sort();
    let mut handed_sorted = handed.clone();
    handed_sorted.sort();
    assert_eq!(
        first_three, handed_sorted,
        "an entry handed out fell behind one committed later ({later:?}): {now:?}"
    );
    let first = pending_ids(backend, 1).await;
    assert!(
        first.first().is_some_and(|id| handed.contains(id)),
        "pending(1) handed out a later entry before the ones waiting longer"
    );
}

/// A document's entries are pending in the order of its versions, so they get leaf indexes
/// in version order, whatever else commits between them.
pub async fn a_documents_entries_are_pending_in_version_order<B: Backend>(backend: &B) {
    let collection = Collection::create(
        ok("a collection name", CollectionName::parse("versions")),
        None,
        Timestamp::from_millis(1),
    );
    let mut versions = Vec::new();
    for version in 1..=4 {
        versions.push(
            commit_document_entry(backend, &collection, "doc-1", version)
                .await
                .id,
        );
        commit_collections(backend, 1).await;
        commit_document_entry(backend, &collection, &format!("other-{version}"), 1).await;
    }
    let pending = pending_ids(backend, PENDING_LIMIT).await;
    let order: Vec<AuditId> = pending
        .into_iter()
        .filter(|id| versions.contains(id))
        .collect();
    assert_eq!(
        order, versions,
        "doc-1's entries are not pending in version order"
    );
}
