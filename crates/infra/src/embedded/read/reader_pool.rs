//! The reader threads: read-only connections, each owned by a thread, fed by two lanes.
//!
//! # Why dedicated threads
//!
//! SQLite must not run on the async workers, so every read is a hop to another thread and
//! back. Through tokio's blocking pool, each hop woke a parked thread (about a quarter of a
//! read's CPU went to context switches on 2 cores). A fixed set of threads that keep taking
//! reads while the queue is not empty only park when there is nothing to do, so under load
//! a read costs a queue push and a wake-up of the waiting task, not two thread switches.
//!
//! Running point reads (one index lookup) on the async worker itself was tried: it saved
//! about 15% of the server's CPU under a steady rate of reads by id, but not latency (p99
//! 2.5–5.3 ms against 2.9–3.4 ms at 18.5k/s), and a read that meets a cold page or a busy
//! WAL index would hold a worker and every request queued on it. Reads stay on these threads.
//!
//! # Two lanes
//!
//! A fixed set of threads is a bound: a client that sends a few expensive query pages could
//! otherwise hold every thread and make every cheap read wait (eight `$nin` pages held two
//! readers 23 s). So reads come in two lanes:
//!
//! - the **point** lane ([`ReaderPool::read`]): reads that cost one index lookup or a short
//!   index range (by id, by version, a history page, stored hashes, collections). Every thread
//!   serves it, and thread 0 serves nothing else, so a point read always has a thread.
//! - the **scan** lane ([`ReaderPool::scan`]): work whose cost the client chooses (query pages,
//!   the store-wide audit listing). Only threads 1.. serve it, in the order it was queued, so
//!   scans use at most all threads but one. A thread that serves both takes a queued point
//!   read first: point reads are short, and they are what the lane protects.
//!
//! There are always at least two threads, so the point lane exists on one core too.
//!
//! # Stopping a scan
//!
//! A scan carries a [`Deadline`] and an "abandoned" flag that its waiting side sets when it
//! gives up (its future dropped: the request's timeout fired or the client went away). A scan
//! still queued when either holds is answered `UNAVAILABLE` without running; a running one is
//! interrupted by a progress handler that SQLite calls every [`PROGRESS_STEPS`] virtual-machine
//! steps, so its thread is free within microseconds, and any read transaction it left open is
//! rolled back before the thread takes other work. Point reads skip work whose waiter is gone
//! but are never interrupted: they are short, and the hot path stays free of the handler.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Select, Sender};
use rusqlite::Connection;
use shared_kernel::{Deadline, Error};
use tokio::sync::oneshot;

use crate::embedded::connection::open_reader;
use crate::embedded::lock::DirLock;

/// How many SQLite virtual-machine steps run between two checks of a scan's deadline and
/// flag: a few microseconds of work, so a stopped scan frees its thread at once, while the
/// check (an atomic load and a clock read) stays a negligible share of the scan.
pub(crate) const PROGRESS_STEPS: i32 = 1000;

/// The fewest reader threads: one for the point lane alone, at least one for scans.
pub(crate) const MIN_READER_THREADS: usize = 2;

/// A read to run on one of the pool's connections; it answers through a channel it captured.
type Job = Box<dyn FnOnce(&Connection) + Send>;

/// A scan and what tells its thread to stop it.
struct ScanJob {
    stop: Arc<StopSignal>,
    run: Job,
}

/// Why a scan should stop: its waiter is gone, or its deadline has passed. The progress
/// handler reads it between SQLite steps; a scan's work reads it between the rows it judges
/// in memory ([`StopSignal::check`]), which SQLite's handler does not see.
#[derive(Debug)]
pub(crate) struct StopSignal {
    abandoned: AtomicBool,
    deadline: Option<Deadline>,
}

impl StopSignal {
    fn new(deadline: Option<Deadline>) -> Self {
        Self {
            abandoned: AtomicBool::new(false),
            deadline,
        }
    }

    /// A signal that is never raised (work run outside the pool, in tests).
    #[cfg(test)]
    pub(crate) fn never() -> Self {
        Self::new(None)
    }

