//! `LogStore`'s checkpoints: kept for ever, the latest is the largest, one per size; and the
//! sequencer's, signed and kept through the port.

use std::sync::Arc;
use std::time::Duration;

use audit_app::ports::StoredCheckpoint;
use audit_app::{RememberingSigner, Sequencer, SequencerOptions};
use audit_domain::checkpoint::Checkpoint;
use audit_domain::merkle::{Hash, empty_root, leaf_hash};
use audit_domain::note::{KeyName, NoteSigner};
use shared_kernel::{ErrorCode, SystemClock, Timestamp};

use super::fixture::{code, commit_collections, ok};
use crate::Backend;

fn checkpoint(tree_size: u64, root_hash: Hash, note: &str) -> StoredCheckpoint {
    StoredCheckpoint {
        tree_size,
        root_hash,
        note: note.to_owned(),
        signed_at: Timestamp::from_millis(5),
    }
}

/// The latest checkpoint is the one of the largest size, whatever order they were kept in;
/// keeping the same checkpoint again is accepted and changes nothing.
pub async fn the_latest_checkpoint_is_the_one_of_the_largest_size<B: Backend>(backend: &B) {
    let log = backend.ports().log;
    let large = checkpoint(7, leaf_hash(b"seven"), "note of 7");
    for kept in [
        checkpoint(0, empty_root(), "note of 0"),
        large.clone(),
        checkpoint(3, leaf_hash(b"three"), "note of 3"),
        large.clone(),
    ] {
        ok("keeping a checkpoint", log.save_checkpoint(kept).await);
    }
    let latest = ok(
        "reading the latest checkpoint",
        log.latest_checkpoint().await,
    );
    assert_eq!(latest, Some(large), "the latest checkpoint");
}

/// A different checkpoint of a size already kept is `CONFLICT`, and the kept one stays.
pub async fn a_different_checkpoint_of_a_kept_size_is_a_conflict<B: Backend>(backend: &B) {
    let log = backend.ports().log;
    let kept = checkpoint(2, leaf_hash(b"kept"), "kept note");
    ok(
        "keeping a checkpoint",
        log.save_checkpoint(kept.clone()).await,
    );
    let other = checkpoint(2, leaf_hash(b"other"), "other note");
    let refused = code(
        "keeping another checkpoint of size 2",
        log.save_checkpoint(other).await,
    );
    assert_eq!(refused, ErrorCode::Conflict);
    let latest = ok(
        "reading the latest checkpoint",
        log.latest_checkpoint().await,
    );
    assert_eq!(
        latest,
        Some(kept),
        "a refused checkpoint replaced the kept one"
    );
}

/// The real sequencer, over the port: it signs a checkpoint of the empty log at start, then
/// one of each new head; the store keeps each, and its note verifies under the key and names
/// the head the store reports.
pub async fn the_sequencer_keeps_signed_checkpoints_of_the_head<B: Backend>(backend: &B) {
    let log = backend.ports().log;
    let key = NoteSigner::from_seed(
        ok(
            "a key name",
            KeyName::new("contracts/log")
                .map_err(|e| shared_kernel::Error::new(ErrorCode::Internal, e.to_string())),
        ),
        &[7; 32],
    );
    let verifier = key.verifier();
    let options = SequencerOptions {
        checkpoint_interval: Duration::ZERO,
        ..SequencerOptions::default()
    };
    let mut sequencer = ok(
        "starting the sequencer",
        Sequencer::start(
            Arc::clone(&log),
            Arc::new(RememberingSigner::in_memory(key)),
            Arc::new(SystemClock),
            options,
        )
        .await,
    );
    let first = ok(
        "reading the latest checkpoint",
        log.latest_checkpoint().await,
    );
    let first = first.unwrap_or_else(|| panic!("no checkpoint after the sequencer started"));
    assert_eq!(
        (first.tree_size, first.root_hash),
        (0, empty_root()),
        "the first checkpoint"
    );

    commit_collections(backend, 3).await;
    let sequenced = ok("sequencing", sequencer.sequence_batch().await);
    assert_eq!(sequenced, 3, "entries sequenced");
    let signed = ok("signing", sequencer.checkpoint_if_due().await);
    assert!(signed.is_some(), "no checkpoint was due after a batch");
    let latest = ok(
        "reading the latest checkpoint",
        log.latest_checkpoint().await,
    );
    let latest = latest.unwrap_or_else(|| panic!("the checkpoint was not kept"));
    let head = ok("reading the head", log.head().await);
    assert_eq!(
        (latest.tree_size, latest.root_hash),
        (head.size, head.root),
        "its head"
    );
    let opened = Checkpoint::open(&latest.note, &verifier)
        .unwrap_or_else(|e| panic!("the kept note does not verify: {e}"));
    assert_eq!(
        (opened.tree_size(), opened.root_hash()),
        (3, head.root),
        "the signed head"
    );
}
