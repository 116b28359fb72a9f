//! Issue 22's acceptance at the application level, on the MongoDB store (and, where the
//! comparison is the point, on the embedded store beside it): the real `StorageApp` with its
//! transaction manager over each backend's ports, many tasks at once.
//!
//! - 64 clients patching one document with `If-Match`: one success per version, versions
//!   contiguous, one audit entry per success (both backends);
//! - the two races of issue 11: a collection delete racing 32 creates; a schema change racing
//!   writes;
//! - a failure injected after the document write stores nothing; a transient or unknown
//!   commit result is retried and stores exactly one audit entry;
//! - the same data gives the same content hashes on both backends.

use std::sync::Arc;
use std::time::Duration;

use audit_domain::AuditSubject;
use audit_domain::succession::LogEntry;
use infra::embedded::{EmbeddedOptions, EmbeddedStore};
use infra::mongo::{CommitFault, MongoOptions, MongoStore};
use infra::pause::TokioPause;
use infra::schema::{JsonSchemaValidator, SchemaOptions};
use serde_json::{Value, json};
use shared_kernel::{CollectionId, Error, ErrorCode, RequestContext, SystemClock};
use storage_app::commands::{
    ChangeSchema, CreateCollection, CreateDocument, DeleteCollection, PatchDocument,
};
use storage_app::{StorageApp, StorageReader};
use storage_domain::{CollectionName, DocumentId, DocumentLimits, Precondition, Version};

fn ok<T>(what: &str, result: Result<T, Error>) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {}", e.chain()))
}

/// A MongoDB store in a fresh database of the test server, with a short transaction
/// lifetime so two-phase collection changes stay quick.
async fn mongo() -> (MongoStore, MongoOptions) {
    let server = test_servers::mongo();
    let mut options = MongoOptions::new(&server.uri, server.database_name("app"));
    options.transaction_lifetime = Duration::from_millis(600);
    let store = ok(
        &format!("opening MongoDB ({})", server.describe()),
        MongoStore::open(options.clone()).await,
    );
    (store, options)
}

/// The application over `unit_of_work` and `reader`.
fn app(
    unit_of_work: Arc<dyn storage_app::UnitOfWork>,
    reader: Arc<dyn StorageReader>,
) -> Arc<StorageApp> {
    Arc::new(StorageApp::new(
        unit_of_work,
        reader,
        Arc::new(
            JsonSchemaValidator::new(SchemaOptions::default()).unwrap_or_else(|e| panic!("{e}")),
        ),
        Arc::new(SystemClock),
        DocumentLimits::default(),
        Arc::new(TokioPause),
    ))
}

async fn create_collection(app: &StorageApp, name: &str, schema: Option<Value>) -> CollectionId {
    ok(
        "creating a collection",
        app.create_collection(
            &RequestContext::system(),
            CreateCollection {
                name: name.into(),
                schema,
                idempotency: None,
            },
        )
        .await,
    )
    .id()
}

fn create(collection: &str, id: &str, data: Value) -> CreateDocument {
    CreateDocument {
        collection: collection.into(),
        id: Some(id.into()),
        data,
        idempotency: None,
    }
}

fn name(text: &str) -> CollectionName {
    ok("a name", CollectionName::parse(text))
}

fn id(text: &str) -> DocumentId {
    ok("an id", DocumentId::parse(text))
}

