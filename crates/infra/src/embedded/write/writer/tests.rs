//! Group commit on a real SQLite file: many concurrent writes land whole and in `seq` order,
//! a failing session leaves no rows and does not disturb its group, a whole write refused by
//! its checks leaves its group alone while one failing after it wrote rows is dropped from a
//! group rebuilt without it (or, in a group holding a session, takes the group down: nothing
//! stored, every member told), a failed `COMMIT` reaches every member, dropped writes are
//! rolled back, and `normal` durability keeps what it acknowledged across a reopen.
//!
//! Groups are formed deterministically where a test depends on them: one write holds the
//! writer while the others queue (`Writer::queued`), and the group's age bound is set far
//! away. On the single-threaded test runtime, a queued count seen by the test means those
//! tasks have already handed their request to the writer.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use storage_app::Attempt;

use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};
use shared_kernel::{ErrorCode, RequestContext, SystemClock};
use storage_app::StorageApp;
use storage_app::commands::create_collection::CreateCollection;
use storage_app::commands::create_document::CreateDocument;
use storage_app::commands::patch_document::PatchDocument;
use storage_domain::{DocumentLimits, Precondition, Version};

use super::{Statements, Writer};
use crate::embedded::{Durability, EmbeddedOptions, EmbeddedStore, GroupCommitOptions};
use crate::schema::{JsonSchemaValidator, SchemaOptions};

fn ok<T>(result: Result<T, shared_kernel::Error>) -> T {
    result.unwrap_or_else(|e| panic!("{}", e.chain()))
}

/// A store whose groups close only when the queue is empty (or 10,000 writes in).
fn open(dir: &Path, durability: Durability) -> EmbeddedStore {
    ok(EmbeddedStore::open(
        dir,
        EmbeddedOptions {
            durability,
            group_commit: GroupCommitOptions {
                max_writes: 10_000,
                max_age: Duration::from_secs(600),
            },
            ..EmbeddedOptions::default()
        },
    ))
}

fn app(store: &EmbeddedStore) -> Arc<StorageApp> {
    Arc::new(StorageApp::new(
        store.unit_of_work(),
        store.reader(),
        Arc::new(
            JsonSchemaValidator::new(SchemaOptions::default()).unwrap_or_else(|e| panic!("{e}")),
        ),
        Arc::new(SystemClock),
        DocumentLimits::default(),
        Arc::new(crate::pause::TokioPause),
    ))
}

async fn create_people(app: &StorageApp) {
    ok(app
        .create_collection(
            &RequestContext::system(),
            CreateCollection {
                name: "people".into(),
                schema: Some(json!({
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "n": {"type": "integer"}}
                })),
                idempotency: None,
            },
        )
        .await);
}

fn create(id: &str, data: Value) -> CreateDocument {
    CreateDocument {
        collection: "people".into(),
        id: Some(id.into()),
        data,
        idempotency: None,
    }
}

fn patch(id: &str, n: u64, if_match: u64) -> PatchDocument {
    PatchDocument {
        collection: "people".into(),
        id: id.into(),
        merge_patch: json!({"n": n}),
        precondition: Precondition::OneOf(vec![ok(Version::new(if_match))]),
    }
}

const KEPT_ONLY_IF_COMMITTED: u128 = 1;
const GOOD: u128 = 2;
const ABANDONED: u128 = 3;

