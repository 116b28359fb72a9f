//! The read side against the in-memory store: proofs verify, bad requests name the log size.

use std::sync::Arc;

use audit_domain::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use audit_domain::note::{KeyName, NoteSigner};
use shared_kernel::time::ManualClock;
use shared_kernel::{AuditId, ErrorCode, Timestamp};

use super::*;
use crate::sequencer::{Sequencer, SequencerOptions};
use crate::test_support::FakeLogStore;

async fn log_of(size: usize, pending: usize) -> (Arc<FakeLogStore>, LogQueries) {
    let store = Arc::new(FakeLogStore::new());
    let signer = Arc::new(NoteSigner::from_seed(
        KeyName::new("log").unwrap_or_else(|e| panic!("{e}")),
        &[1; 32],
    ));
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(0)));
    let mut sequencer = Sequencer::start(
        store.clone(),
        Arc::new(crate::signer::RememberingSigner::in_memory(
            (*signer).clone(),
        )),
        clock,
        SequencerOptions::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    store.commit(size);
    sequencer
        .sequence_batch()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store.commit(pending);
    let queries = LogQueries::new(store.clone(), signer.verifier());
    (store, queries)
}

fn root_at(store: &FakeLogStore, size: usize) -> Hash {
    let state = store.lock();
    audit_domain::merkle::root_from_leaf_hashes(
        &state
            .entries
            .iter()
            .take(size)
            .map(|e| leaf_hash(&e.leaf))
            .collect::<Vec<_>>(),
    )
}

#[tokio::test]
async fn inclusion_and_consistency_proofs_verify_for_every_past_size() {
    let (store, queries) = log_of(37, 0).await;
    for size in 1..=37_u64 {
        let root = root_at(&store, size as usize);
        for index in [0, size / 2, size - 1] {
            let proof = queries
                .inclusion_proof(index, size)
                .await
                .unwrap_or_default();
            let leaf = leaf_hash(&store.lock().entries[index as usize].leaf);
            assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
        }
        for from in [1, size / 2 + 1, size] {
            let proof = queries
                .consistency_proof(from, size)
                .await
                .unwrap_or_default();
            let old = root_at(&store, from as usize);
            assert_eq!(verify_consistency(from, size, &proof, &old, &root), Ok(()));
        }
    }
}

#[tokio::test]
async fn impossible_requests_are_invalid_and_name_the_log_size() {
    let (_store, queries) = log_of(5, 0).await;
    let size_of = |e: Error| (e.code(), e.details().get("tree_size").cloned());
    let five = Some(serde_json_value(5));
    assert_eq!(
        queries.inclusion_proof(0, 6).await.map_err(size_of).err(),
        Some((ErrorCode::InvalidInput, five.clone()))
    );
    assert_eq!(
        queries.inclusion_proof(5, 5).await.map_err(size_of).err(),
        Some((ErrorCode::InvalidInput, five.clone()))
    );
    assert_eq!(
        queries.consistency_proof(2, 6).await.map_err(size_of).err(),
        Some((ErrorCode::InvalidInput, five.clone()))
    );
    assert_eq!(
        queries
            .consistency_proof(0, 3)
            .await
            .err()
            .map(|e| e.code()),
        Some(ErrorCode::InvalidInput)
    );
    assert_eq!(queries.consistency_proof(3, 3).await.ok(), Some(Vec::new()));
    assert_eq!(
        queries.entries(0, 6).await.map_err(size_of).err(),
        Some((ErrorCode::InvalidInput, five))
    );
    assert_eq!(
        queries.entries(0, 1001).await.err().map(|e| e.code()),
        Some(ErrorCode::InvalidInput)
    );
    assert_eq!(
        queries.entries(3, 2).await.err().map(|e| e.code()),
        Some(ErrorCode::InvalidInput)
    );
}

#[tokio::test]
async fn a_size_committed_but_not_yet_in_the_stores_head_is_not_refused() {
    let (store, queries) = log_of(5, 0).await;
    let committed = store.lock().head;
    // The store's in-memory head still says 3, as after a commit the sequencer has not yet
    // offered; readers already see all five leaves.
    store.lock().lagging_head = Some(crate::ports::TreeHead {
        size: 3,
        ..committed
    });
    let size_of = |e: Error| (e.code(), e.details().get("tree_size").cloned());

    let proof = queries
        .inclusion_proof(4, 5)
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));
    let leaf = leaf_hash(&store.lock().entries[4].leaf);
    assert_eq!(
        verify_inclusion(&leaf, 4, 5, &proof, &committed.root),
        Ok(())
    );
    let consistency = queries
        .consistency_proof(3, 5)
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));
    let old_root = root_at(&store, 3);
    assert_eq!(
        verify_consistency(3, 5, &consistency, &old_root, &committed.root),
        Ok(())
    );
    assert_eq!(
        queries.inclusion_proof(0, 6).await.map_err(size_of).err(),
        Some((ErrorCode::InvalidInput, Some(serde_json_value(5)))),
        "beyond what storage holds is still refused, with storage's size"
    );
}

