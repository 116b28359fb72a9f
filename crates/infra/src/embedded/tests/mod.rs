//! Tests of the embedded store on a real SQLite file in a temporary folder: the folder lock,
//! migrations, transactions that commit or roll back, and the `# Errors` contracts of the
//! ports bound to a transaction. Where a revision's data is kept: `revision_data.rs`.

mod guards;
mod log_order;
mod revision_data;

use std::path::Path;
use storage_app::Attempt;

use audit_domain::{AuditEntry, AuditOperation, AuditRecord, AuditSubject};
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};
use shared_kernel::{Actor, AuditId, CollectionId, ErrorCode, RequestContext, Timestamp};
use storage_app::OutboxEvent;
use storage_domain::document::ChangeStamp;
use storage_domain::{
    Collection, CollectionName, Document, DocumentData, DocumentId, DocumentLimits, Precondition,
};

use super::{Durability, EmbeddedOptions, EmbeddedStore};

pub(super) fn open(dir: &Path) -> EmbeddedStore {
    EmbeddedStore::open(dir, EmbeddedOptions::default()).unwrap_or_else(|e| panic!("{}", e.chain()))
}

pub(super) fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

pub(super) fn ok<T>(result: Result<T, shared_kernel::Error>) -> T {
    result.unwrap_or_else(|e| panic!("{}", e.chain()))
}

fn code<T>(result: Result<T, shared_kernel::Error>) -> Option<ErrorCode> {
    result.err().map(|e| e.code())
}

/// Commits `count` audit entries (collection creations, no documents), one transaction each;
/// returns their ids.
pub(super) async fn commit_entries(store: &EmbeddedStore, count: usize) -> Vec<AuditId> {
    let mut ids = Vec::new();
    for n in 0..count {
        let entry = AuditEntry::new(
            AuditId::generate(),
            Timestamp::from_millis(i64::try_from(n).unwrap_or(0)),
            &RequestContext::system(),
            AuditOperation::CollectionCreate,
            ("logged", CollectionId::generate()),
            AuditSubject::Collection,
        );
        ids.push(entry.id);
        let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
        ok(tx.audit().append(AuditRecord { entry, patch: None }).await);
        ok(tx.commit().await.map_err(shared_kernel::Error::from));
    }
    ids
}

pub(super) fn collection(name: &str) -> Collection {
    Collection::create(
        ok(CollectionName::parse(name)),
        None,
        Timestamp::from_millis(1),
    )
}

pub(super) fn data(value: Value) -> DocumentData {
    ok(DocumentData::parse(value, &DocumentLimits::default()))
}

pub(super) fn stamp(ms: i64) -> ChangeStamp {
    ChangeStamp {
        at: Timestamp::from_millis(ms),
        actor: Actor::Anonymous,
        audit_id: AuditId::generate(),
    }
}

fn document(collection: &Collection, id: &str, value: Value) -> Document {
    Document::create(
        collection.id(),
        ok(DocumentId::parse(id)),
        data(value),
        stamp(2),
    )
}

fn audit_record(collection: &Collection) -> AuditRecord {
    let entry = AuditEntry::new(
        AuditId::generate(),
        Timestamp::from_millis(3),
        &RequestContext::system(),
        AuditOperation::CollectionCreate,
        (collection.name().as_str(), collection.id()),
        AuditSubject::Collection,
    );
    AuditRecord { entry, patch: None }
}

/// Counts rows through a separate read-only connection, as the integration tests do.
fn count(store: &EmbeddedStore, table: &str) -> i64 {
    let connection =
        Connection::open_with_flags(store.database_path(), OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("{e}"));
    connection
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
            row.get(0)
        })
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Saves `document` (and its current revision) in a transaction of its own, which must
/// accept the save, and answers what its commit answered.
pub(super) async fn save_alone(
    store: &EmbeddedStore,
    document: &Document,
) -> Result<(), shared_kernel::Error> {
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(tx
        .documents()
        .save(document, &document.current_revision())
        .await);
    tx.commit().await.map_err(shared_kernel::Error::from)
}

