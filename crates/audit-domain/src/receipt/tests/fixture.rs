//! A small signed log of document entries, and the receipts a server would serve for it.

use serde_json::{Value, json};
use shared_kernel::{
    Actor, AuditId, CollectionId, RequestContext, RequestId, Sha256Digest, Timestamp,
};

use crate::checkpoint::Checkpoint;
use crate::entry::{AuditEntry, AuditOperation, AuditSubject};
use crate::merkle::{MemoryTree, prove_inclusion};
use crate::note::{KeyName, NoteSigner, NoteVerifier};
use crate::receipt::{ReceiptBundle, TlogProof};

pub(super) const ORIGIN: &str = "offchain-db/test";

/// `size` entries: `doc-i` created with `{"n": i}`; the last one deletes `doc-0` instead.
pub(super) struct Fixture {
    pub signer: NoteSigner,
    pub entries: Vec<(AuditEntry, Value)>,
    pub tree: MemoryTree,
    pub note: String,
}

impl Fixture {
    pub fn new(size: usize) -> Self {
        let signer = NoteSigner::from_seed(
            KeyName::new(ORIGIN).unwrap_or_else(|e| panic!("{e}")),
            &[7; 32],
        );
        let collection_id = CollectionId::generate();
        let context = RequestContext {
            actor: Actor::Anonymous,
            request_id: RequestId::parse("req-1").unwrap_or_else(|e| panic!("{e}")),
            trace_id: None,
            deadline: None,
        };
        let mut entries = Vec::new();
        for n in 0..size {
            let at = Timestamp::from_millis(1_764_063_000_000 + n as i64);
            let last = n + 1 == size && size > 1;
            let (id, version, data, operation) = if last {
                ("doc-0".to_owned(), 2, None, AuditOperation::DocumentDelete)
            } else {
                (
                    format!("doc-{n}"),
                    1,
                    Some(json!({"n": n})),
                    AuditOperation::DocumentCreate,
                )
            };
            let hash_after = data.as_ref().map(Sha256Digest::of_json);
            let hash_before = last.then(|| Sha256Digest::of_json(&json!({"n": 0})));
            let entry = AuditEntry::new(
                AuditId::generate(),
                at,
                &context,
                operation,
                ("people", collection_id),
                AuditSubject::Document {
                    document_id: id.clone(),
                    version,
                    hash_before,
                    hash_after,
                    patch_sha256: None,
                },
            );
            let document = json!({
                "id": id,
                "collection": "people",
                "version": version,
                "data": data,
                "content_hash": hash_after.map(|h| h.to_hex()),
                "created_at": Timestamp::from_millis(1_764_063_000_000).to_rfc3339(),
                "updated_at": at.to_rfc3339(),
                "audit_id": entry.id.to_string(),
            });
            entries.push((entry, document));
        }
        let tree = MemoryTree::from_leaf_hashes(entries.iter().map(|(e, _)| e.leaf_hash()))
            .unwrap_or_else(|e| panic!("{e}"));
        let root = tree.root().unwrap_or_else(|e| panic!("{e}"));
        let note = Checkpoint::new(ORIGIN, tree.size(), root)
            .and_then(|c| c.sign(&signer))
            .unwrap_or_else(|e| panic!("{e}"));
        Self {
            signer,
            entries,
            tree,
            note,
        }
    }

    pub fn verifier(&self) -> NoteVerifier {
        self.signer.verifier()
    }

    pub fn bundle(&self, index: usize) -> ReceiptBundle {
        let (entry, document) = &self.entries[index];
        let proof = prove_inclusion(index as u64, self.tree.size(), &self.tree)
            .unwrap_or_else(|e| panic!("{e}"));
        ReceiptBundle::new(
            document.clone(),
            entry,
            index as u64,
            proof,
            self.note.clone(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn tlog_proof(&self, index: usize) -> TlogProof {
        let (entry, _) = &self.entries[index];
        let proof = prove_inclusion(index as u64, self.tree.size(), &self.tree)
            .unwrap_or_else(|e| panic!("{e}"));
        let leaf = entry.leaf_bytes();
        TlogProof::new(leaf, index as u64, proof, self.note.clone())
            .unwrap_or_else(|e| panic!("{e}"))
    }
}
