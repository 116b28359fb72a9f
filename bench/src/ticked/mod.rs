//! The open loop: one thread that wakes on a fixed tick, never on a socket.
//!
//! The tool shares two cores with the server it measures. An async open loop wakes once for
//! every send (its timer) and once for every answer (the socket): the suite's earlier one, a
//! lane per core on a tokio runtime, spent about 40–50 µs of CPU per request at 20k
//! requests/s, twice its closed-loop cost, most of it in the guest kernel's wake-ups, and with
//! the server it kept the two cores 90–94% busy, where any stall queues requests behind every
//! connection. This loop sleeps on a periodic `timerfd` instead, and at each tick takes every
//! answer that has arrived (one `epoll_wait` that never blocks), then sends every request that
//! has come due: one wake-up per tick, whatever the rate. It is the suite's only open loop, for
//! reads and writes alike (half the tool's CPU per request, and no worse a tail, in alternating
//! rounds against the lanes: see docs/benchmarks.md).
//!
//! The price is resolution, and it can only make latency look worse, never better. Latency
//! runs from the request's due time (no coordinated omission); a request leaves at the first
//! tick at or after it is due, and its answer is taken at the first tick after it arrived. A
//! figure may so overstate the true one by up to two ticks (0.2 ms at the default 100 µs).
//!
//! The HTTP/1.1 client is minimal, like wrk's: keep-alive connections opened before the run,
//! one request per connection at a time (no pipelining), answers with a `Content-Length`. A
//! chunked answer is an error that names it.

mod answer;
mod request;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::buffer::spare_capacity;
use rustix::event::epoll;
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};

use self::answer::{Parsed, parse_answer};
pub use self::request::{AnswerCheck, Method, PlainRequest};
use crate::driver::{Outcome, Window};
use crate::lean::unexpected;
use crate::schedule::Schedule;
use crate::stats::Recorder;
use crate::tail::{self, LoopGap};

/// The tick when none is asked for.
pub const DEFAULT_TICK: Duration = Duration::from_micros(100);

/// How long the loop waits for outstanding answers after the last send.
const DRAIN: Duration = Duration::from_secs(30);

/// The load the ticked loop offers.
#[derive(Debug, Clone, Copy)]
pub struct TickedLoad {
    /// The timetable.
    pub schedule: Schedule,
    /// Connections, each carrying one request at a time: a request due while all are busy
    /// waits for one, and the wait counts in its latency.
    pub connections: usize,
    /// Warm-up and measured time.
    pub window: Window,
    /// How often the loop wakes.
    pub tick: Duration,
}

/// Runs `get` under `load` on the calling thread (blocking), then waits at most 30 s for the
/// answers still outstanding.
///
/// # Errors
/// When the connections, the timer or the poller cannot be set up, or a connection cannot be
/// opened again after the server closed one.
pub fn run(load: &TickedLoad, request: &PlainRequest) -> Result<Outcome, String> {
    let mut lane = Lane::open(request, load.connections.max(1))?;
    let ticker = Ticker::start(load.tick)?;
    let schedule = load.schedule;
    let start = Instant::now();
    let warmup_requests = schedule.due_before(load.window.warmup);
    let total = schedule.due_before(load.window.warmup + load.window.duration);
    let measure_from = start + schedule.offset(warmup_requests);
    let give_up = start + load.window.warmup + load.window.duration + DRAIN;
    let mut next = 0u64;
    // Requests before this index found every connection busy when they came due.
    let mut waited_through = 0u64;
    let mut outcome = Outcome::default();
    let mut max_lag = Duration::ZERO;
    let mut last_answer = None;
    let mut gaps = Vec::new();
    let mut last_turn = Instant::now();
    loop {
        ticker.wait()?;
        let turn = Instant::now();
        if turn - last_turn > tail::LOOP_GAP {
            gaps.push(LoopGap {
                from: last_turn,
                to: turn,
            });
        }
        last_turn = turn;
        lane.take_answers(&mut outcome.recorder, &mut last_answer)?;
        let now = Instant::now();
        while next < total {
            let due = start + schedule.offset(next);
            if due > now {
                break;
            }
            let measured = next >= warmup_requests;
            if !lane.send(next, due, measured, &mut outcome.recorder)? {
                waited_through = schedule.due_before(now - start);
                break;
            }
            outcome.waited_for_slot += u64::from(next < waited_through);
            if measured {
                max_lag = max_lag.max(now - due);
            }
            next += 1;
        }
        if next >= total && lane.in_flight() == 0 {
            break;
        }
        if now >= give_up {
            for _ in 0..lane.measured_in_flight() {
                outcome
                    .recorder
                    .record_error("no answer within 30 s after the run".to_owned());
            }
            break;
        }
    }
    outcome.max_send_lag_ms = max_lag.as_secs_f64() * 1e3;
    // Gaps in the warm-up stay: no measured request can overlap them.
    outcome.loop_gaps = Some(gaps);
    outcome.elapsed = last_answer
        .map_or(Duration::ZERO, |last: Instant| {
            last.saturating_duration_since(measure_from)
        })
        .max(load.window.duration);
    Ok(outcome)
}

