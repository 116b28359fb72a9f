//! Whether the writer's commits succeed, for readiness: the last failure, kept until a
//! commit succeeds again.
//!
//! A store whose disk is full still answers reads, so a read alone cannot tell readiness;
//! the writer records every failed `COMMIT` (or `BEGIN`, or group lost to an I/O error) here
//! and clears it on the next commit that succeeds. While commits fail, the writer makes a
//! small probe commit every [`PROBE_INTERVAL`] when no client writes, so readiness comes
//! back once the disk has room again, without waiting for traffic.
//!
//! [`CommitFaults`] is the test seam: a switch that makes every commit fail as on a full disk.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::ffi;

/// How often the writer tries a probe commit while commits fail and no write comes.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// The writer's view of its commits; cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct CommitHealth {
    inner: Arc<HealthInner>,
}

#[derive(Debug, Default)]
struct HealthInner {
    /// Whether `failure` is set (read on every commit without taking the lock).
    failing: AtomicBool,
    failure: Mutex<Option<CommitFailure>>,
}

/// Commits failing since some time, none succeeding since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitFailure {
    /// Why the last attempt failed (SQLite's message, e.g. "database or disk is full").
    pub reason: String,
    /// When the first failure of this run happened.
    pub since: Instant,
    /// Attempts that failed since the last success.
    pub attempts: u64,
}

impl CommitHealth {
    /// The last commit failure, while no commit has succeeded since.
    pub fn last_failure(&self) -> Option<CommitFailure> {
        if !self.inner.failing.load(Ordering::Acquire) {
            return None;
        }
        self.lock().clone()
    }

    /// Whether commits are failing (no lock).
    pub(crate) fn is_failing(&self) -> bool {
        self.inner.failing.load(Ordering::Acquire)
    }

    /// A commit (or what it needs) failed for `reason`.
    pub(crate) fn failed(&self, reason: String) {
        let mut failure = self.lock();
        match &mut *failure {
            Some(known) => {
                known.attempts += 1;
                known.reason = reason;
            }
            None => {
                tracing::error!(
                    reason,
                    "commits are failing: readiness reports not ready until one succeeds"
                );
                *failure = Some(CommitFailure {
                    reason,
                    since: Instant::now(),
                    attempts: 1,
                });
            }
        }
        self.inner.failing.store(true, Ordering::Release);
    }

    /// A commit succeeded: forget any failure.
    pub(crate) fn succeeded(&self) {
        if !self.inner.failing.load(Ordering::Acquire) {
            return;
        }
        let mut failure = self.lock();
        if let Some(past) = failure.take() {
            tracing::info!(
                failed_attempts = past.attempts,
                failing_for_ms = past.since.elapsed().as_millis(),
                "commits succeed again"
            );
        }
        self.inner.failing.store(false, Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<CommitFailure>> {
        self.inner
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A switch that makes the writer's commits fail as on a full disk (`SQLITE_FULL`), for
/// tests of what clients and readiness see then. Off unless a test turns it on; cloning
/// shares the switch.
#[derive(Debug, Clone, Default)]
pub struct CommitFaults {
    fail: Arc<AtomicBool>,
}

impl CommitFaults {
    /// Turns the failures on or off.
    pub fn fail_commits(&self, on: bool) {
        self.fail.store(on, Ordering::SeqCst);
    }

    /// The error a commit fails with now, if the switch is on.
    pub(crate) fn injected(&self) -> Option<rusqlite::Error> {
        self.fail.load(Ordering::Relaxed).then(|| {
            rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_FULL),
                Some("database or disk is full (injected by CommitFaults)".to_owned()),
            )
        })
    }
}

/// Two options are equal when they share the same switch.
impl PartialEq for CommitFaults {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.fail, &other.fail)
    }
}

impl Eq for CommitFaults {}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;
    use shared_kernel::{Error, ErrorCode};

    use super::*;
    use crate::embedded::{EmbeddedOptions, EmbeddedStore};

    #[test]
    fn a_failure_is_kept_until_a_success_clears_it() {
        let health = CommitHealth::default();
        assert_eq!(health.last_failure(), None);
        health.failed("disk full".to_owned());
        health.failed("still full".to_owned());
        let failure = health.last_failure().expect("failing");
        assert_eq!(failure.reason, "still full");
        assert_eq!(failure.attempts, 2);
        health.succeeded();
        assert_eq!(health.last_failure(), None);
        assert!(!health.is_failing());
    }

    #[test]
    fn faults_are_off_until_turned_on() {
        let faults = CommitFaults::default();
        assert!(faults.injected().is_none());
        faults.clone().fail_commits(true);
        let injected = faults.injected().expect("on");
        assert_eq!(injected.sqlite_error_code(), Some(ffi::ErrorCode::DiskFull));
        faults.fail_commits(false);
        assert!(faults.injected().is_none());
    }

    #[tokio::test]
    async fn a_failed_commit_is_reported_until_a_probe_commit_succeeds_without_writes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let faults = CommitFaults::default();
        let store = EmbeddedStore::open(
            dir.path(),
            EmbeddedOptions {
                commit_faults: faults.clone(),
                ..EmbeddedOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{}", e.chain()));
        let health = store.commit_health();
        assert_eq!(health.last_failure(), None);

        faults.fail_commits(true);
        let written = store
            .writer()
            .write_whole(Box::new(|connection: &Connection| {
                connection
                    .execute_batch("CREATE TABLE IF NOT EXISTS probed (x INTEGER)")
                    .map_err(|e| Error::internal("create", e))
            }))
            .await;
        assert_eq!(
            written.err().map(|e| e.code()),
            Some(ErrorCode::Unavailable)
        );
        let failure = health.last_failure().expect("the failure is reported");
        assert!(
            failure.reason.contains("disk is full"),
            "{}",
            failure.reason
        );

        faults.fail_commits(false);
        let started = Instant::now();
        while health.last_failure().is_some() {
            assert!(
                started.elapsed() < PROBE_INTERVAL * 4,
                "no probe commit cleared the failure"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(started.elapsed() < PROBE_INTERVAL * 4);
    }
}
