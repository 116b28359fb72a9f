//! The embedded log store on a real SQLite file: the sequencer over it, crash-resume, indexes
//! that never change, and proofs that verify against an independently built tree.

use std::path::Path;
use std::sync::Arc;

use audit_app::{LogQueries, RememberingSigner, Sequencer, SequencerOptions};
use audit_domain::merkle::{MemoryTree, verify_consistency, verify_inclusion};
use audit_domain::note::{KeyName, NoteSigner};
use rusqlite::{Connection, OpenFlags};
use shared_kernel::{ErrorCode, SystemClock};

use crate::embedded::tests::commit_entries;
use crate::embedded::write::writer::Statements;
use crate::embedded::{EmbeddedOptions, EmbeddedStore};

fn ok<T>(result: Result<T, shared_kernel::Error>) -> T {
    result.unwrap_or_else(|e| panic!("{}", e.chain()))
}

fn open(dir: &Path) -> EmbeddedStore {
    ok(EmbeddedStore::open(dir, EmbeddedOptions::default()))
}

fn signer() -> Arc<NoteSigner> {
    Arc::new(NoteSigner::from_seed(
        KeyName::new("test/log").unwrap_or_else(|e| panic!("{e}")),
        &[9; 32],
    ))
}

async fn sequencer(store: &EmbeddedStore) -> Sequencer {
    ok(Sequencer::start(
        store.log(),
        Arc::new(RememberingSigner::in_memory((*signer()).clone())),
        Arc::new(SystemClock),
        SequencerOptions {
            batch_size: 7,
            ..SequencerOptions::default()
        },
    )
    .await)
}

async fn drain(sequencer: &mut Sequencer) -> usize {
    let mut total = 0;
    loop {
        let added = ok(sequencer.sequence_batch().await);
        if added == 0 {
            return total;
        }
        total += added;
    }
}

/// `(seq, leaf_index, leaf_hash)` of every entry, read with a separate connection.
fn rows(store: &EmbeddedStore) -> Vec<(i64, Option<i64>, Vec<u8>)> {
    let connection =
        Connection::open_with_flags(store.database_path(), OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("{e}"));
    let mut statement = connection
        .prepare("SELECT seq, leaf_index, leaf_hash FROM audit_entries ORDER BY seq")
        .unwrap_or_else(|e| panic!("{e}"));
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .and_then(|rows| rows.collect())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn memory_tree(rows: &[(i64, Option<i64>, Vec<u8>)]) -> MemoryTree {
    let leaves = rows.iter().map(|(_, _, hash)| {
        audit_domain::merkle::Hash::try_from(hash.as_slice()).unwrap_or_else(|e| panic!("{e}"))
    });
    MemoryTree::from_leaf_hashes(leaves).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn entries_are_sequenced_in_commit_order_and_proofs_verify() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path());
    let mut sequencer = sequencer(&store).await;
    commit_entries(&store, 20).await;
    assert_eq!(drain(&mut sequencer).await, 20);
    let rows = rows(&store);
    let indexes: Vec<Option<i64>> = rows.iter().map(|r| r.1).collect();
    assert_eq!(indexes, (0..20).map(Some).collect::<Vec<_>>());
    let tree = memory_tree(&rows);
    let root = tree.root().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok(store.log().head().await).root, root);

    let queries = LogQueries::new(store.log(), signer().verifier());
    for index in [0_u64, 9, 19] {
        let proof = ok(queries.inclusion_proof(index, 20).await);
        let leaf = tree.stored_hashes()[usize::try_from(
            audit_domain::merkle::stored_hash_index(0, index).unwrap_or(0),
        )
        .unwrap_or(0)];
        assert_eq!(verify_inclusion(&leaf, index, 20, &proof, &root), Ok(()));
    }
    let old_root = audit_domain::merkle::tree_hash(13, &tree).unwrap_or_else(|e| panic!("{e}"));
    let proof = ok(queries.consistency_proof(13, 20).await);
    assert_eq!(verify_consistency(13, 20, &proof, &old_root, &root), Ok(()));
    let entries = ok(queries.entries(5, 8).await);
    assert_eq!(
        entries.iter().map(|e| e.index).collect::<Vec<_>>(),
        [5, 6, 7]
    );
}