fn read_only(store: &EmbeddedStore) -> Connection {
    Connection::open_with_flags(store.database_path(), OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn scalar(connection: &Connection, sql: &str) -> i64 {
    connection
        .query_row(sql, [], |row| row.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A write's task and its outcome.
type WriteTask = tokio::task::JoinHandle<Result<(), shared_kernel::Error>>;

/// Runs a create (`Ok`) or a patch (`Err`) through the application on its own task.
fn spawn_command(
    app: &Arc<StorageApp>,
    command: Result<CreateDocument, PatchDocument>,
) -> WriteTask {
    let app = Arc::clone(app);
    tokio::spawn(async move {
        let context = RequestContext::system();
        match command {
            Ok(create) => app.create_document(&context, create).await.map(drop),
            Err(patch) => app.patch_document(&context, patch).await.map(drop),
        }
    })
}

/// Runs `statements` as a whole write on its own task.
fn spawn_whole(writer: &Writer, statements: Statements) -> WriteTask {
    let writer = writer.clone();
    tokio::spawn(async move { writer.write_whole(statements).await })
}

/// The outcome of a write's task (a panicking task fails the test).
async fn joined(task: WriteTask) -> Result<(), shared_kernel::Error> {
    task.await.unwrap_or_else(|e| panic!("{e}"))
}

/// Waits (yielding to the writes being queued) until `n` writes wait for the writer.
async fn until_queued(store: &EmbeddedStore, n: usize) {
    while store.writer().queued() < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_all_land_with_their_versions_audit_entries_in_seq_order() {
    const TASKS: u64 = 24;
    const PATCHES: u64 = 4;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path(), Durability::Full);
    let app = app(&store);
    create_people(&app).await;

    // Readers never see a hole in `seq`: what is committed is always a prefix.
    let watcher = {
        let connection = read_only(&store);
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = Arc::clone(&done);
        let thread = std::thread::spawn(move || {
            let mut looks = 0_u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (rows, max): (i64, i64) = connection
                    .query_row(
                        "SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM audit_entries",
                        [],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(rows, max, "a reader saw a hole in the audit sequence");
                looks += 1;
            }
            looks
        });
        (done, thread)
    };

    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let app = Arc::clone(&app);
        tasks.spawn(async move {
            let id = format!("doc-{task}");
            let context = RequestContext::system();
            let created = ok(app
                .create_document(&context, create(&id, json!({"name": id, "n": 0})))
                .await);
            assert_eq!(created.document.version().get(), 1);
            for n in 1..=PATCHES {
                let patched = ok(app.patch_document(&context, patch(&id, n, n)).await);
                assert_eq!(patched.document.version().get(), n + 1);
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap_or_else(|e| panic!("{e}"));
    }
    watcher.0.store(true, std::sync::atomic::Ordering::Relaxed);
    let looks = watcher
        .1
        .join()
        .unwrap_or_else(|_| panic!("the watcher failed"));
    assert!(looks > 0);

    let writes = TASKS * (1 + PATCHES);
    let connection = read_only(&store);
    let count = |table: &str| scalar(&connection, &format!("SELECT COUNT(*) FROM {table}"));
    assert_eq!(count("documents"), i64::try_from(TASKS).unwrap_or(0));
    assert_eq!(count("revisions"), i64::try_from(writes).unwrap_or(0));
    assert_eq!(
        count("audit_entries"),
        i64::try_from(writes + 1).unwrap_or(0)
    );
    assert_eq!(
        scalar(&connection, "SELECT MAX(seq) FROM audit_entries"),
        i64::try_from(writes + 1).unwrap_or(0),
        "no seq was skipped"
    );
    assert_eq!(
        scalar(
            &connection,
            &format!(
                "SELECT COUNT(*) FROM documents WHERE version = {}",
                PATCHES + 1
            )
        ),
        i64::try_from(TASKS).unwrap_or(0)
    );
    // Each document's entries have versions 1, 2, ... in seq order.
    let out_of_order = scalar(
        &connection,
        "SELECT COUNT(*) FROM audit_entries a JOIN audit_entries b \
         ON a.document_id = b.document_id AND a.seq < b.seq AND a.version >= b.version",
    );
    assert_eq!(out_of_order, 0);
    let stats = store.write_stats();
    assert_eq!(stats.writes, writes + 1, "{stats:?}");
    assert!(
        stats.groups >= 1 && stats.groups <= stats.writes,
        "{stats:?}"
    );
    assert_eq!(stats.failed_groups, 0);
}

#[tokio::test]
async fn a_failing_member_leaves_no_rows_and_the_rest_of_its_group_commits() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path(), Durability::Full);
    let app = app(&store);
    create_people(&app).await;
    let context = RequestContext::system();
    ok(app
        .create_document(&context, create("shared", json!({"name": "s"})))
        .await);
    let before = store.write_stats();

    // The first member holds the writer while the others queue behind it.
    let mut first = ok(store.unit_of_work().begin(Attempt::Again).await);
    let spawn = |command| spawn_command(&app, command);
    let good_one = spawn(Ok(create("good-1", json!({"name": "g1"}))));
    let schema_failure = spawn(Ok(create("bad-schema", json!({"name": 7}))));
    let stale = spawn(Err(patch("shared", 5, 9)));
    let good_two = spawn(Ok(create("good-2", json!({"name": "g2"}))));
    // The failures are decided on committed state, before their writes reach the writer
    // (optimistic reads): only the two good writes queue.
    until_queued(&store, 2).await;

    // A member that wrote rows before failing: its document and revision go, alone.
    let people = ok(store
        .reader()
        .collection(&ok(storage_domain::CollectionName::parse("people")))
        .await)
    .unwrap_or_else(|| panic!("no collection"));
    let doc = storage_domain::Document::create(
        people.id(),
        ok(storage_domain::DocumentId::parse("first")),
        ok(storage_domain::DocumentData::parse(
            json!({"name": "f"}),
            &DocumentLimits::default(),
        )),
        storage_domain::document::ChangeStamp {
            at: shared_kernel::Timestamp::from_millis(1),
            actor: shared_kernel::Actor::Anonymous,
            audit_id: shared_kernel::AuditId::generate(),
        },
    );
    ok(first.documents().save(&doc, &doc.current_revision()).await);
    ok(first.commit().await.map_err(shared_kernel::Error::from));

    ok(joined(good_one).await);
    assert_eq!(
        joined(schema_failure).await.err().map(|e| e.code()),
        Some(ErrorCode::SchemaViolation)
    );
    assert_eq!(
        joined(stale).await.err().map(|e| e.code()),
        Some(ErrorCode::PreconditionFailed)
    );
    ok(joined(good_two).await);

    let after = store.write_stats();
    assert_eq!(after.groups - before.groups, 1, "one group: {after:?}");
    assert_eq!(after.writes - before.writes, 3, "first, good-1, good-2");
    let connection = read_only(&store);
    let ids: Vec<String> = connection
        .prepare("SELECT id FROM documents ORDER BY id")
        .and_then(|mut s| s.query_map([], |row| row.get(0))?.collect())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ids, ["first", "good-1", "good-2", "shared"]);
    assert_eq!(
        scalar(
            &connection,
            "SELECT version FROM documents WHERE id = 'shared'"
        ),
        1
    );
    assert_eq!(
        scalar(&connection, "SELECT COUNT(*) FROM audit_entries"),
        4,
        "the collection, shared, good-1, good-2 (the raw member wrote no entry)"
    );
}

#[tokio::test]
async fn a_write_that_fails_after_writing_rows_is_rolled_back_alone() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path(), Durability::Full);
    let app = app(&store);
    create_people(&app).await;
    let before = store.write_stats();

    let first = ok(store.unit_of_work().begin(Attempt::Again).await);
    let failing = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
            ok(tx
                .outbox()
                .append(vec![outbox_event(KEPT_ONLY_IF_COMMITTED)])
                .await);
            // The same event id again: a conflict after a row was written (answered by the
            // commit, which runs the deferred appends).
            ok(tx
                .outbox()
                .append(vec![outbox_event(KEPT_ONLY_IF_COMMITTED)])
                .await);
            tx.commit()
                .await
                .map_err(shared_kernel::Error::from)
                .err()
                .map(|e| e.code())
        })
    };
    let good = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
            ok(tx.outbox().append(vec![outbox_event(GOOD)]).await);
            tx.commit().await.map_err(shared_kernel::Error::from)
        })
    };
    until_queued(&store, 2).await;
    ok(first.commit().await.map_err(shared_kernel::Error::from));
    assert_eq!(
        failing.await.unwrap_or_else(|e| panic!("{e}")),
        Some(ErrorCode::Conflict)
    );
    ok(good.await.unwrap_or_else(|e| panic!("{e}")));

    let after = store.write_stats();
    assert_eq!(after.groups - before.groups, 1, "{after:?}");
    let connection = read_only(&store);
    let ids: Vec<String> = connection
        .prepare("SELECT id FROM outbox WHERE event_type = 'test.event'")
        .and_then(|mut s| s.query_map([], |row| row.get(0))?.collect())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ids, [uuid::Uuid::from_u128(GOOD).to_string()]);
}

