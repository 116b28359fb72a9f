//! Keyset pages stay as cheap at the end of a walk as at its start.
//!
//! Builds 100,000 documents in one collection of a fresh embedded store (batched write
//! transactions through the unit of work), then walks every page of a filter that selects 1%
//! of them (`{"group": 7}`), 100 per page, and prints the time of the first and the last page
//! for each sort. Run by hand, never by the test suite:
//!
//! ```sh
//! cargo bench -p infra --bench query_pages
//! ```

use std::time::{Duration, Instant};
use storage_app::Attempt;

use infra::embedded::{Durability, EmbeddedOptions, EmbeddedStore};
use serde_json::json;
use shared_kernel::{Actor, AuditId, Timestamp};
use storage_domain::document::ChangeStamp;
use storage_domain::query::{DocumentQuery, Filter, Sort};
use storage_domain::{
    Collection, CollectionName, Document, DocumentData, DocumentId, DocumentLimits,
};

const DOCUMENTS: usize = 100_000;
const PER_TRANSACTION: usize = 5_000;
const PAGE_SIZE: u32 = 100;
const WALKS: usize = 5;

fn ok<T>(result: Result<T, shared_kernel::Error>) -> T {
    result.unwrap_or_else(|e| panic!("{}", e.chain()))
}

async fn build(store: &EmbeddedStore) -> Collection {
    let collection = Collection::create(
        ok(CollectionName::parse("bench")),
        None,
        Timestamp::from_millis(0),
    );
    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(tx.collections().insert(&collection).await);
    ok(tx.commit().await.map_err(shared_kernel::Error::from));
    let limits = DocumentLimits::default();
    for start in (0..DOCUMENTS).step_by(PER_TRANSACTION) {
        let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
        for i in start..(start + PER_TRANSACTION).min(DOCUMENTS) {
            let data =
                json!({"n": i, "group": i % 100, "name": format!("item {i}"), "tags": ["a", "b"]});
            let document = Document::create(
                collection.id(),
                ok(DocumentId::parse(&format!(
                    "doc-{:08}",
                    (i * 7919) % DOCUMENTS
                ))),
                ok(DocumentData::parse(data, &limits)),
                ChangeStamp {
                    at: Timestamp::from_millis(1_700_000_000_000 + i as i64),
                    actor: Actor::System,
                    audit_id: AuditId::generate(),
                },
            );
            ok(tx
                .documents()
                .save(&document, &document.current_revision())
                .await);
        }
        ok(tx.commit().await.map_err(shared_kernel::Error::from));
    }
    collection
}

/// Walks every page once; returns each page's time.
async fn walk(store: &EmbeddedStore, collection: &Collection, sort: &Sort) -> Vec<Duration> {
    let reader = store.reader();
    let filter = ok(Filter::parse(&json!({"group": 7})));
    let mut times = Vec::new();
    let mut after = None;
    loop {
        let query = DocumentQuery {
            filter: filter.clone(),
            sort: sort.clone(),
            after,
            limit: PAGE_SIZE + 1,
        };
        let started = Instant::now();
        let mut page = ok(reader.query_documents(collection.id(), query, None).await);
        times.push(started.elapsed());
        let more = page.len() > PAGE_SIZE as usize;
        page.truncate(PAGE_SIZE as usize);
        after = page.last().map(|d| sort.key_of(d));
        if !more {
            return times;
        }
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let options = EmbeddedOptions {
            durability: Durability::Normal,
            ..EmbeddedOptions::default()
        };
        let store = ok(EmbeddedStore::open(dir.path(), options));
        let started = Instant::now();
        let collection = build(&store).await;
        println!("built {DOCUMENTS} documents in {:.1?}", started.elapsed());
        for sort_text in ["$id", "$created_at", "-$updated_at", "n"] {
            let sort = ok(Sort::parse(sort_text));
            let mut walks = Vec::new();
            for _ in 0..WALKS {
                walks.push(walk(&store, &collection, &sort).await);
            }
            let pages = walks[0].len();
            let first = median(walks.iter().map(|w| w[0]).collect());
            let last = median(walks.iter().map(|w| w[pages - 1]).collect());
            println!(
                "sort {sort_text:<13} filter {{\"group\": 7}} (1%), {pages} pages of {PAGE_SIZE}: \
                 first page {first:.2?}, last page {last:.2?} (median of {WALKS} walks)"
            );
        }
    });
}
