//! The ports of the log: its storage ([`LogStore`]) and its signing key ([`LogSigner`]).
//!
//! The store keeps the stored-hash layout of [`audit_domain::merkle::tree`] (one append-only
//! sequence of complete-subtree hashes), the tree head, the leaf index of each audit entry and
//! every checkpoint ever published. Only the sequencer writes; anyone may read.

use async_trait::async_trait;
use audit_domain::checkpoint::Checkpoint;
use audit_domain::merkle::Hash;
use audit_domain::note::NoteVerifier;
use shared_kernel::{AuditId, Error, Timestamp};

pub use crate::signer::SignedTree;

/// The state of the tree as last committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    /// Number of leaves.
    pub size: u64,
    /// RFC 9162 root hash at `size`.
    pub root: Hash,
}

/// A committed audit entry that has no leaf index yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLeaf {
    /// The entry's id: how the store finds it again to give it its leaf index.
    pub id: AuditId,
    /// Its exact leaf bytes: the sequencer hashes them itself rather than trust a stored
    /// leaf hash.
    pub leaf: Vec<u8>,
}

/// One batch for the log, to be written in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogAppend {
    /// The head the batch was computed from; the store must still be at it.
    pub from: TreeHead,
    /// The head after the batch.
    pub to: TreeHead,
    /// The entries, in the order [`LogStore::pending`] returned them: the i-th gets leaf index
    /// `from.size + i`.
    pub leaves: Vec<PendingLeaf>,
    /// The stored hashes to append, the first at position `stored_hash_count(from.size)`.
    pub hashes: Vec<Hash>,
}

/// A signed checkpoint as kept by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The tree size it signs.
    pub tree_size: u64,
    /// The root hash it signs.
    pub root_hash: Hash,
    /// The whole C2SP signed note.
    pub note: String,
    /// When it was signed (informational, not signed).
    pub signed_at: Timestamp,
}

/// A leaf of the log: its index, exact bytes and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLeaf {
    /// The leaf index.
    pub index: u64,
    /// The exact leaf bytes (the JCS of the audit entry).
    pub leaf: Vec<u8>,
    /// SHA-256(0x00 ‖ leaf).
    pub leaf_hash: Hash,
}

/// An audit entry looked up by id: its bytes and hash, and its index once sequenced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLeaf {
    /// The leaf index, `None` while the entry waits for the sequencer.
    pub index: Option<u64>,
    /// The exact leaf bytes.
    pub leaf: Vec<u8>,
    /// SHA-256(0x00 ‖ leaf).
    pub leaf_hash: Hash,
}

/// Storage of the Merkle log.
#[async_trait]
pub trait LogStore: Send + Sync {
    /// The committed tree head (size 0 and the empty root for a new store).
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails or holds a malformed head.
    async fn head(&self) -> Result<TreeHead, Error>;

    /// The committed tree head as storage holds it at this moment. A store that keeps the
    /// head in memory learns of an append when the sequencer's write returns, a moment after
    /// readers can already see the leaves' indexes; this reads past that, for a size a client
    /// names that [`Self::head`] does not cover yet. By default, [`Self::head`].
    ///
    /// # Errors
    /// As [`Self::head`].
    async fn head_from_storage(&self) -> Result<TreeHead, Error> {
        self.head().await
    }

    /// Up to `limit` committed audit entries that have no leaf index yet (and only those),
    /// in an order the store defines; the sequencer gives them the next leaf indexes in that
    /// order. The store MUST keep two rules of the order (API.md "Lists"): the entries of one
    /// document come in the order their versions were made, so a document's entries get leaf
    /// indexes in version order; and an entry it returned, until sequenced, keeps coming
    /// before the entries committed after it was (so a steady stream of writes cannot starve
    /// it). It need not be commit order, and nothing may assume a gap-free or monotonic
    /// counter behind it: on a backend whose transactions commit concurrently, a number
    /// taken early can commit after a larger one. The embedded store answers in commit order
    /// from an index of the unsequenced entries.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    async fn pending(&self, limit: usize) -> Result<Vec<PendingLeaf>, Error>;

    /// In ONE transaction: gives each leaf its index, appends the stored hashes and records
    /// the new head. Nothing is written when anything fails.
    ///
    /// # Errors
    /// MUST return `CONFLICT` when the stored head is not `batch.from` or an entry already has
    /// a leaf index (another sequencer ran); `UNAVAILABLE` or `INTERNAL_ERROR` otherwise.
    async fn append(&self, batch: LogAppend) -> Result<(), Error>;

    /// The stored hashes at these positions, in the same order.
    ///
    /// # Errors
    /// `INTERNAL_ERROR` when a position is not stored; `UNAVAILABLE` when storage fails.
    async fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Error>;

    /// Keeps a published checkpoint (for ever).
    ///
    /// # Errors
    /// MUST return `CONFLICT` when a different checkpoint of the same size is kept;
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    async fn save_checkpoint(&self, checkpoint: StoredCheckpoint) -> Result<(), Error>;

    /// The checkpoint of the largest tree size, if any was published.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, Error>;

    /// The leaves with indexes in `start..end` (already checked to be within the log).
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    async fn leaves(&self, start: u64, end: u64) -> Result<Vec<LogLeaf>, Error>;

    /// The audit entry with this id, sequenced or not; `None` when there is no such entry.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    async fn leaf_by_audit_id(&self, id: AuditId) -> Result<Option<AuditLeaf>, Error>;

    /// Whether the log was never written: no checkpoint, no leaf, no audit entry. Only an
    /// empty log may be given a new signing key (its checkpoints were signed with the old
    /// one, and a new key would make them all look forged).
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    async fn is_empty(&self) -> Result<bool, Error>;
}

/// The log's signing key, which remembers the last checkpoint it signed (see
/// [`crate::signer`]) and refuses to contradict it.
pub trait LogSigner: Send + Sync {
    /// The log's origin, also the key name on its signatures.
    fn origin(&self) -> &str;

    /// The verifier of this key under the origin.
    fn verifier(&self) -> NoteVerifier;

    /// The last tree this key signed, as far as it remembers; `None` when it never signed
    /// (or its memory was lost: see [`Self::adopt`]).
    fn last_signed(&self) -> Option<SignedTree>;

    /// Signs a checkpoint and returns the C2SP signed note, once it is remembered durably.
    /// `proof` is the consistency proof from the last signed tree to this one (empty when
    /// the last one is empty or of the same size).
    ///
    /// # Errors
    /// `UNAVAILABLE` with reason `log_rolled_back` (`crate::signer::is_rolled_back`) when the
    /// checkpoint is smaller than, another root than, or not shown
    /// to extend the last signed tree (nothing is signed then); `INTERNAL_ERROR` when the
    /// checkpoint's origin is not this key's; `UNAVAILABLE` when the memory cannot be written.
    fn sign_checkpoint(&self, checkpoint: &Checkpoint, proof: &[Hash]) -> Result<String, Error>;

    /// Takes `note`, a checkpoint this key signed earlier (found in the store), as the last
    /// one it signed: for a signer whose memory is empty but whose log is not.
    ///
    /// # Errors
    /// `INVALID_INPUT` when the note does not verify under the key and origin; `CONFLICT`
    /// when the signer already remembers one; `UNAVAILABLE` when it cannot be remembered.
    fn adopt(&self, note: &str) -> Result<SignedTree, Error>;
}
