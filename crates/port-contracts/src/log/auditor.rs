//! The auditor's ports (`AuditSource`, `TableSource`, `BackendChecks`): every listing pages
//! as the auditor walks it (at most `limit` rows, strictly after the key, in the named order,
//! fewer than `limit` only at the end), and a store written only through the ports has
//! nothing for the backend's own checks to find.

use std::fmt::Debug;
use std::sync::Arc;

use audit_app::auditor::{AuditSource, Finding};
use audit_app::{RememberingSigner, Sequencer, SequencerOptions};
use audit_domain::merkle::stored_hash_count;
use audit_domain::note::{KeyName, NoteSigner};
use serde_json::json;
use shared_kernel::{
    Actor, AuditId, Error, ErrorCode, Position, RequestContext, SystemClock, Timestamp,
};
use storage_app::{Attempt, OutboxEvent};
use storage_domain::document::ChangeStamp;
use storage_domain::{
    Collection, CollectionName, Document, DocumentData, DocumentId, DocumentLimits,
};

use super::fixture::{code, commit_collections, ok};
use crate::Backend;

/// The page size the walks use: small, so every listing of the store spans several pages.
const SMALL: usize = 2;

/// Walks a listing `SMALL` rows at a time and checks it against one large page: each page
/// holds at most `SMALL` rows, only the last holds fewer, no key comes twice, and the pages
/// together are the whole listing. Returns the listing. Keys need no order: a position is
/// opaque.
fn walk_pages<T, K>(
    what: &str,
    fetch: impl Fn(Option<&K>, usize) -> Result<Vec<T>, Error>,
    key: impl Fn(&T) -> K,
) -> Vec<T>
where
    T: Debug + PartialEq,
    K: Debug + PartialEq,
{
    let all = ok(what, fetch(None, 10_000));
    let keys: Vec<K> = all.iter().map(&key).collect();
    for (n, k) in keys.iter().enumerate() {
        assert!(!keys[..n].contains(k), "{what}: key {k:?} comes twice");
    }
    let mut walked = Vec::new();
    let mut after: Option<K> = None;
    loop {
        let page = ok(what, fetch(after.as_ref(), SMALL));
        assert!(page.len() <= SMALL, "{what}: a page longer than its limit");
        let last = page.len() < SMALL;
        if let Some(row) = page.last() {
            after = Some(key(row));
        }
        walked.extend(page);
        if last {
            break;
        }
        assert!(walked.len() <= all.len(), "{what}: the walk does not end");
    }
    assert_eq!(walked, all, "{what}: the pages are not the listing");
    all
}

/// [`walk_pages`] over a listing in the increasing order of its keys; returns its length.
fn assert_pages<T, K>(
    what: &str,
    fetch: impl Fn(Option<&K>, usize) -> Result<Vec<T>, Error>,
    key: impl Fn(&T) -> K,
) -> usize
where
    T: Debug + PartialEq,
    K: Debug + Ord,
{
    let all = walk_pages(what, fetch, &key);
    let keys: Vec<K> = all.iter().map(&key).collect();
    assert!(
        keys.windows(2).all(|pair| pair[0] < pair[1]),
        "{what}: keys not strictly increasing: {keys:?}"
    );
    all.len()
}

/// Writes three documents (with their revisions and outbox events) in a collection of their
/// own, and their entries: what the document, revision and outbox listings page through.
async fn commit_documents<B: Backend>(backend: &B) {
    let collection = Collection::create(
        ok("a name", CollectionName::parse("audited")),
        None,
        Timestamp::from_millis(1),
    );
    let mut tx = ok(
        "beginning",
        backend.ports().unit_of_work.begin(Attempt::First).await,
    );
    ok(
        "inserting a collection",
        tx.collections().insert(&collection).await,
    );
    for n in 1..=3 {
        let data = ok(
            "document data",
            DocumentData::parse(json!({ "n": n }), &DocumentLimits::default()),
        );
        let stamp = ChangeStamp {
            at: Timestamp::from_millis(2),
            actor: Actor::Anonymous,
            audit_id: AuditId::generate(),
        };
        let id = ok("a document id", DocumentId::parse(&format!("doc-{n}")));
        let mut document = Document::create(collection.id(), id, data, stamp);
        ok(
            "saving a document",
            tx.documents()
                .save(&document, &document.current_revision())
                .await,
        );
        let events = document
            .take_events()
            .iter()
            .map(|e| OutboxEvent::from_document(e, "audited", &RequestContext::system()))
            .collect();
        ok("appending events", tx.outbox().append(events).await);
    }
    ok("committing", tx.commit().await.map_err(Error::from));
}

/// A store with sequenced and pending entries, checkpoints, documents and outbox events,
/// written through the ports and sequenced by the real sequencer.
async fn fill<B: Backend>(backend: &B) {
    let name =
        KeyName::new("contracts/audit").map_err(|e| Error::new(ErrorCode::Internal, e.to_string()));
    let key = NoteSigner::from_seed(ok("a key name", name), &[3; 32]);
    let mut sequencer = ok(
        "starting the sequencer",
        Sequencer::start(
            backend.ports().log,
            Arc::new(RememberingSigner::in_memory(key)),
            Arc::new(SystemClock),
            SequencerOptions {
                checkpoint_interval: std::time::Duration::ZERO,
                ..SequencerOptions::default()
            },
        )
        .await,
    );
    commit_collections(backend, 3).await;
    ok("sequencing", sequencer.sequence_batch().await);
    ok("signing", sequencer.checkpoint_if_due().await);
    commit_collections(backend, 2).await;
    commit_documents(backend).await;
}

