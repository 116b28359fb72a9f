//! `LogStore`'s reads of what was appended: stored hashes, leaves by index, entries by id.

use audit_domain::merkle::leaf_hash;
use shared_kernel::{AuditId, ErrorCode};

use super::fixture::{Model, code, commit_collections, ok};
use crate::Backend;

/// `read_hashes` answers the positions in the order asked, repeats included, and nothing for
/// no position.
pub async fn read_hashes_answers_in_the_order_asked<B: Backend>(backend: &B) {
    let log = backend.ports().log;
    let mut model = Model::default();
    commit_collections(backend, 3).await;
    model.sequence_pending(backend).await;
    let stored = model.stored_hashes().to_vec();
    assert!(stored.len() >= 4, "three leaves store at least four hashes");
    let asked = [3, 0, 2, 0];
    let read = ok("reading stored hashes", log.read_hashes(&asked).await);
    let expected: Vec<_> = asked
        .iter()
        .map(|&i| stored[usize::try_from(i).unwrap_or(usize::MAX)])
        .collect();
    assert_eq!(read, expected, "hashes not in the order asked");
    let none = ok("reading no hash", log.read_hashes(&[]).await);
    assert!(none.is_empty(), "hashes for no position");
}

/// A position past the stored hashes is `INTERNAL_ERROR` (the caller asked for a hash the
/// tree must have: its absence is a broken store), also among stored positions.
pub async fn read_hashes_of_a_position_not_stored_is_an_internal_error<B: Backend>(backend: &B) {
    let log = backend.ports().log;
    let fresh = code(
        "reading a hash of an empty log",
        log.read_hashes(&[0]).await,
    );
    assert_eq!(fresh, ErrorCode::Internal);
    let mut model = Model::default();
    commit_collections(backend, 2).await;
    model.sequence_pending(backend).await;
    let past = u64::try_from(model.stored_hashes().len()).unwrap_or(u64::MAX);
    let mixed = code(
        "reading a hash past the log",
        log.read_hashes(&[0, past]).await,
    );
    assert_eq!(mixed, ErrorCode::Internal);
}

/// `leaves(start, end)` are the sequenced entries with indexes `start..end`, by index, each
/// with its exact bytes and their leaf hash; pending entries are no leaves.
pub async fn leaves_are_the_sequenced_entries_of_the_range_by_index<B: Backend>(backend: &B) {
    let log = backend.ports().log;
    let mut model = Model::default();
    commit_collections(backend, 4).await;
    let batch = model.sequence_pending(backend).await;
    commit_collections(backend, 2).await;
    let leaves = ok("reading leaves", log.leaves(1, 3).await);
    let indexes: Vec<u64> = leaves.iter().map(|l| l.index).collect();
    assert_eq!(indexes, vec![1, 2], "the indexes of leaves(1, 3)");
    for (leaf, appended) in leaves.iter().zip(&batch.leaves[1..3]) {
        assert_eq!(leaf.leaf, appended.leaf, "the bytes of leaf {}", leaf.index);
        assert_eq!(
            leaf.leaf_hash,
            leaf_hash(&leaf.leaf),
            "the hash of leaf {}",
            leaf.index
        );
    }
    let all = ok("reading every leaf", log.leaves(0, 4).await);
    assert_eq!(
        all.len(),
        4,
        "leaves(0, 4) of a log of 4 leaves and 2 pending entries"
    );
    let empty = ok("reading an empty range", log.leaves(2, 2).await);
    assert!(empty.is_empty(), "leaves of an empty range");
}

/// `leaf_by_audit_id` finds a pending entry (no index yet) and a sequenced one (its index),
/// with its exact bytes and hash; an id never committed is `None`.
pub async fn leaf_by_audit_id_finds_pending_and_sequenced_entries_only<B: Backend>(backend: &B) {
    let log = backend.ports().log;
    let mut model = Model::default();
    let sequenced = commit_collections(backend, 2).await;
    model.sequence_pending(backend).await;
    let pending = commit_collections(backend, 1).await;
    for (entry, index) in [(&sequenced[1], Some(1)), (&pending[0], None)] {
        let found = ok("reading an entry", log.leaf_by_audit_id(entry.id).await);
        let found = found.unwrap_or_else(|| panic!("entry {} is not found", entry.id));
        assert_eq!(found.index, index, "the index of entry {}", entry.id);
        assert_eq!(
            found.leaf,
            entry.leaf_bytes(),
            "the bytes of entry {}",
            entry.id
        );
        assert_eq!(
            found.leaf_hash,
            entry.leaf_hash(),
            "the hash of entry {}",
            entry.id
        );
    }
    let unknown = ok(
        "reading an unknown entry",
        log.leaf_by_audit_id(AuditId::generate()).await,
    );
    assert_eq!(unknown, None, "an id never committed is found");
}
