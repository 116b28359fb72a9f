//! Where an open loop's slow requests sit in time, against the time the hypervisor took.
//!
//! On a virtual machine the host may run someone else on a vCPU for milliseconds at a time;
//! the guest sees that as stolen time, and every request due while it lasts is late. A p99
//! describes the slowest 1% of a run: at 27k requests/s over 8 s, about 2,200 requests, or
//! 80 ms of arrivals. So 1% of the machine stolen in a few stretches can make a p99 alone.
//!
//! This module says, for one open-loop run, whether that is what happened: of the requests
//! slower than [`SLOW`] (the open-loop target), how many came due in a window of [`WINDOW`] in
//! which the machine lost time to the hypervisor, or in the window just before one (a stall
//! also delays what came due shortly before it). Beside it stands the share of the run those
//! windows covered, which is what slow requests unrelated to stolen time would show.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A request slower than this counts as slow: the open-loop read target of issue 7.
pub const SLOW: Duration = Duration::from_millis(2);

/// The length of the windows the stolen time is sampled in. `/proc/stat` counts in clock
/// ticks (10 ms), so shorter windows would mostly read zero.
pub const WINDOW: Duration = Duration::from_millis(100);

/// The machine's stolen clock ticks (all cores) at one instant, as `/proc/stat` counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StealSample {
    /// When it was read.
    pub at: Instant,
    /// Stolen ticks since boot.
    pub stolen_ticks: u64,
}

/// Slow requests against stolen time, for one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TailNearSteal {
    /// Measured requests slower than [`SLOW`].
    pub slow: u64,
    /// Of them, those due in a window with stolen time or in the window before one.
    pub slow_near_steal: u64,
    /// Windows of [`WINDOW`] the run was sampled in.
    pub windows: u64,
    /// Share of those windows (0..1) that had stolen time or came just before one.
    pub windows_near_steal: f64,
}

impl TailNearSteal {
    /// Of `requests` (the run's successes), the share over [`SLOW`] among those due in or
    /// just before a window with stolen time; `None` when no request was due there. The
    /// timetable is even, so each window holds about as many requests as any other, and a
    /// category's requests are its share of the windows.
    pub fn slow_share_near_steal(&self, requests: u64) -> Option<f64> {
        let due = requests as f64 * self.windows_near_steal;
        (due >= 1.0).then(|| self.slow_near_steal as f64 / due)
    }

    /// As [`Self::slow_share_near_steal`], among the other requests.
    pub fn slow_share_away_from_steal(&self, requests: u64) -> Option<f64> {
        let due = requests as f64 * (1.0 - self.windows_near_steal);
        let slow = self.slow.saturating_sub(self.slow_near_steal);
        (due >= 1.0).then(|| slow as f64 / due)
    }

    /// A note for the report: how many of `requests` were slow, and how often a request was
    /// slow near stolen time and away from it.
    pub fn note(&self, requests: u64) -> String {
        let percent = |share: f64| format!("{:.2}%", share * 100.0);
        let slow = format!(
            "over {} ms: {} requests ({})",
            SLOW.as_millis(),
            self.slow,
            percent(self.slow as f64 / requests.max(1) as f64)
        );
        let window = WINDOW.as_millis();
        match (
            self.slow_share_near_steal(requests),
            self.slow_share_away_from_steal(requests),
        ) {
            (Some(near), Some(away)) => format!(
                "{slow}; {} of those due in or just before a {window} ms window with stolen \
                 time ({:.0}% of the run), {} of the others",
                percent(near),
                self.windows_near_steal * 100.0,
                percent(away)
            ),
            (None, _) => format!("{slow}; no {window} ms window had stolen time"),
            (Some(_), None) => {
                format!("{slow}; every {window} ms window had stolen time or came just before one")
            }
        }
    }
}

