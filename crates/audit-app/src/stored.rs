//! Running the domain's synchronous tree functions over the asynchronous store.
//!
//! [`audit_domain::merkle`] reads stored hashes through a synchronous [`HashReader`], in one
//! batch per call. [`with_stored_hashes`] runs such a computation twice: first against a reader
//! that only records which positions are wanted (answering placeholder hashes), then, after one
//! store read of exactly those positions, against a reader holding them. The computation is
//! O(log n) hashing, so doing it twice costs far less than a second round trip.

use std::cell::RefCell;
use std::collections::HashMap;

use audit_domain::merkle::{HASH_LEN, Hash, HashReader, MissingStoredHash, TreeError};
use shared_kernel::Error;

use crate::ports::LogStore;

/// A reader answering from a map, or [`MissingStoredHash`].
pub(crate) struct MapReader<'a>(pub(crate) &'a HashMap<u64, Hash>);

impl HashReader for MapReader<'_> {
    type Error = MissingStoredHash;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MissingStoredHash> {
        indexes
            .iter()
            .map(|&index| {
                self.0
                    .get(&index)
                    .copied()
                    .ok_or(MissingStoredHash { index })
            })
            .collect()
    }
}

/// A reader that notes what it was asked for and answers zero hashes.
struct Recorder(RefCell<Vec<u64>>);

impl HashReader for Recorder {
    type Error = MissingStoredHash;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MissingStoredHash> {
        self.0.borrow_mut().extend_from_slice(indexes);
        Ok(vec![Hash::from_bytes([0; HASH_LEN]); indexes.len()])
    }
}

/// The reader type every computation here is written against.
pub(crate) type DynReader<'a> = dyn HashReader<Error = MissingStoredHash> + 'a;

/// Runs `compute` over the store's hashes with one store read (see the module docs).
///
/// # Errors
/// The store's errors; `INTERNAL_ERROR` for the computation's own errors (callers check sizes
/// and indexes first, so one left means a bug) and when the store lacks a hash it should have.
pub(crate) async fn with_stored_hashes<T, F>(store: &dyn LogStore, compute: F) -> Result<T, Error>
where
    F: Fn(&DynReader<'_>) -> Result<T, TreeError<MissingStoredHash>>,
{
    let wanted = {
        let recorder = Recorder(RefCell::new(Vec::new()));
        compute(&recorder).map_err(internal_tree_error)?;
        recorder.0.into_inner()
    };
    let hashes = if wanted.is_empty() {
        Vec::new()
    } else {
        store.read_hashes(&wanted).await?
    };
    if hashes.len() != wanted.len() {
        return Err(Error::internal(
            "the log store returned the wrong number of hashes",
            MissingStoredHash { index: 0 },
        ));
    }
    let map: HashMap<u64, Hash> = wanted.into_iter().zip(hashes).collect();
    compute(&MapReader(&map)).map_err(|e| match e {
        TreeError::Read(missing) => Error::internal("a stored log hash is missing", missing),
        other @ (TreeError::IndexOutOfRange { .. }
        | TreeError::EmptyOldTree
        | TreeError::SizesReversed { .. }
        | TreeError::SizeTooLarge { .. }
        | TreeError::ReaderCount { .. }) => internal_tree_error(other),
    })
}

/// Tree errors that can only mean a bug or corrupt storage.
pub(crate) fn internal_tree_error(error: TreeError<MissingStoredHash>) -> Error {
    Error::internal("computing over the stored log tree failed", error)
}
