//! The embedded adapter against the specification: random documents, random filters and
//! sorts, pages of random sizes. Whatever the SQL looks like, the documents returned must be
//! exactly those `Filter::is_satisfied_by` accepts, in `Sort` order, each once; and where the
//! translation claims to be exact, the SQL alone must already say so.

use std::sync::atomic::{AtomicUsize, Ordering};
use storage_app::Attempt;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use shared_kernel::{Actor, AuditId, Timestamp};
use storage_domain::document::ChangeStamp;
use storage_domain::query::{DocumentQuery, Filter, Sort};
use storage_domain::{
    Collection, CollectionName, Document, DocumentData, DocumentId, DocumentLimits, Precondition,
};

use super::{Finish, is_exact, select_documents};
use crate::embedded::connection::open_reader;
use crate::embedded::read::reader_pool::StopSignal;
use crate::embedded::{Durability, EmbeddedOptions, EmbeddedStore};

/// Times documents are created and updated at (few, so that sort keys tie).
const T0: i64 = 1_764_063_000_000;

fn ok<T>(result: Result<T, shared_kernel::Error>) -> T {
    result.unwrap_or_else(|e| panic!("{}", e.chain()))
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-2_i64..4).prop_map(Value::from),
        prop_oneof![Just(0.5), Just(-1.5), Just(2.25)].prop_map(Value::from),
        prop_oneof![
            Just(""),
            Just("a"),
            Just("b"),
            Just("B"),
            Just("é"),
            Just("a\"q")
        ]
        .prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => scalar(),
        1 => prop::collection::vec(scalar(), 0..3).prop_map(Value::Array),
        1 => scalar().prop_map(|v| json!({"a": v})),
    ]
}

/// A document's data: some of `a`, `b`, `o.{a,b}` and `arr` (an array of objects).
fn data() -> impl Strategy<Value = Value> {
    (
        prop::option::of(value()),
        prop::option::of(value()),
        prop::option::of((prop::option::of(value()), prop::option::of(scalar()))),
        prop::option::of(prop::collection::vec(
            prop_oneof![scalar().prop_map(|v| json!({"a": v})), scalar()],
            0..3,
        )),
    )
        .prop_map(|(a, b, o, arr)| {
            let mut object = Map::new();
            let mut put = |key: &str, v: Option<Value>| {
                if let Some(v) = v {
                    object.insert(key.to_owned(), v);
                }
            };
            put("a", a);
            put("b", b);
            put(
                "o",
                o.map(|(x, y)| {
                    let mut inner = Map::new();
                    if let Some(x) = x {
                        inner.insert("a".into(), x);
                    }
                    if let Some(y) = y {
                        inner.insert("b".into(), y);
                    }
                    Value::Object(inner)
                }),
            );
            put("arr", arr.map(Value::Array));
            Value::Object(object)
        })
}

/// One document to store: data, created (0-3 s after T0), maybe replaced later, maybe deleted.
#[derive(Debug, Clone)]
struct Seed {
    data: Value,
    created: i64,
    replaced: Option<(Value, i64)>,
    deleted: bool,
}

fn seed() -> impl Strategy<Value = Seed> {
    (
        data(),
        0_i64..3,
        prop::option::of((data(), 0_i64..3)),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(data, created, replaced, deleted)| Seed {
            data,
            created,
            replaced,
            deleted,
        })
}

fn time(offset_ms: i64) -> Value {
    Value::String(Timestamp::from_millis(T0 + offset_ms).to_rfc3339())
}

