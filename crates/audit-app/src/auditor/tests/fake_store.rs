//! A store in memory, written the way the embedded store writes (entries, revisions,
//! documents, the `tlog` stored hashes, head and signed checkpoints), for the auditor's tests
//! to tamper with field by field.

use std::collections::BTreeMap;

use audit_domain::checkpoint::Checkpoint;
use audit_domain::merkle::{Hash, MemoryTree};
use audit_domain::note::{KeyName, NoteSigner};
use audit_domain::{AuditEntry, AuditOperation, AuditSubject};
use serde_json::{Value, json};
use shared_kernel::{
    Actor, AuditId, CollectionId, Error, Position, RequestContext, RequestId, Sha256Digest,
    Timestamp,
};

use crate::auditor::*;

pub(super) const ORIGIN: &str = "offchain-db/test";

pub(super) fn signer(seed: u8) -> NoteSigner {
    NoteSigner::from_seed(
        KeyName::new(ORIGIN).unwrap_or_else(|e| panic!("{e}")),
        &[seed; 32],
    )
}

/// A store in memory, written through [`FakeStore::write`] like the real write path.
pub(super) struct FakeStore {
    pub(super) collection_id: CollectionId,
    pub(super) entries: Vec<EntryRow>,
    pub(super) tree: MemoryTree,
    pub(super) hashes: BTreeMap<u64, Vec<u8>>,
    pub(super) state: LogStateRow,
    /// The head's record of the last sequenced commit sequence (`log_state.last_seq`).
    pub(super) last_seq: u64,
    pub(super) checkpoints: Vec<CheckpointRow>,
    pub(super) revisions: Vec<RevisionRow>,
    pub(super) documents: BTreeMap<String, DocumentRow>,
    pub(super) clock: i64,
    /// The last commit sequence handed out (a removed entry leaves its number behind).
    pub(super) allocated: u64,
    /// The outbox: one event per entry, written with it.
    pub(super) events: Vec<OutboxRow>,
}

impl FakeStore {
    /// A store whose collection was created (one entry, not sequenced yet).
    pub(super) fn new() -> Self {
        let mut store = Self {
            collection_id: CollectionId::generate(),
            entries: Vec::new(),
            tree: MemoryTree::new(),
            hashes: BTreeMap::new(),
            state: LogStateRow {
                tree_size: 0,
                root: audit_domain::merkle::empty_root().as_bytes().to_vec(),
            },
            last_seq: 0,
            checkpoints: Vec::new(),
            revisions: Vec::new(),
            documents: BTreeMap::new(),
            clock: 1_764_000_000_000,
            allocated: 0,
            events: Vec::new(),
        };
        store.append(
            AuditOperation::CollectionCreate,
            AuditSubject::Collection,
            None,
        );
        store
    }

    fn append(&mut self, operation: AuditOperation, subject: AuditSubject, patch: Option<Value>) {
        self.clock += 1;
        let context = RequestContext {
            actor: Actor::Anonymous,
            request_id: RequestId::parse("req").unwrap_or_else(|e| panic!("{e}")),
            trace_id: None,
            deadline: None,
        };
        let entry = AuditEntry::new(
            AuditId::generate(),
            Timestamp::from_millis(self.clock),
            &context,
            operation,
            ("people", self.collection_id),
            subject,
        );
        let leaf = entry.leaf_bytes();
        let (document_id, version) = match &entry.subject {
            AuditSubject::Collection => (None, None),
            AuditSubject::Document {
                document_id,
                version,
                ..
            } => (Some(document_id.clone()), Some(*version)),
        };
        self.allocated += 1;
        self.entries.push(EntryRow {
            // The fake's positions are its commit sequences, as the embedded store's are.
            position: Position::from_numbers(&[self.allocated]),
            id: entry.id.to_string(),
            at_millis: self.clock,
            actor: "anonymous".into(),
            operation: operation.as_str().into(),
            collection: "people".into(),
            collection_id: self.collection_id.to_string(),
            document_id,
            version,
            leaf_hash: audit_domain::merkle::leaf_hash(&leaf).as_bytes().to_vec(),
            leaf,
            patch: patch.map(|p| shared_kernel::canonical_json(&p)),
            leaf_index: None,
            revision_audit_id: None,
        });
        if let Some(entry) = self.entries.last() {
            let event = event_of(entry);
            self.events.push(event);
        }
    }

