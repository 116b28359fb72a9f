//! Classifying SQLite failures into the shared kernel's codes.
//!
//! The rules: a store that is busy, locked, full or failing at the I/O level is
//! `UNAVAILABLE` (the request may succeed later); a uniqueness violation is `CONFLICT` only
//! where a port's contract names it; everything else is `INTERNAL_ERROR`. The driver error is
//! always kept as the source, for the logs.

use rusqlite::ffi;
use shared_kernel::Error;

/// Classifies a driver error raised while `action` (a gerund phrase: "reading a document").
///
/// An interrupted statement is `UNAVAILABLE`: only scans are interrupted, and only because
/// their request reached its deadline or was abandoned (`read/reader_pool.rs`), so the request
/// may well succeed with more time or a cheaper query.
pub(super) fn storage_error(action: &str, error: rusqlite::Error) -> Error {
    if error.sqlite_error_code() == Some(ffi::ErrorCode::OperationInterrupted) {
        return Error::unavailable(
            format!(
                "stopped while {action}: the request reached its deadline (or its client went \
                 away) before the query finished; narrow the filter or the page"
            ),
            error,
        );
    }
    let unavailable = error.sqlite_error_code().is_some_and(|code| {
        matches!(
            code,
            ffi::ErrorCode::DatabaseBusy
                | ffi::ErrorCode::DatabaseLocked
                | ffi::ErrorCode::DiskFull
                | ffi::ErrorCode::SystemIoFailure
                | ffi::ErrorCode::CannotOpen
        )
    });
    if unavailable {
        Error::unavailable(format!("storage is unavailable while {action}"), error)
    } else {
        Error::internal(format!("storage failed while {action}"), error)
    }
}

/// Whether the error is a UNIQUE or PRIMARY KEY constraint violation.
pub(super) fn is_unique_violation(error: &rusqlite::Error) -> bool {
    error.sqlite_error().is_some_and(|e| {
        e.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
            || e.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    })
}

/// A uniqueness violation becomes `conflict` (keeping the driver error as its source); any
/// other failure is classified by [`storage_error`].
pub(super) fn conflict_or_storage_error(
    action: &str,
    error: rusqlite::Error,
    conflict: impl FnOnce() -> Error,
) -> Error {
    if is_unique_violation(&error) {
        conflict().with_source(error)
    } else {
        storage_error(action, error)
    }
}

/// A stored value that does not parse back: the file was changed behind the store's back.
pub(super) fn corrupt(
    what: &str,
    cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> Error {
    Error::internal(format!("stored {what} is malformed"), cause)
}
