//! What travels from a write's task to the writer thread: a request to write ([`Begin`]),
//! a session's statement batches and its commit ([`Op`]).

use std::sync::mpsc::Receiver;

use rusqlite::Connection;
use shared_kernel::Error;
use tokio::sync::oneshot;

/// A statement batch to run on the writer: given the connection, or the reason the session
/// can no longer use it. It answers through a channel it captured.
pub(super) type Work = Box<dyn FnOnce(Result<&Connection, Error>) + Send>;

/// Statements whose only answer is success or failure: a whole write, or what runs on the
/// writer just before a session's savepoint is released (see [`Session::commit_after`](super::Session::commit_after)).
/// `Fn`, not `FnOnce`: a whole write may run again when its group is replayed.
pub(crate) type Statements = Box<dyn Fn(&Connection) -> Result<(), Error> + Send>;

/// What a session sends the writer.
pub(super) enum Op {
    Run(Work),
    /// Run `last` (if any), then release the savepoint; `ack` answers once the group is durable.
    Commit {
        last: Option<Statements>,
        ack: oneshot::Sender<Result<(), Error>>,
    },
}

/// A request to write.
pub(super) enum Begin {
    /// A session ([`Writer::begin`](super::Writer::begin)): its statements arrive on `ops`; `ready` is told when
    /// its savepoint is open.
    Session {
        ops: Receiver<Op>,
        ready: oneshot::Sender<Result<(), Error>>,
    },
    /// A whole write ([`Writer::write_whole`](super::Writer::write_whole)): every statement at once, and where to answer
    /// once its group has committed; `synced` when that commit must be fsynced whatever the
    /// store's durability ([`Writer::write_whole_synced`](super::Writer::write_whole_synced)).
    Whole {
        statements: Statements,
        ack: oneshot::Sender<Result<(), Error>>,
        synced: bool,
    },
}
