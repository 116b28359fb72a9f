//! The one writer: a dedicated thread that owns the writer connection and commits concurrent
//! transactions in groups, so that they share one `COMMIT` (one fsync under `full`).
//!
//! # Why group commit
//!
//! A durable commit costs an fsync, which is far slower than the few statements of a write.
//! Committing every write on its own caps the store at fsyncs per second; when writes arrive
//! together, they can share one.
//!
//! # How
//!
//! The thread takes requests to write ([`Writer::begin`]) from a queue, one at a time. While
//! it serves one, nothing else touches the connection, exactly as with a mutex:
//!
//! 1. If no group transaction is open, it runs `BEGIN IMMEDIATE` and a group starts.
//! 2. A session ([`Writer::begin`]) is a `SAVEPOINT` inside the group: its statements come over
//!    its own channel ([`Session::run`]) and run on this thread (SQLite never runs on the async
//!    executor).
//! 3. Its end: on [`Session::commit_after`] the savepoint is `RELEASE`d and the writer keeps the
//!    session's acknowledgement *without sending it*. If the session is dropped instead (an
//!    error, a cancelled request, a panic), `ROLLBACK TO` + `RELEASE` undo its rows and only
//!    its rows: each write stays atomic on its own.
//!
//!    A whole write ([`Writer::write_whole`], every document write) has no savepoint: before a
//!    savepoint's first change to a page SQLite copies the page into a sub-journal, and a
//!    document write touches the right-hand leaf of about twelve b-trees, so the copies were
//!    the writer's largest cost. A whole write's first statements are its checks (its
//!    optimistic reads, see `transaction.rs`), which write nothing; a write refused there
//!    leaves the group untouched. One that fails *after* writing rows (which its checks leave
//!    to a full disk, an I/O error, a panic or a UUID collision) cannot be undone alone, so
//!    the group is rolled back and rebuilt without it: the members' statements are kept
//!    (they are `Fn`) and run again, in order, on the state they met the first time. A group
//!    that holds a session cannot be rebuilt (a session's statements came and went over its
//!    channel), so there every member released so far is told that nothing was stored.
//!    Either way each write stays atomic and nothing acknowledged is lost. Whether rows were
//!    written is read from SQLite's count of changed rows (`total_changes`).
//! 4. When no further write is queued, or the group reached [`GroupCommitOptions`]' bounds,
//!    the writer runs `COMMIT` and only when it has returned (durable under the configured
//!    `synchronous` mode) does it acknowledge every member. If `COMMIT` fails, the group is
//!    rolled back and every member's `commit()` returns an error: nothing acknowledged is
//!    lost, nothing failed is acknowledged. If SQLite itself abandons the transaction in the
//!    middle (it does so on some I/O and memory errors), the members released so far are told
//!    at once, and the current write can no longer commit.
//!
//! No timer is needed to form groups: while one group's `COMMIT` waits for the disk, new
//! writes queue up, and they become the next group. An idle store commits every write alone.
//!
//! # The critical section
//!
//! Once fsyncs are shared, what limits writes is the time one write holds the writer. A
//! document write arrives whole ([`Writer::write_whole`]: its reads were optimistic, see
//! `transaction.rs`) and holds it only while its statements run. An exclusive session holds it
//! for a few hand-offs between its task and this thread (one per statement batch) as well.
//! Sleeping and waking a thread for each hand-off costs more than the statements on a virtual
//! machine whose idle CPU must be woken, so both sides wait briefly awake: the writer spins up
//! to [`spin::SPIN`] for the session's next message, and the one task that holds the writer spins up
//! to [`spin::ANSWER_SPIN`] for a statement's answer before it yields. That is at most one async
//! worker at a time, for tens of microseconds, and only on the path every write waits for
//! (measured on 2 cores: about 1.4× the writes per second of sleeping at once).
//!
//! # Where
//!
//! This file is the handle and the session API that tasks use ([`Writer`], [`Session`]); what
//! they send is in `writer/messages.rs`, the writer thread's loop in `writer/serve.rs`, the
//! group state machine in `writer/group.rs` and the spin-waits in `writer/spin.rs`.
//!
//! # What stays true
//!
//! - **Commit order is `seq` order.** Audit entries take their `seq` (`AUTOINCREMENT`) from
//!   this one connection, in the order writes are served. A group becomes visible at once, and
//!   groups commit in the order they were built, so readers always see a prefix of the `seq`
//!   sequence: an entry with a lower `seq` can never appear after one with a higher `seq`
//!   (the log's sequencer relies on it). A rolled-back savepoint also rolls back
//!   `sqlite_sequence`, so its numbers are reused by the next write, never skipped.
//! - **A later member may read an earlier member's rows** before the group commits; both
//!   then commit or fail together, so no acknowledged write ever depends on a lost one.
//! - **Nothing is left half done by a cancelled request**: the thread, not the request, owns
//!   the connection, and a session whose handle disappears is rolled back by the thread.
//! - The Merkle log's batches and checkpoints are whole writes like any other (see `log/store.rs`),
//!   so a checkpoint is signed only after the group holding its tree state has committed.
//!   They are *synced* writes ([`Writer::write_whole_synced`]): under `durability = normal`
//!   the open group commits first and theirs runs with `synchronous=FULL`, so its `COMMIT`
//!   fsyncs the WAL (and with it every commit before it) whatever the store's mode.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::Connection;
use shared_kernel::{Error, ErrorCode};
use tokio::sync::oneshot;

