//! The `AuditLogger` port: the one way any layer records an audit entry.
//!
//! An instance is bound to the caller's open transaction (the storage application's unit of
//! work hands it out), so an entry is stored if and only if the change it records commits.
//! Nothing else writes audit records.

use async_trait::async_trait;
use shared_kernel::Error;

use crate::entry::AuditRecord;

/// Appends audit entries inside the current transaction.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AuditLogger: Send {
    /// Appends one entry and its patch. The entry gets its commit sequence when the
    /// transaction commits and its log index later, from the sequencer.
    ///
    /// # Errors
    /// MUST return `CONFLICT` when an entry with the same id exists; `UNAVAILABLE` or
    /// `INTERNAL_ERROR` when storage fails. Either way the caller's transaction must roll back.
    async fn append(&mut self, record: AuditRecord) -> Result<(), Error>;
}
