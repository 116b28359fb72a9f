//! The sequencer: committed audit entries become leaves of the Merkle log, and the log's head
//! is signed as C2SP checkpoints.
//!
//! Each [`Sequencer::sequence_batch`] takes up to [`SEQUENCER_BATCH_SIZE`] committed entries
//! that have no leaf index yet ([`LogStore::pending`], in the store's order: a document's
//! entries in version order), gives them the next leaf indexes, computes the stored hashes
//! they add (from the in-memory right edge of the tree, so no leaf is ever re-read) and writes
//! indexes, hashes and the new head in one transaction. It asks for what is unsequenced, never
//! for "everything after the last number it saw", so it depends on no gap-free or monotonic
//! commit counter: an entry that commits late on a concurrent backend is still sequenced. A
//! restart resumes with whatever is still unsequenced, and a crash between two batches loses
//! nothing: the uncommitted batch is simply redone.
//!
//! Checkpoints are signed only for heads that are committed, at most one per
//! `checkpoint_interval` while the tree grows, and only after checking that the previous
//! checkpoint's tree is a prefix of the new one, so two inconsistent checkpoints are never
//! signed. A store with no checkpoint gets one at start (size 0 on a new store).
//!
//! One sequencer per store: the caller owns it (`&mut self`), and the store refuses a batch
//! computed from a head that is no longer current.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use audit_domain::checkpoint::Checkpoint;
use audit_domain::merkle::{
    Hash, MissingStoredHash, TreeError, leaf_hash, prove_consistency, stored_hash_count,
    stored_hash_index, stored_hashes_for_leaf, tree_hash,
};
use shared_kernel::{Clock, Error, ErrorCode};

use crate::ports::{LogAppend, LogSigner, LogStore, StoredCheckpoint, TreeHead};
use crate::signer::{forked, rolled_back};
use crate::stored::{MapReader, internal_tree_error, with_stored_hashes};

mod start_checks;

/// How many entries one batch sequences at most.
pub const SEQUENCER_BATCH_SIZE: usize = 10_000;

/// The shortest time between two checkpoints while the tree grows.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(200);

/// How often an idle sequencer looks for new entries.
pub const SEQUENCER_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The sequencer's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequencerOptions {
    /// Entries per batch at most.
    pub batch_size: usize,
    /// Shortest time between two checkpoints.
    pub checkpoint_interval: Duration,
}

impl Default for SequencerOptions {
    fn default() -> Self {
        Self {
            batch_size: SEQUENCER_BATCH_SIZE,
            checkpoint_interval: CHECKPOINT_INTERVAL,
        }
    }
}

/// Sequences one store's audit entries and signs its checkpoints.
pub struct Sequencer {
    store: Arc<dyn LogStore>,
    signer: Arc<dyn LogSigner>,
    clock: Arc<dyn Clock>,
    options: SequencerOptions,
    head: TreeHead,
    /// The stored hashes of the right edge of the tree (the complete subtrees whose sizes are
    /// the binary digits of `head.size`), by stored position: all a new leaf needs.
    frontier: HashMap<u64, Hash>,
    last_checkpoint: StoredCheckpoint,
}

