//! The log on MongoDB beyond the port contracts (`contracts_mongo.rs` runs those): two
//! sequencers racing on one database, the sequencer lock, and the auditor's source over a
//! store written through the application, clean and then tampered with behind its back.
//! Each test works in a database of its own on the test server (`test-servers`).

use std::sync::Arc;
use std::time::Duration;

use audit_app::auditor::{AuditSource, Finding, FindingKind, Location, audit};
use audit_app::{LogAppend, PendingLeaf, RememberingSigner, Sequencer, SequencerOptions};
use audit_domain::merkle::{MemoryTree, leaf_hash};
use audit_domain::note::{KeyName, NoteSigner};
use infra::mongo::{LockTiming, MAX_LOG_BATCH, MongoAuditSource, MongoOptions, MongoStore};
use infra::pause::TokioPause;
use infra::schema::{JsonSchemaValidator, SchemaOptions};
use mongodb::bson::{Bson, doc};
use serde_json::json;
use shared_kernel::{AuditId, Error, ErrorCode, RequestContext, SystemClock};
use storage_app::StorageApp;
use storage_app::commands::{CreateCollection, CreateDocument, DeleteDocument, PatchDocument};
use storage_domain::{DocumentLimits, Precondition};

fn ok<T>(what: &str, result: Result<T, Error>) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {}", e.chain()))
}

/// A store in a fresh database, and the database's name (for tampering).
async fn fresh(prefix: &str) -> (MongoStore, MongoOptions) {
    let server = test_servers::mongo();
    let options = MongoOptions::new(&server.uri, server.database_name(prefix));
    (open(&options).await, options)
}

/// Another store on the same database: another server.
async fn open(options: &MongoOptions) -> MongoStore {
    ok(
        &format!("opening MongoDB ({})", test_servers::mongo().describe()),
        MongoStore::open(options.clone()).await,
    )
}

/// The database behind the store, reached without it (a tamperer, a crashed server).
async fn raw(options: &MongoOptions) -> mongodb::Database {
    let client = mongodb::Client::with_uri_str(&options.uri)
        .await
        .unwrap_or_else(|e| panic!("a raw client: {e}"));
    client.database(&options.database)
}

fn app(store: &MongoStore) -> StorageApp {
    StorageApp::new(
        store.unit_of_work(),
        store.reader(),
        Arc::new(ok(
            "a schema validator",
            JsonSchemaValidator::new(SchemaOptions::default()),
        )),
        Arc::new(SystemClock),
        DocumentLimits::default(),
        Arc::new(TokioPause),
    )
}

/// A collection and three documents, one patched and one deleted: every kind of entry.
async fn write(app: &StorageApp, collection: &str) {
    let context = RequestContext::system();
    ok(
        "creating a collection",
        app.create_collection(
            &context,
            CreateCollection {
                name: collection.to_owned(),
                schema: None,
                idempotency: None,
            },
        )
        .await,
    );
    for id in ["alice", "bob", "carol"] {
        ok(
            "creating a document",
            app.create_document(
                &context,
                CreateDocument {
                    collection: collection.to_owned(),
                    id: Some(id.to_owned()),
                    data: json!({ "name": id }),
                    idempotency: None,
                },
            )
            .await,
        );
    }
    ok(
        "patching a document",
        app.patch_document(
            &context,
            PatchDocument {
                collection: collection.to_owned(),
                id: "alice".to_owned(),
                merge_patch: json!({ "age": 30 }),
                precondition: Precondition::None,
            },
        )
        .await,
    );
    ok(
        "deleting a document",
        app.delete_document(
            &context,
            DeleteDocument {
                collection: collection.to_owned(),
                id: "bob".to_owned(),
                precondition: Precondition::None,
            },
        )
        .await,
    );
}

fn key() -> NoteSigner {
    let name = ok(
        "a key name",
        KeyName::new("mongo-log/test").map_err(|e| Error::new(ErrorCode::Internal, e.to_string())),
    );
    NoteSigner::from_seed(name, &[7; 32])
}

/// The sequencer of `store`, with a checkpoint after every batch.
async fn sequencer(store: &MongoStore) -> Sequencer {
    ok(
        "starting the sequencer",
        Sequencer::start(
            store.log(),
            Arc::new(RememberingSigner::in_memory(key())),
            Arc::new(SystemClock),
            SequencerOptions {
                checkpoint_interval: Duration::ZERO,
                ..SequencerOptions::default()
            },
        )
        .await,
    )
}