    /// Whether the scan's work is no longer wanted.
    pub(crate) fn raised(&self) -> bool {
        self.abandoned.load(Ordering::Relaxed) || self.deadline.is_some_and(Deadline::has_passed)
    }

    /// `UNAVAILABLE` once the signal is raised, naming what was stopped (a gerund phrase).
    ///
    /// # Errors
    /// As said.
    pub(crate) fn check(&self, action: &str) -> Result<(), Error> {
        if self.raised() {
            return Err(Error::new(
                shared_kernel::ErrorCode::Unavailable,
                format!(
                    "stopped while {action}: the request reached its deadline (or its client \
                     went away) before the query finished; narrow the filter or the page"
                ),
            ));
        }
        Ok(())
    }
}

/// Marks a scan abandoned when its waiting side is dropped before (or after) it answered.
struct AbandonOnDrop(Arc<StopSignal>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        self.0.abandoned.store(true, Ordering::Relaxed);
    }
}

/// Read-only connections to one database file, each owned by its own thread.
pub(crate) struct ReaderPool {
    /// Taken (closed) on drop, with `scans`, which lets the threads finish the queues and stop.
    points: Option<Sender<Job>>,
    scans: Option<Sender<ScanJob>>,
    threads: Vec<JoinHandle<()>>,
    /// Keeps the folder locked for as long as a reader's connection is open.
    _lock: Arc<DirLock>,
}

impl ReaderPool {
    /// Opens `threads` read-only connections to `path` (at least [`MIN_READER_THREADS`]),
    /// which must exist, and starts a thread for each. Every connection is opened here, so
    /// that a file readers cannot open fails at start rather than at the first request.
    ///
    /// # Errors
    /// As [`open_reader`]; `UNAVAILABLE` when a thread cannot be started.
    pub(crate) fn new(path: &Path, threads: usize, lock: Arc<DirLock>) -> Result<Self, Error> {
        let connections = (0..threads.max(MIN_READER_THREADS))
            .map(|_| open_reader(path))
            .collect::<Result<Vec<_>, Error>>()?;
        let (points, point_queue) = crossbeam_channel::unbounded::<Job>();
        let (scans, scan_queue) = crossbeam_channel::unbounded::<ScanJob>();
        let mut pool = Self {
            points: Some(points),
            scans: Some(scans),
            threads: Vec::with_capacity(connections.len()),
            _lock: lock,
        };
        for (index, connection) in connections.into_iter().enumerate() {
            let point_queue = point_queue.clone();
            // Thread 0 is the point lane's own; the others serve both lanes.
            let scan_queue = (index > 0).then(|| scan_queue.clone());
            let thread = std::thread::Builder::new()
                .name(format!("offchain-reader-{index}"))
                .spawn(move || match scan_queue {
                    None => serve_points(&connection, &point_queue),
                    Some(scan_queue) => serve_both(connection, &point_queue, &scan_queue),
                })
                .map_err(|e| Error::unavailable("could not start a reader thread", e))?;
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    /// Runs `work`, a point read (see the module docs), on one of the pool's connections.
    /// Work whose caller has gone away before it started is skipped.
    ///
    /// # Errors
    /// What `work` returns; `INTERNAL_ERROR` if it panicked.
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, Error>
    where
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
            // Nobody is waiting any more (the request was cancelled): nothing to do.
            if answer.is_closed() {
                return;
            }
            let _ = answer.send(work(connection));
        });
        let queued = self
            .points
            .as_ref()
            .is_some_and(|points| points.send(job).is_ok());
        if !queued {
            return Err(stopped_threads());
        }
        answered
            .await
            .map_err(|e| Error::internal("a read did not complete (its statement panicked)", e))?
    }

    /// Runs `work`, a scan whose cost the client chooses (see the module docs), on one of the
    /// threads that serve scans, after the scans queued before it. It does not start once
    /// `deadline` has passed or this future is dropped, and its statements are interrupted
    /// when either happens while it runs.
    ///
    /// `work` is handed the scan's [`StopSignal`] to check between steps SQLite does not see.
    ///
    /// # Errors
    /// What `work` returns (an interrupted statement is `UNAVAILABLE`, see `embedded/error.rs`);
    /// `UNAVAILABLE` when the deadline passed before it started; `INTERNAL_ERROR` if it
    /// panicked.
    pub(crate) async fn scan<T, F>(&self, deadline: Option<Deadline>, work: F) -> Result<T, Error>
    where
        F: FnOnce(&Connection, &StopSignal) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let stop = Arc::new(StopSignal::new(deadline));
        let _abandon_on_drop = AbandonOnDrop(Arc::clone(&stop));
        let (answer, answered) = oneshot::channel();
        let signal = Arc::clone(&stop);
        let run: Job = Box::new(move |connection| {
            let result = signal
                .check("waiting for a reader")
                .and_then(|()| work(connection, &signal));
            let _ = answer.send(result);
        });
        let queued = self
            .scans
            .as_ref()
            .is_some_and(|scans| scans.send(ScanJob { stop, run }).is_ok());
        if !queued {
            return Err(stopped_threads());
        }
        answered
            .await
            .map_err(|e| Error::internal("a read did not complete (its statement panicked)", e))?
    }
}

