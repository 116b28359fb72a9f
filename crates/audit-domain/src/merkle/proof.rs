//! Verification of inclusion and consistency proofs (RFC 9162 §2.1.3.2 and §2.1.4.2).
//!
//! Verifiers run on data from outside (a client, a mirror, a CLI reading files), so each check
//! takes raw byte strings, never panics and names what failed in a [`ProofError`]. The `*_bytes`
//! functions take untrusted bytes; [`verify_inclusion`] and [`verify_consistency`] take parsed
//! [`Hash`](struct@Hash)es for callers that already hold them.
//!
//! Where the conformance suite of transparency-dev/merkle is stricter or clearer than the RFC
//! prose, it wins: a leaf hash must be 32 bytes, a consistency proof from size 0 is rejected, and
//! equal sizes with an empty proof verify exactly when the two roots are equal.

use thiserror::Error;

use super::hash::{HASH_LEN, Hash, node_digest};

/// Why a proof did not verify. Every variant is a finding about the input, not an internal fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError {
    /// The leaf hash is not 32 bytes long, so it cannot be a SHA-256 leaf hash.
    #[error("leaf hash must be {HASH_LEN} bytes, got {len}")]
    LeafHashLength {
        /// Length of the rejected leaf hash.
        len: usize,
    },
    /// A proof element is not 32 bytes long; `position` counts from 0.
    #[error("proof hash at position {position} must be {HASH_LEN} bytes, got {len}")]
    ProofHashLength {
        /// Index of the element in the proof.
        position: usize,
        /// Its length.
        len: usize,
    },
    /// The leaf index is not below the tree size (every index is out of range in an empty tree).
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The claimed leaf index.
        index: u64,
        /// The claimed tree size.
        size: u64,
    },
    /// A consistency proof from the empty tree proves nothing, so it is refused.
    #[error("a consistency proof from an empty tree is meaningless")]
    EmptyOldTree,
    /// The old tree is larger than the new one.
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizesReversed {
        /// The old (first) size.
        old: u64,
        /// The new (second) size.
        new: u64,
    },
    /// The sizes are equal, so the proof must be empty, but it is not.
    #[error("tree sizes are equal but the proof has {len} hashes")]
    ProofNotEmpty {
        /// Number of hashes given.
        len: usize,
    },
    /// The sizes differ, so the proof needs at least one hash, but it has none.
    #[error("the proof is empty")]
    EmptyProof,
    /// The proof has more hashes than the path for this index and size.
    #[error("the proof has too many hashes")]
    ProofTooLong,
    /// The proof has fewer hashes than the path for this index and size.
    #[error("the proof has too few hashes")]
    ProofTooShort,
    /// The root computed from the leaf and proof differs from the expected root.
    #[error("the computed root does not match the expected root")]
    RootMismatch,
    /// The old root rebuilt from the consistency proof differs from the given old root.
    #[error("the computed old root does not match the given old root")]
    OldRootMismatch,
    /// The new root rebuilt from the consistency proof differs from the given new root.
    #[error("the computed new root does not match the given new root")]
    NewRootMismatch,
    /// Equal sizes were given with different roots: the log forked.
    #[error("the tree sizes are equal but the roots differ")]
    RootsDiffer,
}

/// Checks that `leaf_hash` is the leaf at `index` of the tree of `size` leaves with root `root`.
///
/// # Errors
/// The [`ProofError`] naming the first check that failed.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    verify_inclusion_bytes(leaf_hash.as_bytes(), index, size, proof, root.as_bytes())
}

/// [`verify_inclusion`] on untrusted bytes, e.g. decoded from JSON or base64.
///
/// The leaf hash and every proof element must be 32 bytes; the root may have any length since it
/// is only compared (a root of another length simply never matches).
///
/// # Errors
/// The [`ProofError`] naming the first check that failed.
pub fn verify_inclusion_bytes<P: AsRef<[u8]>>(
    leaf_hash: &[u8],
    index: u64,
    size: u64,
    proof: &[P],
    root: &[u8],
) -> Result<(), ProofError> {
    let leaf = <[u8; HASH_LEN]>::try_from(leaf_hash).map_err(|_| ProofError::LeafHashLength {
        len: leaf_hash.len(),
    })?;
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let proof = to_arrays(proof)?;
    // RFC 9162 §2.1.3.2 steps 2 to 5: `node` walks up from the leaf, `last` is the index of the
    // rightmost node on the same level; a sibling is on the left when `node` is a right child or
    // the rightmost node (whose missing right sibling is skipped by shifting).
    let mut node = index;
    let mut last = size - 1;
    let mut computed = leaf;
    for sibling in &proof {
        if last == 0 {
            return Err(ProofError::ProofTooLong);
        }
        if node & 1 == 1 || node == last {
            computed = node_digest(sibling, &computed);
            if node & 1 == 0 {
                let shift = trailing_zeros_or_zero(node);
                node >>= shift;
                last >>= shift;
            }
        } else {
            computed = node_digest(&computed, sibling);
        }
        node >>= 1;
        last >>= 1;
    }
    if last != 0 {
        return Err(ProofError::ProofTooShort);
    }
    if computed.as_slice() != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `old_size` leaves with root `old_root` is a prefix of the tree of
/// `new_size` leaves with root `new_root`, i.e. the log only appended in between.
///
/// # Errors
/// The [`ProofError`] naming the first check that failed.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), ProofError> {
    verify_consistency_bytes(
        old_size,
        new_size,
        proof,
        old_root.as_bytes(),
        new_root.as_bytes(),
    )
}