/// A periodic `timerfd`, read with a blocking `read`: the loop's only sleep.
struct Ticker {
    fd: OwnedFd,
}

impl Ticker {
    fn start(tick: Duration) -> Result<Self, String> {
        let fd = timerfd_create(TimerfdClockId::Monotonic, TimerfdFlags::CLOEXEC)
            .map_err(|e| format!("cannot create the tick timer: {e}"))?;
        let period = timespec(tick.max(Duration::from_micros(1)));
        let value = Itimerspec {
            it_interval: period,
            it_value: period,
        };
        timerfd_settime(&fd, TimerfdTimerFlags::empty(), &value)
            .map_err(|e| format!("cannot arm the tick timer: {e}"))?;
        Ok(Self { fd })
    }

    /// Sleeps until the next tick (returns at once when ticks were missed).
    fn wait(&self) -> Result<(), String> {
        let mut expirations = [0u8; 8];
        loop {
            match rustix::io::read(&self.fd, &mut expirations) {
                Ok(_) => return Ok(()),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(format!("the tick timer failed: {e}")),
            }
        }
    }
}

/// A request on a connection.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    due: Instant,
    measured: bool,
}

/// A keep-alive connection and the answer it is reading.
struct Connection {
    stream: TcpStream,
    in_flight: Option<InFlight>,
    answer: Vec<u8>,
}

/// The connections, the poller that watches them and the buffers they share.
struct Lane<'a> {
    request_of: &'a PlainRequest,
    poller: OwnedFd,
    connections: Vec<Connection>,
    /// Indexes of connections with no request in flight.
    idle: Vec<usize>,
    events: Vec<epoll::Event>,
    request: Vec<u8>,
    chunk: Vec<u8>,
}

impl<'a> Lane<'a> {
    fn open(request_of: &'a PlainRequest, count: usize) -> Result<Self, String> {
        let poller = epoll::create(epoll::CreateFlags::CLOEXEC)
            .map_err(|e| format!("cannot create the poller: {e}"))?;
        let mut lane = Self {
            request_of,
            poller,
            connections: Vec::with_capacity(count),
            idle: (0..count).rev().collect(),
            events: Vec::with_capacity(count),
            request: Vec::with_capacity(2048),
            chunk: vec![0; 64 * 1024],
        };
        for index in 0..count {
            let stream = lane.connect(index)?;
            lane.connections.push(Connection {
                stream,
                in_flight: None,
                answer: Vec::new(),
            });
        }
        Ok(lane)
    }

    /// A new non-blocking connection, watched by the poller as connection `index`.
    fn connect(&self, index: usize) -> Result<TcpStream, String> {
        let authority = &self.request_of.authority;
        let stream = TcpStream::connect(authority.as_str())
            .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
        stream
            .set_nodelay(true)
            .and_then(|()| stream.set_nonblocking(true))
            .map_err(|e| format!("cannot set up a connection to {authority}: {e}"))?;
        epoll::add(
            &self.poller,
            &stream,
            epoll::EventData::new_u64(index as u64),
            epoll::EventFlags::IN,
        )
        .map_err(|e| format!("cannot watch a connection: {e}"))?;
        Ok(stream)
    }