fn serde_json_value(n: u64) -> serde_json::Value {
    serde_json::Value::from(n)
}

#[tokio::test]
async fn an_entry_waiting_for_the_sequencer_is_not_yet_sequenced() {
    let (store, queries) = log_of(2, 1).await;
    let waiting = store.lock().entries[2].id;
    let error = queries.entry_by_audit_id(waiting).await.err();
    assert_eq!(
        error.as_ref().map(Error::code),
        Some(ErrorCode::NotYetSequenced)
    );
    assert_eq!(
        error.and_then(|e| e.details().get("tree_size").cloned()),
        Some(serde_json_value(2))
    );
    let missing = queries.entry_by_audit_id(AuditId::generate()).await.err();
    assert_eq!(missing.map(|e| e.code()), Some(ErrorCode::NotFound));
}

/// Commits `count` real document audit entries (the proof endpoint parses them).
fn commit_entries(store: &FakeLogStore, count: usize) -> Vec<AuditId> {
    use audit_domain::{AuditEntry, AuditOperation, AuditSubject};
    use shared_kernel::{Actor, CollectionId, RequestContext, RequestId, Sha256Digest};
    let context = RequestContext {
        actor: Actor::Anonymous,
        request_id: RequestId::parse("req").unwrap_or_else(|e| panic!("{e}")),
        trace_id: None,
        deadline: None,
    };
    let collection = CollectionId::generate();
    let mut ids = Vec::new();
    for n in 0..count {
        let entry = AuditEntry::new(
            AuditId::generate(),
            Timestamp::from_millis(1_000),
            &context,
            AuditOperation::DocumentCreate,
            ("people", collection),
            AuditSubject::Document {
                document_id: format!("doc-{n}"),
                version: 1,
                hash_before: None,
                hash_after: Some(Sha256Digest::of(b"{}")),
                patch_sha256: None,
            },
        );
        store.commit(1);
        let mut state = store.lock();
        let last = state.entries.len() - 1;
        state.entries[last].id = entry.id;
        state.entries[last].leaf = entry.leaf_bytes();
        ids.push(entry.id);
    }
    ids
}

#[tokio::test]
async fn a_proven_entry_verifies_against_the_latest_checkpoint_and_waits_for_one_that_covers_it() {
    use audit_domain::checkpoint::Checkpoint;
    let store = Arc::new(FakeLogStore::new());
    let signer = Arc::new(NoteSigner::from_seed(
        KeyName::new("log").unwrap_or_else(|e| panic!("{e}")),
        &[3; 32],
    ));
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(0)));
    let mut sequencer = Sequencer::start(
        store.clone(),
        Arc::new(crate::signer::RememberingSigner::in_memory(
            (*signer).clone(),
        )),
        clock.clone(),
        SequencerOptions::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let queries = LogQueries::new(store.clone(), signer.verifier());
    let signed = commit_entries(&store, 5);
    sequencer
        .sequence_batch()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    clock.advance(1_000);
    let published = sequencer
        .checkpoint_if_due()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(published.map(|c| c.tree_size), Some(5));
    let unsigned = commit_entries(&store, 2);
    sequencer
        .sequence_batch()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pending = commit_entries(&store, 1);

    let proven = queries
        .proven_entry(signed[3])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let checkpoint = Checkpoint::open(&proven.checkpoint.note, &signer.verifier())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(checkpoint.tree_size(), 5);
    assert_eq!(proven.leaf.index, 3);
    assert_eq!(
        verify_inclusion(
            &proven.leaf.leaf_hash,
            3,
            5,
            &proven.proof,
            &checkpoint.root_hash()
        ),
        Ok(())
    );

    for waiting in [unsigned[1], pending[0]] {
        let error = queries.proven_entry(waiting).await.err();
        assert_eq!(
            error.as_ref().map(Error::code),
            Some(ErrorCode::NotYetSequenced)
        );
        assert_eq!(
            error.and_then(|e| e.details().get("tree_size").cloned()),
            Some(serde_json_value(5)),
            "the size of the latest checkpoint"
        );
    }
    let missing = queries.proven_entry(AuditId::generate()).await.err();
    assert_eq!(missing.map(|e| e.code()), Some(ErrorCode::NotFound));
}
