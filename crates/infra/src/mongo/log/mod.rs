//! The log on MongoDB, one file per job:
//!
//! - `store.rs`: the [`audit_app::LogStore`] port (stored hashes, leaf records, head,
//!   checkpoints; the sequencer's batches in one transaction that rests on `_id` inserts).

mod store;

pub use store::MAX_LOG_BATCH;
pub(crate) use store::MongoLogStore;
