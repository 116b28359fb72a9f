//! The sequencer against the in-memory store: batching, commit order, resume, failures and the
//! checkpoint rules.

use std::sync::Arc;
use std::time::Duration;

use audit_domain::checkpoint::Checkpoint;
use audit_domain::merkle::{MemoryTree, leaf_hash};
use audit_domain::note::{KeyName, NoteSigner};
use shared_kernel::time::ManualClock;
use shared_kernel::{ErrorCode, Timestamp};

use crate::signer::SignerMemory;

use super::*;
use crate::signer::{InMemorySignerMemory, RememberingSigner};
use crate::test_support::FakeLogStore;

struct World {
    store: Arc<FakeLogStore>,
    signer: Arc<NoteSigner>,
    /// What the signer remembers, kept across restarts like the file beside the key.
    memory: Arc<InMemorySignerMemory>,
    clock: Arc<ManualClock>,
}

fn key(seed: u8) -> NoteSigner {
    let name = KeyName::new("test.example/log").unwrap_or_else(|e| panic!("{e}"));
    NoteSigner::from_seed(name, &[seed; 32])
}

impl World {
    fn new() -> Self {
        Self {
            store: Arc::new(FakeLogStore::new()),
            signer: Arc::new(key(42)),
            memory: Arc::new(InMemorySignerMemory::new()),
            clock: Arc::new(ManualClock::new(Timestamp::from_millis(1_000_000))),
        }
    }

    /// The signer of a (re)started process: the key and what its memory holds.
    fn remembering_signer(&self, key: NoteSigner) -> Result<Arc<RememberingSigner>, Error> {
        RememberingSigner::open(key, self.memory.clone()).map(Arc::new)
    }

    async fn start(&self, batch_size: usize) -> Result<Sequencer, Error> {
        self.start_with_key((*self.signer).clone(), batch_size)
            .await
    }

