//! A timer for the open loop's timetable that wakes within microseconds of its deadline and
//! lives on the loop's own thread.
//!
//! The open loop measures each request from the moment it was due, so a request the tool
//! sends late counts its lateness as latency. Tokio's timer rounds deadlines to whole
//! milliseconds, which would add up to a millisecond to every measurement. A thread that
//! sleeps between sends keeps the timetable, but then every send is a hand-off to the
//! runtime's workers: a futex wake-up per request that costs the machine, shared with the
//! server being measured, more than the request itself. A `timerfd` watched by the runtime's
//! own poller gives both: the thread that keeps the timetable also does the I/O, and sleeps in
//! one `epoll_wait` until either a socket is ready or the next request is due.

use std::io;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A one-shot timer on a `timerfd`, registered with the current runtime's poller.
pub struct PreciseTimer {
    fd: AsyncFd<OwnedFd>,
}

impl PreciseTimer {
    /// A disarmed timer. Must be called inside a runtime, whose poller will watch it.
    ///
    /// # Errors
    /// When the kernel refuses a timer or the runtime cannot register it.
    pub fn new() -> io::Result<Self> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        Ok(Self { fd: watch(fd)? })
    }

    /// Waits until `deadline` (returns at once if it has passed).
    ///
    /// # Errors
    /// When the timer cannot be armed or read.
    pub async fn sleep_until(&self, deadline: Instant) -> io::Result<()> {
        let Some(wait) = deadline.checked_duration_since(Instant::now()) else {
            return Ok(());
        };
        if wait.is_zero() {
            return Ok(());
        }
        self.arm(wait)?;
        loop {
            let mut ready = self.fd.readable().await?;
            let mut expirations = [0u8; 8];
            match ready.try_io(|fd| {
                rustix::io::read(fd.get_ref(), &mut expirations).map_err(io::Error::from)
            }) {
                Ok(result) => {
                    // The read drained the one-shot timer, so it cannot be readable again
                    // until it is re-armed. Forgetting the readiness now saves the next
                    // wait a read that could only answer `EAGAIN` (a system call per
                    // request, on a machine the server under test shares).
                    ready.clear_ready();
                    return result.map(drop);
                }
                // Readiness was stale (cleared by `try_io`): wait for the next one.
                Err(_would_block) => {}
            }
        }
    }

    /// Arms the timer to expire once, `wait` from now (never zero, which would disarm it).
    fn arm(&self, wait: Duration) -> io::Result<()> {
        let value = Itimerspec {
            it_interval: timespec(Duration::ZERO),
            it_value: timespec(wait.max(Duration::from_nanos(1))),
        };
        timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::empty(), &value)?;
        Ok(())
    }
}

/// `duration` as the kernel's `timespec` (the longest durations saturate).
pub(crate) fn timespec(duration: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(duration.subsec_nanos()),
    }
}

/// Registers the timer with the runtime's poller.
///
/// Tokio deprecated this safe constructor because an arbitrary `AsRawFd` value could close
/// or change its descriptor while registered; its replacement is `unsafe`, which this
/// workspace forbids. An `OwnedFd` that the `AsyncFd` owns is the case the safe one was
/// always sound for: nothing else can close or replace it.
#[allow(deprecated)]
fn watch(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    AsyncFd::with_interest(fd, Interest::READABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn it_wakes_at_its_deadline_not_before_and_not_a_millisecond_later() {
        let timer = PreciseTimer::new().expect("timer");
        let mut late = Vec::new();
        for _ in 0..50 {
            let deadline = Instant::now() + Duration::from_micros(300);
            timer.sleep_until(deadline).await.expect("sleep");
            let woke = Instant::now();
            assert!(woke >= deadline, "woke before its deadline");
            late.push(woke - deadline);
        }
        late.sort();
        // The median only: a loaded test machine may delay any one wake-up.
        assert!(
            late[late.len() / 2] < Duration::from_micros(900),
            "median lateness {:?}",
            late[late.len() / 2]
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_deadline_already_past_returns_at_once() {
        let timer = PreciseTimer::new().expect("timer");
        let past = Instant::now();
        timer.sleep_until(past).await.expect("sleep");
        timer
            .sleep_until(Instant::now() - Duration::from_millis(1))
            .await
            .expect("sleep");
    }
}
