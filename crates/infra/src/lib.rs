//! Adapters: the technologies behind the application's ports.
//!
//! - [`embedded`]: the default store, one SQLite file (WAL), implementing every storage port
//!   with real transactions.
//! - [`mongo`]: the MongoDB store, behind the same ports as the embedded one.
//! - [`pause`]: the transaction manager's waits between attempts, on tokio's timer.
//! - [`schema`]: the JSON Schema validator (the `jsonschema` crate, with remote references
//!   and file access compiled out).
//!
//! Each adapter classifies its driver's errors into the shared kernel's codes and keeps the
//! driver error as the cause; no driver type appears in a public signature.

pub mod embedded;
// How a kept idempotency outcome is written down, the same on every backend.
pub(crate) mod idempotency_format;
// What a store keeps in memory of its committed log, on every backend.
pub(crate) mod log_memory;
pub mod mongo;
pub mod pause;
pub mod schema;
// How a collection's schema is kept, the same on every backend.
pub(crate) mod stored_schema;