    fn in_flight(&self) -> usize {
        self.connections.len() - self.idle.len()
    }

    fn measured_in_flight(&self) -> usize {
        self.connections
            .iter()
            .filter(|c| c.in_flight.is_some_and(|r| r.measured))
            .count()
    }

    /// Sends request `seq` on an idle connection; `false` when every connection is busy.
    fn send(
        &mut self,
        seq: u64,
        due: Instant,
        measured: bool,
        recorder: &mut Recorder,
    ) -> Result<bool, String> {
        let Some(index) = self.idle.pop() else {
            return Ok(false);
        };
        self.request_of.write(seq, &mut self.request);
        let connection = &mut self.connections[index];
        connection.in_flight = Some(InFlight { due, measured });
        // The connection carries nothing else, so a request of a few kilobytes always fits
        // its empty send buffer: a short write means the connection is broken.
        match connection.stream.write(&self.request) {
            Ok(written) if written == self.request.len() => Ok(true),
            Ok(_) => {
                self.fail(index, "the request did not fit the socket", recorder)?;
                Ok(true)
            }
            Err(e) => {
                self.fail(index, &format!("sending failed: {e}"), recorder)?;
                Ok(true)
            }
        }
    }

    /// Reads every connection the poller finds readable and records the answers completed.
    fn take_answers(
        &mut self,
        recorder: &mut Recorder,
        last_answer: &mut Option<Instant>,
    ) -> Result<(), String> {
        self.events.clear();
        let zero = timespec(Duration::ZERO);
        epoll::wait(&self.poller, spare_capacity(&mut self.events), Some(&zero))
            .map_err(|e| format!("the poller failed: {e}"))?;
        for ready in 0..self.events.len() {
            let index = usize::try_from(self.events[ready].data.u64()).unwrap_or(usize::MAX);
            if index < self.connections.len() {
                self.read_answer(index, recorder, last_answer)?;
            }
        }
        Ok(())
    }

    fn read_answer(
        &mut self,
        index: usize,
        recorder: &mut Recorder,
        last_answer: &mut Option<Instant>,
    ) -> Result<(), String> {
        loop {
            let connection = &mut self.connections[index];
            let read = match connection.stream.read(&mut self.chunk) {
                Ok(0) => {
                    return self.fail(index, "the server closed the connection", recorder);
                }
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.fail(index, &format!("reading failed: {e}"), recorder),
            };
            connection.answer.extend_from_slice(&self.chunk[..read]);
            let Some(request) = connection.in_flight else {
                return self.fail(index, "the server sent bytes nobody asked for", recorder);
            };
            let parsed = match parse_answer(&connection.answer) {
                Ok(Parsed::Incomplete) => continue,
                Ok(Parsed::Complete(parsed)) => parsed,
                Err(why) => return self.fail(index, &why, recorder),
            };
            let answered = Instant::now();
            let body = &connection.answer[parsed.body.clone()];
            let outcome = if parsed.status == self.request_of.expected {
                self.request_of
                    .check
                    .as_ref()
                    .map_or(Ok(()), |check| check(body))
            } else {
                Err(unexpected(parsed.status, body))
            };
            if request.measured {
                recorder.record_due(request.due, answered, outcome);
                *last_answer = Some(last_answer.map_or(answered, |l| l.max(answered)));
            }
            connection.answer.clear();
            connection.in_flight = None;
            if parsed.close {
                self.reopen(index)?;
            }
            self.idle.push(index);
            return Ok(());
        }
    }

    /// Records `why` against the connection's request (when measured) and replaces the
    /// connection.
    fn fail(&mut self, index: usize, why: &str, recorder: &mut Recorder) -> Result<(), String> {
        let connection = &mut self.connections[index];
        let request = connection.in_flight.take();
        if request.is_some_and(|r| r.measured) {
            recorder.record_error(why.to_owned());
        }
        connection.answer.clear();
        self.reopen(index)?;
        if request.is_some() {
            self.idle.push(index);
        }
        Ok(())
    }

