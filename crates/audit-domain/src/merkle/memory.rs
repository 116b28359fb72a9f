//! An in-memory tree in the stored-hash layout: the reference a storage adapter can be compared
//! with, and a builder for tests and small offline tools (a verifier rebuilding a log it
//! downloaded).

use thiserror::Error;

use super::hash::Hash;
use super::tree::{HashReader, TreeError, stored_hashes_for_leaf, tree_hash};

/// An append-only Merkle tree holding every stored complete-subtree hash in a `Vec`.
///
/// It is a [`HashReader`], so the free functions ([`super::prove_inclusion`],
/// [`super::prove_consistency`], [`super::tree_hash`]) work on it for every past size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryTree {
    stored: Vec<Hash>,
    size: u64,
}

/// A [`MemoryTree`] was asked for a stored hash it does not have (an index beyond its size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("no stored hash at index {index}")]
pub struct MissingStoredHash {
    /// The stored-hash index that was asked for.
    pub index: u64,
}

impl MemoryTree {
    /// An empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a tree by appending these leaf hashes in order.
    ///
    /// # Errors
    /// Only if the tree would outgrow `u64` indexes, which memory makes unreachable in practice.
    pub fn from_leaf_hashes<I>(leaves: I) -> Result<Self, TreeError<MissingStoredHash>>
    where
        I: IntoIterator<Item = Hash>,
    {
        let mut tree = Self::new();
        for leaf in leaves {
            tree.push(leaf)?;
        }
        Ok(tree)
    }

    /// Appends a leaf hash and returns its leaf index.
    ///
    /// # Errors
    /// Only if the tree would outgrow `u64` indexes, which memory makes unreachable in practice.
    pub fn push(&mut self, leaf_hash: Hash) -> Result<u64, TreeError<MissingStoredHash>> {
        let index = self.size;
        let new = stored_hashes_for_leaf(index, leaf_hash, self)?;
        self.stored.extend(new);
        self.size += 1;
        Ok(index)
    }

    /// The number of leaves.
    #[must_use]
    pub const fn size(&self) -> u64 {
        self.size
    }

    /// The stored sequence, exactly what a storage adapter would persist in this order.
    #[must_use]
    pub fn stored_hashes(&self) -> &[Hash] {
        &self.stored
    }

    /// The root of the current tree.
    ///
    /// # Errors
    /// Never for a tree built through [`MemoryTree::push`]; the type stays honest with the reader.
    pub fn root(&self) -> Result<Hash, TreeError<MissingStoredHash>> {
        tree_hash(self.size, self)
    }
}

impl HashReader for MemoryTree {
    type Error = MissingStoredHash;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MissingStoredHash> {
        indexes
            .iter()
            .map(|&index| {
                usize::try_from(index)
                    .ok()
                    .and_then(|i| self.stored.get(i))
                    .copied()
                    .ok_or(MissingStoredHash { index })
            })
            .collect()
    }
}
