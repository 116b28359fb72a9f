//! What the log contracts build on: audit entries committed through the storage ports, as
//! the commands commit them, and batches for `LogStore::append` computed from an in-memory
//! tree, as the sequencer computes them. Only ports are used, so every backend is filled the
//! same way.

use std::sync::atomic::{AtomicU64, Ordering};

use audit_app::ports::{LogAppend, PendingLeaf, TreeHead};
use audit_domain::merkle::{Hash, MemoryTree, leaf_hash};
use audit_domain::{AuditEntry, AuditOperation, AuditRecord, AuditSubject};
use shared_kernel::{AuditId, Error, ErrorCode, RequestContext, Timestamp};
use storage_app::Attempt;
use storage_domain::{Collection, CollectionName};

use crate::Backend;

/// Unwraps `result`, panicking with `what` and the error chain.
pub(crate) fn ok<T>(what: &str, result: Result<T, Error>) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {}", e.chain()))
}

/// The code `result` failed with; panics when it succeeded.
pub(crate) fn code<T>(what: &str, result: Result<T, Error>) -> ErrorCode {
    match result {
        Ok(_) => panic!("{what}: succeeded, an error was expected"),
        Err(error) => error.code(),
    }
}

/// More than any contract commits: "everything pending".
pub(crate) const PENDING_LIMIT: usize = 1_000;

/// Makes collection names unique within a store (contracts run in one process).
static NEXT_NAME: AtomicU64 = AtomicU64::new(1);

/// Commits `count` collections, one transaction each with its `collection.create` entry (the
/// shape of a real command, so an auditor finds the store clean); returns the entries in
/// commit order.
pub(crate) async fn commit_collections<B: Backend>(backend: &B, count: usize) -> Vec<AuditEntry> {
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let n = NEXT_NAME.fetch_add(1, Ordering::Relaxed);
        let name = ok(
            "a collection name",
            CollectionName::parse(&format!("contract-{n}")),
        );
        let created = Timestamp::from_millis(1_000);
        let collection = Collection::create(name, None, created);
        let entry = AuditEntry::new(
            AuditId::generate(),
            created,
            &RequestContext::system(),
            AuditOperation::CollectionCreate,
            (collection.name().as_str(), collection.id()),
            AuditSubject::Collection,
        );
        let mut tx = ok(
            "beginning a transaction",
            backend.ports().unit_of_work.begin(Attempt::First).await,
        );
        ok(
            "inserting a collection",
            tx.collections().insert(&collection).await,
        );
        ok(
            "appending its audit entry",
            tx.audit()
                .append(AuditRecord {
                    entry: entry.clone(),
                    patch: None,
                })
                .await,
        );
        ok("committing", tx.commit().await.map_err(Error::from));
        entries.push(entry);
    }
    entries
}

/// Commits one document entry (only the audit entry, with no document behind it: the log
/// orders entries, it does not read documents) of `document_id` at `version`.
pub(crate) async fn commit_document_entry<B: Backend>(
    backend: &B,
    collection: &Collection,
    document_id: &str,
    version: u64,
) -> AuditEntry {
    let entry = AuditEntry::new(
        AuditId::generate(),
        Timestamp::from_millis(2_000),
        &RequestContext::system(),
        if version == 1 {
            AuditOperation::DocumentCreate
        } else {
            AuditOperation::DocumentReplace
        },
        (collection.name().as_str(), collection.id()),
        AuditSubject::Document {
            document_id: document_id.to_owned(),
            version,
            hash_before: None,
            hash_after: None,
            patch_sha256: None,
        },
    );
    let mut tx = ok(
        "beginning a transaction",
        backend.ports().unit_of_work.begin(Attempt::First).await,
    );
    ok(
        "appending a document entry",
        tx.audit()
            .append(AuditRecord {
                entry: entry.clone(),
                patch: None,
            })
            .await,
    );
    ok("committing", tx.commit().await.map_err(Error::from));
    entry
}

/// What the log should hold, kept in memory beside the store: the contracts compute each
/// batch from it and compare the store's answers with it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Model {
    tree: MemoryTree,
}

impl Model {
    /// The head of the modelled tree.
    pub(crate) fn head(&self) -> TreeHead {
        TreeHead {
            size: self.tree.size(),
            root: ok("the model's root", self.tree.root().map_err(tree_error)),
        }
    }

    /// Every stored hash the modelled tree has, by position.
    pub(crate) fn stored_hashes(&self) -> &[Hash] {
        self.tree.stored_hashes()
    }

    /// The batch that appends `leaves` to the modelled tree (which is left as it is).
    pub(crate) fn batch(&self, leaves: Vec<PendingLeaf>) -> LogAppend {
        let mut next = self.tree.clone();
        for leaf in &leaves {
            ok(
                "growing the model",
                next.push(leaf_hash(&leaf.leaf)).map_err(tree_error),
            );
        }
        let first = self.tree.stored_hashes().len();
        LogAppend {
            from: self.head(),
            to: Self { tree: next.clone() }.head(),
            hashes: next.stored_hashes()[first..].to_vec(),
            leaves,
        }
    }

    /// Takes an accepted batch into the model.
    pub(crate) fn accept(&mut self, batch: &LogAppend) {
        for leaf in &batch.leaves {
            ok(
                "growing the model",
                self.tree.push(leaf_hash(&leaf.leaf)).map_err(tree_error),
            );
        }
    }

    /// Appends everything pending to the store's log in one batch, and to the model; returns
    /// the batch.
    pub(crate) async fn sequence_pending<B: Backend>(&mut self, backend: &B) -> LogAppend {
        let log = backend.ports().log;
        let pending = ok("reading pending leaves", log.pending(PENDING_LIMIT).await);
        let batch = self.batch(pending);
        ok("appending a batch", log.append(batch.clone()).await);
        self.accept(&batch);
        batch
    }
}

fn tree_error(error: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::Internal, error.to_string())
}
