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
//!
//! The tool shares the machine too, and a request it could not send, or whose answer it could
//! not take, because its own thread was not running, is late on the tool's account. The
//! ticked loop notes every gap of over [`LOOP_GAP`] between two of its turns (it turns every
//! 100 µs), and a slow request whose time in flight overlaps one is counted apart.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A request slower than this counts as slow: the open-loop read target of issue 7.
pub const SLOW: Duration = Duration::from_millis(2);

/// The length of the windows the stolen time is sampled in. `/proc/stat` counts in clock
/// ticks (10 ms), so shorter windows would mostly read zero.
pub const WINDOW: Duration = Duration::from_millis(100);

/// A gap between two turns of the ticked loop longer than this counts: ten ticks.
pub const LOOP_GAP: Duration = Duration::from_millis(1);

/// A successful request slower than [`SLOW`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowRequest {
    /// When it was due.
    pub due: Instant,
    /// From then to its answer.
    pub latency: Duration,
}

/// A time in which the tool's loop did not turn (its thread was not running, or busy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopGap {
    /// The turn before.
    pub from: Instant,
    /// The turn after.
    pub to: Instant,
}

/// The machine's stolen clock ticks (all cores) at one instant, as `/proc/stat` counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StealSample {
    /// When it was read.
    pub at: Instant,
    /// Stolen ticks since boot.
    pub stolen_ticks: u64,
}

/// Slow requests against stolen time and the tool's own gaps, for one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TailCauses {
    /// Measured requests slower than [`SLOW`].
    pub slow: u64,
    /// Of them, those due in a window with stolen time or in the window before one.
    pub slow_near_steal: u64,
    /// Windows of [`WINDOW`] the run was sampled in.
    pub windows: u64,
    /// Share of those windows (0..1) that had stolen time or came just before one.
    pub windows_near_steal: f64,
    /// Ticked loop: the gaps of over [`LOOP_GAP`] in its turns, and their total length.
    #[serde(default)]
    pub loop_gaps: Option<LoopGaps>,
}

/// The ticked loop's gaps, and the slow requests in flight across one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoopGaps {
    /// How many gaps of over [`LOOP_GAP`].
    pub count: u64,
    /// Their total length, in milliseconds.
    pub total_ms: f64,
    /// Slow requests whose time from due to answer overlapped one.
    pub slow_across_gap: u64,
}

impl TailCauses {
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
        let gaps = self.loop_gaps.map_or_else(String::new, |gaps| {
            format!(
                "; {} of them in flight across one of the tool's own {} gaps of over {} ms \
                 ({:.0} ms in all)",
                percent(gaps.slow_across_gap as f64 / self.slow.max(1) as f64),
                gaps.count,
                LOOP_GAP.as_millis(),
                gaps.total_ms
            )
        });
        let steal = match (
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
        };
        format!("{steal}{gaps}")
    }
}

/// Places the `slow` requests' due times in the windows between consecutive samples of
/// `timeline` (in time order; a due time outside the sampled span counts in the nearest
/// window), and, given the loop's `gaps` (in time order), counts the slow requests in flight
/// across one. `None` with fewer than two samples (no window).
pub fn causes(
    slow: &[SlowRequest],
    timeline: &[StealSample],
    gaps: Option<&[LoopGap]>,
) -> Option<TailCauses> {
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
    let slow_near_steal = slow
        .iter()
        .filter(|request| near[window_of(request.due)])
        .count();
    let windows = near.len();
    Some(TailCauses {
        slow: count(slow.len()),
        slow_near_steal: count(slow_near_steal),
        windows: count(windows),
        windows_near_steal: near.iter().filter(|&&n| n).count() as f64 / windows as f64,
        loop_gaps: gaps.map(|gaps| LoopGaps {
            count: count(gaps.len()),
            total_ms: gaps
                .iter()
                .map(|gap| (gap.to - gap.from).as_secs_f64() * 1e3)
                .sum(),
            slow_across_gap: count(slow.iter().filter(|r| across_gap(r, gaps)).count()),
        }),
    })
}

