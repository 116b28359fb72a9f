//! Every open connection, across serving threads: the cap, who is idle, and who must close.
//!
//! Each connection has a [`Tracked`] record that only its own thread writes, with plain
//! atomics (no lock and no wake-up on a request's path): whether a handler runs, whether an
//! answer is still being sent, when a request head began to arrive, and when it last made
//! progress. The table is locked only when a connection opens or closes. Past the cap, the
//! accepting thread reads those records to find the connection idle the longest and asks it
//! to close; the shutdown asks every connection at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;

/// The open connections and the cap on them.
#[derive(Debug)]
pub(super) struct ConnectionTable {
    max: usize,
    open: Mutex<Open>,
    shutting_down: Arc<AtomicBool>,
    /// Refused connections still being answered (see `refuse.rs`).
    refusing: AtomicUsize,
}

#[derive(Debug, Default)]
struct Open {
    next_id: u64,
    by_id: HashMap<u64, Arc<Tracked>>,
}

/// What [`ConnectionTable::admit`] decided.
pub(super) enum Admission {
    /// Serve it; dropping the [`Admitted`] takes it off the table.
    Admitted(Admitted),
    /// At the cap with no idle connection to close: answer 503 and close.
    Refused,
}

impl ConnectionTable {
    pub(super) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            open: Mutex::default(),
            shutting_down: Arc::default(),
            refusing: AtomicUsize::new(0),
        })
    }

    /// Takes a new connection on the table; at the cap, first asks the connection idle the
    /// longest to close, and refuses the new one if none is idle.
    pub(super) fn admit(self: &Arc<Self>) -> Admission {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.by_id.len() >= self.max {
            let oldest_idle = open
                .by_id
                .iter()
                .filter_map(|(id, tracked)| tracked.idle_since().map(|since| (since, *id)))
                .min();
            let Some((_, victim)) = oldest_idle else {
                return Admission::Refused;
            };
            if let Some(tracked) = open.by_id.remove(&victim) {
                tracing::debug!(
                    max_connections = self.max,
                    "at the connection cap: closing the connection idle the longest"
                );
                tracked.ask_to_close();
            }
        }
        let id = open.next_id;
        open.next_id += 1;
        let tracked = Arc::new(Tracked::new(Arc::clone(&self.shutting_down)));
        open.by_id.insert(id, Arc::clone(&tracked));
        Admission::Admitted(Admitted {
            id,
            tracked,
            table: Arc::clone(self),
        })
    }

    /// Asks every open connection to close: the idle ones at once, the others once their
    /// request is answered. Connections admitted later see it when they start.
    pub(super) fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        for tracked in open.by_id.values() {
            tracked.waker.wake();
        }
    }

    /// Connections on the table now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_id
            .len()
    }

    /// Counts a refused connection being answered, unless `at_most` already are.
    pub(super) fn start_refusal(&self, at_most: usize) -> bool {
        self.refusing
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < at_most).then_some(n + 1)
            })
            .is_ok()
    }

    /// A refused connection was answered (or gave up).
    pub(super) fn end_refusal(&self) {
        self.refusing.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection on the table; dropping it takes it off.
#[derive(Debug)]
pub(super) struct Admitted {
    id: u64,
    tracked: Arc<Tracked>,
    table: Arc<ConnectionTable>,
}

impl Admitted {
    pub(super) fn tracked(&self) -> &Arc<Tracked> {
        &self.tracked
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.table
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_id
            .remove(&self.id);
    }
}

/// What one connection is doing, written by its own thread, read by the others.
#[derive(Debug)]
pub(super) struct Tracked {
    /// Times below are nanoseconds since this instant (0 meaning "none" where it matters).
    base: Instant,
    /// Handlers running (a request was read and is being served).
    handlers: AtomicU32,
    /// Answers whose body has not all been handed to the connection yet.
    answers: AtomicU32,
    /// When the first byte of the request head being read arrived (0: none is arriving).
    head_started: AtomicU64,
    /// When the connection last made progress while no handler ran: it opened, an answer
    /// was made, or a byte of it was written.
    quiet_since: AtomicU64,
    /// Set when the table asks it to close (it was the oldest idle one at the cap).
    evicted: AtomicBool,
    shutting_down: Arc<AtomicBool>,
    /// Wakes the connection's task when it is asked to close from another thread.
    pub(super) waker: AtomicWaker,
}

impl Tracked {
    fn new(shutting_down: Arc<AtomicBool>) -> Self {
        Self {
            base: Instant::now(),
            handlers: AtomicU32::new(0),
            answers: AtomicU32::new(0),
            head_started: AtomicU64::new(0),
            quiet_since: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            shutting_down,
            waker: AtomicWaker::new(),
        }
    }

    /// Now, as stored in the fields (never 0, which means "none").
    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// The instant a stored time stands for.
    pub(super) fn instant(&self, stored: u64) -> Instant {
        self.base + Duration::from_nanos(stored)
    }

    /// Bytes of a request arrived.
    pub(super) fn on_read(&self) {
        if self.handlers.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == 0
        {
            self.head_started.store(self.now(), Ordering::Relaxed);
        }
    }

    /// Bytes of an answer were written.
    pub(super) fn on_write(&self) {
        if self.handlers.load(Ordering::Relaxed) == 0 {
            self.quiet_since.store(self.now(), Ordering::Relaxed);
        }
    }

    /// A request head was read: its handler starts.
    pub(super) fn handler_started(&self) {
        self.head_started.store(0, Ordering::Relaxed);
        self.handlers.fetch_add(1, Ordering::Relaxed);
    }

    /// The handler ended (answered, or was dropped).
    pub(super) fn handler_ended(&self) {
        self.quiet_since.store(self.now(), Ordering::Relaxed);
        self.handlers.fetch_sub(1, Ordering::Relaxed);
    }

    /// An answer's body started to be sent.
    pub(super) fn answer_started(&self) {
        self.answers.fetch_add(1, Ordering::Relaxed);
    }

    /// An answer's body was all handed over (or dropped).
    pub(super) fn answer_ended(&self) {
        self.answers.fetch_sub(1, Ordering::Relaxed);
    }

    /// What the connection is doing, for its watchdog.
    pub(super) fn phase(&self) -> Phase {
        if self.handlers.load(Ordering::Relaxed) > 0 {
            return Phase::Serving;
        }
        let quiet_since = self.quiet_since.load(Ordering::Relaxed);
        if self.answers.load(Ordering::Relaxed) > 0 {
            return Phase::Answering { quiet_since };
        }
        match self.head_started.load(Ordering::Relaxed) {
            0 => Phase::Idle { quiet_since },
            started => Phase::ReadingHead { started },
        }
    }

    /// Since when it has been idle (no handler, no answer being sent), if it is.
    fn idle_since(&self) -> Option<Instant> {
        if self.evicted.load(Ordering::Relaxed) {
            return None;
        }
        match self.phase() {
            Phase::Idle { quiet_since } => Some(self.instant(quiet_since)),
            // A half-sent head has been idle since the last answer (or the connection opened).
            Phase::ReadingHead { .. } => {
                Some(self.instant(self.quiet_since.load(Ordering::Relaxed)))
            }
            Phase::Serving | Phase::Answering { .. } => None,
        }
    }

    fn ask_to_close(&self) {
        self.evicted.store(true, Ordering::SeqCst);
        self.waker.wake();
    }

    /// Whether the connection should close: it was evicted, or the server is shutting down.
    pub(super) fn asked_to_close(&self) -> bool {
        self.evicted.load(Ordering::Relaxed) || self.shutting_down.load(Ordering::Relaxed)
    }
}

/// What a connection is doing (times as stored in [`Tracked`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// A handler runs: the request timeout bounds it.
    Serving,
    /// The answer is being sent; `quiet_since` is its last progress.
    Answering { quiet_since: u64 },
    /// Part of a request head has arrived, since `started`.
    ReadingHead { started: u64 },
    /// Waiting for a request, since `quiet_since`.
    Idle { quiet_since: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(table: &Arc<ConnectionTable>) -> Admitted {
        match table.admit() {
            Admission::Admitted(admitted) => admitted,
            Admission::Refused => panic!("refused"),
        }
    }

    #[test]
    fn past_the_cap_the_connection_idle_the_longest_is_asked_to_close() {
        let table = ConnectionTable::new(3);
        let first = admitted(&table);
        std::thread::sleep(Duration::from_millis(2));
        let second = admitted(&table);
        let third = admitted(&table);
        // The first is busy, so the second is the oldest idle one.
        first.tracked().handler_started();

        let fourth = admitted(&table);

        assert!(!first.tracked().asked_to_close());
        assert!(second.tracked().asked_to_close());
        assert!(!third.tracked().asked_to_close());
        assert!(!fourth.tracked().asked_to_close());
        assert_eq!(table.len(), 3);
        drop(second);
        assert_eq!(table.len(), 3, "the evicted one was already off the table");
    }

    #[test]
    fn past_the_cap_with_every_connection_busy_a_new_one_is_refused() {
        let table = ConnectionTable::new(2);
        let first = admitted(&table);
        let second = admitted(&table);
        first.tracked().handler_started();
        second.tracked().handler_started();
        second.tracked().handler_ended();
        second.tracked().answer_started();

        assert!(matches!(table.admit(), Admission::Refused));

        second.tracked().answer_ended();
        let third = admitted(&table);
        assert!(second.tracked().asked_to_close());
        drop((first, third));
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn a_half_sent_head_counts_as_idle_and_is_reported_as_reading() {
        let table = ConnectionTable::new(1);
        let slow = admitted(&table);
        slow.tracked().on_read();
        assert!(matches!(slow.tracked().phase(), Phase::ReadingHead { .. }));
        let _next = admitted(&table);
        assert!(slow.tracked().asked_to_close());
    }

    #[test]
    fn shutdown_asks_every_connection_and_later_ones_too() {
        let table = ConnectionTable::new(10);
        let before = admitted(&table);
        table.begin_shutdown();
        let after = admitted(&table);
        assert!(before.tracked().asked_to_close());
        assert!(after.tracked().asked_to_close());
    }

    #[test]
    fn refusals_in_progress_are_bounded() {
        let table = ConnectionTable::new(1);
        assert!(table.start_refusal(2));
        assert!(table.start_refusal(2));
        assert!(!table.start_refusal(2));
        table.end_refusal();
        assert!(table.start_refusal(2));
    }
}
