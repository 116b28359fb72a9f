//! Contracts of the Storage context's ports: `UnitOfWork`, `Transaction` and the
//! repositories it hands out, `StorageReader`.
//!
//! Each contract is a `pub async fn name<B: Backend>(backend: &B)` in a module of this folder,
//! re-exported here, and listed in [`storage_contracts!`](crate::storage_contracts); its name
//! says the promise it checks.

mod reader;

pub use reader::*;

/// Expands every storage contract into a `#[tokio::test]` (in a module `storage_contracts`)
/// over the backend type `$backend`, each on a fresh store.
#[macro_export]
macro_rules! storage_contracts {
    ($backend:ty) => {
        $crate::contract_tests!($backend, storage_contracts, storage: [
            a_fresh_store_has_no_collections,
        ]);
    };
}
