//! Building trees and proofs from stored complete-subtree hashes.
//!
//! A log that keeps only its leaf hashes must rehash O(n) leaves for every root or proof. Instead,
//! the hash of every *complete* subtree is stored once, when its last leaf is appended, and never
//! changes afterwards. Any root or proof of any past tree size is then assembled from O(log n)
//! stored hashes.
//!
//! # Layout
//! The complete subtree at `(level, k)` covers leaves `k·2^level .. (k+1)·2^level`. Stored hashes
//! form one append-only sequence: appending leaf `n` appends its leaf hash, then the hash of every
//! subtree that leaf `n` completes, lowest level first ([`stored_hashes_for_leaf`]). So a tree of
//! `n` leaves has [`stored_hash_count`]`(n)` stored hashes and [`stored_hash_index`] names where
//! each one lives. (This is the layout of the Go sumdb `tlog` package, so the two can share data.)
//!
//! Storage stays outside: a [`HashReader`] supplies stored hashes by index, in one batch per call
//! so a database adapter needs one round trip.

use thiserror::Error;

use super::hash::{Hash, empty_root, node_hash};

/// Supplies stored complete-subtree hashes by their position in the stored sequence.
///
/// Implemented by storage adapters and by [`super::MemoryTree`]; any closure
/// `Fn(&[u64]) -> Result<Vec<Hash>, E>` is one too.
pub trait HashReader {
    /// The storage failure the reader may report; kept generic so the domain never names a driver.
    type Error;

    /// Returns the stored hashes at `indexes`, in the same order and as many as asked for.
    ///
    /// # Errors
    /// The reader's own failure, e.g. storage unavailable or an index not stored (yet).
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Self::Error>;
}

impl<F, E> HashReader for F
where
    F: Fn(&[u64]) -> Result<Vec<Hash>, E>,
{
    type Error = E;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, E> {
        self(indexes)
    }
}

/// Why a root or proof could not be built. `E` is the [`HashReader`]'s error.
#[derive(Debug, Error)]
pub enum TreeError<E> {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size it was requested for.
        size: u64,
    },
    /// A consistency proof from the empty tree proves nothing, so none is built.
    #[error("a consistency proof from an empty tree is meaningless")]
    EmptyOldTree,
    /// The old tree size is larger than the new one.
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizesReversed {
        /// The old (first) size.
        old: u64,
        /// The new (second) size.
        new: u64,
    },
    /// The stored-hash index of this size would not fit in a `u64` (sizes near 2^63).
    #[error("tree size {size} is too large")]
    SizeTooLarge {
        /// The size that overflowed.
        size: u64,
    },
    /// The reader answered with a different number of hashes than asked for: a broken adapter.
    #[error("hash reader returned {got} hashes for {wanted} indexes")]
    ReaderCount {
        /// How many were asked for.
        wanted: usize,
        /// How many came back.
        got: usize,
    },
    /// The reader failed.
    #[error("reading stored hashes failed")]
    Read(#[source] E),
}

/// How many hashes are stored for a tree of `size` leaves: one per complete subtree at every
/// level, `2·size − popcount(size)`; also the index the next appended hash gets.
/// `None` when that does not fit in a `u64`.
#[must_use]
pub fn stored_hash_count(size: u64) -> Option<u64> {
    size.checked_mul(2)
        .map(|double| double - u64::from(size.count_ones()))
}

/// Where the hash of the complete subtree `(level, index)` sits in the stored sequence: it is
/// appended with leaf `(index+1)·2^level − 1`, `level` places after that leaf's own hash.
/// `None` when the position does not fit in a `u64`.
#[must_use]
pub fn stored_hash_index(level: u32, index: u64) -> Option<u64> {
    let end = index.checked_add(1)?;
    if level >= u64::BITS || end > u64::MAX >> level {
        return None;
    }
    let last_leaf = (end << level) - 1;
    stored_hash_count(last_leaf)?.checked_add(u64::from(level))
}

