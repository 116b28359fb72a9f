//! The open loop's timetable: request `i` is due at `i / rate` seconds after the start,
//! whether or not earlier requests have answered.
//!
//! Latency in the open loop is measured from this intended time, not from when the request
//! actually left: a server that stalls for a second makes every request due in that second
//! late, and all of them count (no coordinated omission).

use std::time::Duration;

/// A fixed-rate timetable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    rate: f64,
}

impl Schedule {
    /// A timetable of `rate` requests per second.
    ///
    /// # Errors
    /// When the rate is not a finite number above zero.
    pub fn new(rate: f64) -> Result<Self, String> {
        if rate.is_finite() && rate > 0.0 {
            Ok(Self { rate })
        } else {
            Err(format!("the rate must be a positive number, not {rate}"))
        }
    }

    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// When request `i` (from 0) is due, after the start.
    pub fn offset(&self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// How many requests are due strictly before `elapsed`: the first index due at or after it.
    pub fn due_before(&self, elapsed: Duration) -> u64 {
        let exact = elapsed.as_secs_f64() * self.rate;
        let mut n = exact.ceil() as u64;
        // Correct for rounding so that `offset(n - 1) < elapsed <= offset(n)` holds exactly.
        while n > 0 && self.offset(n - 1) >= elapsed {
            n -= 1;
        }
        while self.offset(n) < elapsed {
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_evenly_spaced_at_the_rate() {
        let schedule = Schedule::new(1000.0).expect("rate");
        assert_eq!(schedule.offset(0), Duration::ZERO);
        assert_eq!(schedule.offset(1), Duration::from_millis(1));
        assert_eq!(schedule.offset(2500), Duration::from_millis(2500));
    }

    #[test]
    fn a_duration_holds_rate_times_duration_requests() {
        let schedule = Schedule::new(200.0).expect("rate");
        assert_eq!(schedule.due_before(Duration::from_secs(10)), 2000);
        assert_eq!(schedule.due_before(Duration::ZERO), 0);
        // Request 0 is due at 0, so any positive time holds at least one.
        assert_eq!(schedule.due_before(Duration::from_nanos(1)), 1);
    }

    #[test]
    fn due_before_is_consistent_with_offsets_for_awkward_rates() {
        for rate in [3.0, 7.5, 333.0, 12_345.6] {
            let schedule = Schedule::new(rate).expect("rate");
            for millis in [1, 10, 999, 1000, 4321] {
                let elapsed = Duration::from_millis(millis);
                let n = schedule.due_before(elapsed);
                assert!(schedule.offset(n) >= elapsed, "rate {rate}, {millis} ms");
                if n > 0 {
                    assert!(schedule.offset(n - 1) < elapsed, "rate {rate}, {millis} ms");
                }
            }
        }
    }

    #[test]
    fn zero_negative_and_infinite_rates_are_refused() {
        for rate in [0.0, -1.0, f64::INFINITY, f64::NAN] {
            assert!(Schedule::new(rate).is_err(), "{rate}");
        }
    }
}
