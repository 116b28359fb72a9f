//! Reads of the log for its API: the latest checkpoint, the key, leaves, and proofs.
//!
//! Every size a client names is checked against the committed head; an impossible request is
//! `INVALID_INPUT` carrying the head's size in `details.tree_size`, so the client learns how
//! far the log is. Proofs read O(log n) stored hashes, never leaves.

use std::sync::Arc;

use audit_domain::merkle::{Hash, prove_consistency, prove_inclusion};
use audit_domain::note::NoteVerifier;
use audit_domain::succession::LogEntry;
use shared_kernel::constants::MAX_PAGE_SIZE;
use shared_kernel::{AuditId, Error, ErrorCode};

use crate::ports::{LogStore, StoredCheckpoint};
use crate::stored::with_stored_hashes;

/// A leaf with the audit entry its bytes encode.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntryView {
    /// The leaf index.
    pub index: u64,
    /// The exact leaf bytes.
    pub leaf: Vec<u8>,
    /// SHA-256(0x00 ‖ leaf).
    pub leaf_hash: Hash,
    /// The entry, parsed from (and checked against) the leaf bytes: a data entry, or the
    /// `log.succession` entry of a successor log.
    pub entry: LogEntry,
}

/// The log's read side.
#[derive(Clone)]
pub struct LogQueries {
    store: Arc<dyn LogStore>,
    verifier: NoteVerifier,
}

impl std::fmt::Debug for LogQueries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogQueries")
            .field("origin", &self.verifier.name())
            .finish_non_exhaustive()
    }
}

impl LogQueries {
    /// Queries over `store`, whose checkpoints `verifier` checks.
    pub fn new(store: Arc<dyn LogStore>, verifier: NoteVerifier) -> Self {
        Self { store, verifier }
    }

    /// The log's public key (its name is the origin).
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// The checkpoint of the largest tree size.
    ///
    /// # Errors
    /// `UNAVAILABLE` before the sequencer signed the first one; storage errors.
    pub async fn latest_checkpoint(&self) -> Result<StoredCheckpoint, Error> {
        self.store.latest_checkpoint().await?.ok_or_else(|| {
            Error::new(
                ErrorCode::Unavailable,
                "the log has not published a checkpoint yet",
            )
        })
    }

    /// The leaves `start..end` (`end` exclusive, at most [`MAX_PAGE_SIZE`]).
    ///
    /// # Errors
    /// `INVALID_INPUT` when `start > end`, the range is too long or `end` is beyond the log
    /// (with `details.tree_size`); `INTERNAL_ERROR` when a stored leaf is malformed.
    pub async fn entries(&self, start: u64, end: u64) -> Result<Vec<LogEntryView>, Error> {
        if start > end {
            return Err(Error::invalid_input("`start` must not be above `end`").at("/start"));
        }
        if end - start > u64::from(MAX_PAGE_SIZE) {
            return Err(
                Error::invalid_input(format!("at most {MAX_PAGE_SIZE} entries per call"))
                    .at("/end"),
            );
        }
        let size = self.log_size_covering(end).await?;
        if end > size {
            return Err(beyond_the_log(format!("`end` {end} is beyond the log"), size).at("/end"));
        }
        if start == end {
            return Ok(Vec::new());
        }
        let leaves = self.store.leaves(start, end).await?;
        leaves
            .into_iter()
            .map(|leaf| {
                let entry = LogEntry::from_leaf_bytes(&leaf.leaf)
                    .map_err(|e| Error::internal("a stored log leaf is malformed", e))?;
                Ok(LogEntryView {
                    index: leaf.index,
                    leaf: leaf.leaf,
                    leaf_hash: leaf.leaf_hash,
                    entry,
                })
            })
            .collect()
    }

    /// The leaf of the audit entry `id`.
    ///
    /// # Errors
    /// `NOT_FOUND` when there is no such entry; `NOT_YET_SEQUENCED` (with `details.tree_size`)
    /// while it waits for the sequencer.
    pub async fn entry_by_audit_id(&self, id: AuditId) -> Result<LogEntryView, Error> {
        let Some(found) = self.store.leaf_by_audit_id(id).await? else {
            return Err(Error::not_found(format!("no audit entry `{id}`")));
        };
        let Some(index) = found.index else {
            let size = self.store.head().await?.size;
            return Err(Error::new(
                ErrorCode::NotYetSequenced,
                format!("audit entry `{id}` is not in the log yet"),
            )
            .with_detail("tree_size", size));
        };
        let entry = LogEntry::from_leaf_bytes(&found.leaf)
            .map_err(|e| Error::internal("a stored log leaf is malformed", e))?;
        Ok(LogEntryView {
            index,
            leaf: found.leaf,
            leaf_hash: found.leaf_hash,
            entry,
        })
    }

    /// The committed log's size, read from storage itself when the store's head does not
    /// cover `wanted`: a client may have seen a leaf's index (in a history, or by audit id)
    /// before the sequencer's append returned and its head was offered, and must not be told
    /// that the log is smaller than what it saw.
    async fn log_size_covering(&self, wanted: u64) -> Result<u64, Error> {
        let size = self.store.head().await?.size;
        if wanted <= size {
            return Ok(size);
        }
        Ok(self.store.head_from_storage().await?.size)
    }

    /// The inclusion proof of leaf `index` in the tree of `tree_size` leaves.
    ///
    /// # Errors
    /// `INVALID_INPUT` (with `details.tree_size`) when `index >= tree_size` or `tree_size` is
    /// beyond the log.
    pub async fn inclusion_proof(&self, index: u64, tree_size: u64) -> Result<Vec<Hash>, Error> {
        let size = self.log_size_covering(tree_size).await?;
        if tree_size > size {
            return Err(
                beyond_the_log(format!("`tree_size` {tree_size} is beyond the log"), size)
                    .at("/tree_size"),
            );
        }
        if index >= tree_size {
            return Err(beyond_the_log(
                format!("`index` {index} is not below `tree_size` {tree_size}"),
                size,
            )
            .at("/index"));
        }
        with_stored_hashes(self.store.as_ref(), |reader| {
            prove_inclusion(index, tree_size, reader)
        })
        .await
    }

    /// The consistency proof from the tree of `from` leaves to the tree of `to` leaves;
    /// empty when they are equal.
    ///
    /// # Errors
    /// `INVALID_INPUT` when `from` is 0 or above `to`, or (with `details.tree_size`) when `to`
    /// is beyond the log.
    pub async fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, Error> {
        if from == 0 {
            return Err(Error::invalid_input(
                "a consistency proof from the empty tree proves nothing; `from` must be at least 1",
            )
            .at("/from"));
        }
        let size = self.log_size_covering(to).await?;
        if to > size {
            return Err(beyond_the_log(format!("`to` {to} is beyond the log"), size).at("/to"));
        }
        if from > to {
            return Err(
                beyond_the_log(format!("`from` {from} is above `to` {to}"), size).at("/from"),
            );
        }
        with_stored_hashes(self.store.as_ref(), |reader| {
            prove_consistency(from, to, reader)
        })
        .await
    }
}

fn beyond_the_log(detail: String, size: u64) -> Error {
    Error::invalid_input(detail).with_detail("tree_size", size)
}

mod proven_entry;

pub use proven_entry::ProvenEntry;

#[cfg(test)]
mod tests;
