//! The shared kernel of Offchain DB: the small vocabulary every bounded context speaks.
//!
//! It holds what must mean the same thing everywhere: the error type and its stable codes
//! ([`error`]), named constants ([`constants`]), the request context that travels with every
//! change ([`context`]), a request's [`deadline`], typed UUIDv7 identifiers ([`id`]), time
//! and the clock port ([`time`]), canonical JSON and SHA-256 digests ([`canonical`]), a strict
//! JSON reader ([`json`]), the rule every client number obeys ([`number`]), page limits
//! ([`pagination`]) and opaque positions in a store's listings ([`position`]).
//!
//! It must stay tiny and free of I/O: no async runtime, no HTTP, no database driver.

pub mod canonical;
pub mod constants;
pub mod context;
pub mod deadline;
pub mod error;
pub mod id;
mod jcs;
pub mod json;
pub mod number;
pub mod pagination;
pub mod position;
pub mod time;

pub use canonical::{Sha256Digest, canonical_json};
pub use context::{Actor, RequestContext, RequestId, TraceId};
pub use deadline::Deadline;
pub use error::{Error, ErrorCode, FieldError, Result};
pub use id::{AuditId, CollectionId};
pub use jcs::{escape_json_string, member_name_order};
pub use position::Position;
pub use time::{Clock, SystemClock, Timestamp};