/// Every listing of `AuditSource` pages as promised, over a store with rows in each.
pub async fn audit_source_listings_page_strictly_after_the_key_in_order<B: Backend>(backend: &B) {
    fill(backend).await;
    let source = backend.audit_source().await;
    let state = ok("reading the log state", source.log_state());
    assert_eq!(
        state.map(|s| s.tree_size),
        Some(3),
        "the stored head's size"
    );
    let checkpoints = assert_pages(
        "checkpoints",
        |after: Option<&u64>, limit| source.checkpoints(after.copied(), limit),
        |row| row.tree_size,
    );
    assert_eq!(checkpoints, 2, "checkpoints of sizes 0 and 3");
    let sequenced = assert_pages(
        "sequenced entries",
        |after: Option<&u64>, limit| source.sequenced_entries(after.copied(), limit),
        |row| {
            row.leaf_index
                .unwrap_or_else(|| panic!("a sequenced entry without an index"))
        },
    );
    assert_eq!(sequenced, 3, "sequenced entries");
    let pending = walk_pages(
        "pending entries",
        |after, limit| source.pending_entries(after, limit),
        |row| row.position.clone(),
    );
    assert_eq!(pending.len(), 2, "pending entries");
    assert!(
        pending.iter().all(|row| row.leaf_index.is_none()),
        "a pending entry with a leaf index"
    );
    let hashes = assert_pages(
        "stored hashes",
        |after: Option<&u64>, limit| source.log_hashes(after.map_or(0, |a| a + 1), limit),
        |row| row.0,
    );
    assert_eq!(
        Some(u64::try_from(hashes).unwrap_or(u64::MAX)),
        stored_hash_count(3),
        "the stored hashes of three leaves"
    );
    let revisions = assert_pages(
        "revisions",
        |after, limit| source.revisions(after, limit),
        |row| row.key.clone(),
    );
    assert_eq!(revisions, 3, "revisions");
    let documents = assert_pages(
        "documents",
        |after, limit| source.documents(after, limit),
        |row| row.key.clone(),
    );
    assert_eq!(documents, 3, "documents");
}

/// A position the backend did not make (altered, or another backend's) is `INVALID_INPUT`
/// for every listing keyed by positions, never a silent restart from the beginning.
pub async fn a_position_the_backend_did_not_make_is_invalid_input<B: Backend>(backend: &B) {
    fill(backend).await;
    let source = backend.audit_source().await;
    let foreign = Position::new("not a position of any store");
    let after_foreign = "listing after a foreign position";
    let refused = [
        code(after_foreign, source.pending_entries(Some(&foreign), SMALL)),
        code(
            after_foreign,
            source.orphan_collection_entries(Some(&foreign), SMALL),
        ),
        code(after_foreign, source.outbox(Some(&foreign), SMALL)),
        code(
            after_foreign,
            source.entries_without_event(Some(&foreign), SMALL),
        ),
    ];
    assert_eq!(
        refused,
        [ErrorCode::InvalidInput; 4],
        "pending entries, orphan collection entries, outbox events, entries without an event"
    );
}

/// Every listing of `TableSource` pages as promised, over the same store.
pub async fn table_source_listings_page_strictly_after_the_key_in_order<B: Backend>(backend: &B) {
    fill(backend).await;
    let source = backend.audit_source().await;
    let collections = assert_pages(
        "collections",
        |after: Option<&String>, limit| source.collections(after.map(String::as_str), limit),
        |row| row.id.clone(),
    );
    assert_eq!(
        collections, 6,
        "five collections with entries and one of documents"
    );
    let orphans = walk_pages(
        "orphan collection entries",
        |after, limit| source.orphan_collection_entries(after, limit),
        |row| row.position.clone(),
    );
    assert_eq!(
        orphans.len(),
        0,
        "every collection entry's collection is stored"
    );
    let outbox = walk_pages(
        "outbox events",
        |after, limit| source.outbox(after, limit),
        |row| row.position.clone(),
    );
    assert_eq!(outbox.len(), 3, "one event per document");
    let without = walk_pages(
        "entries without an event",
        |after, limit| source.entries_without_event(after, limit),
        |row| row.0.clone(),
    );
    assert_eq!(without.len(), 5, "collection entries have no outbox event");
    assert_pages(
        "idempotency records",
        |after, limit| source.idempotency_records(after, limit),
        |row| row.key.clone(),
    );
    let first = ok("a sequenced entry", source.sequenced_entries(None, 1));
    let first = first
        .first()
        .unwrap_or_else(|| panic!("no sequenced entry"));
    let leaf = ok("an entry's leaf", source.entry_leaf(&first.id));
    assert_eq!(
        leaf.as_ref(),
        Some(&first.leaf),
        "entry_leaf of a stored entry"
    );
    let unknown = ok(
        "an unknown entry's leaf",
        source.entry_leaf(&AuditId::generate().to_string()),
    );
    assert_eq!(unknown, None, "entry_leaf of an id never stored");
}

/// The backend's own checks find nothing on a store written only through the ports, fresh or
/// holding sequenced and pending entries.
pub async fn backend_checks_find_nothing_on_a_clean_store<B: Backend>(backend: &B) {
    for filled in [false, true] {
        if filled {
            fill(backend).await;
        }
        let source: Box<dyn AuditSource + Send> = backend.audit_source().await;
        let mut findings: Vec<Finding> = Vec::new();
        ok(
            "running the backend checks",
            source.check_backend(&mut |finding| findings.push(finding)),
        );
        assert!(
            findings.is_empty(),
            "findings on a clean store (filled: {filled}): {findings:?}"
        );
    }
}
