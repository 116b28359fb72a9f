//! The log's order on the embedded store (API.md "Lists"): the sequencer is handed only what
//! is unsequenced, through an index; a document's entries get leaf indexes in version order,
//! even when its writers race; and a walk of `/v1/audit` page by page never skips an entry
//! committed before it began, neither one committed during the walk nor one the sequencer
//! moves into the log during the walk.

use std::collections::HashSet;
use std::sync::Arc;

use audit_app::{RememberingSigner, Sequencer, SequencerOptions};
use audit_domain::note::{KeyName, NoteSigner};
use audit_domain::{AuditEntry, AuditOperation, AuditRecord, AuditSubject, LoggedAuditEntry};
use rusqlite::{Connection, OpenFlags};
use serde_json::json;
use shared_kernel::{AuditId, ErrorCode, Position, RequestContext, SystemClock, Timestamp};
use storage_app::ports::AuditQuery;
use storage_app::{Attempt, Guard};
use storage_domain::{Collection, Document, Precondition};

use super::{collection, commit_collection_and_document, data, ok, open, stamp, tempdir};
use crate::embedded::EmbeddedStore;
use crate::embedded::log::store::PENDING_SQL;

async fn sequencer(store: &EmbeddedStore, batch_size: usize) -> Sequencer {
    let key = NoteSigner::from_seed(
        KeyName::new("test/log").unwrap_or_else(|e| panic!("{e}")),
        &[9; 32],
    );
    ok(Sequencer::start(
        store.log(),
        Arc::new(RememberingSigner::in_memory(key)),
        Arc::new(SystemClock),
        SequencerOptions {
            batch_size,
            ..SequencerOptions::default()
        },
    )
    .await)
}

async fn drain(sequencer: &mut Sequencer) {
    while ok(sequencer.sequence_batch().await) > 0 {}
}

/// Commits `count` collection entries, one transaction each; returns their ids.
async fn commit_entries(store: &EmbeddedStore, count: usize) -> Vec<AuditId> {
    let mut ids = Vec::new();
    for _ in 0..count {
        let orders = collection("orders");
        let entry = AuditEntry::new(
            AuditId::generate(),
            Timestamp::from_millis(5),
            &RequestContext::system(),
            AuditOperation::CollectionCreate,
            (orders.name().as_str(), orders.id()),
            AuditSubject::Collection,
        );
        ids.push(entry.id);
        let mut tx = ok(store.unit_of_work().begin(Attempt::First).await);
        ok(tx.audit().append(AuditRecord { entry, patch: None }).await);
        ok(tx.commit().await.map_err(shared_kernel::Error::from));
    }
    ids
}

