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
use crate::tail::LoopGap;

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
    /// Ticked open loop: the gaps between two turns of its loop longer than
    /// [`crate::tail::LOOP_GAP`], in time order; `None` for loops that do not watch their turns.
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

/// One lane's share of the open loop, shared by its timetable and its request tasks (all on
/// the lane's thread).
#[derive(Default)]
struct LaneState {
    recorder: Mutex<Recorder>,
    in_flight: AtomicUsize,
    /// Signalled by every request that finishes: a slot is free.
    finished: Notify,
    last_answer: Mutex<Option<Instant>>,
}

/// What a lane's timetable reports once its requests were sent.
#[derive(Default)]
struct Dispatched {
    waited_for_slot: u64,
    max_lag: Duration,
}

/// The most threads the open loop keeps its timetable on.
const MAX_LANES: usize = 4;

/// The open loop runs in lanes, one per core (at most [`MAX_LANES`]): a thread with a
/// single-threaded runtime that keeps every `lanes`-th request of the timetable and does its
/// requests' I/O. Handing each send from a timetable thread to the runtime's workers cost a
/// futex wake-up per request (see [`crate::precise_timer`]); one lane alone saturated its core
/// at about 32k requests/s on two cores, and then requests waited for it, not for the server.
async fn open(
    schedule: Schedule,
    max_in_flight: usize,
    clients: usize,
    window: Window,
    op: Op,
) -> Outcome {
    let lanes = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_LANES);
    let per_lane_cap = max_in_flight.max(1).div_ceil(lanes);
    // Every lane starts from the same instant, a moment ahead so that all are running by then.
    let start = Instant::now() + Duration::from_millis(20);
    let measure_from = start + schedule.offset(schedule.due_before(window.warmup));
    let mut handles = Vec::with_capacity(lanes);
    for lane in 0..lanes {
        let state = Arc::new(LaneState::default());
        let lane_state = Arc::clone(&state);
        let op = Arc::clone(&op);
        let handle = tokio::task::spawn_blocking(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start an open-loop lane's runtime: {e}"))?;
            let timetable = Timetable {
                schedule,
                start,
                window,
                lane,
                lanes,
            };
            runtime.block_on(keep_timetable(
                timetable,
                per_lane_cap,
                clients,
                op,
                lane_state,
            ))
        });
        handles.push((state, handle));
    }
    let mut outcome = Outcome::default();
    let mut last = measure_from;
    for (state, handle) in handles {
        match handle.await {
            Ok(Ok(dispatched)) => {
                outcome.waited_for_slot += dispatched.waited_for_slot;
                outcome.max_send_lag_ms = outcome
                    .max_send_lag_ms
                    .max(dispatched.max_lag.as_secs_f64() * 1e3);
            }
            Ok(Err(e)) => outcome.recorder.record_error(e),
            Err(e) => outcome
                .recorder
                .record_error(format!("an open-loop lane failed: {e}")),
        }
        let recorder = std::mem::take(
            &mut *state
                .recorder
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        outcome.recorder.merge(recorder);
        for _ in 0..state.in_flight.load(Ordering::Acquire) {
            outcome
                .recorder
                .record_error("no answer within 30 s after the run".to_owned());
        }
        if let Some(answered) = *state
            .last_answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        {
            last = last.max(answered);
        }
    }
    outcome.elapsed = last
        .saturating_duration_since(measure_from)
        .max(window.duration);
    outcome
}

/// Which requests of the timetable a lane sends: every `lanes`-th from `lane`.
struct Timetable {
    schedule: Schedule,
    start: Instant,
    window: Window,
    lane: usize,
    lanes: usize,
}

/// Sends the lane's requests when they are due (or as soon as a slot frees, when `cap` are
/// outstanding), then waits for the answers (at most 30 s).
async fn keep_timetable(
    timetable: Timetable,
    cap: usize,
    clients: usize,
    op: Op,
    state: Arc<LaneState>,
) -> Result<Dispatched, String> {
    let Timetable {
        schedule,
        start,
        window,
        lane,
        lanes,
    } = timetable;
    let timer =
        PreciseTimer::new().map_err(|e| format!("cannot create the open loop's timer: {e}"))?;
    let warmup_requests = schedule.due_before(window.warmup);
    let total = schedule.due_before(window.warmup + window.duration);
    let hard_stop = start + window.warmup + window.duration + Duration::from_secs(30);
    let mut dispatched = Dispatched::default();
    for i in (u64::try_from(lane).unwrap_or(0)..total).step_by(lanes.max(1)) {
        let due = start + schedule.offset(i);
        timer
            .sleep_until(due)
            .await
            .map_err(|e| format!("the open loop's timer failed: {e}"))?;
        let mut waited = false;
        while state.in_flight.load(Ordering::Acquire) >= cap {
            waited = true;
            let freed = state.finished.notified();
            if tokio::time::timeout_at(hard_stop.into(), freed)
                .await
                .is_err()
            {
                break;
            }
        }
        dispatched.waited_for_slot += u64::from(waited);
        let measured = i >= warmup_requests;
        if measured {
            dispatched.max_lag = dispatched
                .max_lag
                .max(Instant::now().saturating_duration_since(due));
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
                    .record_due(due, answered, outcome);
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
    Ok(dispatched)
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