/// Sequences and signs everything pending.
async fn sequence_all(sequencer: &mut Sequencer) {
    while ok("sequencing", sequencer.sequence_batch().await) > 0 {}
    ok("signing", sequencer.checkpoint_if_due().await);
}

/// The batch that appends `pending` to a log holding `sequenced` leaf hashes.
fn batch(tree: &MemoryTree, pending: Vec<PendingLeaf>) -> LogAppend {
    let head = |tree: &MemoryTree| audit_app::TreeHead {
        size: tree.size(),
        root: tree.root().unwrap_or_else(|e| panic!("{e}")),
    };
    let mut next = tree.clone();
    for leaf in &pending {
        next.push(leaf_hash(&leaf.leaf))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    LogAppend {
        from: head(tree),
        to: head(&next),
        hashes: next.stored_hashes()[tree.stored_hashes().len()..].to_vec(),
        leaves: pending,
    }
}

/// Two sequencers (two servers, each with its own store) appending from one head at once:
/// exactly one batch lands, the other is a `CONFLICT`. On the stand-in both appends go
/// through one store, whose transactions run one at a time there: a transaction whose commit
/// fails with a write conflict still applies its writes to other collections on the
/// stand-in (probed), so two servers' sequencers at once would corrupt the log on it, and the
/// sequencer lock is what keeps them apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sequencers_appending_from_one_head_at_once_extend_the_tree_once() {
    let (store, options) = fresh("mlog_race").await;
    let other = if test_servers::mongo().kind.lacks_real_mongo_behaviour(
        "applies part of a transaction whose commit failed with a write conflict",
    ) {
        store.clone()
    } else {
        open(&options).await
    };
    let app = app(&store);
    let mut tree = MemoryTree::new();
    for round in 0..8 {
        write(&app, &format!("race-{round}")).await;
        let pending = ok("reading pending", store.log().pending(100).await);
        assert!(!pending.is_empty(), "round {round}: nothing pending");
        // The second batch takes one entry fewer: the two batches differ, and only the
        // leaf `_id`s they share can stop the second.
        let first = batch(&tree, pending.clone());
        let second = batch(&tree, pending[..pending.len() - 1].to_vec());
        let (log, other_log) = (store.log(), other.log());
        let (a, b) = tokio::join!(log.append(first.clone()), other_log.append(second.clone()));
        let won = match (a, b) {
            (Ok(()), Err(e)) if e.code() == ErrorCode::Conflict => first,
            (Err(e), Ok(())) if e.code() == ErrorCode::Conflict => second,
            (a, b) => panic!(
                "round {round}: not exactly one append with a CONFLICT: {:?} / {:?}",
                a.map_err(|e| e.chain()),
                b.map_err(|e| e.chain())
            ),
        };
        let head = ok("reading the head", store.log().head_from_storage().await);
        assert_eq!(head, won.to, "round {round}: the head is not the winner's");
        for (index, leaf) in (won.from.size..).zip(&won.leaves) {
            let found = ok(
                "reading an entry",
                store.log().leaf_by_audit_id(leaf.id).await,
            );
            assert_eq!(found.and_then(|l| l.index), Some(index), "round {round}");
        }
        let stored = ok("reading leaves", store.log().leaves(0, head.size).await);
        assert_eq!(
            stored.len() as u64,
            head.size,
            "round {round}: leaf records"
        );
        for leaf in &won.leaves {
            tree.push(leaf_hash(&leaf.leaf))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[tokio::test]
async fn an_append_whose_leaf_another_sequencer_recorded_is_a_conflict_and_writes_nothing() {
    let (store, options) = fresh("mlog_taken_leaf").await;
    write(&app(&store), "people").await;
    let pending = ok("reading pending", store.log().pending(100).await);
    // Another sequencer's leaf 0, committed: the head check passes, the `_id` insert does not.
    raw(&options)
        .await
        .collection::<mongodb::bson::Document>("log_leaves")
        .insert_one(doc! { "_id": 0_i64, "audit_id": "elsewhere" })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = store
        .log()
        .append(batch(&MemoryTree::new(), pending.clone()))
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(refused, Some(ErrorCode::Conflict));
    let head = ok("reading the head", store.log().head_from_storage().await);
    assert_eq!(head.size, 0, "a refused batch moved the head");
    let still = ok("reading pending", store.log().pending(100).await);
    assert_eq!(still, pending, "a refused batch sequenced entries");
    let hashes = store.log().read_hashes(&[0]).await.err().map(|e| e.code());
    assert_eq!(
        hashes,
        Some(ErrorCode::Internal),
        "a refused batch stored hashes"
    );
}

#[tokio::test]
async fn a_batch_larger_than_a_transaction_takes_is_refused_and_never_split() {
    let (store, _) = fresh("mlog_large").await;
    let leaves: Vec<PendingLeaf> = (0..=MAX_LOG_BATCH)
        .map(|n| PendingLeaf {
            id: AuditId::generate(),
            leaf: n.to_be_bytes().to_vec(),
        })
        .collect();
    let refused = store
        .log()
        .append(batch(&MemoryTree::new(), leaves))
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(refused, Some(ErrorCode::InvalidInput));
    let head = ok("reading the head", store.log().head_from_storage().await);
    assert_eq!(head.size, 0, "a refused batch wrote");
}

/// A lock document as a crashed server leaves it: last beat `ago` before now.
async fn crashed_lock(options: &MongoOptions, ago: Duration) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let beat = i64::try_from(now.saturating_sub(ago).as_millis()).unwrap_or(0);
    raw(options)
        .await
        .collection::<mongodb::bson::Document>("server_locks")
        .insert_one(
            doc! { "_id": "sequencer", "owner": "crashed", "token": "t", "heartbeat": beat },
        )
        .await
        .unwrap_or_else(|e| panic!("planting a lock: {e}"));
}

const FAST: LockTiming = LockTiming {
    heartbeat: Duration::from_millis(100),
    stale_after: Duration::from_millis(600),
};

#[tokio::test]
async fn a_second_server_is_refused_while_the_first_beats_and_starts_once_it_released() {
    let (first, options) = fresh("mlog_lock").await;
    let second = open(&options).await;
    let held = ok(
        "locking",
        first.lock_sequencer_with("first-host", FAST).await,
    );
    // Longer than `stale_after`: only the heartbeat keeps the lock fresh.
    tokio::time::sleep(FAST.stale_after * 2).await;
    let refused = second
        .lock_sequencer_with("second-host", FAST)
        .await
        .err()
        .unwrap_or_else(|| panic!("a second server took a held lock"));
    assert_eq!(refused.code(), ErrorCode::Unavailable);
    assert!(
        refused.detail().contains("`first-host`") && refused.detail().contains("last seen"),
        "the refusal names the holder and when it was seen: {}",
        refused.detail()
    );
    assert!(held.is_held());
    ok("releasing", held.release().await);
    let taken = ok(
        "locking after a release",
        second.lock_sequencer_with("second-host", FAST).await,
    );
    assert_eq!(taken.owner(), "second-host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_lock_is_taken_over_by_exactly_one_of_two_racing_servers() {
    for round in 0..5 {
        let (first, options) = fresh("mlog_stale").await;
        let second = open(&options).await;
        crashed_lock(&options, Duration::from_secs(60)).await;
        let (a, b) = tokio::join!(
            first.lock_sequencer_with("a", FAST),
            second.lock_sequencer_with("b", FAST)
        );
        let (winner, loser) = match (a, b) {
            (Ok(lock), Err(e)) | (Err(e), Ok(lock)) => (lock, e),
            (a, b) => panic!(
                "round {round}: not exactly one server took the stale lock: {:?} / {:?}",
                a.map(|l| l.owner().to_owned()).map_err(|e| e.chain()),
                b.map(|l| l.owner().to_owned()).map_err(|e| e.chain())
            ),
        };
        assert_eq!(loser.code(), ErrorCode::Unavailable, "round {round}");
        assert!(
            loser.detail().contains(&format!("`{}`", winner.owner())),
            "round {round}: the loser names the winner: {}",
            loser.detail()
        );
    }
}

#[tokio::test]
async fn a_lock_a_fresh_crashed_server_left_refuses_and_one_taken_over_is_no_longer_held() {
    let (store, options) = fresh("mlog_taken").await;
    crashed_lock(&options, Duration::ZERO).await;
    let refused = store.lock_sequencer_with("me", FAST).await.err();
    assert_eq!(refused.map(|e| e.code()), Some(ErrorCode::Unavailable));
    tokio::time::sleep(FAST.stale_after).await;
    let held = ok("taking over", store.lock_sequencer_with("me", FAST).await);
    // Another server takes it over behind this one's back.
    raw(&options)
        .await
        .collection::<mongodb::bson::Document>("server_locks")
        .update_one(
            doc! { "_id": "sequencer" },
            doc! { "$set": { "token": "other" } },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(FAST.heartbeat * 3).await;
    assert!(!held.is_held(), "a lock taken over still says it is held");
}

/// Audits `store` with the test key; returns the findings and the leaves audited.
async fn audit_store(store: &MongoStore) -> (Vec<Finding>, u64, Vec<String>) {
    let source = ok("opening the audit source", store.audit_source().await);
    let verifier = key().verifier();
    // The auditor is synchronous: run it off the runtime, as the command does.
    tokio::task::spawn_blocking(move || {
        let mut findings = Vec::new();
        let summary = ok(
            "auditing",
            audit(&source, &verifier, &[], &mut |f| findings.push(f.clone())),
        );
        (findings, summary.leaves, summary.backend_checks)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn an_audit_of_a_store_written_through_the_application_finds_nothing() {
    let (store, _) = fresh("mlog_audit").await;
    let app = app(&store);
    let mut sequencer = sequencer(&store).await;
    write(&app, "people").await;
    sequence_all(&mut sequencer).await;
    write(&app, "orders").await;
    let (findings, leaves, checks) = audit_store(&store).await;
    assert_eq!(findings, Vec::<Finding>::new());
    assert_eq!(leaves, 6, "the first batch's leaves");
    assert_eq!(checks.len(), 2, "the backend's checks: {checks:?}");
}

#[tokio::test]
async fn the_audit_stops_at_the_head_it_opened_on_while_the_log_grows() {
    let (store, _) = fresh("mlog_fixed").await;
    let app = app(&store);
    let mut sequencer = sequencer(&store).await;
    write(&app, "people").await;
    sequence_all(&mut sequencer).await;
    let source = ok("opening the audit source", store.audit_source().await);
    write(&app, "orders").await;
    sequence_all(&mut sequencer).await;
    let verifier = key().verifier();
    let (findings, summary) = tokio::task::spawn_blocking(move || {
        let mut findings = Vec::new();
        let summary = ok(
            "auditing",
            audit(&source, &verifier, &[], &mut |f| findings.push(f.clone())),
        );
        (findings, summary)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(findings, Vec::<Finding>::new());
    assert_eq!(
        (summary.leaves, summary.pending_entries),
        (6, 6),
        "entries sequenced after the source opened count as pending"
    );
}

#[tokio::test]
async fn a_lost_leaf_index_and_a_missing_leaf_record_are_named_by_the_backend_checks() {
    let (store, options) = fresh("mlog_tamper").await;
    let app = app(&store);
    let mut sequencer = sequencer(&store).await;
    write(&app, "people").await;
    sequence_all(&mut sequencer).await;
    let database = raw(&options).await;
    let entries = database.collection::<mongodb::bson::Document>("audit_entries");
    let lost = entries
        .find_one_and_update(
            doc! { "leaf_index": 2_i64 },
            doc! { "$set": { "leaf_index": Bson::Null } },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no entry at leaf 2"));
    database
        .collection::<mongodb::bson::Document>("log_leaves")
        .delete_one(doc! { "_id": 4_i64 })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (findings, _, _) = audit_store(&store).await;
    let lost_id = lost.get_str("_id").unwrap_or_default().to_owned();
    assert!(
        findings.iter().any(|f| f.kind == FindingKind::EditedEntry
            && f.location
                == Location::Entry {
                    leaf_index: None,
                    id: lost_id.clone()
                }
            && f.detail.contains("recorded it as leaf 2")),
        "the entry that lost its leaf index: {findings:#?}"
    );
    assert!(
        findings.iter().any(|f| f.kind == FindingKind::EditedLog
            && f.location == Location::Leaves { start: 4, end: 5 }),
        "the missing leaf record: {findings:#?}"
    );
}

#[tokio::test]
async fn a_source_opened_without_a_store_and_outside_a_runtime_reads_the_same_log() {
    let (store, options) = fresh("mlog_blocking").await;
    let mut sequencer = sequencer(&store).await;
    write(&app(&store), "people").await;
    sequence_all(&mut sequencer).await;
    let head = ok("reading the head", store.log().head_from_storage().await);
    let state = tokio::task::spawn_blocking(move || {
        let source = ok(
            "opening the audit source",
            MongoAuditSource::open_blocking(options),
        );
        ok("reading the log state", source.log_state())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        state.map(|s| (s.tree_size, s.root)),
        Some((head.size, head.root.as_bytes().to_vec()))
    );
}