fn outbox_event(id: u128) -> storage_app::OutboxEvent {
    storage_app::OutboxEvent {
        id: uuid::Uuid::from_u128(id),
        event_type: "test.event",
        audit_id: shared_kernel::AuditId::generate(),
        occurred_at: shared_kernel::Timestamp::from_millis(1),
        payload: "{}".to_owned(),
    }
}

#[tokio::test]
async fn a_failed_group_commit_fails_every_member_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path(), Durability::Full);
    let app = app(&store);
    create_people(&app).await;
    // A deferred foreign key is checked at COMMIT only: a row breaking it makes the group's
    // COMMIT fail after every member was released.
    let setup = ok(store.writer().begin().await);
    ok(setup
        .run(|connection| {
            connection
                .execute_batch(
                    "CREATE TABLE deferred_child (parent TEXT REFERENCES collections(id) \
                     DEFERRABLE INITIALLY DEFERRED)",
                )
                .map_err(|e| shared_kernel::Error::internal("setup", e))
        })
        .await);
    ok(setup.commit_after(None).await);
    let before = store.write_stats();

    let breaking = ok(store.writer().begin().await);
    let members: Vec<_> = ["m-1", "m-2", "m-3"]
        .into_iter()
        .map(|id| {
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                app.create_document(&RequestContext::system(), create(id, json!({"name": id})))
                    .await
                    .map(drop)
            })
        })
        .collect();
    until_queued(&store, 3).await;
    ok(breaking
        .run(|connection| {
            connection
                .execute("INSERT INTO deferred_child (parent) VALUES ('no such')", [])
                .map(drop)
                .map_err(|e| shared_kernel::Error::internal("insert", e))
        })
        .await);
    let breaking_result = breaking.commit_after(None).await;
    assert_eq!(
        breaking_result.err().map(|e| e.code()),
        Some(ErrorCode::Unavailable)
    );
    for member in members {
        let result = member.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            result.err().map(|e| e.code()),
            Some(ErrorCode::Unavailable),
            "every member of the failed group is told"
        );
    }
    let after = store.write_stats();
    assert_eq!(after.failed_groups - before.failed_groups, 1, "{after:?}");
    assert_eq!(after.writes, before.writes, "nothing counted as written");
    let connection = read_only(&store);
    assert_eq!(scalar(&connection, "SELECT COUNT(*) FROM documents"), 0);
    assert_eq!(
        scalar(&connection, "SELECT COUNT(*) FROM deferred_child"),
        0
    );
    assert_eq!(
        scalar(&connection, "SELECT COUNT(*) FROM audit_entries"),
        1,
        "only the collection's entry"
    );

    // The writer goes on with a fresh group.
    ok(app
        .create_document(
            &RequestContext::system(),
            create("after", json!({"name": "a"})),
        )
        .await);
    assert_eq!(scalar(&connection, "SELECT COUNT(*) FROM documents"), 1);
}

