//! The log on MongoDB, one file per job:
//!
//! - `store.rs`: the [`audit_app::LogStore`] port (stored hashes, leaf records, head,
//!   checkpoints; the sequencer's batches in one transaction that rests on `_id` inserts);
//! - `lock.rs`: the database's sequencer lock, so a second server refuses to start (until
//!   issue 24's lease);
//! - `audit_source.rs`: the auditor's source, auditing up to a head fixed when it opens, with
//!   the checks only this layout allows (`audit_source/checks.rs`).

mod audit_source;
mod lock;
mod store;

pub use audit_source::MongoAuditSource;
pub(crate) use lock::lock_sequencer;
pub use lock::{LockTiming, SequencerLock};
pub use store::MAX_LOG_BATCH;
pub(crate) use store::MongoLogStore;