/// Places the slow requests' due times (`slow_due`) in the windows between consecutive
/// samples of `timeline` (in time order). A due time outside the sampled span counts in the
/// nearest window. `None` with fewer than two samples (no window).
pub fn near_steal(slow_due: &[Instant], timeline: &[StealSample]) -> Option<TailNearSteal> {
    if timeline.len() < 2 {
        return None;
    }
    let stolen: Vec<bool> = timeline
        .windows(2)
        .map(|pair| pair[1].stolen_ticks > pair[0].stolen_ticks)
        .collect();
    let near: Vec<bool> = (0..stolen.len())
        .map(|i| stolen[i] || stolen.get(i + 1).copied().unwrap_or(false))
        .collect();
    let window_of = |due: Instant| {
        // The last window whose start is at or before `due`; the first if none is.
        let starts_after = timeline[1..].partition_point(|sample| sample.at <= due);
        starts_after.min(near.len() - 1)
    };
    let slow_near_steal = slow_due.iter().filter(|&&due| near[window_of(due)]).count();
    let windows = near.len();
    Some(TailNearSteal {
        slow: u64::try_from(slow_due.len()).unwrap_or(u64::MAX),
        slow_near_steal: u64::try_from(slow_near_steal).unwrap_or(u64::MAX),
        windows: u64::try_from(windows).unwrap_or(u64::MAX),
        windows_near_steal: near.iter().filter(|&&n| n).count() as f64 / windows as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples 100 ms apart from `start`, with these cumulative stolen ticks.
    fn timeline(start: Instant, stolen: &[u64]) -> Vec<StealSample> {
        stolen
            .iter()
            .enumerate()
            .map(|(i, &ticks)| StealSample {
                at: start + WINDOW * u32::try_from(i).unwrap_or(0),
                stolen_ticks: ticks,
            })
            .collect()
    }

    #[test]
    fn slow_requests_are_placed_in_their_window_or_the_one_before_a_stolen_window() {
        let start = Instant::now();
        // Five windows; only the third (200–300 ms) had stolen time.
        let samples = timeline(start, &[7, 7, 7, 9, 9, 9]);
        let at = |ms: u64| start + Duration::from_millis(ms);
        let slow = [at(50), at(150), at(250), at(299), at(350), at(450)];

        let tail = near_steal(&slow, &samples).expect("windows");

        assert_eq!(tail.slow, 6);
        // 150 ms (the window before), 250 and 299 ms (the window itself).
        assert_eq!(tail.slow_near_steal, 3);
        assert_eq!(tail.windows, 5);
        assert!((tail.windows_near_steal - 0.4).abs() < 1e-9, "{tail:?}");
    }

    #[test]
    fn due_times_outside_the_sampled_span_count_in_the_nearest_window() {
        let start = Instant::now();
        let samples = timeline(start + Duration::from_millis(10), &[0, 1, 1]);
        let before = [start, start + Duration::from_secs(5)];

        let tail = near_steal(&before, &samples).expect("windows");

        // The first window had stolen time; the last did not and has nothing after it.
        assert_eq!((tail.slow, tail.slow_near_steal), (2, 1));
    }

    #[test]
    fn without_two_samples_there_is_no_window() {
        let start = Instant::now();
        assert_eq!(near_steal(&[start], &timeline(start, &[3])), None);
        assert_eq!(near_steal(&[], &[]), None);
    }

    #[test]
    fn the_note_gives_counts_and_shares() {
        let tail = TailNearSteal {
            slow: 250,
            slow_near_steal: 200,
            windows: 80,
            windows_near_steal: 0.1,
        };
        // 10,000 requests near stolen time (200 slow), 90,000 away from it (50 slow).
        assert_eq!(
            tail.note(100_000),
            "over 2 ms: 250 requests (0.25%); 2.00% of those due in or just before a 100 ms \
             window with stolen time (10% of the run), 0.06% of the others"
        );
        let never_stolen = TailNearSteal {
            slow: 3,
            slow_near_steal: 0,
            windows: 80,
            windows_near_steal: 0.0,
        };
        assert_eq!(
            never_stolen.note(1000),
            "over 2 ms: 3 requests (0.30%); no 100 ms window had stolen time"
        );
        let always_stolen = TailNearSteal {
            windows_near_steal: 1.0,
            ..never_stolen
        };
        assert!(
            always_stolen
                .note(1000)
                .ends_with("every 100 ms window had stolen time or came just before one"),
            "{}",
            always_stolen.note(1000)
        );
        assert_eq!(tail.slow_share_near_steal(100_000), Some(0.02));
        assert_eq!(always_stolen.slow_share_away_from_steal(1000), None);
    }
}
