//! Writes: the one writer thread and everything a write passes through on its way to disk.
//!
//! A transaction (`transaction.rs`) reads optimistically through the readers or holds the
//! writer for an exclusive session; the ports bound to it (`repositories/`, one file
//! per port) prepare their statements, and the writer thread (`writer.rs`) runs them
//! in group transactions that share one `COMMIT`. Beside it: how large the groups were
//! (`write_stats.rs`) and whether commits succeed (`commit_health.rs`, for readiness). Kept
//! apart from `read/` so that the path every write waits for can be read on its own.

pub(crate) mod commit_health;
mod repositories;
pub(crate) mod transaction;
pub(crate) mod write_stats;
pub(crate) mod writer;