/// Creates `collection` and one document in it, with its audit entry and outbox event.
pub(super) async fn commit_collection_and_document(
    store: &EmbeddedStore,
    collection: &Collection,
) -> Document {
    let mut doc = document(collection, "doc-1", json!({"b": 1e2, "a": "x"}));
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(tx.collections().insert(collection).await);
    ok(tx.documents().save(&doc, &doc.current_revision()).await);
    let record = audit_record(collection);
    let audit_id = record.entry.id;
    ok(tx.audit().append(record).await);
    let events = doc
        .take_events()
        .iter()
        .map(|e| OutboxEvent::from_document(e, "orders", &RequestContext::system()))
        .collect();
    ok(tx.outbox().append(events).await);
    assert_ne!(audit_id, doc.audit_id(), "entries are distinct from stamps");
    ok(tx.commit().await.map_err(shared_kernel::Error::from));
    doc
}

#[tokio::test]
async fn a_second_open_on_the_same_folder_is_unavailable_until_the_first_is_dropped() {
    let dir = tempdir();
    let first = open(dir.path());
    let error = EmbeddedStore::open(dir.path(), EmbeddedOptions::default())
        .err()
        .unwrap_or_else(|| panic!("a second open succeeded"));
    assert_eq!(error.code(), ErrorCode::Unavailable);
    assert!(
        error.detail().contains(&dir.path().display().to_string()),
        "{}",
        error.detail()
    );
    assert!(
        error.detail().contains("another process"),
        "{}",
        error.detail()
    );
    // Ports handed out keep the folder locked too.
    let reader = first.reader();
    drop(first);
    assert!(EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).is_err());
    drop(reader);
    let reopened = EmbeddedStore::open(dir.path(), EmbeddedOptions::default());
    assert!(reopened.is_ok(), "{:?}", reopened.err());
}

#[tokio::test]
async fn opening_creates_the_folder_and_migrations_are_idempotent_across_reopen() {
    let dir = tempdir();
    let nested = dir.path().join("a").join("b");
    let store = open(&nested);
    assert_eq!(store.database_path(), nested.join("offchain.db"));
    drop(store);
    let store = open(&nested);
    let user_version: i64 = on_writer(&store, |connection| {
        connection.query_row("PRAGMA user_version", [], |row| row.get(0))
    })
    .await;
    assert_eq!(user_version, super::migrations::latest_version());
    for table in [
        "collections",
        "documents",
        "revisions",
        "audit_entries",
        "outbox",
    ] {
        assert_eq!(count(&store, table), 0, "{table}");
    }
}

#[tokio::test]
async fn the_writer_uses_wal_and_the_chosen_durability() {
    let dir = tempdir();
    for (durability, expected) in [(Durability::Full, 2_i64), (Durability::Normal, 1)] {
        let options = EmbeddedOptions {
            durability,
            ..EmbeddedOptions::default()
        };
        let store = ok(EmbeddedStore::open(dir.path(), options));
        let pragmas: Vec<String> = on_writer(&store, |connection| {
            [
                "journal_mode",
                "synchronous",
                "foreign_keys",
                "busy_timeout",
            ]
            .iter()
            .map(|pragma| {
                connection
                    .query_row(&format!("PRAGMA {pragma}"), [], |row| {
                        row.get::<_, rusqlite::types::Value>(0)
                    })
                    .map(|value| format!("{value:?}"))
            })
            .collect()
        })
        .await;
        let read = |pragma: &str| -> String {
            let at = [
                "journal_mode",
                "synchronous",
                "foreign_keys",
                "busy_timeout",
            ]
            .iter()
            .position(|p| *p == pragma)
            .unwrap_or_else(|| panic!("{pragma}"));
            pragmas[at].clone()
        };
        assert_eq!(read("journal_mode"), "Text(\"wal\")", "{durability:?}");
        assert_eq!(
            read("synchronous"),
            format!("Integer({expected})"),
            "{durability:?}"
        );
        assert_eq!(read("foreign_keys"), "Integer(1)", "{durability:?}");
        assert_eq!(read("busy_timeout"), "Integer(5000)", "{durability:?}");
    }
}

