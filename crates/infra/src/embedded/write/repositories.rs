//! The ports bound to a write transaction, each implemented by `SqliteTransaction` itself,
//! one file per port: collections (`collections.rs`), documents (`documents.rs`), the audit
//! log (`audit.rs`), the outbox (`outbox.rs`) and idempotency keys (`idempotency.rs`).
//!
//! Every method copies what it needs into owned values and runs its statements through
//! `SqliteTransaction::run`, on a blocking thread. The `# Errors` contracts of the ports are
//! enforced here: optimistic concurrency on documents is a conditional `UPDATE ... WHERE
//! version = N-1` (never a reliance on locking), and uniqueness is left to the indexes, whose
//! violations become `CONFLICT`.

mod audit;
mod collections;
mod documents;
mod idempotency;
mod outbox;
