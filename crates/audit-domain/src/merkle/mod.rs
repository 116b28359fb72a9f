//! The RFC 9162 §2.1 Merkle tree of the audit log: hashing, proofs and their verification.
//!
//! Pure computation only: no I/O, no async, no storage driver. Storage adapters plug in through
//! [`HashReader`], which hands out stored complete-subtree hashes (see [`tree`] for the layout),
//! so a root or proof of any past tree size costs O(log n) stored hashes.
//!
//! - [`hash`]: the [`Hash`](struct@Hash) type, [`leaf_hash`] and [`node_hash`].
//! - [`tree`]: the stored-hash layout, roots and proof generation.
//! - [`proof`]: proof verification for untrusted input, returning a [`ProofError`].
//! - [`memory`]: [`MemoryTree`], the whole layout in a `Vec`.
//!
//! No function here panics on any input: bad sizes and indexes are errors.

pub mod hash;
pub mod memory;
pub mod proof;
pub mod tree;

#[cfg(test)]
mod tests;

pub use hash::{HASH_LEN, Hash, HashParseError, empty_root, leaf_hash, node_hash};
pub use memory::{MemoryTree, MissingStoredHash};
pub use proof::{
    ProofError, verify_consistency, verify_consistency_bytes, verify_inclusion,
    verify_inclusion_bytes,
};
pub use tree::{
    HashReader, TreeError, prove_consistency, prove_inclusion, root_from_leaf_hashes,
    stored_hash_count, stored_hash_index, stored_hashes_for_leaf, tree_hash,
};