#[tokio::test]
async fn writes_dropped_while_queued_or_open_are_rolled_back_and_the_group_commits() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path(), Durability::Full);
    let app = app(&store);
    create_people(&app).await;

    let first = ok(store.unit_of_work().begin(Attempt::Again).await);
    // One request gives up while it waits for the writer; another after writing its rows.
    let gives_up_queued = {
        let store = store.clone();
        tokio::spawn(async move { store.unit_of_work().begin(Attempt::Again).await.map(drop) })
    };
    let gives_up_open = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
            ok(tx.outbox().append(vec![outbox_event(ABANDONED)]).await);
            // The request is cancelled here: the transaction is dropped, never committed.
        })
    };
    let kept = {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            app.create_document(
                &RequestContext::system(),
                create("kept", json!({"name": "k"})),
            )
            .await
            .map(drop)
        })
    };
    until_queued(&store, 3).await;
    gives_up_queued.abort();
    ok(first.commit().await.map_err(shared_kernel::Error::from));
    gives_up_open.await.unwrap_or_else(|e| panic!("{e}"));
    ok(kept.await.unwrap_or_else(|e| panic!("{e}")));

    let connection = read_only(&store);
    assert_eq!(
        scalar(
            &connection,
            "SELECT COUNT(*) FROM outbox WHERE event_type = 'test.event'"
        ),
        0
    );
    assert_eq!(
        scalar(
            &connection,
            "SELECT COUNT(*) FROM documents WHERE id = 'kept'"
        ),
        1
    );
    assert_eq!(store.writer().queued(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_durability_keeps_acknowledged_concurrent_writes_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    {
        let store = open(dir.path(), Durability::Normal);
        let app = app(&store);
        create_people(&app).await;
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..40 {
            let app = Arc::clone(&app);
            tasks.spawn(async move {
                let id = format!("n-{n}");
                app.create_document(&RequestContext::system(), create(&id, json!({"name": id})))
                    .await
                    .map(drop)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            ok(joined.unwrap_or_else(|e| panic!("{e}")));
        }
        assert_eq!(store.write_stats().writes, 41);
    }
    let store = open(dir.path(), Durability::Normal);
    let connection = read_only(&store);
    assert_eq!(scalar(&connection, "SELECT COUNT(*) FROM documents"), 40);
    assert_eq!(
        scalar(&connection, "SELECT COUNT(*) FROM audit_entries"),
        41
    );
    assert_eq!(
        scalar(
            &connection,
            "SELECT COUNT(*) FROM outbox WHERE audit_id IN \
             (SELECT id FROM audit_entries WHERE document_id IS NOT NULL)"
        ),
        40
    );
}

#[tokio::test]
async fn writes_see_every_collection_change_despite_the_collection_cache() {
    use storage_app::commands::change_schema::ChangeSchema;
    use storage_app::commands::delete_collection::DeleteCollection;
    use storage_app::commands::delete_document::DeleteDocument;

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path(), Durability::Full);
    let app = app(&store);
    let context = RequestContext::system();
    create_people(&app).await;
    ok(app
        .create_document(&context, create("a", json!({"name": "a"})))
        .await);

    // A schema change is seen by the next write.
    ok(app
        .change_schema(
            &context,
            ChangeSchema {
                collection: "people".into(),
                schema: Some(json!({"type": "object", "required": ["email"]})),
            },
        )
        .await);
    let error = app
        .create_document(&context, create("b", json!({"name": "b"})))
        .await
        .err();
    assert_eq!(error.map(|e| e.code()), Some(ErrorCode::SchemaViolation));

    // A deleted collection takes no more documents.
    ok(app
        .delete_document(
            &context,
            DeleteDocument {
                collection: "people".into(),
                id: "a".into(),
                precondition: Precondition::None,
            },
        )
        .await);
    ok(app
        .delete_collection(
            &context,
            DeleteCollection {
                collection: "people".into(),
            },
        )
        .await);
    let error = app
        .create_document(&context, create("c", json!({"email": "c"})))
        .await
        .err();
    assert_eq!(error.map(|e| e.code()), Some(ErrorCode::NotFound));

    // A collection created in a transaction that was rolled back does not exist.
    let ghost = storage_domain::Collection::create(
        ok(storage_domain::CollectionName::parse("people")),
        None,
        shared_kernel::Timestamp::from_millis(1),
    );
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(tx.collections().insert(&ghost).await);
    assert!(
        ok(tx
            .collections()
            .find_by_name(&ok(storage_domain::CollectionName::parse("people")))
            .await)
        .is_some()
    );
    drop(tx);
    let error = app
        .create_document(&context, create("d", json!({"email": "d"})))
        .await
        .err();
    assert_eq!(error.map(|e| e.code()), Some(ErrorCode::NotFound));

    // Re-created with the first schema: its rules apply again.
    create_people(&app).await;
    ok(app
        .create_document(&context, create("e", json!({"name": "e"})))
        .await);
}

#[tokio::test]
async fn optimistic_writes_that_lost_a_race_run_again_and_answer_as_if_they_had_waited() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path(), Durability::Full);
    let app = app(&store);
    create_people(&app).await;
    let context = RequestContext::system();
    ok(app
        .create_document(&context, create("shared", json!({"name": "s"})))
        .await);

    // While the writer is held, each write reads committed state: both creates of `twin`
    // see no document, both patches of `shared` see version 1 (no If-Match).
    let held = ok(store.unit_of_work().begin(Attempt::Again).await);
    let spawn = |command| spawn_command(&app, command);
    let unconditional_patch = |n: u64| PatchDocument {
        precondition: Precondition::None,
        ..patch("shared", n, 1)
    };
    let twins = [
        spawn(Ok(create("twin", json!({"name": "a"})))),
        spawn(Ok(create("twin", json!({"name": "b"})))),
    ];
    let patches = [
        spawn(Err(unconditional_patch(1))),
        spawn(Err(unconditional_patch(2))),
    ];
    until_queued(&store, 4).await;
    ok(held.commit().await.map_err(shared_kernel::Error::from));

    let mut codes = Vec::new();
    for handle in twins {
        codes.push(
            handle
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .err()
                .map(|e| e.code()),
        );
    }
    codes.sort_by_key(|code| code.is_some());
    assert_eq!(
        codes,
        [None, Some(ErrorCode::Conflict)],
        "one twin is created; the other, run again with exact reads, finds it"
    );
    for handle in patches {
        ok(handle.await.unwrap_or_else(|e| panic!("{e}")));
    }
    let connection = read_only(&store);
    assert_eq!(
        scalar(
            &connection,
            "SELECT version FROM documents WHERE id = 'shared'"
        ),
        3,
        "both unconditional patches land, one after the other"
    );
    assert_eq!(
        scalar(
            &connection,
            "SELECT COUNT(*) FROM revisions WHERE document_id = 'twin'"
        ),
        1
    );
    assert_eq!(
        scalar(&connection, "SELECT COUNT(*) FROM audit_entries"),
        5,
        "the collection, shared, one twin, two patches: nothing of a lost attempt"
    );
}