/// The hashes to append to storage when leaf `index` (the current tree size) is added: its leaf
/// hash followed by every subtree it completes, in stored order. Reads the left siblings, at most
/// one per level, from `reader`.
///
/// # Errors
/// [`TreeError::SizeTooLarge`] near `u64::MAX` leaves; reader failures.
pub fn stored_hashes_for_leaf<R: HashReader + ?Sized>(
    index: u64,
    leaf_hash: Hash,
    reader: &R,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    let too_large = || TreeError::SizeTooLarge { size: index };
    check_size(index.checked_add(1).ok_or_else(too_large)?)?;
    // Leaf `index` completes one subtree per trailing one bit; at each such level the node on the
    // path is a right child, whose left sibling is already stored.
    let levels = index.trailing_ones();
    let siblings = (0..levels)
        .map(|level| stored_hash_index(level, (index >> level) - 1).ok_or_else(too_large))
        .collect::<Result<Vec<_>, _>>()?;
    let siblings = read_exact(reader, &siblings)?;
    let mut out = Vec::with_capacity(siblings.len() + 1);
    let mut current = leaf_hash;
    out.push(current);
    for sibling in &siblings {
        current = node_hash(sibling, &current);
        out.push(current);
    }
    Ok(out)
}

/// The root hash of the tree of `size` leaves (RFC 9162 §2.1.1 MTH), from at most
/// `popcount(size)` stored hashes. Size 0 gives [`empty_root`] without reading.
///
/// # Errors
/// [`TreeError::SizeTooLarge`] near `u64::MAX` leaves; reader failures.
pub fn tree_hash<R: HashReader + ?Sized>(
    size: u64,
    reader: &R,
) -> Result<Hash, TreeError<R::Error>> {
    check_size(size)?;
    if size == 0 {
        return Ok(empty_root());
    }
    let hashes = range_hashes(&[(0, size)], reader)?;
    hashes
        .first()
        .copied()
        .ok_or(TreeError::ReaderCount { wanted: 1, got: 0 })
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1), ordered
/// from the leaf's sibling up to the root's child, as [`super::verify_inclusion`] expects.
///
/// # Errors
/// [`TreeError::IndexOutOfRange`] when `index >= size`; [`TreeError::SizeTooLarge`]; reader
/// failures.
pub fn prove_inclusion<R: HashReader + ?Sized>(
    index: u64,
    size: u64,
    reader: &R,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    check_size(size)?;
    if index >= size {
        return Err(TreeError::IndexOutOfRange { index, size });
    }
    // Walk down from the root like RFC 9162 PATH(m, D[n]); each step's other half is one
    // proof element. The RFC lists them bottom-up, hence the reverse.
    let mut ranges = Vec::new();
    let (mut lo, mut hi) = (0, size);
    while hi - lo > 1 {
        let split = lo + largest_power_of_two_below(hi - lo);
        if index < split {
            ranges.push((split, hi));
            hi = split;
        } else {
            ranges.push((lo, split));
            lo = split;
        }
    }
    ranges.reverse();
    range_hashes(&ranges, reader)
}

/// The consistency proof from the tree of `old` leaves to the tree of `new` leaves (RFC 9162
/// §2.1.4.1), as [`super::verify_consistency`] expects; empty when `old == new`.
///
/// # Errors
/// [`TreeError::EmptyOldTree`] when `old` is 0; [`TreeError::SizesReversed`] when `old > new`;
/// [`TreeError::SizeTooLarge`]; reader failures.
pub fn prove_consistency<R: HashReader + ?Sized>(
    old: u64,
    new: u64,
    reader: &R,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    check_size(new)?;
    if old == 0 {
        return Err(TreeError::EmptyOldTree);
    }
    if old > new {
        return Err(TreeError::SizesReversed { old, new });
    }
    // Walk down like RFC 9162 SUBPROOF(m, D[n], b): `remaining` is m relative to `lo`, and
    // `whole_old` is b (the old tree is still the left edge, so its root need not be sent).
    let mut ranges = Vec::new();
    let (mut lo, mut hi, mut remaining, mut whole_old) = (0, new, old, true);
    loop {
        let len = hi - lo;
        if remaining == len {
            if !whole_old {
                ranges.push((lo, hi));
            }
            break;
        }
        let half = largest_power_of_two_below(len);
        if remaining <= half {
            ranges.push((lo + half, hi));
            hi = lo + half;
        } else {
            ranges.push((lo, lo + half));
            lo += half;
            remaining -= half;
            whole_old = false;
        }
    }
    ranges.reverse();
    range_hashes(&ranges, reader)
}