use self::group::WriterThread;
use self::messages::{Begin, Op};
use self::spin::ANSWER_SPIN;
use super::commit_health::{CommitFaults, CommitHealth};
use super::write_stats::{GroupCounters, StatsLog, WriteStats};
use crate::embedded::connection::Durability;
use crate::embedded::lock::DirLock;
use crate::embedded::read::document_cache::DocumentCache;

pub use self::group::GroupCommitOptions;
pub(crate) use self::messages::Statements;

mod group;
mod messages;
mod serve;
mod spin;

/// The writer's handle; cloning shares the same thread.
#[derive(Clone)]
pub(crate) struct Writer {
    shared: Arc<Shared>,
}

/// What every handle and session shares; dropping the last one stops the thread and waits
/// for it, so the connection is closed (and the folder unlocked) when the store is gone.
struct Shared {
    begins: Option<Sender<Begin>>,
    /// Writes queued and not yet taken by the thread.
    queued: Arc<AtomicUsize>,
    counters: Arc<GroupCounters>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        drop(self.begins.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the writer thread panicked");
        }
    }
}

impl Writer {
    /// Starts the writer thread on `connection`; it keeps `lock` until the connection is
    /// closed.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the thread cannot be started.
    pub(crate) fn start(
        connection: Connection,
        lock: Arc<DirLock>,
        options: GroupCommitOptions,
        documents: Arc<DocumentCache>,
        health: (CommitHealth, CommitFaults),
        durability: Durability,
    ) -> Result<Self, Error> {
        let (health, faults) = health;
        let (begins, receiver) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let counters = Arc::new(GroupCounters::default());
        let thread = WriterThread {
            connection,
            begins: receiver,
            queued: Arc::clone(&queued),
            counters: Arc::clone(&counters),
            options: GroupCommitOptions {
                max_writes: options.max_writes.max(1),
                ..options
            },
            group: None,
            documents,
            durability,
            log: StatsLog::new(),
            health,
            faults,
            last_probe: Instant::now(),
            _lock: lock,
        };
        let handle = std::thread::Builder::new()
            .name("offchain-writer".to_owned())
            .spawn(move || thread.serve())
            .map_err(|e| Error::unavailable("could not start the writer thread", e))?;
        Ok(Self {
            shared: Arc::new(Shared {
                begins: Some(begins),
                queued,
                counters,
                thread: Some(handle),
            }),
        })
    }

    /// Waits for the writer and opens a session: a write that is atomic on its own and
    /// durable once [`Session::commit_after`] returns.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the group transaction or the savepoint cannot be opened, or the
    /// writer has stopped.
    pub(crate) async fn begin(&self) -> Result<Session, Error> {
        let (ops, receiver) = mpsc::channel();
        let (ready, answer) = oneshot::channel();
        self.queue(Begin::Session {
            ops: receiver,
            ready,
        })?;
        answer.await.map_err(|_| stopped())??;
        Ok(Session {
            ops,
            shared: Arc::clone(&self.shared),
        })
    }