/// A whole write that inserts one outbox row with `id` as its id text, then fails if told to.
fn whole_write(id: &'static str, fail_after_insert: bool) -> Statements {
    Box::new(move |connection| {
        connection
            .execute(
                "INSERT INTO outbox (id, event_type, audit_id, occurred_at, payload) \
                 VALUES (?1, 'test.whole', 'a', 1, '{}')",
                [id],
            )
            .map_err(|e| shared_kernel::Error::internal("test insert", e))?;
        if fail_after_insert {
            return Err(shared_kernel::Error::conflict("failed after writing a row"));
        }
        Ok(())
    })
}

/// A whole write refused before it writes anything, as a stale optimistic read is.
fn refused_whole_write() -> Statements {
    Box::new(|_connection| Err(shared_kernel::Error::conflict("a stale read")))
}

fn whole_rows(store: &EmbeddedStore) -> Vec<String> {
    read_only(store)
        .prepare("SELECT id FROM outbox WHERE event_type = 'test.whole' ORDER BY seq")
        .and_then(|mut s| s.query_map([], |row| row.get(0))?.collect())
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_whole_write_refused_before_writing_leaves_its_group_alone() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path(), Durability::Full);
    let writer = store.writer();
    let first = ok(writer.begin().await);
    let spawn = |statements| spawn_whole(&writer, statements);
    let before = spawn(whole_write("before", false));
    let refused = spawn(refused_whole_write());
    let after = spawn(whole_write("after", false));
    until_queued(&store, 3).await;
    ok(first.commit_after(None).await);

    ok(joined(before).await);
    assert_eq!(
        joined(refused).await.err().map(|e| e.code()),
        Some(ErrorCode::Conflict)
    );
    ok(joined(after).await);
    assert_eq!(whole_rows(&store), ["before", "after"]);
}

