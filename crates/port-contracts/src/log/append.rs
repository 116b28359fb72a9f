//! `LogStore::append`: one batch, in one transaction, or nothing.

use audit_app::ports::{LogAppend, TreeHead};
use audit_domain::merkle::{leaf_hash, stored_hash_count};
use shared_kernel::{AuditId, ErrorCode};

use super::fixture::{Model, PENDING_LIMIT, code, commit_collections, ok};
use crate::Backend;

/// Everything an append may change, read back through the port.
#[derive(Debug, PartialEq, Eq)]
struct LogState {
    head: TreeHead,
    head_from_storage: TreeHead,
    pending: Vec<AuditId>,
    indexes: Vec<Option<u64>>,
    /// Whether a hash is stored at the first position past the head.
    hash_past_head: bool,
}

async fn state<B: Backend>(backend: &B, ids: &[AuditId]) -> LogState {
    let log = backend.ports().log;
    let head = ok("reading the head", log.head().await);
    let mut indexes = Vec::new();
    for id in ids {
        let leaf = ok("reading an entry", log.leaf_by_audit_id(*id).await);
        let leaf = leaf.unwrap_or_else(|| panic!("audit entry {id} is not found"));
        indexes.push(leaf.index);
    }
    let past = stored_hash_count(head.size).unwrap_or_else(|| panic!("a tree too large"));
    LogState {
        head,
        head_from_storage: ok(
            "reading the head from storage",
            log.head_from_storage().await,
        ),
        pending: ok("reading pending leaves", log.pending(PENDING_LIMIT).await)
            .iter()
            .map(|leaf| leaf.id)
            .collect(),
        indexes,
        hash_past_head: log.read_hashes(&[past]).await.is_ok(),
    }
}

/// An append gives the i-th leaf of the batch index `from.size + i`, stores the batch's
/// hashes after the ones already stored, and records `to` as the head.
pub async fn append_gives_each_leaf_the_next_index_and_records_hashes_and_head<B: Backend>(
    backend: &B,
) {
    let log = backend.ports().log;
    let mut model = Model::default();
    let first = model.sequence_pending(backend).await;
    assert!(first.leaves.is_empty(), "a fresh store had pending entries");
    for round in 0..2 {
        commit_collections(backend, 3).await;
        let batch = model.sequence_pending(backend).await;
        assert_eq!(
            batch.leaves.len(),
            3,
            "round {round}: pending missed entries"
        );
        for (index, leaf) in (batch.from.size..).zip(&batch.leaves) {
            let found = ok("reading an entry", log.leaf_by_audit_id(leaf.id).await);
            let found = found.unwrap_or_else(|| panic!("sequenced entry {} is gone", leaf.id));
            assert_eq!(
                found.index,
                Some(index),
                "the leaf index of entry {}",
                leaf.id
            );
            assert_eq!(
                found.leaf_hash,
                leaf_hash(&leaf.leaf),
                "the leaf hash of {}",
                leaf.id
            );
        }
        assert_eq!(
            ok("reading the head", log.head().await),
            batch.to,
            "the head"
        );
        assert_eq!(
            ok(
                "reading the head from storage",
                log.head_from_storage().await
            ),
            batch.to,
            "the head in storage"
        );
    }
    let positions: Vec<u64> = (0..).take(model.stored_hashes().len()).collect();
    let stored = ok(
        "reading the stored hashes",
        log.read_hashes(&positions).await,
    );
    assert_eq!(stored, model.stored_hashes(), "the stored hashes");
    let pending = ok("reading pending leaves", log.pending(PENDING_LIMIT).await);
    assert!(pending.is_empty(), "sequenced entries are still pending");
}

/// A batch computed from a head the log is no longer at (another sequencer appended, or the
/// size matches but not the root) is refused with `CONFLICT`, and nothing of it is written.
pub async fn append_from_a_stale_head_is_a_conflict_and_writes_nothing<B: Backend>(backend: &B) {
    let log = backend.ports().log;
    let mut model = Model::default();
    let stale = model.clone();
    let first: Vec<AuditId> = commit_collections(backend, 2)
        .await
        .iter()
        .map(|e| e.id)
        .collect();
    let stale_batch = stale.batch(ok("reading pending", log.pending(PENDING_LIMIT).await));
    model.sequence_pending(backend).await;
    let waiting: Vec<AuditId> = commit_collections(backend, 2)
        .await
        .iter()
        .map(|e| e.id)
        .collect();
    let ids: Vec<AuditId> = first.iter().chain(&waiting).copied().collect();
    let before = state(backend, &ids).await;

    // The batch of the first round again, from the empty head: the log has moved on.
    let moved = stale_batch;
    assert_eq!(
        code("appending from an old head", log.append(moved).await),
        ErrorCode::Conflict
    );
    assert_eq!(state(backend, &ids).await, before, "a refused append wrote");

    // From the current size, but another root.
    let pending = ok("reading pending", log.pending(PENDING_LIMIT).await);
    let mut forged = model.batch(pending.clone());
    forged.from.root = stale.head().root;
    assert_eq!(
        code(
            "appending from a head of another root",
            log.append(forged).await
        ),
        ErrorCode::Conflict
    );
    assert_eq!(state(backend, &ids).await, before, "a refused append wrote");

    // From a size the log is not at, with the right root of nothing.
    let mut ahead: LogAppend = model.batch(pending);
    ahead.from.size += 1;
    assert_eq!(
        code("appending from a larger head", log.append(ahead).await),
        ErrorCode::Conflict
    );
    assert_eq!(state(backend, &ids).await, before, "a refused append wrote");
}

/// A batch that names an entry already sequenced (another sequencer ran) is refused with
/// `CONFLICT`, and the entries of the batch that were still pending stay pending.
pub async fn append_of_an_entry_already_sequenced_is_a_conflict_and_writes_nothing<B: Backend>(
    backend: &B,
) {
    let log = backend.ports().log;
    let mut model = Model::default();
    commit_collections(backend, 2).await;
    let done = model.sequence_pending(backend).await;
    let waiting = ok("reading pending", log.pending(PENDING_LIMIT).await);
    assert!(waiting.is_empty(), "entries still pending after an append");
    let fresh: Vec<AuditId> = commit_collections(backend, 2)
        .await
        .iter()
        .map(|e| e.id)
        .collect();
    let ids: Vec<AuditId> = done
        .leaves
        .iter()
        .map(|l| l.id)
        .chain(fresh.iter().copied())
        .collect();
    let before = state(backend, &ids).await;

    // The fresh entries first, then one the first batch sequenced: the last leaf conflicts.
    let mut leaves = ok("reading pending", log.pending(PENDING_LIMIT).await);
    leaves.push(done.leaves[0].clone());
    let again = model.batch(leaves);
    assert_eq!(
        code("appending an entry again", log.append(again).await),
        ErrorCode::Conflict
    );
    assert_eq!(state(backend, &ids).await, before, "a refused append wrote");

    // The same batch without it is accepted: the refusal left the store usable.
    let batch = model.sequence_pending(backend).await;
    assert_eq!(
        batch.leaves.len(),
        2,
        "the refused append lost pending entries"
    );
}