/// Checks that what [`commit_collection_and_document`] stored is there, and only that.
async fn assert_committed(store: &EmbeddedStore, orders: &Collection, doc: &Document) {
    let reader = store.reader();
    let found = ok(reader.collection(orders.name()).await);
    assert_eq!(found.as_ref().map(Collection::id), Some(orders.id()));
    let stored = ok(reader.document(orders.id(), doc.id().clone()).await)
        .unwrap_or_else(|| panic!("the document is missing"));
    assert_eq!(stored.version(), doc.version());
    assert_eq!(stored.data(), doc.data());
    assert_eq!(stored.audit_id(), doc.audit_id());
    assert_eq!(stored.created_at(), doc.created_at());
    for (table, rows) in [
        ("collections", 1),
        ("documents", 1),
        ("revisions", 1),
        ("audit_entries", 1),
        ("outbox", 1),
    ] {
        assert_eq!(count(store, table), rows, "{table}");
    }
}

#[tokio::test]
async fn a_committed_transaction_is_visible_to_the_reader_and_survives_reopen() {
    let dir = tempdir();
    let store = open(dir.path());
    let orders = collection("orders");
    let doc = commit_collection_and_document(&store, &orders).await;
    assert_committed(&store, &orders, &doc).await;
    drop(store);
    let reopened = open(dir.path());
    assert_committed(&reopened, &orders, &doc).await;
}

#[tokio::test]
async fn audit_entries_store_the_exact_leaf_bytes_and_hash_with_no_leaf_index() {
    let dir = tempdir();
    let store = open(dir.path());
    let orders = collection("orders");
    let mut record = audit_record(&orders);
    record.patch = Some(json!([{"op": "add", "value": 1e2, "path": "/a"}]));
    let entry = record.entry.clone();
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(tx.collections().insert(&orders).await);
    ok(tx.audit().append(record).await);
    ok(tx.commit().await.map_err(shared_kernel::Error::from));

    let connection =
        Connection::open_with_flags(store.database_path(), OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("{e}"));
    let (seq, leaf, leaf_hash, patch, leaf_index): (i64, Vec<u8>, Vec<u8>, String, Option<i64>) =
        connection
            .query_row(
                "SELECT seq, leaf, leaf_hash, patch, leaf_index FROM audit_entries",
                [],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                },
            )
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(seq, 1);
    assert_eq!(leaf, entry.leaf_bytes());
    assert_eq!(leaf_hash, entry.leaf_hash().as_bytes().to_vec());
    assert_eq!(patch, r#"[{"op":"add","path":"/a","value":100}]"#);
    assert_eq!(leaf_index, None);
}

#[tokio::test]
async fn a_dropped_transaction_leaves_nothing_and_the_writer_stays_usable() {
    let dir = tempdir();
    let store = open(dir.path());
    let orders = collection("orders");
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(tx.collections().insert(&orders).await);
    ok(tx.audit().append(audit_record(&orders)).await);
    drop(tx);

    // The next transaction waits for the rollback, then starts cleanly.
    let tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(tx.commit().await.map_err(shared_kernel::Error::from));
    assert_eq!(ok(store.reader().collection(orders.name()).await), None);
    assert_eq!(count(&store, "collections"), 0);
    assert_eq!(count(&store, "audit_entries"), 0);
}

#[tokio::test]
async fn a_request_cancelled_in_the_middle_of_a_statement_leaves_nothing() {
    let dir = tempdir();
    let store = open(dir.path());
    let orders = collection("orders");
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(tx.collections().insert(&orders).await);
    {
        // The request's future is dropped while its statement is on the writer: polled once
        // (so the statement was sent), then abandoned.
        let mut statement = tx.audit().append(audit_record(&orders));
        // Whether it had already finished does not matter: the transaction is dropped next.
        let _finished = futures_poll_once(statement.as_mut()).await;
    }
    drop(tx);

    let tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(tx.commit().await.map_err(shared_kernel::Error::from));
    assert_eq!(count(&store, "collections"), 0);
    assert_eq!(count(&store, "audit_entries"), 0);
}

/// Polls a future exactly once (whatever it answers), like a request dropped mid-way.
async fn futures_poll_once<F: std::future::Future + Unpin>(mut future: F) -> bool {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(std::pin::Pin::new(&mut future).poll(cx).is_ready())
    })
    .await
}

/// Runs `work` on the writer, in a write that is rolled back afterwards.
async fn on_writer<T, F>(store: &EmbeddedStore, work: F) -> T
where
    F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let session = ok(store.writer().begin().await);
    ok(session
        .run(move |connection| {
            work(connection).map_err(|e| shared_kernel::Error::internal("test statement", e))
        })
        .await)
}