#[tokio::test]
async fn a_whole_write_failing_after_rows_in_a_group_holding_a_session_takes_the_group_down() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path(), Durability::Full);
    let writer = store.writer();
    let before_stats = store.write_stats();
    let first = ok(writer.begin().await);
    let spawn = |statements| spawn_whole(&writer, statements);
    let innocent = spawn(whole_write("innocent", false));
    let failing = spawn(whole_write("failing", true));
    until_queued(&store, 2).await;
    // The session holding the writer commits first; its group then takes the two writes.
    let first_outcome = {
        let commit = tokio::spawn(first.commit_after(None));
        commit.await.unwrap_or_else(|e| panic!("{e}"))
    };

    assert_eq!(
        joined(failing).await.err().map(|e| e.code()),
        Some(ErrorCode::Conflict),
        "the failing write gets its own error"
    );
    assert_eq!(
        joined(innocent).await.err().map(|e| e.code()),
        Some(ErrorCode::Unavailable),
        "a member released before it was lost with the group, and told so"
    );
    assert_eq!(
        first_outcome.err().map(|e| e.code()),
        Some(ErrorCode::Unavailable)
    );
    assert!(
        whole_rows(&store).is_empty(),
        "nothing of the group was stored"
    );
    assert!(store.write_stats().failed_groups > before_stats.failed_groups);

    // The writer goes on: the next write lands.
    ok(writer.write_whole(whole_write("next", false)).await);
    assert_eq!(whole_rows(&store), ["next"]);
}

