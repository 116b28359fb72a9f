//! Writes: the [`UnitOfWork`](storage_app::UnitOfWork) port on MongoDB.
//!
//! A [`MongoTransaction`] keeps every write in memory (`ops.rs`) while the command reads
//! committed state, and applies them all at `commit()` in ONE multi-document transaction
//! (`commit.rs`): snapshot read concern, majority write concern, the guards checked first
//! inside it. So a MongoDB transaction lives only as long as its statements take, well within
//! the store's bounded transaction lifetime, and a command that fails before its commit has
//! touched nothing. Collection deletes and schema changes go in two phases (`phases.rs`).

mod commit;
mod marks;
mod ops;
mod phases;
mod repositories;
mod transaction;

pub(crate) use repositories::scope_key;
pub(crate) use transaction::MongoUnitOfWork;
