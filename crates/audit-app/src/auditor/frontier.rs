//! The right edge of an append-only RFC 9162 tree: the roots of its maximal complete subtrees,
//! O(log n) hashes. Enough to append a leaf, to name the stored hashes that leaf adds in the
//! Go `tlog` layout, and to compute the root of the tree so far, so the auditor rebuilds a
//! log of any length in constant memory.

use audit_domain::merkle::{Hash, empty_root, node_hash};

/// The complete subtrees along the right edge, largest (leftmost) first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Frontier {
    /// `(level, hash)`: a complete subtree of `2^level` leaves.
    subtrees: Vec<(u32, Hash)>,
    size: u64,
}

impl Frontier {
    /// Number of leaves appended.
    pub(crate) const fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash and returns the stored hashes the `tlog` layout appends with it:
    /// the leaf hash, then every subtree it completes, lowest level first.
    pub(crate) fn push(&mut self, leaf: Hash) -> Vec<Hash> {
        let mut added = vec![leaf];
        let mut level = 0;
        let mut hash = leaf;
        while let Some(&(top_level, left)) = self.subtrees.last() {
            if top_level != level {
                break;
            }
            self.subtrees.pop();
            hash = node_hash(&left, &hash);
            level += 1;
            added.push(hash);
        }
        self.subtrees.push((level, hash));
        self.size += 1;
        added
    }

    /// The root of the tree so far (RFC 9162: the right edge folded from the right).
    pub(crate) fn root(&self) -> Hash {
        let mut subtrees = self.subtrees.iter().rev();
        let Some(&(_, mut root)) = subtrees.next() else {
            return empty_root();
        };
        for (_, left) in subtrees {
            root = node_hash(left, &root);
        }
        root
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_domain::merkle::{MemoryTree, leaf_hash};

    #[test]
    fn the_frontier_agrees_with_the_full_tree_on_every_stored_hash_and_root() {
        let mut frontier = Frontier::default();
        let mut tree = MemoryTree::new();
        let mut stored = Vec::new();
        assert_eq!(frontier.root(), empty_root());
        for i in 0..70_u32 {
            let leaf = leaf_hash(&i.to_be_bytes());
            stored.extend(frontier.push(leaf));
            tree.push(leaf).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(stored.as_slice(), tree.stored_hashes(), "size {}", i + 1);
            assert_eq!(Some(frontier.root()), tree.root().ok(), "size {}", i + 1);
            assert_eq!(frontier.size(), tree.size());
        }
    }
}