/// A whole write that inserts `id` once `gate` is open, telling `entered` when it has started
/// waiting; once open, the gate stays open, so the write runs straight through when replayed.
fn gated_whole_write(
    id: &'static str,
    entered: Arc<std::sync::atomic::AtomicBool>,
    gate: Arc<std::sync::atomic::AtomicBool>,
) -> Statements {
    use std::sync::atomic::Ordering;
    let insert = whole_write(id, false);
    Box::new(move |connection| {
        entered.store(true, Ordering::Release);
        while !gate.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        insert(connection)
    })
}

#[tokio::test]
async fn a_whole_write_failing_after_writing_rows_is_dropped_and_its_group_rebuilt_without_it() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open(dir.path(), Durability::Full);
    let writer = store.writer();
    let before_stats = store.write_stats();
    let spawn = |statements| spawn_whole(&writer, statements);
    // The first write holds the writer (inside its group) until the others are queued.
    let (entered, gate) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let first = spawn(gated_whole_write(
        "first",
        Arc::clone(&entered),
        Arc::clone(&gate),
    ));
    while !entered.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let innocent = spawn(whole_write("innocent", false));
    let failing = spawn(whole_write("failing", true));
    let last = spawn(whole_write("last", false));
    until_queued(&store, 3).await;
    gate.store(true, Ordering::Release);

    assert_eq!(
        joined(failing).await.err().map(|e| e.code()),
        Some(ErrorCode::Conflict),
        "the failing write gets its own error"
    );
    ok(joined(first).await);
    ok(joined(innocent).await);
    ok(joined(last).await);
    assert_eq!(whole_rows(&store), ["first", "innocent", "last"]);
    let after = store.write_stats();
    assert_eq!(
        after.failed_groups, before_stats.failed_groups,
        "no group was lost"
    );
    assert_eq!(after.groups - before_stats.groups, 1, "{after:?}");
    assert_eq!(after.writes - before_stats.writes, 3, "{after:?}");
}