#[tokio::test]
async fn a_live_duplicate_collection_name_is_a_conflict_but_a_deleted_name_can_be_reused() {
    let dir = tempdir();
    let store = open(dir.path());
    let mut first = collection("orders");
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(tx.collections().insert(&first).await);
    assert_eq!(
        code(tx.collections().insert(&collection("orders")).await),
        Some(ErrorCode::Conflict)
    );
    assert_eq!(
        code(tx.collections().insert(&first).await),
        Some(ErrorCode::Conflict),
        "the same id twice"
    );
    ok(first.delete(0, Timestamp::from_millis(5)));
    ok(tx.collections().update(&first).await);
    let second = collection("orders");
    ok(tx.collections().insert(&second).await);
    ok(tx.commit().await.map_err(shared_kernel::Error::from));

    let live = ok(store.reader().collection(second.name()).await);
    assert_eq!(live.map(|c| c.id()), Some(second.id()));
}

#[tokio::test]
async fn updating_an_unknown_collection_is_not_found_and_updates_are_stored() {
    let dir = tempdir();
    let store = open(dir.path());
    let mut orders = collection("orders");
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    assert_eq!(
        code(tx.collections().update(&orders).await),
        Some(ErrorCode::NotFound)
    );
    ok(tx.collections().insert(&orders).await);
    let schema = ok(storage_domain::CollectionSchema::new(
        json!({"type": "object"}),
    ));
    ok(orders.change_schema(Some(schema.clone()), Timestamp::from_millis(9)));
    ok(tx.collections().update(&orders).await);
    let found = ok(tx.collections().find_by_name(orders.name()).await);
    assert_eq!(found.as_ref().and_then(Collection::schema), Some(&schema));
    assert_eq!(found.map(|c| c.version()), Some(2));
    ok(tx.commit().await.map_err(shared_kernel::Error::from));
}

#[tokio::test]
async fn saving_version_one_of_an_existing_document_is_a_conflict() {
    let dir = tempdir();
    let store = open(dir.path());
    let orders = collection("orders");
    let first = commit_collection_and_document(&store, &orders).await;
    let again = document(&orders, "doc-1", json!({"other": true}));
    // Saves are deferred to the transaction's next hand-off to the writer, which answers the
    // conflict: a read of the same transaction...
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(tx.documents().save(&again, &again.current_revision()).await);
    assert_eq!(
        code(tx.documents().find(orders.id(), first.id()).await),
        Some(ErrorCode::Conflict)
    );
    drop(tx);
    // ...or its commit; either way nothing is stored.
    assert_eq!(
        code(save_alone(&store, &again).await),
        Some(ErrorCode::Conflict)
    );
    let stored = ok(store
        .reader()
        .document(orders.id(), first.id().clone())
        .await);
    assert_eq!(stored.as_ref().and_then(Document::data), first.data());
}

#[tokio::test]
async fn a_save_with_a_stale_version_is_a_conflict() {
    let dir = tempdir();
    let store = open(dir.path());
    let orders = collection("orders");
    let doc = commit_collection_and_document(&store, &orders).await;

    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    let loaded =
        ok(tx.documents().find(orders.id(), doc.id()).await).unwrap_or_else(|| panic!("missing"));
    let (mut winner, mut loser) = (loaded.clone(), loaded);
    ok(winner.replace(data(json!({"n": 1})), &Precondition::None, stamp(10)));
    ok(loser.replace(data(json!({"n": 2})), &Precondition::None, stamp(11)));
    ok(tx
        .documents()
        .save(&winner, &winner.current_revision())
        .await);
    ok(tx.commit().await.map_err(shared_kernel::Error::from));
    // The loser saves the version the winner already stored.
    assert_eq!(
        code(save_alone(&store, &loser).await),
        Some(ErrorCode::Conflict)
    );
    let stored = ok(store.reader().document(orders.id(), doc.id().clone()).await);
    assert_eq!(stored.as_ref().and_then(Document::data), winner.data());
}

