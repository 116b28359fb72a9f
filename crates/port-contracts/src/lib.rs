//! The contract every backend's ports keep, written once as tests generic over a [`Backend`]
//! (the shape of garage's `src/db/test.rs`: one suite, one short `#[test]` list per engine).
//!
//! A backend crate lists this crate under `[dev-dependencies]`, implements [`Backend`] for a
//! fixture that opens a fresh, empty store of its own, and expands the suites in one test
//! file:
//!
//! ```ignore
//! port_contracts::storage_contracts!(crate::MyBackend);
//! port_contracts::log_contracts!(crate::MyBackend);
//! ```
//!
//! Each contract is a plain `async fn` taking the backend; the macros turn each into its own
//! `#[tokio::test]`, so a failure names the clause it broke. Every `# Errors` clause of every
//! port is a contract here, and so are the promises that are not errors: the guards a commit
//! enforces and the audit listing's never-skip rule.
//!
//! - [`storage`]: `UnitOfWork`, `Transaction` and its repositories, `StorageReader`;
//! - [`log`]: `LogStore` and the auditor's `AuditSource`.

pub mod backend;
pub mod log;
pub mod storage;

pub use backend::{Backend, Ports};

/// Expands contracts into `#[tokio::test]`s in a module `$suite`: each opens a fresh
/// `$backend` and runs `$crate::$module::$name` over it. The suites' macros call this.
#[doc(hidden)]
#[macro_export]
macro_rules! contract_tests {
    ($backend:ty, $suite:ident, $module:ident: [$($name:ident),* $(,)?]) => {
        mod $suite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let backend = <$backend as $crate::Backend>::fresh().await;
                    $crate::$module::$name(&backend).await;
                }
            )*
        }
    };
}