    async fn start_with_key(&self, key: NoteSigner, batch_size: usize) -> Result<Sequencer, Error> {
        Sequencer::start(
            self.store.clone(),
            self.remembering_signer(key)?,
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
    assert_eq!(
        Ok(sequencer.head().root),
        expected.root().map_err(|e| e.to_string())
    );
}

#[tokio::test]
async fn the_sequencer_takes_what_is_unsequenced_even_an_entry_that_committed_late_before_others() {
    // On a backend whose transactions commit concurrently, an entry can commit after entries
    // the log already holds, yet sort before them in the store's own order (a commit number
    // taken early). "Everything after the last one sequenced" would skip it for ever.
    let world = World::new();
    let mut sequencer = started(world.start(100).await);
    world.store.commit(3);
    assert_eq!(sequencer.sequence_batch().await.ok(), Some(3));
    world.store.commit_late_with_a_low_number("late");
    world.store.commit(1);
    assert_eq!(sequencer.sequence_batch().await.ok(), Some(2));
    assert_eq!(sequencer.sequence_batch().await.ok(), Some(0));
    let state = world.store.lock();
    let by_leaf: Vec<(String, Option<u64>)> = state
        .entries
        .iter()
        .map(|e| (String::from_utf8_lossy(&e.leaf).into_owned(), e.index))
        .collect();
    assert_eq!(
        by_leaf,
        [
            ("late".to_owned(), Some(3)),
            ("leaf 0".to_owned(), Some(0)),
            ("leaf 1".to_owned(), Some(1)),
            ("leaf 2".to_owned(), Some(2)),
            ("leaf 4".to_owned(), Some(4)),
        ],
        "only the unsequenced entries were taken, in the store's order; no index moved"
    );
    assert_eq!(state.appends, [3, 2]);
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
    world.store.commit(1);
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
    assert!(
        refused.is_err(),
        "a checkpoint the tree contradicts is refused"
    );
}

#[tokio::test]
async fn a_sequencer_signs_only_trees_extending_the_last_one_signed_and_remembers_it() {
    let world = World::new();
    let mut sequencer = started(world.start(100).await);
    world.store.commit(3);
    assert_eq!(sequencer.sequence_batch().await.ok(), Some(3));
    world.clock.advance(1_000);
    let signed = sequencer.checkpoint_if_due().await.ok().flatten();
    assert_eq!(signed.map(|c| c.tree_size), Some(3));
    let remembered = world.memory.load().ok().flatten().unwrap_or_default();
    let opened = Checkpoint::open(&remembered, &world.signer.verifier());
    assert_eq!(opened.map(|c| c.tree_size()), Ok(3));
}

/// The store as it was at some moment, to put back later (a restored copy).
fn snapshot(world: &World) -> crate::test_support::FakeState {
    let state = world.store.lock();
    crate::test_support::FakeState {
        entries: state.entries.clone(),
        hashes: state.hashes.clone(),
        head: state.head,
        checkpoints: state.checkpoints.clone(),
        appends: Vec::new(),
        fail_next_append: false,
        lagging_head: None,
    }
}

#[tokio::test]
async fn a_store_older_than_what_the_signer_signed_is_refused_with_the_signed_size() {
    let world = World::new();
    let mut sequencer = started(world.start(100).await);
    world.store.commit(2);
    assert_eq!(sequencer.sequence_batch().await.ok(), Some(2));
    world.clock.advance(1_000);
    assert!(sequencer.checkpoint_if_due().await.is_ok());
    let older = snapshot(&world);
    world.store.commit(3);
    assert_eq!(sequencer.sequence_batch().await.ok(), Some(3));
    world.clock.advance(1_000);
    assert!(sequencer.checkpoint_if_due().await.is_ok());
    drop(sequencer);

    // The database goes back to size 2; the signer remembers size 5.
    *world.store.lock() = older;
    let refused = world.start(100).await.err();
    assert!(
        refused.as_ref().is_some_and(crate::signer::is_rolled_back),
        "{refused:?}"
    );
    let detail = refused.map(|e| e.detail().to_owned()).unwrap_or_default();
    assert!(detail.contains("size 5"), "{detail}");

    // Written on again by a process that lost the signer's memory, past size 5 with other
    // entries: a fork. The signer that remembers still refuses it.
    world.store.commit(4);
    for (i, entry) in world.store.lock().entries.iter_mut().enumerate().skip(2) {
        entry.leaf = format!("other {i}").into_bytes();
    }
    let amnesiac = World {
        store: world.store.clone(),
        signer: world.signer.clone(),
        memory: Arc::new(InMemorySignerMemory::new()),
        clock: world.clock.clone(),
    };
    let mut forker = started(amnesiac.start(100).await);
    assert_eq!(forker.sequence_batch().await.ok(), Some(4));
    world.clock.advance(1_000);
    assert!(forker.checkpoint_if_due().await.is_ok());
    drop(forker);
    let refused = world.start(100).await.err();
    assert!(
        refused.as_ref().is_some_and(crate::signer::is_rolled_back),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_signer_without_memory_adopts_the_newest_stored_checkpoint() {
    let world = World::new();
    let mut sequencer = started(world.start(100).await);
    world.store.commit(2);
    assert_eq!(sequencer.sequence_batch().await.ok(), Some(2));
    world.clock.advance(1_000);
    assert!(sequencer.checkpoint_if_due().await.is_ok());
    drop(sequencer);
    // The memory is lost (a store written before the signer kept one).
    let fresh = World {
        store: world.store.clone(),
        signer: world.signer.clone(),
        memory: Arc::new(InMemorySignerMemory::new()),
        clock: world.clock.clone(),
    };
    let restarted = started(fresh.start(100).await);
    assert_eq!(restarted.last_checkpoint().tree_size, 2);
    let adopted = fresh.memory.load().ok().flatten().unwrap_or_default();
    assert_eq!(
        Checkpoint::open(&adopted, &fresh.signer.verifier()).map(|c| c.tree_size()),
        Ok(2)
    );
}

#[tokio::test]
async fn a_key_that_did_not_sign_the_stores_checkpoints_is_refused_at_start() {
    let world = World::new();
    drop(started(world.start(100).await));
    let fresh = World {
        store: world.store.clone(),
        signer: Arc::new(key(43)),
        memory: Arc::new(InMemorySignerMemory::new()),
        clock: world.clock.clone(),
    };
    let refused = fresh.start(100).await.err();
    assert_eq!(
        refused.as_ref().map(Error::code),
        Some(ErrorCode::InvalidInput)
    );
    let detail = refused.map(|e| e.detail().to_owned()).unwrap_or_default();
    assert!(detail.contains("test.example/log"), "{detail}");
}

#[tokio::test]
async fn after_a_conflict_the_sequencer_reloads_the_head_instead_of_retrying_a_stale_batch() {
    let world = World::new();
    let mut first = started(world.start(100).await);
    let mut second = started(world.start(100).await);
    world.store.commit(2);
    assert_eq!(first.sequence_batch().await.ok(), Some(2));
    world.store.commit(1);
    let stale = second.sequence_batch().await;
    assert_eq!(stale.err().map(|e| e.code()), Some(ErrorCode::Conflict));
    assert_eq!(second.head().size, 2, "the head was reloaded from storage");
    assert_eq!(second.sequence_batch().await.ok(), Some(1));
    let expected = world.expected_tree(3);
    assert_eq!(world.store.lock().hashes, expected.stored_hashes());
}