fn read_only(store: &EmbeddedStore) -> Connection {
    Connection::open_with_flags(store.database_path(), OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn the_sequencer_is_handed_only_unsequenced_entries_in_commit_order_through_an_index() {
    let dir = tempdir();
    let store = open(dir.path());
    let mut sequencer = sequencer(&store, 100).await;
    commit_entries(&store, 4).await;
    drain(&mut sequencer).await;
    let waiting = commit_entries(&store, 3).await;
    let pending = ok(store.log().pending(100).await);
    let ids: Vec<AuditId> = pending.iter().map(|p| p.id).collect();
    assert_eq!(
        ids, waiting,
        "exactly the unsequenced entries, in commit order"
    );
    assert_eq!(
        ok(store.log().pending(2).await).len(),
        2,
        "at most the limit"
    );
    drain(&mut sequencer).await;
    assert!(ok(store.log().pending(100).await).is_empty());

    // As fast as "after the last seq" was: a search of an index, never a scan of the table.
    let plan: Vec<String> = read_only(&store)
        .prepare(&format!("EXPLAIN QUERY PLAN {PENDING_SQL}"))
        .and_then(|mut s| {
            s.query_map([100], |row| row.get::<_, String>(3))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        plan.iter()
            .all(|step| step.starts_with("SEARCH") && step.contains("INDEX")),
        "{plan:?}"
    );
}

/// Writes version `n + 1` of `doc` with its audit entry, guarded on the version read, as a
/// command does; `Err` when another writer got there first.
async fn write_next_version(
    store: &EmbeddedStore,
    orders: &Collection,
    doc: &Document,
    n: u64,
) -> Result<(), shared_kernel::Error> {
    let mut tx = store.unit_of_work().begin(Attempt::First).await?;
    let mut loaded = tx
        .documents()
        .find(orders.id(), doc.id())
        .await?
        .unwrap_or_else(|| panic!("missing"));
    tx.require(Guard::DocumentAt {
        collection: orders.id(),
        id: doc.id().clone(),
        version: Some(loaded.version()),
    });
    loaded.replace(data(json!({"writer": n})), &Precondition::None, stamp(10))?;
    tx.documents()
        .save(&loaded, &loaded.current_revision())
        .await?;
    let entry = AuditEntry::new(
        AuditId::generate(),
        Timestamp::from_millis(10),
        &RequestContext::system(),
        AuditOperation::DocumentReplace,
        (orders.name().as_str(), orders.id()),
        AuditSubject::Document {
            document_id: doc.id().as_str().to_owned(),
            version: loaded.version().get(),
            hash_before: None,
            hash_after: None,
            patch_sha256: None,
        },
    );
    tx.audit()
        .append(AuditRecord { entry, patch: None })
        .await?;
    Ok(tx.commit().await?)
}

#[tokio::test]
async fn a_documents_entries_get_leaf_indexes_in_version_order_even_when_its_writers_race() {
    let dir = tempdir();
    let store = Arc::new(open(dir.path()));
    let orders = collection("orders");
    let doc = commit_collection_and_document(&store, &orders).await;
    let mut sequencer = sequencer(&store, 3).await;
    let mut writers = Vec::new();
    for n in 0..6_u64 {
        let (store, orders, doc) = (Arc::clone(&store), orders.clone(), doc.clone());
        writers.push(tokio::spawn(async move {
            for _ in 0..4 {
                // A lost race is a conflict: read again and write the next version.
                loop {
                    match write_next_version(&store, &orders, &doc, n).await {
                        Ok(()) => break,
                        Err(e) if e.code() == ErrorCode::Conflict => {}
                        Err(e) => panic!("{}", e.chain()),
                    }
                }
            }
        }));
    }
    // The sequencer runs while the writers race.
    for _ in 0..10 {
        ok(sequencer.sequence_batch().await);
        tokio::task::yield_now().await;
    }
    for writer in writers {
        writer.await.unwrap_or_else(|e| panic!("{e}"));
    }
    drain(&mut sequencer).await;
    let versions: Vec<i64> = read_only(&store)
        .prepare("SELECT version FROM audit_entries WHERE document_id = ?1 ORDER BY leaf_index")
        .and_then(|mut s| {
            s.query_map([doc.id().as_str()], |row| row.get(0))?
                .collect::<rusqlite::Result<Vec<i64>>>()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(versions, (2..=25).collect::<Vec<i64>>());
}

/// One page of the audit list after `after`.
async fn page(
    store: &EmbeddedStore,
    after: Option<&Position>,
    limit: u32,
) -> Vec<LoggedAuditEntry> {
    ok(store
        .reader()
        .audit_entries(AuditQuery::default(), after.cloned(), limit, None)
        .await)
}

#[tokio::test]
async fn a_walk_lists_an_entry_committed_during_it() {
    let dir = tempdir();
    let store = open(dir.path());
    let mut sequencer = sequencer(&store, 100).await;
    let mut before = commit_entries(&store, 2).await;
    drain(&mut sequencer).await;
    before.extend(commit_entries(&store, 2).await);
    let first = page(&store, None, 3).await;
    let during = commit_entries(&store, 1).await;
    let rest = page(&store, first.last().map(|e| &e.position), 10).await;
    let listed: Vec<AuditId> = first.iter().chain(&rest).map(|e| e.entry.id()).collect();
    let expected: Vec<AuditId> = before.iter().chain(&during).copied().collect();
    assert_eq!(listed, expected, "log order, then pending in commit order");
    let indexes: Vec<Option<u64>> = first.iter().chain(&rest).map(|e| e.leaf_index).collect();
    assert_eq!(indexes, [Some(0), Some(1), None, None, None]);
}

#[tokio::test]
async fn a_walk_never_skips_an_entry_the_sequencer_moves_into_the_log_during_it() {
    let dir = tempdir();
    let store = open(dir.path());
    let mut sequencer = sequencer(&store, 2).await;
    let before = commit_entries(&store, 6).await;
    assert_eq!(ok(sequencer.sequence_batch().await), 2);
    // Page 1: leaves 0 and 1, then the first pending entry.
    let first = page(&store, None, 3).await;
    let first_indexes: Vec<Option<u64>> = first.iter().map(|e| e.leaf_index).collect();
    assert_eq!(first_indexes, [Some(0), Some(1), None]);
    // Every pending entry is sequenced now: a cursor that remembered only the pending part
    // would find nothing after the third entry and end the walk, skipping three.
    drain(&mut sequencer).await;
    let mut listed: Vec<LoggedAuditEntry> = first;
    let mut after = listed.last().map(|e| e.position.clone());
    loop {
        let next = page(&store, after.as_ref(), 2).await;
        let Some(last) = next.last() else { break };
        after = Some(last.position.clone());
        listed.extend(next);
    }
    let seen: HashSet<AuditId> = listed.iter().map(|e| e.entry.id()).collect();
    for id in &before {
        assert!(seen.contains(id), "entry {id} was skipped");
    }
    // The third entry is listed twice: pending, then with its leaf index.
    let third: Vec<Option<u64>> = listed
        .iter()
        .filter(|e| e.entry.id() == before[2])
        .map(|e| e.leaf_index)
        .collect();
    assert_eq!(third, [None, Some(2)]);
    let tail: Vec<Option<u64>> = listed[3..].iter().map(|e| e.leaf_index).collect();
    assert_eq!(tail, [Some(2), Some(3), Some(4), Some(5)]);
}

#[tokio::test]
async fn a_position_this_store_did_not_make_is_bad_input_at_the_cursor() {
    let dir = tempdir();
    let store = open(dir.path());
    for text in ["7", "1.2.3", "x.1", "9223372036854775808.0"] {
        let error = store
            .reader()
            .audit_entries(AuditQuery::default(), Some(Position::new(text)), 5, None)
            .await
            .err()
            .unwrap_or_else(|| panic!("{text} was accepted"));
        assert_eq!(error.code(), ErrorCode::InvalidInput, "{text}");
        assert_eq!(error.field_errors()[0].path, "/cursor", "{text}");
    }
}
