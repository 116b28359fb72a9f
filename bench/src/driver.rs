//! How load is offered, and the closed loop (N clients back to back, each an async task
//! sending its next request when the last one answered). The open loop (a fixed rate from a
//! timetable, see [`crate::schedule`]) is [`crate::ticked`]. Both are bounded by a duration,
//! after an unrecorded warm-up, and stop by themselves.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::schedule::Schedule;
use crate::stats::Recorder;
use crate::tail::LoopGap;

/// What one request returns: `Ok` when it got the answer the scenario expects.
pub type OpFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// One request of a scenario in the closed loop: called with the client's number and the
/// request's sequence number.
pub type Op = Arc<dyn Fn(usize, u64) -> OpFuture + Send + Sync>;

/// How load is offered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// `clients` concurrent clients, each sending its next request when the last answered.
    Closed {
        /// How many clients.
        clients: usize,
    },
    /// A fixed rate whatever the answers, over `connections` keep-alive connections, one
    /// request at a time each (a request due while all are busy waits for one, and its wait
    /// counts in its latency): [`crate::ticked`].
    Open {
        /// The timetable.
        schedule: Schedule,
        /// How many connections carry the requests.
        connections: usize,
    },
}

/// Timing of a run.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Unrecorded warm-up before the measurement.
    pub warmup: Duration,
    /// The measured time.
    pub duration: Duration,
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Latencies and errors of the measured requests.
    pub recorder: Recorder,
    /// From the start of the measurement to the last measured answer.
    pub elapsed: Duration,
    /// Open loop: requests whose send waited for a free connection.
    pub waited_for_slot: u64,
    /// Open loop: how late (in ms) the tool itself sent a request after its due time, at most.
    pub max_send_lag_ms: f64,
    /// Open loop: the gaps between two turns of its loop longer than
    /// [`crate::tail::LOOP_GAP`], in time order; `None` for the closed loop.
    pub loop_gaps: Option<Vec<LoopGap>>,
}

impl Outcome {
    /// Successful requests per second of the measured time.
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.recorder.ok() as f64 / secs
        } else {
            0.0
        }
    }
}

/// Runs `op` with `clients` clients back to back for `window`; each client finishes the
/// request it has in flight when the window ends.
pub async fn closed(clients: usize, window: Window, op: Op) -> Outcome {
    let start = Instant::now();
    let measure_from = start + window.warmup;
    let end = measure_from + window.duration;
    let sequence = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients.max(1) {
        let op = op.clone();
        let sequence = sequence.clone();
        tasks.spawn(async move {
            let mut recorder = Recorder::default();
            let mut last_answer = measure_from;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let seq = sequence.fetch_add(1, Ordering::Relaxed);
                let outcome = op(client, seq).await;
                let answered = Instant::now();
                if sent >= measure_from {
                    recorder.record(answered - sent, outcome);
                    last_answer = last_answer.max(answered);
                }
            }
            (recorder, last_answer)
        });
    }
    let mut outcome = Outcome::default();
    let mut last = end;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((recorder, last_answer)) => {
                outcome.recorder.merge(recorder);
                last = last.max(last_answer);
            }
            Err(e) => outcome
                .recorder
                .record_error(format!("a client task failed: {e}")),
        }
    }
    outcome.elapsed = last - measure_from;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_closed_loop_stops_by_itself_and_records_failures_apart() {
        let op: Op = Arc::new(|_client, seq| {
            Box::pin(async move {
                tokio::task::yield_now().await;
                if seq.is_multiple_of(2) {
                    Ok(())
                } else {
                    Err("odd".to_owned())
                }
            })
        });
        let window = Window {
            warmup: Duration::ZERO,
            duration: Duration::from_millis(50),
        };
        let outcome = closed(3, window, op).await;
        assert!(outcome.recorder.ok() > 0);
        assert!(outcome.recorder.errors() > 0);
        assert_eq!(outcome.recorder.first_error(), Some("odd"));
    }
}