/// Whether `request`, from due to answered, overlaps one of `gaps` (in time order).
fn across_gap(request: &SlowRequest, gaps: &[LoopGap]) -> bool {
    let answered = request.due + request.latency;
    // The first gap that ends after the request came due; it overlaps if it began before
    // the answer.
    let first = gaps.partition_point(|gap| gap.to <= request.due);
    gaps.get(first).is_some_and(|gap| gap.from < answered)
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
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

    /// Slow requests due at these instants, each answered 3 ms later.
    fn slow_at(due: &[Instant]) -> Vec<SlowRequest> {
        due.iter()
            .map(|&due| SlowRequest {
                due,
                latency: Duration::from_millis(3),
            })
            .collect()
    }

    #[test]
    fn slow_requests_are_placed_in_their_window_or_the_one_before_a_stolen_window() {
        let start = Instant::now();
        // Five windows; only the third (200–300 ms) had stolen time.
        let samples = timeline(start, &[7, 7, 7, 9, 9, 9]);
        let at = |ms: u64| start + Duration::from_millis(ms);
        let slow = slow_at(&[at(50), at(150), at(250), at(299), at(350), at(450)]);

        let tail = causes(&slow, &samples, None).expect("windows");

        assert_eq!(tail.slow, 6);
        // 150 ms (the window before), 250 and 299 ms (the window itself).
        assert_eq!(tail.slow_near_steal, 3);
        assert_eq!(tail.windows, 5);
        assert!((tail.windows_near_steal - 0.4).abs() < 1e-9, "{tail:?}");
        assert_eq!(
            tail.loop_gaps, None,
            "the async lanes do not watch their turns"
        );
    }

    #[test]
    fn slow_requests_in_flight_across_a_gap_of_the_loop_are_counted_apart() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let samples = timeline(start, &[0, 0, 0]);
        // Due at 10 ms (answered at 13), 20 (23), 30 (33) and 40 ms (43).
        let slow = slow_at(&[at(10), at(20), at(30), at(40)]);
        let gaps = [
            // Ends as the first request comes due: no overlap.
            LoopGap {
                from: at(5),
                to: at(10),
            },
            // Inside the second request's flight.
            LoopGap {
                from: at(21),
                to: at(22),
            },
            // Begins just before the third is answered.
            LoopGap {
                from: at(32),
                to: at(36),
            },
        ];

        let tail = causes(&slow, &samples, Some(&gaps)).expect("windows");

        let gaps = tail.loop_gaps.expect("gaps");
        assert_eq!((gaps.count, gaps.slow_across_gap), (3, 2));
        assert!((gaps.total_ms - 10.0).abs() < 1e-6, "{gaps:?}");
    }

    #[test]
    fn due_times_outside_the_sampled_span_count_in_the_nearest_window() {
        let start = Instant::now();
        let samples = timeline(start + Duration::from_millis(10), &[0, 1, 1]);
        let outside = slow_at(&[start, start + Duration::from_secs(5)]);

        let tail = causes(&outside, &samples, Some(&[])).expect("windows");

        // The first window had stolen time; the last did not and has nothing after it.
        assert_eq!((tail.slow, tail.slow_near_steal), (2, 1));
    }

    #[test]
    fn without_two_samples_there_is_no_window() {
        let start = Instant::now();
        let slow = slow_at(&[start]);
        assert_eq!(causes(&slow, &timeline(start, &[3]), None), None);
        assert_eq!(causes(&[], &[], None), None);
    }

    #[test]
    fn the_note_gives_counts_and_shares() {
        let tail = TailCauses {
            slow: 250,
            slow_near_steal: 200,
            windows: 80,
            windows_near_steal: 0.1,
            loop_gaps: None,
        };
        // 10,000 requests near stolen time (200 slow), 90,000 away from it (50 slow).
        assert_eq!(
            tail.note(100_000),
            "over 2 ms: 250 requests (0.25%); 2.00% of those due in or just before a 100 ms \
             window with stolen time (10% of the run), 0.06% of the others"
        );
        let never_stolen = TailCauses {
            slow: 3,
            slow_near_steal: 0,
            windows: 80,
            windows_near_steal: 0.0,
            loop_gaps: None,
        };
        assert_eq!(
            never_stolen.note(1000),
            "over 2 ms: 3 requests (0.30%); no 100 ms window had stolen time"
        );
        let always_stolen = TailCauses {
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
        let with_gaps = TailCauses {
            loop_gaps: Some(LoopGaps {
                count: 12,
                total_ms: 40.4,
                slow_across_gap: 100,
            }),
            ..tail
        };
        assert!(
            with_gaps.note(100_000).ends_with(
                "0.06% of the others; 40.00% of them in flight across one of the tool's own \
                 12 gaps of over 1 ms (40 ms in all)"
            ),
            "{}",
            with_gaps.note(100_000)
        );
        assert_eq!(always_stolen.slow_share_away_from_steal(1000), None);
    }
}