impl std::fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencer")
            .field("head", &self.head)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Sequencer {
    /// Loads the committed head, checks it against the stored hashes, and signs a checkpoint
    /// of it when none was published for it yet (the size-0 checkpoint of a new store, or
    /// the head a crash left unsigned).
    ///
    /// # Errors
    /// `INTERNAL_ERROR` when the stored tree does not match its head or a published checkpoint
    /// is not a prefix of it; storage errors.
    pub async fn start(
        store: Arc<dyn LogStore>,
        signer: Arc<dyn LogSigner>,
        clock: Arc<dyn Clock>,
        options: SequencerOptions,
    ) -> Result<Self, Error> {
        let (head, frontier) = load_tree(store.as_ref()).await?;
        let latest = store.latest_checkpoint().await?;
        if let Some(checkpoint) = &latest {
            start_checks::signed_by_this_key(checkpoint, signer.as_ref())?;
            if signer.last_signed().is_none() {
                start_checks::adopt(checkpoint, signer.as_ref())?;
            }
        }
        let mut sequencer = Self {
            store,
            signer,
            clock,
            options,
            head,
            frontier,
            // Replaced below when a checkpoint exists; otherwise signed now.
            last_checkpoint: StoredCheckpoint {
                tree_size: 0,
                root_hash: head.root,
                note: String::new(),
                signed_at: shared_kernel::Timestamp::from_millis(i64::MIN),
            },
        };
        sequencer.check_signer_memory().await?;
        match latest {
            Some(checkpoint) => {
                sequencer.check_prefix(&checkpoint).await?;
                let unsigned = checkpoint.tree_size < sequencer.head.size;
                sequencer.last_checkpoint = checkpoint;
                if unsigned {
                    sequencer.sign_head().await?;
                }
            }
            None => {
                sequencer.sign_head_unchecked().await?;
            }
        }
        tracing::info!(
            tree_size = sequencer.head.size,
            root = %sequencer.head.root,
            "log sequencer started"
        );
        Ok(sequencer)
    }

    /// Refuses to go on when the store's tree does not extend the last tree the signer
    /// signed: the database is older than what was signed (see [`crate::signer`]).
    ///
    /// # Errors
    /// `UNAVAILABLE` with reason `log_rolled_back`, naming the signed size; storage errors.
    pub async fn check_signer_memory(&self) -> Result<(), Error> {
        let Some(last) = self.signer.last_signed() else {
            return Ok(());
        };
        if last.size > self.head.size {
            return Err(rolled_back(last.size, self.head.size));
        }
        let size = last.size;
        let root =
            with_stored_hashes(self.store.as_ref(), |reader| tree_hash(size, reader)).await?;
        if root != last.root {
            return Err(forked(last.size, self.head.size));
        }
        Ok(())
    }

    /// The committed head.
    pub fn head(&self) -> TreeHead {
        self.head
    }

    /// The last published checkpoint.
    pub fn last_checkpoint(&self) -> &StoredCheckpoint {
        &self.last_checkpoint
    }

    /// Sequences up to `batch_size` pending entries in one transaction; returns how many.
    /// A result equal to the batch size means more may be waiting.
    ///
    /// # Errors
    /// Storage errors (nothing is written then, and the next call retries the same batch);
    /// `CONFLICT` when another sequencer moved the head (the head and right edge are then
    /// reloaded from storage, so the next call works from the stored tree, not a stale one).
    pub async fn sequence_batch(&mut self) -> Result<usize, Error> {
        match self.try_sequence_batch().await {
            Err(error) if error.code() == ErrorCode::Conflict => {
                let (head, frontier) = load_tree(self.store.as_ref()).await?;
                tracing::warn!(
                    error = %error.chain(),
                    stale_size = self.head.size,
                    tree_size = head.size,
                    "the log head moved under the sequencer; reloaded it from storage"
                );
                self.head = head;
                self.frontier = frontier;
                if let Some(latest) = self.store.latest_checkpoint().await? {
                    self.last_checkpoint = latest;
                }
                Err(error)
            }
            other => other,
        }
    }

    async fn try_sequence_batch(&mut self) -> Result<usize, Error> {
        let pending = self.store.pending(self.options.batch_size).await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let from = self.head;
        let base = stored_hash_count(from.size).ok_or_else(|| too_large(from.size))?;
        let count = u64::try_from(pending.len()).map_err(|_| too_large(from.size))?;
        let size = from
            .size
            .checked_add(count)
            .ok_or_else(|| too_large(from.size))?;
        let mut appended: Vec<Hash> = Vec::with_capacity(pending.len() * 2);
        for (index, leaf) in (from.size..size).zip(&pending) {
            let overlay = Overlay {
                base,
                frontier: &self.frontier,
                appended: &appended,
            };
            // Hashed here from the leaf bytes: a stored leaf hash is not trusted.
            let hashes = stored_hashes_for_leaf(index, leaf_hash(&leaf.leaf), &overlay)
                .map_err(internal_tree_error)?;
            appended.extend(hashes);
        }
        let overlay = Overlay {
            base,
            frontier: &self.frontier,
            appended: &appended,
        };
        let root = tree_hash(size, &overlay).map_err(internal_tree_error)?;
        let positions = frontier_positions(size)?;
        let frontier_hashes = overlay_read(&overlay, &positions)?;
        let to = TreeHead { size, root };
        self.check_signer_allows(size)?;
        self.store
            .append(LogAppend {
                from,
                to,
                leaves: pending,
                hashes: appended,
            })
            .await?;
        self.head = to;
        self.frontier = positions.into_iter().zip(frontier_hashes).collect();
        tracing::debug!(tree_size = size, added = count, "sequenced audit entries");
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }

    /// How long until a checkpoint of the current head is due: `None` when the head is
    /// already signed, zero when it is due now.
    pub fn checkpoint_due_in(&self) -> Option<Duration> {
        if self.last_checkpoint.tree_size == self.head.size {
            return None;
        }
        let elapsed = self
            .clock
            .now()
            .as_millis()
            .saturating_sub(self.last_checkpoint.signed_at.as_millis());
        let interval = i64::try_from(self.options.checkpoint_interval.as_millis()).unwrap_or(0);
        // A clock that went backwards must not hold checkpoints back for ever.
        if elapsed < 0 || elapsed >= interval {
            return Some(Duration::ZERO);
        }
        let left = u64::try_from(interval - elapsed).unwrap_or(0);
        Some(Duration::from_millis(left))
    }

    /// Signs and keeps a checkpoint of the head when one is due; returns it.
    ///
    /// # Errors
    /// `INTERNAL_ERROR` when the previous checkpoint is not a prefix of the head (nothing is
    /// signed then); storage errors.
    pub async fn checkpoint_if_due(&mut self) -> Result<Option<StoredCheckpoint>, Error> {
        if self.checkpoint_due_in() != Some(Duration::ZERO) {
            return Ok(None);
        }
        self.sign_head().await.map(Some)
    }

    /// Checks consistency with the last checkpoint, then signs the head.
    async fn sign_head(&mut self) -> Result<StoredCheckpoint, Error> {
        let previous = self.last_checkpoint.clone();
        self.check_prefix(&previous).await?;
        self.sign_head_unchecked().await
    }

    /// Signs the head, keeps the checkpoint, and remembers it.
    async fn sign_head_unchecked(&mut self) -> Result<StoredCheckpoint, Error> {
        let checkpoint = Checkpoint::new(self.signer.origin(), self.head.size, self.head.root)
            .map_err(|e| Error::internal("the log origin is not a valid key name", e))?;
        let proof = self.proof_from_last_signed().await?;
        let note = self.signer.sign_checkpoint(&checkpoint, &proof)?;
        let stored = StoredCheckpoint {
            tree_size: self.head.size,
            root_hash: self.head.root,
            note,
            signed_at: self.clock.now(),
        };
        self.store.save_checkpoint(stored.clone()).await?;
        tracing::debug!(tree_size = stored.tree_size, "signed a log checkpoint");
        self.last_checkpoint = stored.clone();
        Ok(stored)
    }

    /// The consistency proof from the last tree the signer signed to the head, from the
    /// stored hashes; the signer checks it against the root it remembers.
    async fn proof_from_last_signed(&self) -> Result<Vec<Hash>, Error> {
        let (old, new) = match self.signer.last_signed() {
            Some(last) if last.size > 0 && last.size < self.head.size => {
                (last.size, self.head.size)
            }
            Some(_) | None => return Ok(Vec::new()),
        };
        with_stored_hashes(self.store.as_ref(), |reader| {
            prove_consistency(old, new, reader)
        })
        .await
    }

    /// The log must not grow past a tree the signer refuses: a store older than what was
    /// signed stops growing (its entries wait) until the operator resolves it.
    fn check_signer_allows(&self, size: u64) -> Result<(), Error> {
        match self.signer.last_signed() {
            Some(last) if last.size > size => Err(rolled_back(last.size, size)),
            Some(_) | None => Ok(()),
        }
    }

    /// Refuses to go on when `checkpoint` is not a prefix of the current tree: a published
    /// checkpoint must never be contradicted.
    async fn check_prefix(&self, checkpoint: &StoredCheckpoint) -> Result<(), Error> {
        let size = checkpoint.tree_size;
        if size > self.head.size {
            return Err(corrupt(format!(
                "a published checkpoint has size {size}, beyond the stored tree's {}",
                self.head.size
            )));
        }
        let root =
            with_stored_hashes(self.store.as_ref(), |reader| tree_hash(size, reader)).await?;
        if root != checkpoint.root_hash {
            return Err(corrupt(format!(
                "the stored tree disagrees with the published checkpoint of size {size}"
            )));
        }
        Ok(())
    }
}

