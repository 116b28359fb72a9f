//! The two loops that drive an operation: closed (N clients back to back) and open (a fixed
//! rate from a timetable, see [`crate::schedule`]). Both are bounded by a duration, after an
//! unrecorded warm-up, and stop by themselves.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::precise_timer::PreciseTimer;
use crate::schedule::Schedule;
use crate::stats::Recorder;

/// What one request returns: `Ok` when it got the answer the scenario expects.
pub type OpFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// One request of a scenario: called with the client's number (closed loop; the request's
/// number modulo the clients in the open loop) and the request's sequence number.
pub type Op = Arc<dyn Fn(usize, u64) -> OpFuture + Send + Sync>;

/// How load is offered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// `clients` concurrent clients, each sending its next request when the last answered.
    Closed {
        /// How many clients.
        clients: usize,
    },
    /// A fixed rate whatever the answers, with at most `max_in_flight` requests outstanding
    /// (a late request waits for a slot, and its wait counts in its latency).
    Open {
        /// The timetable.
        schedule: Schedule,
        /// Cap on outstanding requests, so an overloaded server cannot exhaust the tool.
        max_in_flight: usize,
        /// How many connections the requests are spread over (the op's client number).
        clients: usize,
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
    /// Open loop: requests whose send waited for a free in-flight slot.
    pub waited_for_slot: u64,
    /// Open loop: how late (in ms) the tool itself sent a request after its due time, at most.
    pub max_send_lag_ms: f64,
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

/// Runs `op` under `load` for `window`, then waits (at most 30 s) for outstanding requests.
pub async fn run(load: Load, window: Window, op: Op) -> Outcome {
    match load {
        Load::Closed { clients } => closed(clients, window, op).await,
        Load::Open {
            schedule,
            max_in_flight,
            clients,
        } => open(schedule, max_in_flight, clients, window, op).await,
    }
}

async fn closed(clients: usize, window: Window, op: Op) -> Outcome {
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

/// Shared between the open loop's timetable and its request tasks (all on one thread).
struct OpenState {
    recorder: Mutex<Recorder>,
    in_flight: AtomicUsize,
    /// Signalled by every request that finishes: a slot is free.
    finished: Notify,
    last_answer: Mutex<Option<Instant>>,
}

/// What the timetable reports once every request was sent.
struct Dispatched {
    measure_from: Instant,
    waited_for_slot: u64,
    max_lag: Duration,
}

/// The open loop runs on a thread of its own with a single-threaded runtime: the timetable,
/// the requests and their connections' I/O. Handing each send from a timetable thread to the
/// runtime's workers cost a futex wake-up per request, which on two cores took more from the
/// server under test than the request did (see [`crate::precise_timer`]).
async fn open(
    schedule: Schedule,
    max_in_flight: usize,
    clients: usize,
    window: Window,
    op: Op,
) -> Outcome {
    let state = Arc::new(OpenState {
        recorder: Mutex::new(Recorder::default()),
        in_flight: AtomicUsize::new(0),
        finished: Notify::new(),
        last_answer: Mutex::new(None),
    });
    let loop_state = Arc::clone(&state);
    let dispatched = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the open loop's runtime: {e}"))?;
        runtime.block_on(keep_timetable(
            schedule,
            max_in_flight,
            clients,
            window,
            op,
            loop_state,
        ))
    })
    .await
    .map_err(|e| format!("the open loop failed: {e}"))
    .and_then(|result| result);
    let mut outcome = Outcome::default();
    let dispatched = match dispatched {
        Ok(dispatched) => dispatched,
        Err(e) => {
            outcome.recorder.record_error(e);
            return outcome;
        }
    };
    let mut recorder = std::mem::take(
        &mut *state
            .recorder
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    let unfinished = state.in_flight.load(Ordering::Acquire);
    for _ in 0..unfinished {
        recorder.record_error("no answer within 30 s after the run".to_owned());
    }
    let last = state
        .last_answer
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .unwrap_or(dispatched.measure_from);
    outcome.recorder = recorder;
    outcome.elapsed = last
        .saturating_duration_since(dispatched.measure_from)
        .max(window.duration);
    outcome.waited_for_slot = dispatched.waited_for_slot;
    outcome.max_send_lag_ms = dispatched.max_lag.as_secs_f64() * 1e3;
    outcome
}

/// Sends every request of the timetable when it is due (or as soon as a slot frees, when
/// `max_in_flight` are outstanding), then waits for the answers (at most 30 s).
async fn keep_timetable(
    schedule: Schedule,
    max_in_flight: usize,
    clients: usize,
    window: Window,
    op: Op,
    state: Arc<OpenState>,
) -> Result<Dispatched, String> {
    let timer =
        PreciseTimer::new().map_err(|e| format!("cannot create the open loop's timer: {e}"))?;
    let warmup_requests = schedule.due_before(window.warmup);
    let total = schedule.due_before(window.warmup + window.duration);
    let start = Instant::now();
    let hard_stop = start + window.warmup + window.duration + Duration::from_secs(30);
    let mut waited_for_slot = 0u64;
    let mut max_lag = Duration::ZERO;
    for i in 0..total {
        let due = start + schedule.offset(i);
        timer
            .sleep_until(due)
            .await
            .map_err(|e| format!("the open loop's timer failed: {e}"))?;
        let mut waited = false;
        while state.in_flight.load(Ordering::Acquire) >= max_in_flight.max(1) {
            waited = true;
            let freed = state.finished.notified();
            if tokio::time::timeout_at(hard_stop.into(), freed)
                .await
                .is_err()
            {
                break;
            }
        }
        waited_for_slot += u64::from(waited);
        let measured = i >= warmup_requests;
        if measured {
            max_lag = max_lag.max(Instant::now().saturating_duration_since(due));
        }
        state.in_flight.fetch_add(1, Ordering::AcqRel);
        let task_state = Arc::clone(&state);
        let future = op(usize::try_from(i).unwrap_or(0) % clients.max(1), i);
        tokio::spawn(async move {
            let outcome = future.await;
            let answered = Instant::now();
            if measured {
                // Coordinated-omission correct: from when it was due, not when it left.
                task_state
                    .recorder
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .record(answered - due, outcome);
                let mut last = task_state
                    .last_answer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                *last = Some(last.map_or(answered, |l| l.max(answered)));
            }
            task_state.in_flight.fetch_sub(1, Ordering::AcqRel);
            task_state.finished.notify_one();
        });
    }
    while state.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < hard_stop {
        let freed = state.finished.notified();
        // Bounded, so that the check above runs again even if a wake-up was taken by the
        // loop before.
        let _ = tokio::time::timeout(Duration::from_millis(10), freed).await;
    }
    Ok(Dispatched {
        measure_from: start + schedule.offset(warmup_requests),
        waited_for_slot,
        max_lag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counting_op(counter: Arc<AtomicU64>) -> Op {
        Arc::new(move |_client, _seq| {
            let counter = counter.clone();
            Box::pin(async move {
                counter.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_open_loop_sends_exactly_what_its_timetable_holds() {
        let counter = Arc::new(AtomicU64::new(0));
        let schedule = Schedule::new(500.0).expect("rate");
        let window = Window {
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(200),
        };
        let load = Load::Open {
            schedule,
            max_in_flight: 16,
            clients: 4,
        };
        let outcome = run(load, window, counting_op(counter.clone())).await;
        // 50 warm-up requests and 100 measured ones, whatever the machine's speed.
        assert_eq!(counter.load(Ordering::Relaxed), 150);
        assert_eq!(outcome.recorder.ok(), 100);
        assert_eq!(outcome.recorder.errors(), 0);
    }

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
        let outcome = run(Load::Closed { clients: 3 }, window, op).await;
        assert!(outcome.recorder.ok() > 0);
        assert!(outcome.recorder.errors() > 0);
        assert_eq!(outcome.recorder.first_error(), Some("odd"));
    }
}
