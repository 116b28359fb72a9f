//! Classifying MongoDB driver failures into the shared kernel's codes.
//!
//! The rules, as for the embedded store: a server that cannot be reached, is electing, is
//! overloaded or times out is `UNAVAILABLE` (the request may succeed later); a duplicate `_id`
//! is `CONFLICT` only where a port's contract names it; everything else is `INTERNAL_ERROR`.
//! The driver error is always kept as the source, for the logs.

use mongodb::error::{
    Error as DriverError, ErrorKind, TRANSIENT_TRANSACTION_ERROR,
    UNKNOWN_TRANSACTION_COMMIT_RESULT, WriteFailure,
};
use shared_kernel::Error;

/// MongoDB's duplicate key error.
const DUPLICATE_KEY: i32 = 11000;
/// A write conflict between transactions; the only clash the test stand-in reports between
/// two transactions, and only on `_id` (../shared/DEPENDENCIES.md).
const WRITE_CONFLICT: i32 = 112;
/// `maxTimeMS` expired.
const MAX_TIME_EXPIRED: i32 = 50;

/// Classifies a driver error raised while `action` (a gerund phrase: "reading a document").
pub(crate) fn storage_error(action: &str, error: DriverError) -> Error {
    if code_of(&error) == Some(MAX_TIME_EXPIRED) {
        return Error::unavailable(
            format!(
                "stopped while {action}: the request reached its deadline before MongoDB \
                 finished; narrow the filter or the page"
            ),
            error,
        );
    }
    if is_unavailable(&error) {
        Error::unavailable(format!("MongoDB is unavailable while {action}"), error)
    } else {
        Error::internal(format!("MongoDB failed while {action}"), error)
    }
}

/// A duplicate `_id` becomes `conflict` (keeping the driver error as its source); any other
/// failure is classified by [`storage_error`].
pub(crate) fn conflict_or_storage_error(
    action: &str,
    error: DriverError,
    conflict: impl FnOnce() -> Error,
) -> Error {
    if is_duplicate_key(&error) {
        conflict().with_source(error)
    } else {
        storage_error(action, error)
    }
}

/// Whether the server, the network or the deployment's state is at fault rather than the
/// request: worth a retry later.
pub(crate) fn is_unavailable(error: &DriverError) -> bool {
    error.contains_label(TRANSIENT_TRANSACTION_ERROR)
        || matches!(
            error.kind.as_ref(),
            ErrorKind::Io(_)
                | ErrorKind::ServerSelection { .. }
                | ErrorKind::ConnectionPoolCleared { .. }
                | ErrorKind::DnsResolve { .. }
                | ErrorKind::Authentication { .. }
        )
}

/// Whether a commit's answer was lost: the transaction may or may not have committed.
pub(crate) fn is_unknown_commit_result(error: &DriverError) -> bool {
    error.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT)
}

/// Whether a write inside a transaction collided with another transaction's (on real
/// MongoDB any document; on the stand-in only an `_id`).
pub(crate) fn is_write_conflict(error: &DriverError) -> bool {
    code_of(error) == Some(WRITE_CONFLICT)
}

/// Whether the error is a duplicate key.
pub(crate) fn is_duplicate_key(error: &DriverError) -> bool {
    code_of(error) == Some(DUPLICATE_KEY)
}

/// The server's error code, from whichever kind of failure carries one.
fn code_of(error: &DriverError) -> Option<i32> {
    let kind = error.kind.as_ref();
    if let ErrorKind::Command(command) = kind {
        return Some(command.code);
    }
    if let ErrorKind::Write(WriteFailure::WriteError(write)) = kind {
        return Some(write.code);
    }
    if let ErrorKind::Write(WriteFailure::WriteConcernError(concern)) = kind {
        return Some(concern.code);
    }
    if let ErrorKind::InsertMany(many) = kind {
        return many
            .write_errors
            .as_ref()
            .and_then(|errors| errors.first())
            .map(|write| write.code);
    }
    None
}

/// A stored value that does not parse back: the database was changed behind the store's back.
pub(crate) fn corrupt(
    what: &str,
    cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> Error {
    Error::internal(format!("stored {what} is malformed"), cause)
}
