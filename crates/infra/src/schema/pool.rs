//! The validation threads: where schema work that may be slow runs, off the serving threads.
//!
//! A serving thread runs many connections' tasks; a validation that takes a second there
//! (a large schema, a large document, a stored pattern on the backtracking engine) would hold
//! every one of them, `/healthz` included. So such work is a job for these few threads, and
//! the request's task waits for the answer without holding its thread. Jobs queue in order;
//! a job whose request has gone (timed out, disconnected) before it starts is skipped, so a
//! burst of abandoned requests does not keep the threads busy.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use shared_kernel::Error;
use tokio::sync::oneshot;

/// One piece of work; it answers through the channel it captured, unless nobody waits.
type Job = Box<dyn FnOnce() + Send>;

/// A few threads that run validation jobs from one queue.
pub(super) struct ValidationPool {
    /// Taken (closed) on drop, which lets the threads finish the queue and stop.
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl ValidationPool {
    /// Starts `threads` (at least one) validation threads.
    ///
    /// # Errors
    /// `UNAVAILABLE` when a thread cannot be started.
    pub(super) fn new(threads: usize) -> Result<Self, Error> {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        let mut pool = Self {
            jobs: Some(jobs),
            threads: Vec::new(),
        };
        for index in 0..threads.max(1) {
            let queue = queue.clone();
            let thread = std::thread::Builder::new()
                .name(format!("offchain-schema-{index}"))
                .spawn(move || {
                    for job in queue {
                        // A panic is answered as a dropped channel (INTERNAL_ERROR) by `run`;
                        // the thread goes on with the next job.
                        let _ = catch_unwind(AssertUnwindSafe(job));
                    }
                })
                .map_err(|e| Error::unavailable("could not start a schema validation thread", e))?;
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    /// Runs `work` on a validation thread and waits for it without blocking this thread.
    ///
    /// # Errors
    /// What `work` returns; `INTERNAL_ERROR` if it panicked or the threads have stopped.
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T, Error>
    where
        F: FnOnce() -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move || {
            if answer.is_closed() {
                return; // The request is gone: nobody would read the answer.
            }
            let _ = answer.send(work());
        });
        let queued = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(job).is_ok());
        if !queued {
            return Err(Error::internal(
                "the schema validation threads have stopped",
                "the validation queue is closed",
            ));
        }
        answered
            .await
            .map_err(|e| Error::internal("a schema validation did not complete (it panicked)", e))?
    }
}

impl Drop for ValidationPool {
    fn drop(&mut self) {
        drop(self.jobs.take());
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