/// 64 tasks patch one document, each with `If-Match` on the version it read; every version
/// has exactly one winner, versions are contiguous and each success has one audit entry.
async fn one_success_per_version(app: Arc<StorageApp>, reader: Arc<dyn StorageReader>) {
    let orders = create_collection(&app, "orders", None).await;
    ok(
        "creating the document",
        app.create_document(
            &RequestContext::system(),
            create("orders", "d", json!({"n": 0})),
        )
        .await,
    );
    let mut tasks = Vec::new();
    for client in 0..64 {
        let app = Arc::clone(&app);
        let reader = Arc::clone(&reader);
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for _ in 0..3 {
                let current = ok("reading", reader.document(orders, id("d")).await)
                    .unwrap_or_else(|| panic!("the document is there"));
                let patched = app
                    .patch_document(
                        &RequestContext::system(),
                        PatchDocument {
                            collection: "orders".into(),
                            id: "d".into(),
                            merge_patch: json!({"n": client}),
                            precondition: Precondition::OneOf(vec![current.version()]),
                        },
                    )
                    .await;
                match patched {
                    Ok(view) => won.push(view.document.version().get()),
                    Err(error) => assert!(
                        matches!(
                            error.code(),
                            ErrorCode::PreconditionFailed | ErrorCode::Conflict
                        ),
                        "a lost race is 412 or 409: {}",
                        error.chain()
                    ),
                }
            }
            won
        }));
    }
    let mut versions = Vec::new();
    for task in tasks {
        versions.extend(
            task.await
                .unwrap_or_else(|e| panic!("a client panicked: {e}")),
        );
    }
    versions.sort_unstable();
    let expected: Vec<u64> = (2..2 + versions.len() as u64).collect();
    assert_eq!(versions, expected, "one success per version, contiguous");
    let trail = ok(
        "the trail",
        reader
            .document_audit_trail(orders, id("d"), None, 1_000)
            .await,
    );
    assert_eq!(
        trail.len(),
        versions.len() + 1,
        "one entry per success and the create"
    );
    let revisions = ok(
        "revisions",
        reader.revisions(orders, id("d"), None, 1_000).await,
    );
    assert_eq!(revisions.len(), versions.len() + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_patchers_get_one_success_per_version_on_mongodb() {
    let (store, _) = mongo().await;
    one_success_per_version(app(store.unit_of_work(), store.reader()), store.reader()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_patchers_get_one_success_per_version_on_the_embedded_store() {
    let folder = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = ok(
        "opening",
        EmbeddedStore::open(folder.path(), EmbeddedOptions::default()),
    );
    one_success_per_version(app(store.unit_of_work(), store.reader()), store.reader()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_collection_delete_racing_32_creates_leaves_no_live_document_in_a_deleted_collection() {
    for round in 0..3 {
        let (store, _) = mongo().await;
        let app = app(store.unit_of_work(), store.reader());
        let reader = store.reader();
        let orders = create_collection(&app, "orders", None).await;
        let mut creates = Vec::new();
        for n in 0..32 {
            let app = Arc::clone(&app);
            creates.push(tokio::spawn(async move {
                app.create_document(
                    &RequestContext::system(),
                    create("orders", &format!("d{n}"), json!({"n": n})),
                )
                .await
                .map(drop)
            }));
        }
        let deleted = app
            .delete_collection(
                &RequestContext::system(),
                DeleteCollection {
                    collection: "orders".into(),
                },
            )
            .await;
        let mut created = 0;
        for task in creates {
            if task.await.unwrap_or_else(|e| panic!("{e}")).is_ok() {
                created += 1;
            }
        }
        let live = live_documents(reader.as_ref(), orders).await;
        match deleted {
            Ok(()) => {
                assert!(
                    ok("looking up", reader.collection(&name("orders")).await).is_none(),
                    "round {round}: deleted"
                );
                assert!(
                    live.is_empty(),
                    "round {round}: the collection was deleted with {} live documents in it",
                    live.len()
                );
            }
            Err(error) => {
                assert_eq!(error.code(), ErrorCode::Conflict, "{}", error.chain());
                assert!(ok("looking up", reader.collection(&name("orders")).await).is_some());
                assert_eq!(
                    live.len(),
                    created,
                    "round {round}: every create that won is there"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_schema_change_racing_writes_leaves_no_later_document_that_violates_it() {
    let (store, _) = mongo().await;
    let app = app(store.unit_of_work(), store.reader());
    let reader = store.reader();
    let orders = create_collection(&app, "orders", None).await;
    let mut writers = Vec::new();
    for n in 0..24 {
        let app = Arc::clone(&app);
        writers.push(tokio::spawn(async move {
            // Half the writes break the new schema (`n` must be a string).
            let data = if n % 2 == 0 {
                json!({"n": n})
            } else {
                json!({"n": format!("{n}")})
            };
            app.create_document(
                &RequestContext::system(),
                create("orders", &format!("d{n}"), data),
            )
            .await
            .map(|view| view.document)
        }));
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let changed = ok(
        "changing the schema",
        app.change_schema(
            &RequestContext::system(),
            ChangeSchema {
                collection: "orders".into(),
                schema: Some(json!({
                    "type": "object",
                    "properties": {"n": {"type": "string"}}
                })),
            },
        )
        .await,
    );
    for writer in writers {
        let _written = writer.await.unwrap_or_else(|e| panic!("{e}"));
    }
    // Every document committed after the change conforms to the new schema. The audit list
    // gives the entries not yet sequenced in commit order (nothing sequences here), so a
    // document's entry after the schema change's is a document committed after it.
    drop(changed);
    let listed = ok(
        "the audit list",
        reader
            .audit_entries(storage_app::ports::AuditQuery::default(), None, 1_000, None)
            .await,
    );
    let operations: Vec<String> = listed
        .iter()
        .map(|logged| match &logged.entry {
            LogEntry::Data(entry) => {
                let document = match &entry.subject {
                    AuditSubject::Document { document_id, .. } => document_id.as_str(),
                    AuditSubject::Collection => "",
                };
                format!("{}:{document}", entry.operation.as_str())
            }
            LogEntry::Succession(_) => "log.succession:".to_owned(),
        })
        .collect();
    let change = operations
        .iter()
        .position(|o| o.starts_with("collection.schema_change"))
        .unwrap_or_else(|| panic!("the schema change is listed: {operations:?}"));
    for document in live_documents(reader.as_ref(), orders).await {
        let value = document
            .data()
            .map(|d| d.value().clone())
            .unwrap_or_default();
        let created = operations
            .iter()
            .position(|o| *o == format!("document.create:{}", document.id().as_str()))
            .unwrap_or_else(|| panic!("{} has its entry", document.id().as_str()));
        if created > change {
            assert!(
                value["n"].is_string(),
                "{} was committed after the schema change and violates it: {value}",
                document.id().as_str()
            );
        }
    }
}

/// Every live document of `collection`, by id.
async fn live_documents(
    reader: &dyn StorageReader,
    collection: CollectionId,
) -> Vec<storage_domain::Document> {
    ok(
        "listing the live documents",
        reader
            .query_documents(
                collection,
                storage_domain::query::DocumentQuery {
                    filter: storage_domain::query::Filter::all(),
                    sort: storage_domain::query::Sort::by_id(),
                    after: None,
                    limit: 1_000,
                },
                None,
            )
            .await,
    )
}

/// The audit entries of `collection`'s document `d`, as the reader lists them.
async fn trail_len(reader: &dyn StorageReader, collection: CollectionId) -> usize {
    ok(
        "the trail",
        reader
            .document_audit_trail(collection, id("d"), None, 100)
            .await,
    )
    .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_the_document_write_stores_nothing_of_the_change() {
    let (store, options) = mongo().await;
    let app = app(store.unit_of_work(), store.reader());
    let reader = store.reader();
    let orders = create_collection(&app, "orders", None).await;
    options
        .faults
        .inject_into_next_document_commit(CommitFault::Fail);
    let failed = app
        .create_document(
            &RequestContext::system(),
            create("orders", "d", json!({"a": 1})),
        )
        .await;
    assert!(failed.is_err(), "the injected failure is the answer");
    assert!(ok("reading", reader.document(orders, id("d")).await).is_none());
    assert!(
        ok(
            "revisions",
            reader.revisions(orders, id("d"), None, 10).await
        )
        .is_empty()
    );
    assert_eq!(trail_len(reader.as_ref(), orders).await, 0);
    let listed = ok(
        "the audit list",
        reader
            .audit_entries(storage_app::ports::AuditQuery::default(), None, 100, None)
            .await,
    );
    assert_eq!(listed.len(), 1, "only the collection's entry: {listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_or_unknown_commit_is_retried_into_exactly_one_audit_entry() {
    for fault in [
        CommitFault::Transient,
        CommitFault::LostAnswerAfterCommit,
        CommitFault::LostAnswerWithoutCommit,
    ] {
        let (store, options) = mongo().await;
        let app = app(store.unit_of_work(), store.reader());
        let reader = store.reader();
        let orders = create_collection(&app, "orders", None).await;
        options.faults.inject_into_next_document_commit(fault);
        let created = ok(
            &format!("creating through {fault:?}"),
            app.create_document(
                &RequestContext::system(),
                create("orders", "d", json!({"a": 1})),
            )
            .await,
        );
        assert_eq!(created.document.version(), ok("v1", Version::new(1)));
        assert_eq!(
            trail_len(reader.as_ref(), orders).await,
            1,
            "{fault:?}: one entry"
        );
        assert_eq!(
            ok(
                "revisions",
                reader.revisions(orders, id("d"), None, 10).await
            )
            .len(),
            1,
            "{fault:?}: one revision"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_data_gets_the_same_content_hash_on_both_backends() {
    let samples = [
        json!({"b": 1, "a": [true, null, 1.5, -0.0, 1.5e-300, 2.5e15]}),
        // `$` keys are refused by API.md's rules; `date`, `oid` and dotted keys stay data.
        json!({"date": {"numberLong": "1"}, "oid": "5f1", "a.b": {"": "empty key"}, "x": {"date": 1}}),
        json!({"\u{e9}": 1, "\u{1F600}": 2, "\u{ff61}": 3, "nested": [{"z": 1, "y": [{"x": {}}]}]}),
        json!({"big": 9_007_199_254_740_991_i64, "small": -9_007_199_254_740_991_i64, "f": 0.1}),
    ];
    let (mongo, _) = mongo().await;
    let folder = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let embedded = ok(
        "opening",
        EmbeddedStore::open(folder.path(), EmbeddedOptions::default()),
    );
    let mut hashes = Vec::new();
    for (unit_of_work, reader) in [
        (mongo.unit_of_work(), mongo.reader()),
        (embedded.unit_of_work(), embedded.reader()),
    ] {
        let app = app(unit_of_work, Arc::clone(&reader));
        let orders = create_collection(&app, "orders", None).await;
        let mut these = Vec::new();
        for (n, sample) in samples.iter().enumerate() {
            let written = ok(
                "creating",
                app.create_document(
                    &RequestContext::system(),
                    create("orders", &format!("d{n}"), sample.clone()),
                )
                .await,
            );
            let read = ok(
                "reading",
                reader.document(orders, id(&format!("d{n}"))).await,
            )
            .unwrap_or_else(|| panic!("d{n} is stored"));
            let hash = read.data().map(|d| d.content_hash().to_hex());
            assert_eq!(
                hash,
                written.document.data().map(|d| d.content_hash().to_hex())
            );
            // The value as the store normalised it (`3.0` is the integer 3, `-0.0` is 0).
            assert_eq!(read.data(), written.document.data(), "{sample}");
            these.push(hash);
        }
        hashes.push(these);
    }
    assert_eq!(
        hashes[0], hashes[1],
        "MongoDB and the embedded store hash alike"
    );
}