#[tokio::test]
async fn entries_committed_but_not_sequenced_before_a_crash_are_sequenced_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let first_ids;
    let before;
    {
        let store = open(dir.path());
        let mut sequencer = sequencer(&store).await;
        first_ids = commit_entries(&store, 10).await;
        assert_eq!(drain(&mut sequencer).await, 10);
        before = rows(&store);
        // Committed after the last batch; then the process "crashes" (nothing is drained).
        commit_entries(&store, 5).await;
        let queries = LogQueries::new(store.log(), signer().verifier());
        let waiting = rows(&store).len();
        assert_eq!(waiting, 15);
        let pending_id = commit_entries(&store, 1).await;
        let error = queries.entry_by_audit_id(pending_id[0]).await.err();
        assert_eq!(error.map(|e| e.code()), Some(ErrorCode::NotYetSequenced));
    }
    let store = open(dir.path());
    let mut sequencer = sequencer(&store).await;
    assert_eq!(sequencer.head().size, 10, "resumes from the committed head");
    assert_eq!(sequencer.last_checkpoint().tree_size, 10);
    assert_eq!(drain(&mut sequencer).await, 6);
    let after = rows(&store);
    assert_eq!(&after[..10], &before[..], "published indexes never change");
    let indexes: Vec<Option<i64>> = after.iter().map(|r| r.1).collect();
    assert_eq!(indexes, (0..16).map(Some).collect::<Vec<_>>());
    let root = memory_tree(&after).root().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sequencer.head().root, root);
    let queries = LogQueries::new(store.log(), signer().verifier());
    let found = ok(queries.entry_by_audit_id(first_ids[3]).await);
    assert_eq!(found.index, 3);
}

#[tokio::test]
async fn a_batch_from_a_stale_head_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path());
    let mut first = sequencer(&store).await;
    let mut second = sequencer(&store).await;
    commit_entries(&store, 3).await;
    assert_eq!(ok(first.sequence_batch().await), 3);
    commit_entries(&store, 2).await;
    let stale = second.sequence_batch().await;
    assert_eq!(stale.err().map(|e| e.code()), Some(ErrorCode::Conflict));
    let indexes: Vec<Option<i64>> = rows(&store).iter().map(|r| r.1).collect();
    assert_eq!(indexes, [Some(0), Some(1), Some(2), None, None]);
}

/// The `synchronous` level a write's statements run under (2 = FULL, 1 = NORMAL), sent back
/// through `seen`.
fn synchronous_probe(seen: Arc<std::sync::Mutex<Vec<i64>>>) -> Statements {
    Box::new(move |connection: &Connection| {
        let level: i64 = connection
            .query_row("PRAGMA synchronous", [], |row| row.get(0))
            .map_err(|e| crate::embedded::error::storage_error("reading synchronous", e))?;
        seen.lock().unwrap_or_else(|e| e.into_inner()).push(level);
        Ok(())
    })
}

#[tokio::test]
async fn under_normal_durability_the_logs_writes_still_commit_with_an_fsync() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = ok(EmbeddedStore::open(
        dir.path(),
        EmbeddedOptions {
            durability: crate::embedded::Durability::Normal,
            ..EmbeddedOptions::default()
        },
    ));
    let writer = store.writer();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    ok(writer
        .write_whole(synchronous_probe(Arc::clone(&seen)))
        .await);
    ok(writer
        .write_whole_synced(synchronous_probe(Arc::clone(&seen)))
        .await);
    ok(writer
        .write_whole(synchronous_probe(Arc::clone(&seen)))
        .await);
    assert_eq!(
        *seen.lock().unwrap_or_else(|e| e.into_inner()),
        [1, 2, 1],
        "document writes stay NORMAL, a synced write's group is FULL, and NORMAL comes back"
    );
}

#[tokio::test]
async fn the_log_is_empty_until_an_entry_is_committed_and_stays_not_empty_after_sequencing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path());
    assert!(
        ok(store.log().is_empty().await),
        "a new store's log is empty"
    );
    commit_entries(&store, 1).await;
    assert!(
        !ok(store.log().is_empty().await),
        "a committed (pending) entry makes it not empty"
    );
    let mut sequencer = sequencer(&store).await;
    drain(&mut sequencer).await;
    assert!(!ok(store.log().is_empty().await));
}

#[tokio::test]
async fn a_log_with_only_its_first_size_zero_checkpoint_is_not_empty() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path());
    // Starting signs the size-0 checkpoint: that key now owns the log.
    let _sequencer = sequencer(&store).await;
    assert!(ok(store.log().latest_checkpoint().await).is_some());
    assert!(!ok(store.log().is_empty().await));
}