    /// Creates, replaces (`Some`) or deletes (`None`) a document.
    pub(super) fn write(&mut self, id: &str, data: Option<Value>) {
        let current = self.documents.get(id);
        let version = current.map_or(1, |d| d.version + 1);
        let before: Option<Value> = current
            .and_then(|d| d.data.as_deref())
            .map(|t| serde_json::from_str(t).unwrap_or_default());
        let hash = Sha256Digest::of_json;
        let (operation, patch) = match (&before, &data) {
            (None, _) => (AuditOperation::DocumentCreate, None),
            (Some(_), None) => (AuditOperation::DocumentDelete, None),
            (Some(b), Some(a)) => (
                AuditOperation::DocumentReplace,
                Some(serde_json::to_value(json_patch::diff(b, a)).unwrap_or_default()),
            ),
        };
        let subject = AuditSubject::Document {
            document_id: id.into(),
            version,
            hash_before: before.as_ref().map(hash),
            hash_after: data.as_ref().map(hash),
            patch_sha256: patch.as_ref().map(hash),
        };
        self.append(operation, subject, patch);
        let audit_id = self
            .entries
            .last()
            .map(|e| e.id.clone())
            .unwrap_or_default();
        let text = data.as_ref().map(shared_kernel::canonical_json);
        let content_hash = data.as_ref().map(|d| hash(d).to_hex());
        let key = RevisionKey {
            collection_id: self.collection_id.to_string(),
            document_id: id.into(),
            version,
        };
        self.revisions.push(RevisionRow {
            key,
            operation: operation.as_str().into(),
            data: text.clone(),
            data_in_document: false,
            content_hash: content_hash.clone(),
            at_millis: self.clock,
            actor: "anonymous".into(),
            audit_id: audit_id.clone(),
            entry: None,
        });
        self.documents.insert(
            id.into(),
            DocumentRow {
                key: DocumentKey {
                    collection_id: self.collection_id.to_string(),
                    document_id: id.into(),
                },
                version,
                data: text,
                content_hash,
                audit_id,
                latest: None,
            },
        );
    }

    /// Sequences every pending entry, as the sequencer does in one batch.
    pub(super) fn sequence(&mut self) {
        for entry in self.entries.iter_mut().filter(|e| e.leaf_index.is_none()) {
            let hash = Hash::try_from(entry.leaf_hash.as_slice()).unwrap_or_else(|e| panic!("{e}"));
            entry.leaf_index = Some(self.tree.push(hash).unwrap_or_else(|e| panic!("{e}")));
            self.last_seq = seq_of(entry);
        }
        self.hashes = (0_u64..)
            .zip(
                self.tree
                    .stored_hashes()
                    .iter()
                    .map(|h| h.as_bytes().to_vec()),
            )
            .collect();
        self.state.tree_size = self.tree.size();
        self.state.root = self.root().as_bytes().to_vec();
    }

