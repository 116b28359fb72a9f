//! The one error type that crosses layers, with the stable codes of the API contract.
//!
//! Codes are part of the public API: clients match on them, so a code is never renamed. The
//! HTTP status of each code is decided once, in the `server` crate; this crate knows nothing of
//! HTTP. User mistakes carry a `detail` safe to show; internal failures keep their cause in
//! `source`, which is logged and never sent to a client.

use std::fmt;

use serde_json::{Map, Value};

/// A stable, machine-readable error code (the table in API.md "Errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Malformed input: JSON, names, ids, filters, cursors, parameters, headers.
    InvalidInput,
    /// Missing or bad credentials.
    Unauthorized,
    /// Authenticated but not allowed.
    Forbidden,
    /// No such collection, document, revision, entry or route.
    NotFound,
    /// The audit entry exists but has no log index yet.
    NotYetSequenced,
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// A name or id exists, a collection is not empty, or an idempotency key is in flight.
    Conflict,
    /// `If-Match` does not match the current version.
    PreconditionFailed,
    /// A body or resulting document is over its limit.
    PayloadTooLarge,
    /// The request's `Content-Type` is not accepted here.
    UnsupportedMediaType,
    /// Data fails the collection's JSON Schema.
    SchemaViolation,
    /// The same `Idempotency-Key` was sent with a different request.
    IdempotencyKeyReused,
    /// Too many requests.
    RateLimited,
    /// A failure inside the server; details are hidden from the client.
    Internal,
    /// Storage unavailable, shutting down, disk full, over a concurrency cap; also writes
    /// refused while the database is older than what the log signed (extension member
    /// `reason: "log_rolled_back"`, see `audit_app::signer`).
    Unavailable,
}

impl ErrorCode {
    /// Every code, for tables and tests.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::InvalidInput,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::NotYetSequenced,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Conflict,
        ErrorCode::PreconditionFailed,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::SchemaViolation,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
    ];

    /// The code as it appears on the wire (`"INVALID_INPUT"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "INVALID_INPUT",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::NotYetSequenced => "NOT_YET_SEQUENCED",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::PreconditionFailed => "PRECONDITION_FAILED",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::SchemaViolation => "SCHEMA_VIOLATION",
            ErrorCode::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Internal => "INTERNAL_ERROR",
            ErrorCode::Unavailable => "UNAVAILABLE",
        }
    }

    /// Whether the failure is the server's, not the caller's: its detail must not be shown.
    pub const fn is_server_fault(self) -> bool {
        matches!(self, ErrorCode::Internal | ErrorCode::Unavailable)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failing location inside a request: a JSON pointer and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldError {
    /// RFC 6901 JSON pointer (`""` is the whole value).
    pub path: String,
    /// A human-readable sentence.
    pub message: String,
}

impl FieldError {
    /// A failure at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The cause of an error, kept for logs.
type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error with a stable code, a safe detail, optional field errors, extra details,
/// extension members and a cause.
#[derive(Debug)]
pub struct Error {
    code: ErrorCode,
    detail: String,
    field_errors: Vec<FieldError>,
    details: Map<String, Value>,
    extensions: Map<String, Value>,
    source: Option<Source>,
}

/// The result type of every layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with `code` and a detail sentence.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            field_errors: Vec::new(),
            details: Map::new(),
            extensions: Map::new(),
            source: None,
        }
    }

    /// `INVALID_INPUT` with a detail.
    pub fn invalid_input(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, detail)
    }

    /// `INVALID_INPUT` about one location.
    pub fn invalid_field(path: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::invalid_input(message.clone()).with_field_error(FieldError::new(path, message))
    }

    /// `NOT_FOUND` with a detail.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, detail)
    }

    /// `CONFLICT` with a detail.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, detail)
    }

    /// `PRECONDITION_FAILED` with a detail.
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::PreconditionFailed, detail)
    }

    /// `INTERNAL_ERROR` whose cause is kept for the logs only.
    pub fn internal(
        detail: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self::new(ErrorCode::Internal, detail).with_source(source)
    }

    /// `UNAVAILABLE` whose cause is kept for the logs only.
    pub fn unavailable(
        detail: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self::new(ErrorCode::Unavailable, detail).with_source(source)
    }

    /// Adds a field error.
    #[must_use]
    pub fn with_field_error(mut self, field_error: FieldError) -> Self {
        self.field_errors.push(field_error);
        self
    }

    /// Adds several field errors.
    #[must_use]
    pub fn with_field_errors(mut self, errors: impl IntoIterator<Item = FieldError>) -> Self {
        self.field_errors.extend(errors);
        self
    }

    /// Adds a machine-readable detail (for example `tree_size`).
    #[must_use]
    pub fn with_detail(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }

    /// Adds an RFC 9457 extension member: a fact meant for clients (they may branch on it),
    /// shown at the top level of the problem answer whatever the code, whereas `details` are
    /// hidden on server faults. Never for anything internal.
    #[must_use]
    pub fn with_extension(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extensions.insert(name.into(), value.into());
        self
    }

    /// Keeps `source` as the cause.
    #[must_use]
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Names the location the error is about, using the detail as the message, unless it
    /// already names locations of its own.
    #[must_use]
    pub fn at(mut self, path: &str) -> Self {
        if self.field_errors.is_empty() {
            let message = self.detail.clone();
            self.field_errors.push(FieldError::new(path, message));
        }
        self
    }

    /// Prefixes every field error's path with `prefix` (a JSON pointer), so that an error
    /// raised about a sub-value names its place in the enclosing request.
    #[must_use]
    pub fn nested_under(mut self, prefix: &str) -> Self {
        for field_error in &mut self.field_errors {
            field_error.path = format!("{prefix}{}", field_error.path);
        }
        self
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The detail sentence (safe to show only when the code is not a server fault).
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The failing locations.
    pub fn field_errors(&self) -> &[FieldError] {
        &self.field_errors
    }

    /// Extra machine-readable details.
    pub fn details(&self) -> &Map<String, Value> {
        &self.details
    }

    /// The RFC 9457 extension members (see [`Self::with_extension`]).
    pub fn extensions(&self) -> &Map<String, Value> {
        &self.extensions
    }

    /// The full cause chain as one line, for logs.
    pub fn chain(&self) -> String {
        let mut line = format!("{}: {}", self.code, self.detail);
        let mut next = std::error::Error::source(self);
        while let Some(cause) = next {
            line.push_str(": ");
            line.push_str(&cause.to_string());
            next = cause.source();
        }
        line
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_wire_name() {
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn the_chain_names_every_cause() {
        let io = std::io::Error::other("disk on fire");
        let error = Error::internal("could not write", io);
        assert_eq!(
            error.chain(),
            "INTERNAL_ERROR: could not write: disk on fire"
        );
    }

    #[test]
    fn nested_errors_carry_the_enclosing_path() {
        let error = Error::invalid_field("/a", "bad").nested_under("/data");
        assert_eq!(error.field_errors()[0].path, "/data/a");
    }
}
