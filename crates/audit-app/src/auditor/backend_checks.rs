//! A backend's own integrity checks: facts only its kind of storage keeps, checked beside the
//! passes every backend shares (the log, revisions, documents and the tables beside the log).
//!
//! The generic passes compare nothing but what every backend has: ids, leaf indexes, hashes,
//! versions. A backend that keeps more checks it here. The embedded store hands out commit
//! sequences without gaps, in commit order (SQLite's `AUTOINCREMENT` counter behind one
//! writer, rolled back with a rolled-back write), and its sequencer follows them: there a
//! missing number is a deleted entry, even a pending one the log never saw
//! ([`check_gap_free_sequence`]), and the log, its head and each document's versions must
//! follow the sequence ([`check_commit_order`]). A backend whose concurrent transactions
//! commit in no order a number could record checks what it does keep instead (MongoDB: the
//! log's own records of its leaves), or nothing.

mod commit_order;
mod gap_free;

use shared_kernel::Error;

use super::finding::Finding;

pub use self::commit_order::{CommitOrderSource, SeqEntry, check_commit_order};
pub use self::gap_free::check_gap_free_sequence;

/// The part of an [`super::AuditSource`] that only its backend knows how to check.
pub trait BackendChecks {
    /// Runs the backend's own integrity checks, handing each finding to `report` as it is
    /// found; returns what was checked, in words, for the report (`"the commit sequence"`),
    /// nothing when the backend has no checks of its own.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store cannot be read, `INTERNAL_ERROR` when a stored value
    /// cannot be decoded; a discrepancy is a finding, never an error.
    fn check_backend(&self, report: &mut dyn FnMut(Finding)) -> Result<Vec<String>, Error>;
}

/// What the checks of a commit sequence ([`check_gap_free_sequence`],
/// [`check_commit_order`]) are called in the report.
pub const COMMIT_SEQUENCE: &str = "the commit sequence";