    fn root(&self) -> Hash {
        self.tree.root().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Signs and keeps a checkpoint of the current head; returns the note.
    pub(super) fn checkpoint(&mut self) -> String {
        let note = Checkpoint::new(ORIGIN, self.tree.size(), self.root())
            .and_then(|c| c.sign(&signer(1)))
            .unwrap_or_else(|e| panic!("{e}"));
        self.checkpoints.push(CheckpointRow {
            tree_size: self.tree.size(),
            root: self.root().as_bytes().to_vec(),
            note: note.clone(),
        });
        note
    }

    pub(super) fn entry_mut(&mut self, leaf_index: u64) -> &mut EntryRow {
        self.entries
            .iter_mut()
            .find(|e| e.leaf_index == Some(leaf_index))
            .unwrap_or_else(|| panic!("no entry at {leaf_index}"))
    }

    pub(super) fn run(&self, anchors: &[Anchor]) -> (Vec<Finding>, Summary) {
        let mut found = Vec::new();
        let summary = audit(self, &signer(1).verifier(), anchors, &mut |f| {
            found.push(f.clone())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        (found, summary)
    }

    /// A store with every kind of write, all sequenced and checkpointed, plus one entry
    /// committed after the last batch.
    pub(super) fn written() -> Self {
        let mut store = Self::new();
        store.write("alice", Some(json!({"name": "Alice", "age": 30})));
        store.write("bob", Some(json!({"name": "Bob"})));
        store.sequence();
        store.checkpoint();
        store.write(
            "alice",
            Some(json!({"name": "Alice", "age": 31, "tags": ["x"]})),
        );
        store.write("bob", None);
        store.write("bob", Some(json!({"name": "Bob", "back": true})));
        store.sequence();
        store.checkpoint();
        store.write("carol", Some(json!({"name": "Carol"})));
        store
    }
}

fn page<T: Clone>(rows: impl Iterator<Item = T>, limit: usize) -> Vec<T> {
    rows.take(limit).collect()
}

impl AuditSource for FakeStore {
    fn log_state(&self) -> Result<Option<LogStateRow>, Error> {
        Ok(Some(self.state.clone()))
    }

    fn checkpoints(&self, after: Option<u64>, limit: usize) -> Result<Vec<CheckpointRow>, Error> {
        let mut rows: Vec<_> = self
            .checkpoints
            .iter()
            .filter(|c| after.is_none_or(|a| c.tree_size > a))
            .cloned()
            .collect();
        rows.sort_by_key(|c| c.tree_size);
        Ok(page(rows.into_iter(), limit))
    }

    fn sequenced_entries(&self, after: Option<u64>, limit: usize) -> Result<Vec<EntryRow>, Error> {
        let mut rows: Vec<_> = self
            .entries
            .iter()
            .filter(|e| e.leaf_index.is_some_and(|i| after.is_none_or(|a| i > a)))
            .map(|e| self.with_revision(e))
            .collect();
        rows.sort_by_key(|e| e.leaf_index);
        Ok(page(rows.into_iter(), limit))
    }

    fn pending_entries(
        &self,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Vec<EntryRow>, Error> {
        // The fake's positions are its seqs, as the embedded store's are.
        let after = after.map(|p| p.numbers(1)).transpose()?.map_or(0, |n| n[0]);
        let mut rows: Vec<_> = self
            .entries
            .iter()
            .filter(|e| e.leaf_index.is_none() && seq_of(e) > after)
            .map(|e| self.with_revision(e))
            .collect();
        rows.sort_by_key(seq_of);
        Ok(page(rows.into_iter(), limit))
    }

    fn log_hashes(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, Error> {
        Ok(page(
            self.hashes.range(from..).map(|(k, v)| (*k, v.clone())),
            limit,
        ))
    }

    fn revisions(
        &self,
        after: Option<&RevisionKey>,
        limit: usize,
    ) -> Result<Vec<RevisionRow>, Error> {
        let mut rows: Vec<_> = self
            .revisions
            .iter()
            .filter(|r| after.is_none_or(|a| r.key > *a))
            .map(|r| RevisionRow {
                entry: self
                    .entries
                    .iter()
                    .find(|e| e.id == r.audit_id)
                    .map(|e| LinkedEntry {
                        leaf: e.leaf.clone(),
                        patch: e.patch.clone(),
                    }),
                ..r.clone()
            })
            .collect();
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(page(rows.into_iter(), limit))
    }

    fn documents(
        &self,
        after: Option<&DocumentKey>,
        limit: usize,
    ) -> Result<Vec<DocumentRow>, Error> {
        let mut rows: Vec<_> = self
            .documents
            .values()
            .filter(|d| after.is_none_or(|a| d.key > *a))
            .map(|d| DocumentRow {
                latest: self
                    .revisions
                    .iter()
                    .filter(|r| r.key.document_id == d.key.document_id)
                    .max_by_key(|r| r.key.version)
                    .map(|r| LatestRevision {
                        version: r.key.version,
                        content_hash: r.content_hash.clone(),
                        audit_id: r.audit_id.clone(),
                    }),
                ..d.clone()
            })
            .collect();
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(page(rows.into_iter(), limit))
    }
}

impl FakeStore {
    fn with_revision(&self, entry: &EntryRow) -> EntryRow {
        let revision = self.revisions.iter().find(|r| {
            Some(&r.key.document_id) == entry.document_id.as_ref()
                && Some(r.key.version) == entry.version
        });
        EntryRow {
            revision_audit_id: revision.map(|r| r.audit_id.clone()),
            ..entry.clone()
        }
    }
}

/// The tables beside the log, as the real write path keeps them: derived from the entries
/// (one collection, one outbox event per entry, no idempotency record), so only what a test
/// removes from the entries can disagree.
/// Like the embedded store, the fake hands out commit sequences without gaps, and its log
/// follows them.
impl BackendChecks for FakeStore {
    fn check_backend(&self, report: &mut dyn FnMut(Finding)) -> Result<Vec<String>, Error> {
        check_gap_free_sequence(
            |after_seq, limit| {
                let mut seqs: Vec<u64> = self.entries.iter().map(seq_of).collect();
                seqs.sort_unstable();
                Ok(page(seqs.into_iter().filter(|&s| s > after_seq), limit))
            },
            || Ok(Some(self.allocated)),
            report,
        )?;
        check_commit_order(self, report)?;
        Ok(vec![COMMIT_SEQUENCE.to_owned()])
    }
}

impl CommitOrderSource for FakeStore {
    fn head_last_seq(&self) -> Result<Option<(u64, u64)>, Error> {
        Ok(Some((self.state.tree_size, self.last_seq)))
    }

    fn sequenced_seqs(&self, after: Option<u64>, limit: usize) -> Result<Vec<SeqEntry>, Error> {
        let rows = self
            .sequenced_entries(after, limit)?
            .iter()
            .map(seq_entry)
            .collect();
        Ok(rows)
    }

    fn unsequenced_up_to(
        &self,
        at_most: u64,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<SeqEntry>, Error> {
        let mut rows: Vec<SeqEntry> = self
            .entries
            .iter()
            .filter(|e| e.leaf_index.is_none())
            .map(seq_entry)
            .filter(|e| e.seq > after_seq && e.seq <= at_most)
            .collect();
        rows.sort_by_key(|e| e.seq);
        Ok(page(rows.into_iter(), limit))
    }

    fn revision_seqs(
        &self,
        after: Option<&RevisionKey>,
        limit: usize,
    ) -> Result<Vec<(RevisionKey, Option<u64>)>, Error> {
        let mut rows: Vec<_> = self
            .revisions
            .iter()
            .filter(|r| after.is_none_or(|a| r.key > *a))
            .map(|r| {
                let seq = self.entries.iter().find(|e| e.id == r.audit_id).map(seq_of);
                (r.key.clone(), seq)
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(page(rows.into_iter(), limit))
    }
}

/// The commit sequence of a fake entry: its position.
pub(super) fn seq_of(entry: &EntryRow) -> u64 {
    entry
        .position
        .numbers(1)
        .map(|n| n[0])
        .unwrap_or_else(|e| panic!("a fake position: {e}"))
}

fn seq_entry(entry: &EntryRow) -> SeqEntry {
    SeqEntry {
        seq: seq_of(entry),
        leaf_index: entry.leaf_index,
        id: entry.id.clone(),
    }
}

impl TableSource for FakeStore {
    fn collections(&self, after: Option<&str>, _limit: usize) -> Result<Vec<CollectionRow>, Error> {
        let id = self.collection_id.to_string();
        if after.is_some_and(|a| a >= id.as_str()) {
            return Ok(Vec::new());
        }
        let entries: Vec<CollectionEntryRow> = self
            .entries
            .iter()
            .filter(|e| e.operation.starts_with("collection."))
            .map(collection_entry)
            .collect();
        let at = |operation: AuditOperation| {
            entries
                .iter()
                .find(|e| e.operation == operation.as_str())
                .map(|e| e.at_millis)
        };
        let changes = entries
            .iter()
            .filter(|e| e.operation == AuditOperation::CollectionSchemaChange.as_str())
            .count() as u64;
        Ok(vec![CollectionRow {
            id,
            name: "people".into(),
            version: 1 + changes,
            created_at: at(AuditOperation::CollectionCreate).unwrap_or(self.clock),
            deleted_at: at(AuditOperation::CollectionDelete),
            entries,
        }])
    }

    fn orphan_collection_entries(
        &self,
        _after: Option<&Position>,
        _limit: usize,
    ) -> Result<Vec<CollectionEntryRow>, Error> {
        Ok(Vec::new())
    }

    fn outbox(&self, after: Option<&Position>, limit: usize) -> Result<Vec<OutboxRow>, Error> {
        // Events are kept in the order written: go on after the one at `after`.
        let start = after.map_or(0, |after| {
            self.events
                .iter()
                .position(|e| e.position == *after)
                .map_or(self.events.len(), |at| at + 1)
        });
        let rows = self.events.iter().skip(start).map(|event| OutboxRow {
            entry_leaf: self
                .entries
                .iter()
                .find(|e| e.id == event.audit_id)
                .map(|e| e.leaf.clone()),
            ..event.clone()
        });
        Ok(page(rows, limit))
    }

    fn entries_without_event(
        &self,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Vec<(Position, String)>, Error> {
        let after = after.map(|p| p.numbers(1)).transpose()?.map_or(0, |n| n[0]);
        let rows = self
            .entries
            .iter()
            .filter(|e| seq_of(e) > after && !self.events.iter().any(|v| v.audit_id == e.id))
            .map(|e| (e.position.clone(), e.id.clone()));
        Ok(page(rows, limit))
    }

    fn idempotency_records(
        &self,
        _after: Option<&IdempotencyRecordKey>,
        _limit: usize,
    ) -> Result<Vec<IdempotencyRow>, Error> {
        Ok(Vec::new())
    }

    fn entry_leaf(&self, id: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .entries
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.leaf.clone()))
    }
}

fn collection_entry(entry: &EntryRow) -> CollectionEntryRow {
    CollectionEntryRow {
        position: entry.position.clone(),
        id: entry.id.clone(),
        collection_id: entry.collection_id.clone(),
        operation: entry.operation.clone(),
        collection: entry.collection.clone(),
        at_millis: entry.at_millis,
    }
}

/// The outbox event the write path writes for an entry.
fn event_of(entry: &EntryRow) -> OutboxRow {
    let parsed = AuditEntry::from_leaf_bytes(&entry.leaf).ok();
    let (event_type, payload) = parsed.map_or_else(
        || ("unknown", json!({})),
        |parsed| {
            let mut payload = json!({
                "audit_id": parsed.id.to_string(),
                "collection": parsed.collection,
                "collection_id": parsed.collection_id.to_string(),
                "context": {"actor": parsed.actor.to_string(), "request_id": parsed.request_id.as_str(), "trace_id": null},
            });
            if let AuditSubject::Document {
                document_id,
                version,
                hash_before,
                hash_after,
                ..
            } = &parsed.subject
            {
                payload["document_id"] = json!(document_id);
                payload["version"] = json!(version);
                payload["hash_before"] = json!(hash_before.map(|h| h.to_hex()));
                payload["hash_after"] = json!(hash_after.map(|h| h.to_hex()));
            }
            let event_type = match parsed.operation {
                AuditOperation::CollectionCreate => "collection.created",
                AuditOperation::CollectionSchemaChange => "collection.schema_changed",
                AuditOperation::CollectionDelete => "collection.deleted",
                AuditOperation::DocumentCreate => "document.created",
                AuditOperation::DocumentReplace => "document.replaced",
                AuditOperation::DocumentPatch => "document.patched",
                AuditOperation::DocumentDelete => "document.deleted",
            };
            (event_type, payload)
        },
    );
    OutboxRow {
        position: entry.position.clone(),
        id: format!("event-{}", seq_of(entry)),
        event_type: event_type.into(),
        audit_id: entry.id.clone(),
        occurred_at: entry.at_millis,
        payload: payload.to_string(),
        entry_leaf: Some(entry.leaf.clone()),
    }
}