/// The committed head and the stored hashes of its right edge, checked against each other.
async fn load_tree(store: &dyn LogStore) -> Result<(TreeHead, HashMap<u64, Hash>), Error> {
    let head = store.head_from_storage().await?;
    let positions = frontier_positions(head.size)?;
    let hashes = store.read_hashes(&positions).await?;
    let frontier: HashMap<u64, Hash> = positions.into_iter().zip(hashes).collect();
    let root = tree_hash(head.size, &MapReader(&frontier)).map_err(internal_tree_error)?;
    if root != head.root {
        return Err(corrupt(format!(
            "the stored log tree of size {} does not match its recorded root",
            head.size
        )));
    }
    Ok((head, frontier))
}

/// Stored hashes of the tree before the batch (only its right edge is needed) plus those the
/// batch appended so far.
struct Overlay<'a> {
    base: u64,
    frontier: &'a HashMap<u64, Hash>,
    appended: &'a [Hash],
}

impl audit_domain::merkle::HashReader for Overlay<'_> {
    type Error = MissingStoredHash;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MissingStoredHash> {
        indexes
            .iter()
            .map(|&index| {
                let found = if index >= self.base {
                    usize::try_from(index - self.base)
                        .ok()
                        .and_then(|i| self.appended.get(i))
                } else {
                    self.frontier.get(&index)
                };
                found.copied().ok_or(MissingStoredHash { index })
            })
            .collect()
    }
}

fn overlay_read(overlay: &Overlay<'_>, positions: &[u64]) -> Result<Vec<Hash>, Error> {
    use audit_domain::merkle::HashReader;
    overlay
        .read_hashes(positions)
        .map_err(|e| internal_tree_error(TreeError::Read(e)))
}

/// Stored positions of the complete subtrees on the right edge of a tree of `size` leaves,
/// largest first: one per set bit of `size`.
fn frontier_positions(size: u64) -> Result<Vec<u64>, Error> {
    let mut positions = Vec::new();
    let mut start = 0_u64;
    for level in (0..u64::BITS).rev() {
        if size & (1 << level) != 0 {
            let position =
                stored_hash_index(level, start >> level).ok_or_else(|| too_large(size))?;
            positions.push(position);
            start += 1 << level;
        }
    }
    Ok(positions)
}

fn too_large(size: u64) -> Error {
    Error::internal(
        "the log is too large",
        TreeError::<MissingStoredHash>::SizeTooLarge { size },
    )
}

fn corrupt(detail: String) -> Error {
    Error::internal(detail, std::io::Error::other("log integrity check failed"))
}

#[cfg(test)]
mod tests;