/// A path and an operand that suits it.
fn path_and_operand() -> impl Strategy<Value = (String, Value)> {
    let data_path = prop_oneof![
        Just("a"),
        Just("b"),
        Just("o.a"),
        Just("o.b"),
        Just("arr.a"),
        Just("arr"),
        Just("missing"),
        Just("a.a"),
    ];
    prop_oneof![
        6 => (data_path, value()).prop_map(|(p, v)| (p.to_owned(), v)),
        1 => (0_usize..12).prop_map(|i| ("$id".to_owned(), Value::from(format!("d{i:02}")))),
        1 => (1_i64..3).prop_map(|v| ("$version".to_owned(), Value::from(v))),
        1 => (prop_oneof![Just("$created_at"), Just("$updated_at")], -1_i64..3, prop_oneof![Just(0_i64), Just(1), Just(-1)])
            .prop_map(|(p, s, ms)| (p.to_owned(), time(s * 1000 + ms))),
    ]
}

fn operators(operand: Value) -> BoxedStrategy<Value> {
    let scalar_operand = if operand.is_array() || operand.is_object() {
        Value::Null
    } else {
        operand.clone()
    };
    let list = Value::Array(vec![operand.clone(), scalar_operand.clone()]);
    let leaf = prop_oneof![
        Just(json!({"$eq": operand.clone()})),
        Just(json!({"$ne": operand.clone()})),
        Just(json!({"$gt": scalar_operand.clone()})),
        Just(json!({"$gte": scalar_operand.clone()})),
        Just(json!({"$lt": scalar_operand.clone()})),
        Just(json!({"$lte": scalar_operand.clone(), "$ne": operand.clone()})),
        Just(json!({"$in": list.clone()})),
        Just(json!({"$nin": list})),
        any::<bool>().prop_map(|b| json!({"$exists": b})),
    ];
    prop_oneof![
        4 => leaf.clone(),
        1 => leaf.prop_map(|inner| json!({"$not": inner})),
    ]
    .boxed()
}

fn field_clause() -> impl Strategy<Value = Value> {
    path_and_operand().prop_flat_map(|(path, operand)| {
        let plain = Just(operand.clone()).boxed();
        prop_oneof![1 => plain, 3 => operators(operand)].prop_map(move |condition| {
            let mut object = Map::new();
            object.insert(path.clone(), condition);
            Value::Object(object)
        })
    })
}

fn filter() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![1 => Just(json!({})), 8 => field_clause()];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..3).prop_map(|v| json!({"$and": v})),
            prop::collection::vec(inner, 1..3).prop_map(|v| json!({"$or": v})),
        ]
    })
}

fn sort() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        Just("a"),
        Just("b"),
        Just("o.a"),
        Just("arr"),
        Just("arr.a"),
        Just("$version"),
        Just("$created_at"),
        Just("$updated_at"),
    ];
    (
        prop::collection::vec((field, any::<bool>()), 0..3),
        prop_oneof![Just(""), Just("$id"), Just("-$id")],
    )
        .prop_map(|(fields, id)| {
            let mut names: Vec<String> = Vec::new();
            for (name, descending) in fields {
                if names.iter().any(|n| n.trim_start_matches('-') == name) {
                    continue;
                }
                names.push(format!("{}{name}", if descending { "-" } else { "" }));
            }
            if !id.is_empty() {
                names.push(id.to_owned());
            }
            names.join(",")
        })
}

fn stamp(offset_s: i64) -> ChangeStamp {
    ChangeStamp {
        at: Timestamp::from_millis(T0 + offset_s * 1000),
        actor: Actor::Anonymous,
        audit_id: AuditId::generate(),
    }
}

fn parse_data(value: Value) -> DocumentData {
    ok(DocumentData::parse(value, &DocumentLimits::default()))
}

