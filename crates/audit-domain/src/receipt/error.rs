//! Why a receipt was refused: one error for parsing and verifying alike, so that every part
//! of a receipt (bundle, tlog-proof, document claim, verification) reports through it.

use thiserror::Error;

use crate::checkpoint::CheckpointError;
use crate::merkle::{Hash, ProofError};

/// Why a receipt was refused. Every variant is a finding about the receipt (or the document
/// held against it), never an internal fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReceiptError {
    /// The receipt does not parse; the text says what.
    #[error("malformed receipt: {0}")]
    Malformed(String),
    /// The checkpoint's signature, key or origin did not verify with the trusted key.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The leaf bytes do not hash to the stated leaf hash.
    #[error("leaf hash: the leaf bytes hash to {computed}, the receipt states {stated}")]
    LeafHash {
        /// SHA-256(0x00 ‖ leaf bytes).
        computed: Hash,
        /// What the receipt says.
        stated: Hash,
    },
    /// The leaf bytes are not a canonical audit entry, or differ from the stated entry.
    #[error("audit entry: {0}")]
    Entry(String),
    /// Two stated leaf indexes disagree.
    #[error("leaf index: the receipt states {stated}, its inclusion proof {in_proof}")]
    LeafIndex {
        /// `leaf_index`.
        stated: u64,
        /// `inclusion_proof.leaf_index`.
        in_proof: u64,
    },
    /// A stated tree size is not the signed one.
    #[error("tree size: `{field}` states {stated}, the signed checkpoint {signed}")]
    TreeSize {
        /// Which field.
        field: &'static str,
        /// Its value.
        stated: u64,
        /// The signed size.
        signed: u64,
    },
    /// The stated root is not the signed one.
    #[error("root hash: the receipt states {stated}, the signed checkpoint {signed}")]
    RootHash {
        /// `checkpoint.root_hash`.
        stated: Hash,
        /// The signed root.
        signed: Hash,
    },
    /// The inclusion proof does not lead from the leaf to the signed root (this includes an
    /// index not below the signed size).
    #[error("inclusion proof: {0}")]
    Inclusion(#[from] ProofError),
    /// The document does not match the audit entry; the text names the field.
    #[error("document: {0}")]
    Document(String),
}

impl ReceiptError {
    pub(crate) fn malformed(text: impl Into<String>) -> Self {
        Self::Malformed(text.into())
    }
}