/// The root of the tree with these leaf hashes, computed directly in O(n) without storage;
/// for small trees and as an independent check of the stored layout.
#[must_use]
pub fn root_from_leaf_hashes(leaves: &[Hash]) -> Hash {
    // A binary counter of complete subtrees: `stack[i]` has level `levels[i]`, levels strictly
    // decreasing, exactly like the stored layout's right edge.
    let mut stack: Vec<(u32, Hash)> = Vec::new();
    for leaf in leaves {
        let mut current = (0, *leaf);
        while let Some(&(level, left)) = stack.last() {
            if level != current.0 {
                break;
            }
            stack.pop();
            current = (level + 1, node_hash(&left, &current.1));
        }
        stack.push(current);
    }
    // The RFC splits off the largest complete subtree first, so the remaining ones fold from the
    // right.
    let mut iter = stack.into_iter().rev();
    let Some((_, mut root)) = iter.next() else {
        return empty_root();
    };
    for (_, left) in iter {
        root = node_hash(&left, &root);
    }
    root
}

/// The largest power of two strictly below `len`; callers guarantee `len >= 2`.
fn largest_power_of_two_below(len: u64) -> u64 {
    1 << (u64::BITS - 1 - (len - 1).leading_zeros())
}

/// Rejects sizes whose stored indexes would overflow, so later arithmetic stays in range.
fn check_size<E>(size: u64) -> Result<(), TreeError<E>> {
    match stored_hash_count(size) {
        Some(_) => Ok(()),
        None => Err(TreeError::SizeTooLarge { size }),
    }
}

/// The hashes of RFC tree nodes given as leaf ranges `lo..hi`, each built from the stored complete
/// subtrees it is made of, with a single read for all of them.
///
/// Every range here is an RFC node, so `lo` is a multiple of a power of two at least `hi − lo`
/// and the pieces are the binary digits of `hi − lo`, largest first.
fn range_hashes<R: HashReader + ?Sized>(
    ranges: &[(u64, u64)],
    reader: &R,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    let mut indexes = Vec::new();
    let mut piece_counts = Vec::with_capacity(ranges.len());
    for &(lo, hi) in ranges {
        let before = indexes.len();
        let mut start = lo;
        while start < hi {
            let fits = u64::BITS - 1 - (hi - start).leading_zeros();
            let level = fits.min(start.trailing_zeros());
            let index = stored_hash_index(level, start >> level)
                .ok_or(TreeError::SizeTooLarge { size: hi })?;
            indexes.push(index);
            start += 1 << level;
        }
        piece_counts.push(indexes.len() - before);
    }
    let stored = read_exact(reader, &indexes)?;
    let mut out = Vec::with_capacity(ranges.len());
    let mut rest = stored.as_slice();
    for count in piece_counts {
        let (pieces, tail) = rest.split_at_checked(count).ok_or(TreeError::ReaderCount {
            wanted: indexes.len(),
            got: stored.len(),
        })?;
        rest = tail;
        let mut iter = pieces.iter().rev();
        let Some(&last) = iter.next() else {
            return Err(TreeError::ReaderCount {
                wanted: indexes.len(),
                got: stored.len(),
            });
        };
        out.push(iter.fold(last, |right, left| node_hash(left, &right)));
    }
    Ok(out)
}

/// Reads `indexes` and checks the reader kept its contract on the count; skips empty reads.
fn read_exact<R: HashReader + ?Sized>(
    reader: &R,
    indexes: &[u64],
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = reader.read_hashes(indexes).map_err(TreeError::Read)?;
    if hashes.len() != indexes.len() {
        return Err(TreeError::ReaderCount {
            wanted: indexes.len(),
            got: hashes.len(),
        });
    }
    Ok(hashes)
}
