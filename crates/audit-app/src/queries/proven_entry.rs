//! An audit entry proven into the latest signed checkpoint: what a verified read (a receipt)
//! is made of.
//!
//! The proof is always at the *checkpoint's* size, never the head's: a client can only trust
//! a root that is signed, and a head newer than the last checkpoint has none yet.

use audit_domain::merkle::{Hash, prove_inclusion};
use shared_kernel::{AuditId, Error, ErrorCode};

use super::{LogEntryView, LogQueries};
use crate::ports::StoredCheckpoint;
use crate::stored::with_stored_hashes;

/// A leaf, its inclusion proof, and the signed checkpoint the proof leads to.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvenEntry {
    /// The leaf and the entry it encodes.
    pub leaf: LogEntryView,
    /// The inclusion proof of the leaf at `checkpoint.tree_size`.
    pub proof: Vec<Hash>,
    /// The latest signed checkpoint, which covers the leaf.
    pub checkpoint: StoredCheckpoint,
}

impl LogQueries {
    /// The audit entry `id` with its inclusion proof in the latest signed checkpoint.
    ///
    /// # Errors
    /// `NOT_FOUND` when there is no such entry; `NOT_YET_SEQUENCED` while it has no leaf
    /// index or no checkpoint covers its index yet, with `details.tree_size` the size of the
    /// latest checkpoint (the largest tree a proof can be signed for); `UNAVAILABLE` before
    /// the first checkpoint; storage errors.
    pub async fn proven_entry(&self, id: AuditId) -> Result<ProvenEntry, Error> {
        let checkpoint = self.latest_checkpoint().await?;
        let leaf = match self.entry_by_audit_id(id).await {
            Ok(leaf) => leaf,
            Err(error) if error.code() == ErrorCode::NotYetSequenced => {
                return Err(not_yet_sequenced(id, &checkpoint));
            }
            Err(error) => return Err(error),
        };
        if leaf.index >= checkpoint.tree_size {
            return Err(not_yet_sequenced(id, &checkpoint));
        }
        let proof = with_stored_hashes(self.store.as_ref(), |reader| {
            prove_inclusion(leaf.index, checkpoint.tree_size, reader)
        })
        .await?;
        Ok(ProvenEntry {
            leaf,
            proof,
            checkpoint,
        })
    }
}

fn not_yet_sequenced(id: AuditId, checkpoint: &StoredCheckpoint) -> Error {
    Error::new(
        ErrorCode::NotYetSequenced,
        format!("audit entry `{id}` is not covered by a signed checkpoint yet"),
    )
    .with_detail("tree_size", checkpoint.tree_size)
}
