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
//! to [`SPIN`] for the session's next message, and the one task that holds the writer spins up
//! to [`ANSWER_SPIN`] for a statement's answer before it yields. That is at most one async
//! worker at a time, for tens of microseconds, and only on the path every write waits for
//! (measured on 2 cores: about 1.4× the writes per second of sleeping at once).
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

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use shared_kernel::{Error, ErrorCode};
use tokio::sync::oneshot;

use super::commit_health::{CommitFaults, CommitHealth, PROBE_INTERVAL};
use super::write_stats::{GroupCounters, StatsLog, WriteStats};
use crate::embedded::connection::Durability;
use crate::embedded::lock::DirLock;
use crate::embedded::read::document_cache::DocumentCache;

/// How long an idle writer waits before logging the counters of its last groups.
const IDLE_LOG_DELAY: Duration = Duration::from_secs(1);

/// When a group stops taking new writes even though more are queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommitOptions {
    /// Writes served in one group at most (1 commits every write on its own).
    pub max_writes: usize,
    /// How long after its `BEGIN` a group stops taking new writes, so that a steady stream
    /// of writes cannot delay the first acknowledgement without bound.
    pub max_age: Duration,
}

impl Default for GroupCommitOptions {
    fn default() -> Self {
        Self {
            max_writes: 512,
            max_age: Duration::from_millis(10),
        }
    }
}

/// A statement batch to run on the writer: given the connection, or the reason the session
/// can no longer use it. It answers through a channel it captured.
type Work = Box<dyn FnOnce(Result<&Connection, Error>) + Send>;

/// Statements whose only answer is success or failure: a whole write, or what runs on the
/// writer just before a session's savepoint is released (see [`Session::commit_after`]).
/// `Fn`, not `FnOnce`: a whole write may run again when its group is replayed.
pub(crate) type Statements = Box<dyn Fn(&Connection) -> Result<(), Error> + Send>;

/// What a session sends the writer.
enum Op {
    Run(Work),
    /// Run `last` (if any), then release the savepoint; `ack` answers once the group is durable.
    Commit {
        last: Option<Statements>,
        ack: oneshot::Sender<Result<(), Error>>,
    },
}

/// A request to write.
enum Begin {
    /// A session ([`Writer::begin`]): its statements arrive on `ops`; `ready` is told when
    /// its savepoint is open.
    Session {
        ops: Receiver<Op>,
        ready: oneshot::Sender<Result<(), Error>>,
    },
    /// A whole write ([`Writer::write_whole`]): every statement at once, and where to answer
    /// once its group has committed; `synced` when that commit must be fsynced whatever the
    /// store's durability ([`Writer::write_whole_synced`]).
    Whole {
        statements: Statements,
        ack: oneshot::Sender<Result<(), Error>>,
        synced: bool,
    },
}

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

/// The open group transaction.
struct Group {
    /// Acknowledgements of the released members, sent once `COMMIT` returns.
    members: Vec<oneshot::Sender<Result<(), Error>>>,
    /// Every member's statements, in order, while all members are whole writes: what it
    /// takes to rebuild the group without a member that failed after writing rows. `None`
    /// once a session has joined (its statements came and went over its channel).
    replay: Option<Vec<Statements>>,
    /// Writes served (committed or rolled back), for the size bound.
    served: usize,
    started: Instant,
    /// Opened with `synchronous=FULL` over a `normal` store, for a synced write: the setting
    /// goes back to `NORMAL` once the group has ended.
    synced: bool,
}

/// The state of the writer thread.
struct WriterThread {
    connection: Connection,
    begins: Receiver<Begin>,
    queued: Arc<AtomicUsize>,
    counters: Arc<GroupCounters>,
    options: GroupCommitOptions,
    group: Option<Group>,
    /// The readers' cache of committed documents, told when a group ends (see
    /// `read/document_cache.rs`).
    documents: Arc<DocumentCache>,
    /// The store's `synchronous` mode, which synced writes raise for their group.
    durability: Durability,
    log: StatsLog,
    /// The last commit failure, for readiness (see `commit_health.rs`).
    health: CommitHealth,
    /// The test seam that makes commits fail.
    faults: CommitFaults,
    /// When the last probe commit ran.
    last_probe: Instant,
    /// Declared after the connection, so it is released after the connection closes.
    _lock: Arc<DirLock>,
}

