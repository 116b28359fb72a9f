//! A successor log on a real SQLite file: the succession entry becomes leaf 0 of a new tree,
//! the entries already stored follow it in their commit order, the predecessor's checkpoints
//! are archived, and a write that fails leaves the predecessor exactly as it was.

use std::path::Path;
use std::sync::Arc;

use audit_app::{RememberingSigner, Sequencer, SequencerOptions};
use audit_domain::merkle::{Hash, MemoryTree};
use audit_domain::note::{KeyName, NoteSigner};
use audit_domain::succession::{PredecessorCheckpoint, SuccessionEntry};
use rusqlite::{Connection, OpenFlags};
use shared_kernel::{Actor, AuditId, RequestId, SystemClock, Timestamp};

use super::EndedCheckpoint;
use crate::embedded::tests::commit_entries;
use crate::embedded::{EmbeddedOptions, EmbeddedStore};

fn ok<T>(result: Result<T, shared_kernel::Error>) -> T {
    result.unwrap_or_else(|e| panic!("{}", e.chain()))
}

fn open(dir: &Path) -> EmbeddedStore {
    ok(EmbeddedStore::open(dir, EmbeddedOptions::default()))
}

fn key(origin: &str, seed: u8) -> NoteSigner {
    NoteSigner::from_seed(
        KeyName::new(origin).unwrap_or_else(|e| panic!("{e}")),
        &[seed; 32],
    )
}

/// Sequences everything pending and signs a checkpoint of it with `key`.
async fn sequence_and_sign(store: &EmbeddedStore, key: NoteSigner) -> (u64, Hash) {
    let options = SequencerOptions {
        batch_size: 3,
        checkpoint_interval: std::time::Duration::ZERO,
    };
    let mut sequencer = ok(Sequencer::start(
        store.log(),
        Arc::new(RememberingSigner::in_memory(key)),
        Arc::new(SystemClock),
        options,
    )
    .await);
    while ok(sequencer.sequence_batch().await) > 0 {}
    ok(sequencer.checkpoint_if_due().await);
    let head = sequencer.head();
    (head.size, head.root)
}

fn succession(id: AuditId, size: u64, root: Hash) -> SuccessionEntry {
    SuccessionEntry {
        id,
        at: Timestamp::from_millis(1_764_063_000_000),
        actor: Actor::System,
        request_id: RequestId::generate(),
        predecessor: PredecessorCheckpoint {
            origin: KeyName::new("test/old").unwrap_or_else(|e| panic!("{e}")),
            tree_size: size,
            root,
        },
    }
}

fn reader(store: &EmbeddedStore) -> Connection {
    Connection::open_with_flags(store.database_path(), OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `(seq, id, leaf_index, leaf_hash)` of every entry, in `seq` order.
type Row = (i64, String, Option<i64>, Vec<u8>);

fn rows(store: &EmbeddedStore) -> Vec<Row> {
    let connection = reader(store);
    let mut statement = connection
        .prepare("SELECT seq, id, leaf_index, leaf_hash FROM audit_entries ORDER BY seq")
        .unwrap_or_else(|e| panic!("{e}"));
    statement
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .and_then(|rows| rows.collect())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn count(store: &EmbeddedStore, sql: &str) -> i64 {
    reader(store)
        .query_row(sql, [], |row| row.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test]
async fn the_succession_entry_is_leaf_0_and_the_stored_entries_follow_in_commit_order() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path());
    let old_ids = commit_entries(&store, 5).await;
    let (size, _) = sequence_and_sign(&store, key("test/old", 1)).await;
    assert_eq!(size, 5);
    let old_checkpoints = count(&store, "SELECT count(*) FROM checkpoints");
    assert!(old_checkpoints >= 1);
    let ended = EndedCheckpoint {
        tree_size: 7,
        root: Hash::from_bytes([7; 32]),
        note: "test/old\n7\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n\n— test/old sig\n"
            .to_owned(),
    };
    let entry = succession(AuditId::generate(), 7, ended.root);
    ok(store.start_successor_log(&entry, Some(ended)).await);
    assert_eq!(ok(store.unsigned_successor()), Some(entry.clone()));
    drop(store);

    let store = open(dir.path());
    let stored = rows(&store);
    let ids: Vec<String> = stored.iter().map(|row| row.1.clone()).collect();
    let mut expected = vec![entry.id.to_string()];
    expected.extend(old_ids.iter().map(ToString::to_string));
    assert_eq!(
        ids, expected,
        "the succession entry first, then commit order"
    );
    let seqs: Vec<i64> = stored.iter().map(|row| row.0).collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<_>>(), "no gap in the sequence");
    assert!(
        stored.iter().all(|row| row.2.is_none()),
        "no leaf index left"
    );
    assert_eq!(count(&store, "SELECT count(*) FROM log_hashes"), 0);
    assert_eq!(count(&store, "SELECT tree_size FROM log_state"), 0);
    assert_eq!(count(&store, "SELECT count(*) FROM checkpoints"), 0);
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM predecessor_checkpoints WHERE origin = 'test/old'"
        ),
        old_checkpoints + 1,
        "every stored checkpoint and the signer's last one are kept"
    );
    assert_eq!(
        count(
            &store,
            "SELECT seq FROM sqlite_sequence WHERE name = 'audit_entries'"
        ),
        6
    );

    // The successor's key builds a new tree from scratch, leaf 0 first.
    let (size, root) = sequence_and_sign(&store, key("test/new", 2)).await;
    assert_eq!(size, 6);
    let stored = rows(&store);
    let indexes: Vec<Option<i64>> = stored.iter().map(|row| row.2).collect();
    assert_eq!(indexes, (0..6).map(Some).collect::<Vec<_>>());
    assert_eq!(stored[0].3, entry.leaf_hash().as_bytes().to_vec());
    let tree = MemoryTree::from_leaf_hashes(
        stored
            .iter()
            .map(|row| Hash::try_from(row.3.as_slice()).unwrap_or_else(|e| panic!("{e}"))),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tree.root().ok(), Some(root));
    assert_eq!(ok(store.unsigned_successor()), None, "signed now");

    // The next write follows the successor's entries.
    commit_entries(&store, 1).await;
    assert_eq!(rows(&store).last().map(|row| row.0), Some(7));
}

#[tokio::test]
async fn a_successor_write_that_fails_leaves_the_predecessor_as_it_was() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path());
    let old_ids = commit_entries(&store, 4).await;
    let (_, root) = sequence_and_sign(&store, key("test/old", 1)).await;
    let before = rows(&store);
    let checkpoints = count(&store, "SELECT count(*) FROM checkpoints");
    let hashes = count(&store, "SELECT count(*) FROM log_hashes");

    // An id already taken makes the last statement of the write fail.
    let entry = succession(old_ids[2], 4, root);
    assert!(store.start_successor_log(&entry, None).await.is_err());

    assert_eq!(rows(&store), before);
    assert_eq!(
        count(&store, "SELECT count(*) FROM checkpoints"),
        checkpoints
    );
    assert_eq!(count(&store, "SELECT count(*) FROM log_hashes"), hashes);
    assert_eq!(count(&store, "SELECT tree_size FROM log_state"), 4);
    assert_eq!(
        count(&store, "SELECT count(*) FROM predecessor_checkpoints"),
        0
    );
    assert_eq!(ok(store.unsigned_successor()), None);
}
