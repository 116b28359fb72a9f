//! `StorageReader::audit_entries` and `document_audit_trail`: the log order (sequenced
//! entries by leaf index, then the pending ones), opaque positions, and the never-skip rule
//! of a walk page by page (API.md "Lists").

use std::collections::HashSet;

use audit_domain::{AuditSubject, LoggedAuditEntry};
use serde_json::json;
use shared_kernel::{AuditId, ErrorCode, Position};
use storage_app::ports::AuditQuery;
use storage_domain::{Collection, Document, Precondition};

use super::build::{
    begin, collection, collection_entry, commit, commit_collection, commit_document, data,
    document, ok, stamp,
};
use super::sequence::{batch, drain, sequencer};
use crate::Backend;

/// Texts no store makes as a position: not numbers, out of range, or empty parts.
const FOREIGN_POSITIONS: [&str; 5] = [
    "not a position",
    "-1",
    "x.1",
    "1..2",
    "99999999999999999999",
];

/// Commits `count` collection entries, one transaction each; returns their ids.
async fn commit_entries<B: Backend>(backend: &B, count: usize) -> Vec<AuditId> {
    let mut ids = Vec::new();
    for n in 0..count {
        let record = collection_entry(&collection(&format!("c{n}")));
        ids.push(record.entry.id);
        let mut tx = begin(backend).await;
        ok("appending", tx.audit().append(record).await);
        commit(tx).await;
    }
    ids
}

/// One page of the whole store's listing after `after`.
async fn page<B: Backend>(
    backend: &B,
    after: Option<&Position>,
    limit: u32,
) -> Vec<LoggedAuditEntry> {
    let reader = backend.ports().reader;
    ok(
        "listing audit entries",
        reader
            .audit_entries(AuditQuery::default(), after.cloned(), limit, None)
            .await,
    )
}

/// Pages on from `listed`'s last entry, `limit` at a time, calling `between` before each
/// page, until a page comes back empty; returns everything listed.
async fn walk_on<B: Backend, F: std::future::Future<Output = ()>>(
    backend: &B,
    mut listed: Vec<LoggedAuditEntry>,
    limit: u32,
    mut between: impl FnMut() -> F,
) -> Vec<LoggedAuditEntry> {
    for _ in 0..100 {
        between().await;
        let next = page(backend, listed.last().map(|e| &e.position), limit).await;
        if next.is_empty() {
            return listed;
        }
        listed.extend(next);
    }
    panic!(
        "the walk did not end after 100 pages: {} listed",
        listed.len()
    )
}

/// Asserts that every id of `committed` is among `listed`.
fn assert_none_skipped(committed: &[AuditId], listed: &[LoggedAuditEntry]) {
    let seen: HashSet<AuditId> = listed.iter().map(|e| e.entry.id()).collect();
    for id in committed {
        assert!(seen.contains(id), "entry {id} was skipped");
    }
}

/// `audit_entries` MUST answer `INVALID_INPUT` at `/cursor` for a position it did not make.
pub async fn an_audit_listing_refuses_a_position_it_did_not_make_at_the_cursor<B: Backend>(
    backend: &B,
) {
    commit_entries(backend, 1).await;
    let reader = backend.ports().reader;
    for text in FOREIGN_POSITIONS {
        let error = reader
            .audit_entries(AuditQuery::default(), Some(Position::new(text)), 5, None)
            .await
            .err();
        assert_refused_at_cursor(error, text);
    }
}

/// `document_audit_trail` MUST answer `INVALID_INPUT` at `/cursor` for a position it did not
/// make.
pub async fn a_document_trail_refuses_a_position_it_did_not_make_at_the_cursor<B: Backend>(
    backend: &B,
) {
    let (orders, doc) = a_document_with_versions(backend, 1).await;
    let reader = backend.ports().reader;
    for text in FOREIGN_POSITIONS {
        let error = reader
            .document_audit_trail(orders.id(), doc.id().clone(), Some(Position::new(text)), 5)
            .await
            .err();
        assert_refused_at_cursor(error, text);
    }
}

/// The listing is in log order: sequenced entries by leaf index, then every pending one
/// (in an order the store defines), each once.
pub async fn the_audit_listing_gives_the_log_by_leaf_index_then_the_pending_entries<B: Backend>(
    backend: &B,
) {
    let mut sequencer = sequencer(backend, 3).await;
    let committed = commit_entries(backend, 5).await;
    assert_eq!(batch(&mut sequencer).await, 3);
    let listed = page(backend, None, 100).await;
    let indexes: Vec<Option<u64>> = listed.iter().map(|e| e.leaf_index).collect();
    assert_eq!(indexes, [Some(0), Some(1), Some(2), None, None]);
    let ids: Vec<AuditId> = listed.iter().map(|e| e.entry.id()).collect();
    assert_eq!(
        ids[..3],
        committed[..3],
        "the log holds the first commits in order"
    );
    let pending: HashSet<AuditId> = ids[3..].iter().copied().collect();
    assert_eq!(pending, committed[3..].iter().copied().collect());
}