#[tokio::test]
async fn a_deleted_document_reads_as_a_tombstone_and_is_recreated_on_the_same_row() {
    let dir = tempdir();
    let store = open(dir.path());
    let orders = collection("orders");
    let doc = commit_collection_and_document(&store, &orders).await;
    let mut current = doc.clone();
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(current.delete(&Precondition::None, stamp(20)));
    ok(tx
        .documents()
        .save(&current, &current.current_revision())
        .await);
    assert_eq!(
        ok(tx.collections().count_live_documents(orders.id()).await),
        0
    );
    ok(tx.commit().await.map_err(shared_kernel::Error::from));

    let tombstone = ok(store.reader().document(orders.id(), doc.id().clone()).await)
        .unwrap_or_else(|| panic!("the tombstone is missing"));
    assert!(!tombstone.is_live());
    assert_eq!(tombstone.version().get(), 2);

    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    let mut reloaded =
        ok(tx.documents().find(orders.id(), doc.id()).await).unwrap_or_else(|| panic!("missing"));
    ok(reloaded.recreate(data(json!({"back": true})), stamp(30)));
    ok(tx
        .documents()
        .save(&reloaded, &reloaded.current_revision())
        .await);
    assert_eq!(
        ok(tx.collections().count_live_documents(orders.id()).await),
        1
    );
    ok(tx.commit().await.map_err(shared_kernel::Error::from));
    assert_eq!(count(&store, "documents"), 1);
    assert_eq!(count(&store, "revisions"), 3);
}

#[tokio::test]
async fn an_audit_entry_with_a_duplicate_id_is_a_conflict() {
    let dir = tempdir();
    let store = open(dir.path());
    let orders = collection("orders");
    let record = audit_record(&orders);
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(tx.audit().append(record.clone()).await);
    ok(tx.audit().append(record).await);
    assert_eq!(
        code(tx.commit().await.map_err(shared_kernel::Error::from)),
        Some(ErrorCode::Conflict)
    );
    let entries: i64 = on_writer(&store, |connection| {
        connection.query_row("SELECT COUNT(*) FROM audit_entries", [], |row| row.get(0))
    })
    .await;
    assert_eq!(entries, 0, "the failed transaction stored nothing");
}

#[tokio::test]
async fn the_reader_lists_live_collections_by_name_after_a_cursor() {
    let dir = tempdir();
    let store = open(dir.path());
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    for name in ["delta", "alpha", "charlie", "bravo"] {
        ok(tx.collections().insert(&collection(name)).await);
    }
    let mut gone = collection("aardvark");
    ok(tx.collections().insert(&gone).await);
    ok(gone.delete(0, Timestamp::from_millis(2)));
    ok(tx.collections().update(&gone).await);
    ok(tx.commit().await.map_err(shared_kernel::Error::from));

    let reader = store.reader();
    let names = |list: Vec<Collection>| -> Vec<String> {
        list.iter().map(|c| c.name().to_string()).collect()
    };
    assert_eq!(
        names(ok(reader.collections(None, 3).await)),
        ["alpha", "bravo", "charlie"]
    );
    let after = Some(ok(CollectionName::parse("bravo")));
    assert_eq!(
        names(ok(reader.collections(after, 10).await)),
        ["charlie", "delta"]
    );
    assert_eq!(ok(reader.collection(gone.name()).await), None);
}

#[test]
fn a_transaction_dropped_outside_any_runtime_is_rolled_back_inline() {
    let dir = tempdir();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path());
    let orders = collection("orders");
    let tx = runtime.block_on(async {
        let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
        ok(tx.collections().insert(&orders).await);
        tx
    });
    // Not inside the runtime here: `Drop` cannot reach a blocking pool.
    drop(tx);
    runtime.block_on(async {
        let tx = ok(store.unit_of_work().begin(Attempt::Again).await);
        ok(tx.commit().await.map_err(shared_kernel::Error::from));
        assert_eq!(ok(store.reader().collection(orders.name()).await), None);
    });
}

