//! Contracts of the Audit context's storage ports: `LogStore` and the auditor's
//! `AuditSource`.
//!
//! Each contract is a `pub async fn name<B: Backend>(backend: &B)` in a module of this folder,
//! re-exported here, and listed in [`log_contracts!`](crate::log_contracts); its name says the
//! promise it checks.

mod store;

pub use store::*;

/// Expands every log contract into a `#[tokio::test]` (in a module `log_contracts`) over the
/// backend type `$backend`, each on a fresh store.
#[macro_export]
macro_rules! log_contracts {
    ($backend:ty) => {
        $crate::contract_tests!($backend, log_contracts, log: [
            a_fresh_log_is_empty,
        ]);
    };
}