impl WriterThread {
    /// Serves writes until every handle is gone, then commits what is left.
    fn serve(mut self) {
        while let Some(begin) = self.next_begin() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            match begin {
                Begin::Session { ops, ready } => self.serve_session(&ops, ready),
                Begin::Whole {
                    statements,
                    ack,
                    synced,
                } => self.serve_whole(statements, ack, synced),
            }
        }
        self.commit_group();
        self.log.maybe_log(&self.counters, true);
    }

    /// The next write to serve: a queued one joins the open group while it has room;
    /// otherwise the group commits first and the thread waits for work.
    fn next_begin(&mut self) -> Option<Begin> {
        if let Some(group) = &self.group {
            let full = group.served >= self.options.max_writes
                || group.started.elapsed() >= self.options.max_age;
            if !full {
                match self.begins.try_recv() {
                    Ok(begin) => return Some(begin),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => {}
                }
            }
            self.commit_group();
        }
        loop {
            let failing = self.health.is_failing();
            if !failing && !self.log.has_news(&self.counters) {
                return self.begins.recv().ok();
            }
            let wait = if failing {
                PROBE_INTERVAL
                    .saturating_sub(self.last_probe.elapsed())
                    .min(IDLE_LOG_DELAY)
            } else {
                IDLE_LOG_DELAY
            };
            match self.begins.recv_timeout(wait) {
                Ok(begin) => return Some(begin),
                Err(RecvTimeoutError::Timeout) => {
                    self.log.maybe_log(&self.counters, true);
                    if failing && self.last_probe.elapsed() >= PROBE_INTERVAL {
                        self.probe();
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// While commits fail and no write comes: a commit that writes a page (the header's
    /// `application_id`, set to the value it has), to learn whether commits succeed again.
    fn probe(&mut self) {
        self.last_probe = Instant::now();
        let outcome = match self.faults.injected() {
            Some(error) => Err(error),
            None => probe_commit(&self.connection),
        };
        match outcome {
            Ok(()) => self.health.succeeded(),
            Err(error) => {
                if !self.connection.is_autocommit()
                    && let Err(e) = execute(&self.connection, "ROLLBACK")
                {
                    tracing::error!(error = %e, "could not roll back a probe commit");
                }
                self.health.failed(error.to_string());
            }
        }
    }

    /// Serves one session from its savepoint to its release or rollback.
    fn serve_session(&mut self, ops: &Receiver<Op>, ready: oneshot::Sender<Result<(), Error>>) {
        if let Err(e) = self.open_group().and_then(|()| self.open_savepoint()) {
            drop(ready.send(Err(e)));
            return;
        }
        self.count_served();
        if ready.send(Ok(())).is_err() {
            // The request gave up while it was queued.
            self.roll_back_member();
            return;
        }
        // Why this session can no longer write, once that happened.
        let mut broken: Option<&'static str> = None;
        loop {
            match receive(ops) {
                Ok(Op::Run(work)) => {
                    if let Some(reason) = broken {
                        work(Err(Error::new(ErrorCode::Unavailable, reason)));
                        continue;
                    }
                    let connection = &self.connection;
                    if catch_unwind(AssertUnwindSafe(|| work(Ok(connection)))).is_err() {
                        tracing::error!("a storage task panicked; rolling back its write");
                        self.roll_back_member();
                        broken = Some("an earlier storage task of this write failed");
                    } else if self.connection.is_autocommit() {
                        self.abandon_group("SQLite abandoned the group transaction");
                        broken = Some("the write was lost with its group; nothing was stored");
                    }
                }
                Ok(Op::Commit { last, ack }) => {
                    if let Some(reason) = broken {
                        drop(ack.send(Err(Error::new(ErrorCode::Unavailable, reason))));
                    } else if let Some(last) = last {
                        self.run_last_then_release(last, ack);
                    } else {
                        self.release_member(ack);
                    }
                    return;
                }
                Err(_) => {
                    // The handle was dropped without a commit.
                    if broken.is_none() {
                        self.roll_back_member();
                    }
                    return;
                }
            }
        }
    }

    /// Serves a whole write ([`Writer::write_whole`]): its statements run straight in the
    /// group transaction, with no savepoint of their own (see the module's doc).
    fn serve_whole(
        &mut self,
        statements: Statements,
        ack: oneshot::Sender<Result<(), Error>>,
        synced: bool,
    ) {
        let raise = synced && self.durability == Durability::Normal;
        if raise && self.group.as_ref().is_some_and(|group| !group.synced) {
            // `synchronous` cannot change inside a transaction: the open group commits as it
            // is (its members lose nothing), and the synced write opens the next one.
            self.commit_group();
        }
        let opened = if raise && self.group.is_none() {
            self.open_synced_group()
        } else {
            self.open_group()
        };
        if let Err(e) = opened {
            drop(ack.send(Err(e)));
            return;
        }
        self.count_served();
        let changes_before = self.connection.total_changes();
        let connection = &self.connection;
        let outcome =
            catch_unwind(AssertUnwindSafe(|| statements(connection))).unwrap_or_else(|_| {
                tracing::error!("a storage task panicked; its write was not stored");
                Err(Error::new(
                    ErrorCode::Internal,
                    "a storage task did not complete; the write was not stored",
                ))
            });
        if self.connection.is_autocommit() {
            self.abandon_group("SQLite abandoned the group transaction");
            drop(ack.send(Err(outcome.err().unwrap_or_else(lost))));
            return;
        }
        match outcome {
            Ok(()) => {
                if let Some(replay) = self.group.as_mut().and_then(|g| g.replay.as_mut()) {
                    replay.push(statements);
                }
                self.keep_member(ack);
            }
            Err(error) if self.connection.total_changes() == changes_before => {
                // Refused before it wrote a row (a stale read, a failed check): the group
                // holds nothing of it.
                drop(ack.send(Err(error)));
            }
            Err(error) => {
                // It wrote rows, and without a savepoint they cannot be undone alone: the
                // group starts over without it.
                if error.code() == ErrorCode::Unavailable {
                    // The storage failed under it (a full disk, an I/O error).
                    self.health.failed(error.chain());
                }
                self.rebuild_group_or_abandon();
                drop(ack.send(Err(error)));
            }
        }
    }

    /// Rolls the group back and runs its members' statements again, in order, in a new group
    /// transaction: the state they met the first time, so the same outcome. When the group
    /// cannot be replayed (a session is in it) or a replayed write fails, it is lost instead.
    fn rebuild_group_or_abandon(&mut self) {
        let Some(replay) = self.group.as_mut().and_then(|g| g.replay.take()) else {
            self.abandon_group("a write failed after writing rows, in a group holding a session");
            return;
        };
        let rebuilt = execute(&self.connection, "ROLLBACK")
            .and_then(|()| execute(&self.connection, "BEGIN IMMEDIATE"))
            .map_err(|e| Error::unavailable("could not restart the group", e))
            .and_then(|()| {
                let connection = &self.connection;
                replay.iter().try_for_each(|statements| {
                    catch_unwind(AssertUnwindSafe(|| statements(connection))).unwrap_or_else(|_| {
                        Err(Error::internal("a replayed write panicked", "replay"))
                    })
                })
            });
        match rebuilt {
            Ok(()) if !self.connection.is_autocommit() => {
                tracing::warn!(
                    members = replay.len(),
                    "a write failed after writing rows; its group was rebuilt without it"
                );
                if let Some(group) = &mut self.group {
                    group.replay = Some(replay);
                }
            }
            Ok(()) => self.abandon_group("SQLite abandoned the rebuilt group transaction"),
            Err(e) => {
                tracing::error!(error = %e.chain(), "a group could not be rebuilt");
                self.abandon_group(
                    "a write failed after writing rows, and its group could not be rebuilt",
                );
            }
        }
    }

    /// Opens the group transaction unless one is open.
    fn open_group(&mut self) -> Result<(), Error> {
        if self.group.is_none() {
            execute(&self.connection, "BEGIN IMMEDIATE").map_err(|e| {
                self.health.failed(e.to_string());
                Error::unavailable("could not start a transaction", e)
            })?;
            self.group = Some(Group {
                members: Vec::new(),
                replay: Some(Vec::new()),
                served: 0,
                started: Instant::now(),
                synced: false,
            });
        }
        Ok(())
    }

    /// Opens a group whose `COMMIT` is fsynced: `synchronous=FULL` until it ends. Only called
    /// with no group open.
    fn open_synced_group(&mut self) -> Result<(), Error> {
        execute_pragma(&self.connection, "PRAGMA synchronous = FULL")
            .map_err(|e| Error::unavailable("could not make a commit durable", e))?;
        if let Err(e) = self.open_group() {
            self.restore_synchronous(true);
            return Err(e);
        }
        if let Some(group) = &mut self.group {
            group.synced = true;
        }
        Ok(())
    }

    /// Puts `synchronous` back to the store's mode after a synced group ended.
    fn restore_synchronous(&self, synced: bool) {
        if synced && let Err(e) = execute_pragma(&self.connection, "PRAGMA synchronous = NORMAL") {
            // Safe, only slower: commits stay fsynced until the next synced group.
            tracing::error!(error = %e, "could not restore synchronous=NORMAL");
        }
    }

    /// Opens a session's savepoint inside the open group, which can then no longer be
    /// replayed.
    fn open_savepoint(&mut self) -> Result<(), Error> {
        if let Some(group) = &mut self.group {
            group.replay = None;
        }
        execute(&self.connection, "SAVEPOINT member")
            .map_err(|e| Error::unavailable("could not start a transaction", e))
    }

    /// Counts a write towards the group's size bound.
    fn count_served(&mut self) {
        if let Some(group) = &mut self.group {
            group.served += 1;
        }
    }

    /// Keeps a member's acknowledgement until its group commits.
    fn keep_member(&mut self, ack: oneshot::Sender<Result<(), Error>>) {
        match &mut self.group {
            Some(group) => group.members.push(ack),
            None => drop(ack.send(Err(lost()))),
        }
    }

    /// Runs a session's last statements; releases it if they succeed, else rolls it back and
    /// answers their error.
    fn run_last_then_release(&mut self, last: Statements, ack: oneshot::Sender<Result<(), Error>>) {
        let connection = &self.connection;
        match catch_unwind(AssertUnwindSafe(|| last(connection))) {
            Ok(Ok(())) if self.connection.is_autocommit() => {
                self.abandon_group("SQLite abandoned the group transaction");
                drop(ack.send(Err(lost())));
            }
            Ok(Ok(())) => self.release_member(ack),
            Ok(Err(error)) => {
                self.roll_back_member();
                drop(ack.send(Err(error)));
            }
            Err(_) => {
                tracing::error!("a storage task panicked; rolling back its write");
                self.roll_back_member();
                drop(ack.send(Err(Error::new(
                    ErrorCode::Internal,
                    "a storage task did not complete; the write was rolled back",
                ))));
            }
        }
    }

    /// Keeps the member's changes in the group; it is acknowledged when the group commits.
    fn release_member(&mut self, ack: oneshot::Sender<Result<(), Error>>) {
        match execute(&self.connection, "RELEASE member") {
            Ok(()) => self.keep_member(ack),
            Err(e) => {
                self.roll_back_member();
                drop(ack.send(Err(Error::unavailable(
                    "the commit failed; nothing was stored",
                    e,
                ))));
            }
        }
    }

    /// Undoes the member's changes and only those; if even that fails, the whole group goes.
    fn roll_back_member(&mut self) {
        let result = execute(&self.connection, "ROLLBACK TO member")
            .and_then(|()| execute(&self.connection, "RELEASE member"));
        if let Err(e) = result {
            tracing::error!(error = %e, "could not roll back a write; abandoning its group");
            self.abandon_group("a write could not be rolled back on its own");
        } else if self.connection.is_autocommit() {
            self.abandon_group("SQLite abandoned the group transaction");
        }
    }

    /// Rolls the group back (if SQLite has not already) and tells every released member.
    fn abandon_group(&mut self, reason: &'static str) {
        if !self.connection.is_autocommit()
            && let Err(e) = execute(&self.connection, "ROLLBACK")
        {
            tracing::error!(error = %e, "could not roll back a group transaction");
        }
        self.documents.group_ended();
        self.health.failed(reason.to_owned());
        if let Some(group) = self.group.take() {
            self.restore_synchronous(group.synced);
            tracing::error!(
                members = group.members.len(),
                reason,
                "a write group was lost"
            );
            if !group.members.is_empty() {
                self.counters.failed();
            }
            for member in group.members {
                drop(member.send(Err(lost())));
            }
        }
    }

    /// Commits the open group, then acknowledges its members with the outcome.
    fn commit_group(&mut self) {
        let Some(group) = self.group.take() else {
            return;
        };
        let committed = match self.faults.injected() {
            Some(error) => Err(error),
            None => execute(&self.connection, "COMMIT"),
        };
        if committed.is_err()
            && !self.connection.is_autocommit()
            && let Err(e) = execute(&self.connection, "ROLLBACK")
        {
            tracing::error!(error = %e, "could not roll back a failed group");
        }
        // Committed or rolled back, the documents it wrote are settled: before anyone hears.
        self.documents.group_ended();
        self.restore_synchronous(group.synced);
        match committed {
            Ok(()) => {
                self.health.succeeded();
                if !group.members.is_empty() {
                    self.counters.committed(group.members.len() as u64);
                }
                for member in group.members {
                    drop(member.send(Ok(())));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, members = group.members.len(), "a group commit failed");
                self.health.failed(e.to_string());
                self.counters.failed();
                let cause = e.to_string();
                for member in group.members {
                    drop(member.send(Err(Error::unavailable(
                        "the commit failed; nothing was stored",
                        cause.clone(),
                    ))));
                }
            }
        }
        self.log.maybe_log(&self.counters, false);
    }
}

/// Takes the session's next message, spinning for up to [`SPIN`] before sleeping.
///
/// While a session holds the writer, every hand-off between its task and this thread is on
/// every other write's path. The next message usually arrives within microseconds; sleeping
/// instead costs a futex wake-up on both sides, which on a virtual machine whose CPU went
/// idle meanwhile can take longer than the statements themselves.
fn receive(ops: &Receiver<Op>) -> Result<Op, mpsc::RecvError> {
    let started = Instant::now();
    loop {
        for _ in 0..64 {
            match ops.try_recv() {
                Ok(op) => return Ok(op),
                Err(TryRecvError::Disconnected) => return Err(mpsc::RecvError),
                Err(TryRecvError::Empty) => std::hint::spin_loop(),
            }
        }
        if started.elapsed() >= SPIN {
            return ops.recv();
        }
    }
}

/// How long a task holding the writer spins for a statement's answer before it yields.
const ANSWER_SPIN: Duration = Duration::from_micros(30);

/// How long the writer spins for a session's next message before it sleeps.
const SPIN: Duration = Duration::from_micros(50);

/// A commit that rewrites the database header's `application_id` with its own value: a page
/// written and synced like any commit's, with nothing changed.
fn probe_commit(connection: &Connection) -> rusqlite::Result<()> {
    execute(connection, "BEGIN IMMEDIATE")?;
    let id: i64 = connection.pragma_query_value(None, "application_id", |row| row.get(0))?;
    connection.pragma_update(None, "application_id", id)?;
    execute(connection, "COMMIT")
}

/// Runs one statement through the connection's prepared-statement cache.
fn execute(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection
        .prepare_cached(sql)
        .and_then(|mut statement| statement.execute([]))
        .map(drop)
}

/// Sets a pragma (not through the statement cache: it runs once per synced group).
fn execute_pragma(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.execute_batch(sql)
}

fn lost() -> Error {
    Error::new(
        ErrorCode::Unavailable,
        "the write was lost with its group before the commit; nothing was stored",
    )
}

#[cfg(test)]
mod tests;