/// Stores the seeds in a new collection; returns it with every document (tombstones too).
async fn store_seeds(
    store: &EmbeddedStore,
    name: &str,
    seeds: &[Seed],
) -> (Collection, Vec<Document>) {
    let collection = Collection::create(
        ok(CollectionName::parse(name)),
        None,
        Timestamp::from_millis(1),
    );
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(tx.collections().insert(&collection).await);
    let mut documents = Vec::new();
    for (i, seed) in seeds.iter().enumerate() {
        let id = ok(DocumentId::parse(&format!("d{i:02}")));
        let mut document = Document::create(
            collection.id(),
            id,
            parse_data(seed.data.clone()),
            stamp(seed.created),
        );
        ok(tx
            .documents()
            .save(&document, &document.current_revision())
            .await);
        if let Some((data, later)) = &seed.replaced {
            let at = stamp(seed.created + later);
            ok(document.replace(parse_data(data.clone()), &Precondition::None, at));
            ok(tx
                .documents()
                .save(&document, &document.current_revision())
                .await);
        }
        if seed.deleted {
            ok(document.delete(&Precondition::None, stamp(seed.created + 3)));
            ok(tx
                .documents()
                .save(&document, &document.current_revision())
                .await);
        }
        documents.push(document);
    }
    ok(tx.commit().await.map_err(shared_kernel::Error::from));
    (collection, documents)
}

static COLLECTIONS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn the_embedded_adapter_returns_exactly_what_the_specification_accepts_page_by_page() {
    // Deeply nested strategies overflow the default test stack in debug builds.
    std::thread::Builder::new()
        .stack_size(64 * 1024 * 1024)
        .spawn(property)
        .unwrap_or_else(|e| panic!("{e}"))
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
}

fn property() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let options = EmbeddedOptions {
        durability: Durability::Normal,
        ..EmbeddedOptions::default()
    };
    let store = ok(EmbeddedStore::open(dir.path(), options));
    let sql_only = ok(open_reader(&store.database_path()));
    let config = ProptestConfig {
        cases: 500,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        seeds in prop::collection::vec(seed(), 0..12),
        filter_json in filter(),
        sort_text in sort(),
        page_sizes in prop::collection::vec(1_u32..6, 1..4),
    )| {
        let filter = ok(Filter::parse(&filter_json));
        let sort = ok(Sort::parse(&sort_text));
        let name = format!("c{}", COLLECTIONS.fetch_add(1, Ordering::SeqCst));
        let (collection, documents) = runtime.block_on(store_seeds(&store, &name, &seeds));

        let mut expected: Vec<&Document> =
            documents.iter().filter(|d| filter.is_satisfied_by(d)).collect();
        expected.sort_by(|a, b| sort.compare(a, b));
        let expected: Vec<String> = expected.iter().map(|d| d.id().to_string()).collect();

        // Walk the pages, each of a size taken in turn from `page_sizes`.
        let reader = store.reader();
        let mut walked = Vec::new();
        let mut after = None;
        for page in 0.. {
            let limit = page_sizes[page % page_sizes.len()];
            let query = DocumentQuery { filter: filter.clone(), sort: sort.clone(), after, limit };
            let found = ok(runtime.block_on(reader.query_documents(collection.id(), query, None)));
            prop_assert!(found.len() <= limit as usize);
            walked.extend(found.iter().map(|d| d.id().to_string()));
            after = found.last().map(|d| sort.key_of(d));
            if found.len() < limit as usize {
                break;
            }
        }
        prop_assert_eq!(&walked, &expected, "filter {} sort {}", filter_json, sort_text);

        if is_exact(&filter) {
            let query = DocumentQuery { filter: filter.clone(), sort: sort.clone(), after: None, limit: 100 };
            let found = ok(select_documents(&sql_only, collection.id(), &query, Finish::SqlOnly, &StopSignal::never()));
            let ids: Vec<String> = found.iter().map(|d| d.id().to_string()).collect();
            prop_assert_eq!(&ids, &expected, "SQL alone, filter {} sort {}", filter_json, sort_text);
        }
    });
}

#[tokio::test]
async fn the_audit_listing_filters_across_the_store_in_commit_order() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = ok(EmbeddedStore::open(dir.path(), EmbeddedOptions::default()));
    let _ = store_seeds(&store, "x", &[]).await;
    let reader = store.reader();
    let all = ok(reader
        .audit_entries(storage_app::ports::AuditQuery::default(), None, 10, None)
        .await);
    assert!(all.is_empty(), "the seeds append no audit entries");
}
