//! The sequencer against the in-memory store: batching, commit order, resume, failures and the
//! checkpoint rules.

use std::sync::Arc;
use std::time::Duration;

use audit_domain::checkpoint::Checkpoint;
use audit_domain::merkle::{MemoryTree, leaf_hash};
use audit_domain::note::{KeyName, NoteSigner};
use shared_kernel::time::ManualClock;
use shared_kernel::{ErrorCode, Timestamp};

use super::*;
use crate::fake::FakeLogStore;

struct World {
    store: Arc<FakeLogStore>,
    signer: Arc<NoteSigner>,
    clock: Arc<ManualClock>,
}

impl World {
    fn new() -> Self {
        let name = KeyName::new("test.example/log").unwrap_or_else(|e| panic!("{e}"));
        Self {
            store: Arc::new(FakeLogStore::new()),
            signer: Arc::new(NoteSigner::from_seed(name, &[42; 32])),
            clock: Arc::new(ManualClock::new(Timestamp::from_millis(1_000_000))),
        }
    }

    async fn start(&self, batch_size: usize) -> Result<Sequencer, Error> {
        Sequencer::start(
            self.store.clone(),
            self.signer.clone(),
            self.clock.clone(),
            SequencerOptions {
                batch_size,
                checkpoint_interval: Duration::from_millis(200),
            },
        )
        .await
    }