#[tokio::test]
async fn the_readers_collection_cache_follows_committed_changes_and_only_those() {
    let dir = tempdir();
    let store = open(dir.path());
    let reader = store.reader();
    let mut orders = collection("orders");
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(tx.collections().insert(&orders).await);
    assert!(
        ok(reader.collection(orders.name()).await).is_none(),
        "an uncommitted collection is not read"
    );
    ok(tx.commit().await.map_err(shared_kernel::Error::from));
    let read = ok(reader.collection(orders.name()).await);
    assert_eq!(read.map(|c| c.version()), Some(1), "now cached");

    // A change that is rolled back leaves what readers see as it was.
    let schema = ok(storage_domain::CollectionSchema::new(
        json!({"type": "object"}),
    ));
    let mut changed = orders.clone();
    ok(changed.change_schema(Some(schema.clone()), Timestamp::from_millis(9)));
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(tx.collections().update(&changed).await);
    drop(tx);
    let read = ok(reader.collection(orders.name()).await);
    assert_eq!(read.map(|c| c.version()), Some(1));

    // A committed schema change is read at once, then a committed deletion.
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(tx.collections().update(&changed).await);
    ok(tx.commit().await.map_err(shared_kernel::Error::from));
    let read = ok(reader.collection(orders.name()).await);
    assert_eq!(read.as_ref().and_then(Collection::schema), Some(&schema));
    orders = changed;
    ok(orders.delete(0, Timestamp::from_millis(10)));
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(tx.collections().update(&orders).await);
    ok(tx.commit().await.map_err(shared_kernel::Error::from));
    assert!(ok(reader.collection(orders.name()).await).is_none());
}

#[tokio::test]
async fn the_readers_document_cache_follows_committed_changes_and_only_those() {
    let dir = tempdir();
    let store = open(dir.path());
    let reader = store.reader();
    let orders = collection("orders");
    let doc = commit_collection_and_document(&store, &orders).await;
    let read_version = || async {
        ok(reader.document(orders.id(), doc.id().clone()).await).map(|d| d.version().get())
    };
    assert_eq!(read_version().await, Some(1));
    assert_eq!(read_version().await, Some(1), "now from the cache");

    // A change in an open transaction, then rolled back, leaves what readers see as it was.
    let mut changed = doc.clone();
    ok(changed.replace(data(json!({"n": 2})), &Precondition::None, stamp(10)));
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(tx
        .documents()
        .save(&changed, &changed.current_revision())
        .await);
    ok(tx.collections().count_live_documents(orders.id()).await);
    assert_eq!(read_version().await, Some(1), "not committed yet");
    drop(tx);
    assert_eq!(read_version().await, Some(1), "rolled back");

    // A committed change is read at once.
    ok(save_alone(&store, &changed).await);
    assert_eq!(read_version().await, Some(2));
    let stored = ok(reader.document(orders.id(), doc.id().clone()).await);
    assert_eq!(stored.as_ref().and_then(Document::data), changed.data());

    // A refused save (a stale version) changes nothing.
    assert_eq!(
        code(save_alone(&store, &changed).await),
        Some(ErrorCode::Conflict)
    );
    assert_eq!(read_version().await, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_racing_writes_never_see_a_version_older_than_an_acknowledged_one() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    const UPDATES: u64 = 300;
    let dir = tempdir();
    let store = open(dir.path());
    let orders = collection("orders");
    let doc = commit_collection_and_document(&store, &orders).await;
    let acknowledged = Arc::new(AtomicU64::new(1));
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (reader, id) = (store.reader(), doc.id().clone());
            let (acknowledged, done, collection) =
                (Arc::clone(&acknowledged), Arc::clone(&done), orders.id());
            tokio::spawn(async move {
                let mut reads = 0u64;
                while !done.load(Ordering::Acquire) {
                    // Whatever was acknowledged before the read began must be seen.
                    let floor = acknowledged.load(Ordering::Acquire);
                    let read = ok(reader.document(collection, id.clone()).await)
                        .map_or(0, |d| d.version().get());
                    assert!(
                        read >= floor,
                        "read version {read} after {floor} was acknowledged"
                    );
                    reads += 1;
                }
                reads
            })
        })
        .collect();

    let mut current = doc;
    for n in 0..UPDATES {
        ok(current.replace(data(json!({"n": n})), &Precondition::None, stamp(10)));
        ok(save_alone(&store, &current).await);
        acknowledged.store(current.version().get(), Ordering::Release);
    }
    done.store(true, Ordering::Release);
    let mut reads = 0;
    for reader in readers {
        reads += reader.await.unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(
        reads > UPDATES,
        "the readers raced the writes ({reads} reads)"
    );
    let last = ok(store
        .reader()
        .document(orders.id(), current.id().clone())
        .await);
    assert_eq!(last.map(|d| d.version().get()), Some(UPDATES + 1));
}