    /// Replaces connection `index` with a new one (the old one's descriptor closes, which
    /// also takes it off the poller).
    fn reopen(&mut self, index: usize) -> Result<(), String> {
        let stream = self.connect(index)?;
        self.connections[index].stream = stream;
        Ok(())
    }
}

/// `duration` as the kernel's `timespec` (the longest durations saturate).
fn timespec(duration: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(duration.subsec_nanos()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A server on loopback: `GET /ok` answers 200, `GET /closing` 200 and closes, `POST
    /// /echo` 201 with the body it was sent, anything else 404.
    async fn server() -> std::net::SocketAddr {
        use axum::Router;
        use axum::http::{StatusCode, header};
        use axum::routing::{get, post};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let app = Router::new()
            .route("/ok", get(|| async { "fine" }))
            .route(
                "/closing",
                get(|| async { ([(header::CONNECTION, "close")], "bye") }),
            )
            .route(
                "/echo",
                post(|body: String| async move { (StatusCode::CREATED, body) }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        address
    }

    /// Starts [`server`] and runs 50 warm-up then 200 measured GETs of `path` against it, on a
    /// blocking thread as the command line does.
    async fn run_against(path: &'static str) -> Outcome {
        let address = server().await;
        let get = PlainRequest::get(
            &address.to_string(),
            Arc::new(move |_| path.to_owned()),
            200,
        );
        run_request(get).await
    }

    async fn run_request(request: PlainRequest) -> Outcome {
        let load = TickedLoad {
            schedule: Schedule::new(1000.0).expect("rate"),
            connections: 4,
            window: Window {
                warmup: Duration::from_millis(50),
                duration: Duration::from_millis(200),
            },
            tick: DEFAULT_TICK,
        };
        tokio::task::spawn_blocking(move || run(&load, &request).expect("runs"))
            .await
            .expect("joins")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn it_sends_exactly_the_timetable_and_records_only_the_measured_answers() {
        let outcome = run_against("/ok").await;
        // 50 warm-up requests (not recorded), then 200 measured ones.
        assert_eq!(outcome.recorder.ok(), 200);
        assert_eq!(outcome.recorder.errors(), 0);
        assert!(outcome.elapsed >= Duration::from_millis(200));
        let latency = outcome.recorder.summary().expect("samples");
        assert!(latency.p50 > 0.0, "{latency:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unexpected_statuses_are_errors_that_name_them() {
        let outcome = run_against("/missing").await;
        assert_eq!(outcome.recorder.ok(), 0);
        assert_eq!(outcome.recorder.errors(), 200);
        let first = outcome.recorder.first_error().unwrap_or_default();
        assert!(first.starts_with("HTTP 404"), "{first}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_that_closes_after_each_answer_is_reconnected_to() {
        let outcome = run_against("/closing").await;
        assert_eq!(outcome.recorder.ok(), 200);
        assert_eq!(outcome.recorder.errors(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn posts_carry_their_body_and_every_good_answer_is_checked() {
        use std::sync::atomic::{AtomicU64, Ordering};

        let address = server().await;
        let checked = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&checked);
        let request = PlainRequest {
            authority: address.to_string(),
            method: Method::Post(Arc::new(|seq| format!("{{\"seq\":{seq}}}").into_bytes())),
            path_for: Arc::new(|_| "/echo".to_owned()),
            expected: 201,
            check: Some(Arc::new(move |body| {
                counter.fetch_add(1, Ordering::Relaxed);
                if body.starts_with(b"{\"seq\":") {
                    Ok(())
                } else {
                    Err("not the body sent".to_owned())
                }
            })),
        };
        let outcome = run_request(request).await;
        assert_eq!(outcome.recorder.ok(), 200);
        assert_eq!(outcome.recorder.errors(), 0);
        // The warm-up's answers are checked too (a write's acknowledgement counts either way).
        assert_eq!(checked.load(Ordering::Relaxed), 250);
    }
}