fn stopped_threads() -> Error {
    Error::internal(
        "the reader threads have stopped",
        "the read queue is closed",
    )
}

impl Drop for ReaderPool {
    fn drop(&mut self) {
        drop(self.points.take());
        drop(self.scans.take());
        for thread in self.threads.drain(..) {
            // A reader thread catches the panics of its reads, so joining cannot fail on one.
            let _ = thread.join();
        }
    }
}

/// Runs one job, keeping the thread (and its connection) alive if the job panics: a panicking
/// read drops its answer channel, so its caller gets an error.
fn run_point(connection: &Connection, job: Job) {
    if catch_unwind(AssertUnwindSafe(|| job(connection))).is_err() {
        tracing::error!("a read panicked; its request was answered with an error");
    }
}

/// Runs one scan under a progress handler that interrupts it once its stop signal is raised,
/// then leaves the connection as a point read expects it: no handler, no open transaction.
fn run_scan(connection: &mut Connection, job: ScanJob) {
    let ScanJob { stop, run } = job;
    let installed = connection
        .progress_handler(PROGRESS_STEPS, Some(move || stop.raised()))
        .is_ok();
    if !installed {
        tracing::warn!("could not install a reader's progress handler; the scan cannot be stopped");
    }
    run_point(connection, run);
    if let Err(e) = connection.progress_handler(0, None::<fn() -> bool>) {
        tracing::warn!(error = %e, "could not remove a reader's progress handler");
    }
    if !connection.is_autocommit() {
        // An interrupted read may leave its snapshot open; the next read must see new commits.
        if let Err(e) = connection.execute_batch("ROLLBACK") {
            tracing::error!(error = %e, "could not end a reader's interrupted transaction");
        }
    }
}

/// Thread 0: serves point reads until the point queue is closed and empty.
fn serve_points(connection: &Connection, points: &Receiver<Job>) {
    while let Ok(job) = points.recv() {
        run_point(connection, job);
    }
}

/// Threads 1..: serve both lanes, a queued point read first, until both queues are closed.
fn serve_both(mut connection: Connection, points: &Receiver<Job>, scans: &Receiver<ScanJob>) {
    let mut select = Select::new();
    let point_index = select.recv(points);
    select.recv(scans);
    loop {
        if let Ok(job) = points.try_recv() {
            run_point(&connection, job);
            continue;
        }
        // The selected operation must be completed with its own receiver.
        let ready = select.select();
        if ready.index() == point_index {
            match ready.recv(points) {
                Ok(job) => run_point(&connection, job),
                Err(_) => break,
            }
        } else {
            match ready.recv(scans) {
                Ok(job) => run_scan(&mut connection, job),
                Err(_) => break,
            }
        }
    }
    // One queue is closed, so the pool is being dropped (it closes both): finish the rest.
    while let Ok(job) = points.recv() {
        run_point(&connection, job);
    }
    while let Ok(job) = scans.recv() {
        run_scan(&mut connection, job);
    }
}

#[cfg(test)]
mod tests;