/// A walk page by page never skips an entry committed before it began, even when the
/// sequencer moves every pending entry into the log between two pages.
pub async fn a_walk_never_skips_entries_sequenced_all_at_once_during_it<B: Backend>(backend: &B) {
    let mut sequencer = sequencer(backend, 2).await;
    let committed = commit_entries(backend, 6).await;
    assert_eq!(batch(&mut sequencer).await, 2);
    let first = page(backend, None, 3).await;
    drain(&mut sequencer).await;
    let listed = walk_on(backend, first, 2, || async {}).await;
    assert_none_skipped(&committed, &listed);
}

/// A walk page by page never skips an entry committed before it began while the sequencer
/// moves entries into the log a batch at a time between its pages.
pub async fn a_walk_never_skips_entries_sequenced_batch_by_batch_during_it<B: Backend>(
    backend: &B,
) {
    let mut sequencer = sequencer(backend, 2).await;
    let committed = commit_entries(backend, 9).await;
    assert_eq!(batch(&mut sequencer).await, 2);
    let first = page(backend, None, 2).await;
    let sequencer = tokio::sync::Mutex::new(sequencer);
    let listed = walk_on(backend, first, 2, || async {
        batch(&mut *sequencer.lock().await).await;
    })
    .await;
    assert_none_skipped(&committed, &listed);
}

/// Creates `orders` and document `d`, then changes it to `versions` versions in all, each
/// change with its audit entry.
async fn a_document_with_versions<B: Backend>(
    backend: &B,
    versions: u64,
) -> (Collection, Document) {
    let orders = collection("orders");
    commit_collection(backend, &orders).await;
    let mut doc = document(&orders, "d", json!({"v": 1}));
    commit_document(backend, &orders, &doc).await;
    for n in 2..=versions {
        ok(
            "replacing",
            doc.replace(data(json!({"v": n})), &Precondition::None, stamp(10)),
        );
        commit_document(backend, &orders, &doc).await;
    }
    (orders, doc)
}

/// The versions a trail's entries record.
fn versions(trail: &[LoggedAuditEntry]) -> Vec<u64> {
    trail
        .iter()
        .map(|e| match &e.entry {
            audit_domain::succession::LogEntry::Data(entry) => match entry.subject {
                AuditSubject::Document { version, .. } => version,
                AuditSubject::Collection => panic!("a collection entry in a document's trail"),
            },
            other => panic!("a non-data entry in a document's trail: {other:?}"),
        })
        .collect()
}

/// A document's trail lists its entries in version order, part sequenced and part pending,
/// and the same when paged with the opaque positions; another document's entries are not in it.
pub async fn a_document_trail_lists_its_entries_in_version_order_across_pages<B: Backend>(
    backend: &B,
) {
    let mut sequencer = sequencer(backend, 100).await;
    let (orders, doc) = a_document_with_versions(backend, 3).await;
    commit_document(backend, &orders, &document(&orders, "other", json!({}))).await;
    drain(&mut sequencer).await;
    let mut later = doc.clone();
    for n in 4..=5 {
        ok(
            "replacing",
            later.replace(data(json!({"v": n})), &Precondition::None, stamp(20)),
        );
        commit_document(backend, &orders, &later).await;
    }
    let reader = backend.ports().reader;
    let whole = ok(
        "the trail",
        reader
            .document_audit_trail(orders.id(), doc.id().clone(), None, 100)
            .await,
    );
    assert_eq!(versions(&whole), [1, 2, 3, 4, 5]);
    let mut paged: Vec<LoggedAuditEntry> = Vec::new();
    for _ in 0..10 {
        let after = paged.last().map(|e| e.position.clone());
        let next = ok(
            "a page of the trail",
            reader
                .document_audit_trail(orders.id(), doc.id().clone(), after, 2)
                .await,
        );
        if next.is_empty() {
            break;
        }
        assert!(next.len() <= 2, "at most the limit: {}", next.len());
        paged.extend(next);
    }
    assert_eq!(versions(&paged), [1, 2, 3, 4, 5]);
}

/// A filter on collection and document lists exactly that document's entries.
pub async fn a_filtered_listing_gives_exactly_the_matching_entries<B: Backend>(backend: &B) {
    let (orders, doc) = a_document_with_versions(backend, 2).await;
    commit_document(backend, &orders, &document(&orders, "other", json!({}))).await;
    commit_entries(backend, 2).await;
    let reader = backend.ports().reader;
    let filter = AuditQuery {
        collection: Some(orders.name().clone()),
        document_id: Some(doc.id().clone()),
        ..AuditQuery::default()
    };
    let listed = ok(
        "listing",
        reader.audit_entries(filter, None, 100, None).await,
    );
    assert_eq!(versions(&listed), [1, 2]);
}

/// Asserts that the foreign position `text` was refused with `INVALID_INPUT` naming `/cursor`
/// and nothing else.
fn assert_refused_at_cursor(error: Option<shared_kernel::Error>, text: &str) {
    let error = error.unwrap_or_else(|| panic!("`{text}` was accepted"));
    assert_eq!(
        error.code(),
        ErrorCode::InvalidInput,
        "`{text}`: {}",
        error.chain()
    );
    let paths: Vec<&str> = error
        .field_errors()
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(paths, ["/cursor"], "`{text}`");
}
