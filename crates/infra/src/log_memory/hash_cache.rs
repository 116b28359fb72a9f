//! Stored hashes of the Merkle log, kept in memory once read or written.
//!
//! An inclusion proof reads about log2(n) stored hashes, and the upper ones are the same for
//! every proof of a tree; reading them through a reader thread each time made the hop, not
//! the hashing, the cost of a proof. A stored hash never changes once its position is
//! committed (the log is append-only), so an entry can never be stale: only committed hashes
//! are offered (read from committed state, or appended by a batch that has committed). The
//! cache is bounded: once full it starts over, which keeps the hashes in use coming back.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use audit_domain::merkle::Hash;

/// How many hashes are kept at most: 2^19 (about 32 MiB), every stored hash of a tree of
/// 256k leaves, or the upper levels of any larger one.
const CAPACITY: usize = 1 << 19;

/// Committed stored hashes by position.
#[derive(Debug, Default)]
pub(crate) struct HashCache {
    hashes: Mutex<HashMap<u64, Hash>>,
}

impl HashCache {
    /// The hash at each of `positions`, in order, where it holds one.
    pub(crate) fn lookup(&self, positions: &[u64]) -> Vec<Option<Hash>> {
        let hashes = self.hashes.lock().unwrap_or_else(PoisonError::into_inner);
        positions
            .iter()
            .map(|position| hashes.get(position).copied())
            .collect()
    }

    /// Keeps committed hashes, given as (position, hash).
    pub(crate) fn offer(&self, committed: impl IntoIterator<Item = (u64, Hash)>) {
        let mut hashes = self.hashes.lock().unwrap_or_else(PoisonError::into_inner);
        for (position, hash) in committed {
            if hashes.len() >= CAPACITY {
                hashes.clear();
            }
            hashes.insert(position, hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(byte: u8) -> Hash {
        Hash::from_bytes([byte; 32])
    }

    #[test]
    fn it_answers_the_positions_it_holds() {
        let cache = HashCache::default();
        assert_eq!(cache.lookup(&[1, 2]), [None, None]);
        cache.offer([(1, hash(1))]);
        assert_eq!(cache.lookup(&[1, 2]), [Some(hash(1)), None]);
        cache.offer([(2, hash(2))]);
        assert_eq!(cache.lookup(&[2, 1]), [Some(hash(2)), Some(hash(1))]);
    }
}
