//! The Storage application layer: one command or query per file, and the ports they need.
//!
//! Handlers are where transactions begin and end. A command handler parses its input into
//! domain values, opens a unit of work, loads the aggregate, validates data against the
//! collection's schema, lets the aggregate apply the change and record its event, then stores
//! the new state, appends exactly one audit entry (through the `AuditLogger` port) and the
//! outbox events, and commits — all or nothing.
//!
//! This crate knows ports, not technologies: no HTTP, no SQLite, no MongoDB, no Redis.

pub mod app;
pub mod commands;
pub mod cursor;
pub mod events;
pub mod guards;
pub mod idempotency;
pub mod ports;
pub mod queries;
pub mod transactions;

mod audit;

pub use app::{DocumentView, StorageApp};
pub use events::OutboxEvent;
pub use guards::{Attempt, CommitError, Guard};
pub use ports::{EventOutbox, SchemaValidator, StorageReader, Transaction, UnitOfWork};
pub use transactions::{Pause, Prepared, RetryPolicy, TransactionManager};