    /// Runs `statements` as one write in a group transaction and waits until the group holding
    /// it has committed, in a single hand-off: the writer never waits for the caller, so the
    /// write holds it only while its statements run. If `statements` fails, its error is
    /// returned and nothing of it is stored; if it had already written rows, its group is
    /// rebuilt without it (see the module's doc).
    ///
    /// # Errors
    /// What `statements` returns; `UNAVAILABLE` as [`Session::commit_after`].
    pub(crate) async fn write_whole(&self, statements: Statements) -> Result<(), Error> {
        self.whole(statements, false).await
    }

    /// [`Self::write_whole`], but the group holding it commits with `synchronous=FULL` (an
    /// fsync of the WAL, which also makes every earlier commit durable) even when the store's
    /// durability is `normal`: for the log's batches and checkpoints, which must never be
    /// signed and then lost.
    ///
    /// # Errors
    /// As [`Self::write_whole`].
    pub(crate) async fn write_whole_synced(&self, statements: Statements) -> Result<(), Error> {
        self.whole(statements, true).await
    }

    async fn whole(&self, statements: Statements, synced: bool) -> Result<(), Error> {
        let (ack, acknowledged) = oneshot::channel();
        self.queue(Begin::Whole {
            statements,
            ack,
            synced,
        })?;
        acknowledged.await.map_err(|_| stopped())?
    }

    /// Queues a write for the writer thread.
    fn queue(&self, begin: Begin) -> Result<(), Error> {
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        let sent = self
            .shared
            .begins
            .as_ref()
            .is_some_and(|begins| begins.send(begin).is_ok());
        if !sent {
            self.shared.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(stopped());
        }
        Ok(())
    }

    /// The group-commit counters since the store opened.
    pub(crate) fn stats(&self) -> WriteStats {
        self.shared.counters.snapshot()
    }

    /// Writes waiting for the writer right now.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }
}

fn stopped() -> Error {
    Error::new(
        ErrorCode::Unavailable,
        "the store's writer has stopped; nothing was stored",
    )
}

/// One write in progress; dropping it without [`Session::commit_after`] rolls it back.
pub(crate) struct Session {
    ops: Sender<Op>,
    /// Keeps the writer thread alive while the session may still use it.
    shared: Arc<Shared>,
}

impl Session {
    /// How many groups the writer lost (rolled back after members were released) so far.
    pub(crate) fn lost_groups(&self) -> u64 {
        self.shared.counters.failed_count()
    }

    /// Runs `work` on the writer thread, inside this write's savepoint.
    ///
    /// # Errors
    /// What `work` returns; `UNAVAILABLE` when the session can no longer write (its group was
    /// lost, or an earlier task of it panicked) or the writer stopped.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, Error>
    where
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let (answer, result) = oneshot::channel();
        let op = Op::Run(Box::new(move |connection| {
            // The request may be gone (its future dropped): then nobody needs the answer.
            drop(answer.send(connection.and_then(work)));
        }));
        self.ops.send(op).map_err(|_| stopped())?;
        let mut result = result;
        let started = Instant::now();
        while started.elapsed() < ANSWER_SPIN {
            match result.try_recv() {
                Ok(answer) => return answer,
                Err(oneshot::error::TryRecvError::Empty) => std::hint::spin_loop(),
                Err(oneshot::error::TryRecvError::Closed) => break,
            }
        }
        result.await.map_err(|_| {
            Error::new(
                ErrorCode::Internal,
                "a storage task did not complete; the write was rolled back",
            )
        })?
    }

    /// Runs `last` (if any) inside this write's savepoint, releases the savepoint and waits
    /// until the group holding it has committed, all in one hand-off to the writer. If `last`
    /// fails, the write is rolled back and its error returned.
    ///
    /// # Errors
    /// What `last` returns; `UNAVAILABLE` when the release or the group's `COMMIT` failed
    /// (nothing of this write was stored then), or the writer stopped.
    pub(crate) async fn commit_after(self, last: Option<Statements>) -> Result<(), Error> {
        let (ack, acknowledged) = oneshot::channel();
        self.ops
            .send(Op::Commit { last, ack })
            .map_err(|_| stopped())?;
        acknowledged.await.map_err(|_| stopped())?
    }
}

#[cfg(test)]
mod tests;
