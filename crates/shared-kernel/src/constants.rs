//! Named constants: every number and name with a meaning lives here, not inline.

use std::time::Duration;

/// How long workers get to finish their current batch at shutdown.
pub const WORKER_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// How many items a worker takes per batch.
pub const WORKER_BATCH_SIZE: usize = 10;
/// How often an idle worker looks for new work.
pub const WORKER_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Items per page when the client gives no `limit`.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The largest `limit` a client may ask for.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The actor of unauthenticated requests.
pub const ACTOR_ANONYMOUS: &str = "anonymous";
/// The actor of internal work.
pub const ACTOR_SYSTEM: &str = "system";
/// The prefix of a named internal worker's actor (`system:<worker>`).
pub const ACTOR_SYSTEM_PREFIX: &str = "system:";
/// The prefix of an API key's actor (`key:<id>`).
pub const ACTOR_KEY_PREFIX: &str = "key:";
/// The prefix of an authenticated user's actor (`user:<subject>`).
pub const ACTOR_USER_PREFIX: &str = "user:";

/// Default limit on a document's canonical (JCS) size: 1 MiB.
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// What a request body may carry beyond the document limit (envelope, id, whitespace).
pub const REQUEST_BODY_OVERHEAD_BYTES: usize = 64 * 1024;
/// The deepest nesting of objects and arrays a document may have (the top object is 1).
pub const MAX_DOCUMENT_DEPTH: usize = 64;
/// The largest integer magnitude a document may hold: beyond 2^53 an IEEE double (and so
/// canonical JSON) cannot represent every integer, and the content hash would change meaning.
pub const MAX_SAFE_INTEGER: u64 = 1 << 53;
/// The largest version, sequence number or position a client may name: the largest integer
/// every backend stores (SQLite `INTEGER` and MongoDB `long` are signed 64-bit). A larger one
/// names nothing that can exist, and is refused at the edge rather than reaching a store.
pub const MAX_STORED_INTEGER: u64 = i64::MAX.unsigned_abs();

/// Header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Longest accepted request id.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// How long an `Idempotency-Key` and its first answer are kept.
pub const IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// How often expired idempotency keys are purged.
pub const IDEMPOTENCY_PURGE_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// The longest `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// The largest answer body of a read (`POST .../documents/query`) kept for an
/// `Idempotency-Key`: above it only the request's hash is kept and a repeat runs the read
/// again (API.md "Idempotency"), so anonymous keyed reads cannot fill the disk.
pub const MAX_KEPT_READ_ANSWER_BYTES: usize = 64 * 1024;