/// [`verify_consistency`] on untrusted bytes, e.g. decoded from JSON or base64.
///
/// Every proof element must be 32 bytes; roots may have any length since they are only compared.
///
/// # Errors
/// The [`ProofError`] naming the first check that failed.
pub fn verify_consistency_bytes<P: AsRef<[u8]>>(
    old_size: u64,
    new_size: u64,
    proof: &[P],
    old_root: &[u8],
    new_root: &[u8],
) -> Result<(), ProofError> {
    if old_size == 0 {
        return Err(ProofError::EmptyOldTree);
    }
    if old_size > new_size {
        return Err(ProofError::SizesReversed {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size {
        // RFC 9162 §2.1.4.1: the proof between equal sizes is empty; the roots must agree.
        if !proof.is_empty() {
            return Err(ProofError::ProofNotEmpty { len: proof.len() });
        }
        if old_root != new_root {
            return Err(ProofError::RootsDiffer);
        }
        return Ok(());
    }
    let proof = to_arrays(proof)?;
    let Some((first, rest)) = proof.split_first() else {
        return Err(ProofError::EmptyProof);
    };
    // RFC 9162 §2.1.4.2 step 2: when the old tree is a complete subtree, its root is the start of
    // the path and the server leaves it out of the proof.
    let (seed, path) = if old_size.is_power_of_two() {
        let Ok(old) = <[u8; HASH_LEN]>::try_from(old_root) else {
            return Err(ProofError::OldRootMismatch);
        };
        (old, proof.as_slice())
    } else {
        (*first, rest)
    };
    // Steps 3 to 6: `node` and `last` walk up from the old tree's last leaf; `old_hash` rebuilds
    // the old root from left siblings only, `new_hash` the new root from all siblings.
    let mut node = old_size - 1;
    let mut last = new_size - 1;
    let shift = node.trailing_ones();
    node >>= shift;
    last >>= shift;
    let mut old_hash = seed;
    let mut new_hash = seed;
    for sibling in path {
        if last == 0 {
            return Err(ProofError::ProofTooLong);
        }
        if node & 1 == 1 || node == last {
            old_hash = node_digest(sibling, &old_hash);
            new_hash = node_digest(sibling, &new_hash);
            if node & 1 == 0 {
                let shift = trailing_zeros_or_zero(node);
                node >>= shift;
                last >>= shift;
            }
        } else {
            new_hash = node_digest(&new_hash, sibling);
        }
        node >>= 1;
        last >>= 1;
    }
    if last != 0 {
        return Err(ProofError::ProofTooShort);
    }
    if old_hash.as_slice() != old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if new_hash.as_slice() != new_root {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}

/// Checks every proof element's length once, up front, so the hashing loops work on arrays.
fn to_arrays<P: AsRef<[u8]>>(proof: &[P]) -> Result<Vec<[u8; HASH_LEN]>, ProofError> {
    proof
        .iter()
        .enumerate()
        .map(|(position, item)| {
            let bytes = item.as_ref();
            <[u8; HASH_LEN]>::try_from(bytes).map_err(|_| ProofError::ProofHashLength {
                position,
                len: bytes.len(),
            })
        })
        .collect()
}

/// The RFC's "shift right until LSB(fn) is set or fn is 0": `u64::trailing_zeros(0)` is 64, and
/// shifting a `u64` by 64 overflows, so zero needs no shift at all.
const fn trailing_zeros_or_zero(value: u64) -> u32 {
    if value == 0 {
        0
    } else {
        value.trailing_zeros()
    }
}