    /// The tree the committed entries should form, built independently in memory.
    fn expected_tree(&self, size: usize) -> MemoryTree {
        let state = self.store.lock();
        MemoryTree::from_leaf_hashes(state.entries.iter().take(size).map(|e| leaf_hash(&e.leaf)))
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

fn started(result: Result<Sequencer, Error>) -> Sequencer {
    result.unwrap_or_else(|e| panic!("{}", e.chain()))
}

#[tokio::test]
async fn a_new_store_gets_a_signed_size_zero_checkpoint_at_start() {
    let world = World::new();
    let sequencer = started(world.start(10).await);
    let checkpoint = sequencer.last_checkpoint().clone();
    assert_eq!(checkpoint.tree_size, 0);
    let opened = Checkpoint::open(&checkpoint.note, &world.signer.verifier());
    assert_eq!(opened.map(|c| c.tree_size()), Ok(0));
    assert_eq!(world.store.lock().checkpoints.len(), 1);
}

#[tokio::test]
async fn pending_entries_get_consecutive_indexes_in_commit_order_in_bounded_batches() {
    let world = World::new();
    let mut sequencer = started(world.start(4).await);
    world.store.commit(10);
    let mut sizes = Vec::new();
    loop {
        let added = sequencer
            .sequence_batch()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        sizes.push(added);
        if added == 0 {
            break;
        }
    }
    assert_eq!(sizes, [4, 4, 2, 0]);
    let state = world.store.lock();
    let indexes: Vec<Option<u64>> = state.entries.iter().map(|e| e.index).collect();
    assert_eq!(indexes, (0..10).map(Some).collect::<Vec<_>>());
    drop(state);
    let expected = world.expected_tree(10);
    assert_eq!(world.store.lock().hashes, expected.stored_hashes());
    assert_eq!(sequencer.head().size, 10);
    assert_eq!(sequencer.head().last_seq, 10);
    assert_eq!(
        Ok(sequencer.head().root),
        expected.root().map_err(|e| e.to_string())
    );
}

#[tokio::test]
async fn a_restarted_sequencer_resumes_exactly_where_it_stopped() {
    let world = World::new();
    let mut first = started(world.start(100).await);
    world.store.commit(5);
    assert_eq!(first.sequence_batch().await.ok(), Some(5));
    drop(first);
    world.store.commit(7);
    let mut second = started(world.start(100).await);
    assert_eq!(second.head().size, 5, "the committed head is loaded");
    assert_eq!(second.sequence_batch().await.ok(), Some(7));
    let state = world.store.lock();
    let indexes: Vec<Option<u64>> = state.entries.iter().map(|e| e.index).collect();
    assert_eq!(indexes, (0..12).map(Some).collect::<Vec<_>>());
    drop(state);
    let expected = world.expected_tree(12);
    assert_eq!(world.store.lock().hashes, expected.stored_hashes());
}

#[tokio::test]
async fn a_failed_append_writes_nothing_and_the_same_batch_is_retried() {
    let world = World::new();
    let mut sequencer = started(world.start(100).await);
    world.store.commit(3);
    world.store.lock().fail_next_append = true;
    let failed = sequencer.sequence_batch().await;
    assert_eq!(failed.err().map(|e| e.code()), Some(ErrorCode::Unavailable));
    assert_eq!(sequencer.head().size, 0);
    assert!(world.store.lock().hashes.is_empty());
    assert_eq!(sequencer.sequence_batch().await.ok(), Some(3));
    let expected = world.expected_tree(3);
    assert_eq!(world.store.lock().hashes, expected.stored_hashes());
}

#[tokio::test]
async fn a_second_sequencer_on_a_moved_head_is_refused() {
    let world = World::new();
    let mut first = started(world.start(100).await);
    let mut second = started(world.start(100).await);
    world.store.commit(2);
    assert_eq!(first.sequence_batch().await.ok(), Some(2));
    let stale = second.sequence_batch().await;
    assert_eq!(stale.err().map(|e| e.code()), Some(ErrorCode::Conflict));
}

#[tokio::test]
async fn checkpoints_are_signed_at_most_once_per_interval_while_the_tree_grows() {
    let world = World::new();
    let mut sequencer = started(world.start(100).await);
    assert_eq!(sequencer.checkpoint_due_in(), None, "nothing new to sign");
    world.store.commit(2);
    assert_eq!(sequencer.sequence_batch().await.ok(), Some(2));
    world.clock.advance(50);
    assert_eq!(
        sequencer.checkpoint_due_in(),
        Some(Duration::from_millis(150))
    );
    assert_eq!(sequencer.checkpoint_if_due().await.ok(), Some(None));
    world.clock.advance(150);
    assert_eq!(sequencer.checkpoint_due_in(), Some(Duration::ZERO));
    let signed = sequencer
        .checkpoint_if_due()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let signed = signed.unwrap_or_else(|| panic!("a checkpoint was due"));
    assert_eq!(signed.tree_size, 2);
    let opened =
        Checkpoint::open(&signed.note, &world.signer.verifier()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(opened.root_hash(), sequencer.head().root);
    assert_eq!(sequencer.checkpoint_due_in(), None);
    assert_eq!(
        world.store.lock().checkpoints.len(),
        2,
        "every checkpoint is kept"
    );
}

#[tokio::test]
async fn a_head_left_unsigned_by_a_crash_is_signed_at_the_next_start() {
    let world = World::new();
    let mut sequencer = started(world.start(100).await);
    world.store.commit(4);
    assert_eq!(sequencer.sequence_batch().await.ok(), Some(4));
    drop(sequencer); // "crash": no checkpoint of size 4 was signed
    let restarted = started(world.start(100).await);
    assert_eq!(restarted.last_checkpoint().tree_size, 4);
}

#[tokio::test]
async fn a_published_checkpoint_the_tree_contradicts_stops_the_sequencer() {
    let world = World::new();
    let mut sequencer = started(world.start(100).await);
    world.store.commit(3);
    assert_eq!(sequencer.sequence_batch().await.ok(), Some(3));
    drop(sequencer);
    world.store.lock().checkpoints.insert(
        2,
        StoredCheckpoint {
            tree_size: 2,
            root_hash: leaf_hash(b"forged"),
            note: String::new(),
            signed_at: Timestamp::from_millis(0),
        },
    );
    let refused = world.start(100).await;
    assert_eq!(refused.err().map(|e| e.code()), Some(ErrorCode::Internal));
}
