//! The group state machine: the writer thread's state and how a group transaction opens,
//! takes members (released or rolled back one by one), is rebuilt without a member that failed
//! after writing rows, commits and acknowledges its members, or is lost (see the parent
//! module's doc for why and what stays true).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use shared_kernel::{Error, ErrorCode};
use tokio::sync::oneshot;

use super::messages::{Begin, Statements};
use crate::embedded::connection::Durability;
use crate::embedded::lock::DirLock;
use crate::embedded::read::document_cache::DocumentCache;
use crate::embedded::write::commit_health::{CommitFaults, CommitHealth};
use crate::embedded::write::write_stats::{GroupCounters, StatsLog};

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

/// The open group transaction.
pub(super) struct Group {
    /// Acknowledgements of the released members, sent once `COMMIT` returns.
    pub(super) members: Vec<oneshot::Sender<Result<(), Error>>>,
    /// Every member's statements, in order, while all members are whole writes: what it
    /// takes to rebuild the group without a member that failed after writing rows. `None`
    /// once a session has joined (its statements came and went over its channel).
    pub(super) replay: Option<Vec<Statements>>,
    /// Writes served (committed or rolled back), for the size bound.
    pub(super) served: usize,
    pub(super) started: Instant,
    /// Opened with `synchronous=FULL` over a `normal` store, for a synced write: the setting
    /// goes back to `NORMAL` once the group has ended.
    pub(super) synced: bool,
}

/// The state of the writer thread.
pub(super) struct WriterThread {
    pub(super) connection: Connection,
    pub(super) begins: Receiver<Begin>,
    pub(super) queued: Arc<AtomicUsize>,
    pub(super) counters: Arc<GroupCounters>,
    pub(super) options: GroupCommitOptions,
    pub(super) group: Option<Group>,
    /// The readers' cache of committed documents, told when a group ends (see
    /// `read/document_cache.rs`).
    pub(super) documents: Arc<DocumentCache>,
    /// The store's `synchronous` mode, which synced writes raise for their group.
    pub(super) durability: Durability,
    pub(super) log: StatsLog,
    /// The last commit failure, for readiness (see `commit_health.rs`).
    pub(super) health: CommitHealth,
    /// The test seam that makes commits fail.
    pub(super) faults: CommitFaults,
    /// When the last probe commit ran.
    pub(super) last_probe: Instant,
    /// Declared after the connection, so it is released after the connection closes.
    pub(super) _lock: Arc<DirLock>,
}

impl WriterThread {
    /// Rolls the group back and runs its members' statements again, in order, in a new group
    /// transaction: the state they met the first time, so the same outcome. When the group
    /// cannot be replayed (a session is in it) or a replayed write fails, it is lost instead.
    pub(super) fn rebuild_group_or_abandon(&mut self) {
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
    pub(super) fn open_group(&mut self) -> Result<(), Error> {
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
    pub(super) fn open_synced_group(&mut self) -> Result<(), Error> {
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
    pub(super) fn restore_synchronous(&self, synced: bool) {
        if synced && let Err(e) = execute_pragma(&self.connection, "PRAGMA synchronous = NORMAL") {
            // Safe, only slower: commits stay fsynced until the next synced group.
            tracing::error!(error = %e, "could not restore synchronous=NORMAL");
        }
    }

    /// Opens a session's savepoint inside the open group, which can then no longer be
    /// replayed.
    pub(super) fn open_savepoint(&mut self) -> Result<(), Error> {
        if let Some(group) = &mut self.group {
            group.replay = None;
        }
        execute(&self.connection, "SAVEPOINT member")
            .map_err(|e| Error::unavailable("could not start a transaction", e))
    }

    /// Counts a write towards the group's size bound.
    pub(super) fn count_served(&mut self) {
        if let Some(group) = &mut self.group {
            group.served += 1;
        }
    }

    /// Keeps a member's acknowledgement until its group commits.
    pub(super) fn keep_member(&mut self, ack: oneshot::Sender<Result<(), Error>>) {
        match &mut self.group {
            Some(group) => group.members.push(ack),
            None => drop(ack.send(Err(lost()))),
        }
    }

    /// Runs a session's last statements; releases it if they succeed, else rolls it back and
    /// answers their error.
    pub(super) fn run_last_then_release(
        &mut self,
        last: Statements,
        ack: oneshot::Sender<Result<(), Error>>,
    ) {
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
    pub(super) fn release_member(&mut self, ack: oneshot::Sender<Result<(), Error>>) {
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
    pub(super) fn roll_back_member(&mut self) {
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
    pub(super) fn abandon_group(&mut self, reason: &'static str) {
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
    pub(super) fn commit_group(&mut self) {
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

/// Runs one statement through the connection's prepared-statement cache.
pub(super) fn execute(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection
        .prepare_cached(sql)
        .and_then(|mut statement| statement.execute([]))
        .map(drop)
}

/// Sets a pragma (not through the statement cache: it runs once per synced group).
fn execute_pragma(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.execute_batch(sql)
}

pub(super) fn lost() -> Error {
    Error::new(
        ErrorCode::Unavailable,
        "the write was lost with its group before the commit; nothing was stored",
    )
}
