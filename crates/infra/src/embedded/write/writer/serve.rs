//! The writer thread's loop: it takes requests to write in turn, serves a session from its
//! savepoint to its release or rollback, serves a whole write straight in the group, and while
//! commits fail and no write comes, probes whether they succeed again.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use shared_kernel::{Error, ErrorCode};
use tokio::sync::oneshot;

use super::group::{WriterThread, execute, lost};
use super::messages::{Begin, Op, Statements};
use super::spin::receive;
use crate::embedded::connection::Durability;
use crate::embedded::write::commit_health::PROBE_INTERVAL;

/// How long an idle writer waits before logging the counters of its last groups.
const IDLE_LOG_DELAY: Duration = Duration::from_secs(1);

impl WriterThread {
    /// Serves writes until every handle is gone, then commits what is left.
    pub(super) fn serve(mut self) {
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
    pub(super) fn next_begin(&mut self) -> Option<Begin> {
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
    pub(super) fn probe(&mut self) {
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
    pub(super) fn serve_session(
        &mut self,
        ops: &Receiver<Op>,
        ready: oneshot::Sender<Result<(), Error>>,
    ) {
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

    /// Serves a whole write ([`Writer::write_whole`](super::Writer::write_whole)): its statements run straight in the
    /// group transaction, with no savepoint of their own (see the module's doc).
    pub(super) fn serve_whole(
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
}

/// A commit that rewrites the database header's `application_id` with its own value: a page
/// written and synced like any commit's, with nothing changed.
fn probe_commit(connection: &Connection) -> rusqlite::Result<()> {
    execute(connection, "BEGIN IMMEDIATE")?;
    let id: i64 = connection.pragma_query_value(None, "application_id", |row| row.get(0))?;
    connection.pragma_update(None, "application_id", id)?;
    execute(connection, "COMMIT")
}
