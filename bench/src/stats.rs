//! Latency samples and their percentiles.
//!
//! Every sample is kept (nanoseconds in a `Vec<u64>`: a 10-second run at 50,000 requests per
//! second is 4 MB), so percentiles are exact, by the nearest-rank method, with no histogram
//! bucketing error.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::tail::{self, SlowRequest};

/// The samples and error count of one run (or one client of a run).
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    samples: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
    /// Open loop: the successful requests slower than [`tail::SLOW`].
    slow: Vec<SlowRequest>,
}

impl Recorder {
    /// Records one answered request: its latency when it succeeded, else the error.
    pub fn record(&mut self, latency: Duration, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => self.record_latency(latency),
            Err(error) => self.record_error(error),
        }
    }

    /// Records one answered request of an open loop, whose latency runs from when it was
    /// `due` to when it was `answered`; a slow success also keeps its due time (see
    /// [`tail`]).
    pub fn record_due(&mut self, due: Instant, answered: Instant, outcome: Result<(), String>) {
        let latency = answered.saturating_duration_since(due);
        if outcome.is_ok() && latency > tail::SLOW {
            self.slow.push(SlowRequest { due, latency });
        }
        self.record(latency, outcome);
    }

    /// Records the latency of a successful request.
    pub fn record_latency(&mut self, latency: Duration) {
        self.samples
            .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Records a failed request; the first message is kept for the report.
    pub fn record_error(&mut self, error: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error);
        }
    }

    /// Adds another recorder's samples and errors to these.
    pub fn merge(&mut self, other: Recorder) {
        self.samples.extend(other.samples);
        self.errors += other.errors;
        self.slow.extend(other.slow);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// How many requests succeeded.
    pub fn ok(&self) -> u64 {
        u64::try_from(self.samples.len()).unwrap_or(u64::MAX)
    }

    /// How many requests failed.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// The first error message, if any request failed.
    pub fn first_error(&self) -> Option<&str> {
        self.first_error.as_deref()
    }

    /// The slow successful requests (open loops only).
    pub fn slow(&self) -> &[SlowRequest] {
        &self.slow
    }

    /// The percentiles of the successful requests' latencies; `None` without any.
    pub fn summary(&self) -> Option<Summary> {
        Summary::of(&self.samples)
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// How many samples.
    pub count: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
}

impl Summary {
    /// The summary of samples in nanoseconds (in any order); `None` when there are none.
    pub fn of(samples: &[u64]) -> Option<Self> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let ms = |nanos: u64| nanos as f64 / 1e6;
        let total: u128 = sorted.iter().map(|&s| u128::from(s)).sum();
        let count = sorted.len();
        Some(Self {
            count: u64::try_from(count).unwrap_or(u64::MAX),
            mean: ms(
                u64::try_from(total / u128::try_from(count.max(1)).unwrap_or(1))
                    .unwrap_or(u64::MAX),
            ),
            p50: ms(percentile(&sorted, 50.0)?),
            p99: ms(percentile(&sorted, 99.0)?),
            p999: ms(percentile(&sorted, 99.9)?),
            max: ms(*sorted.last()?),
        })
    }
}

/// The `p`-th percentile (0 < p ≤ 100) of sorted samples by the nearest-rank method: the
/// smallest sample such that at least `p`% of the samples are at most it. `None` when empty.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    // A tiny tolerance keeps 99.9% of 1000 at rank 999 despite binary floating point.
    let rank = ((p / 100.0) * n as f64 - 1e-9).ceil();
    let rank = if rank < 1.0 {
        1
    } else {
        (rank as usize).min(n)
    };
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_loop_keeps_the_due_time_of_slow_successes_only() {
        let start = Instant::now();
        let mut recorder = Recorder::default();
        let fast = start + Duration::from_millis(1);
        recorder.record_due(start, fast, Ok(()));
        let slow = start + Duration::from_millis(3);
        recorder.record_due(start, slow, Ok(()));
        recorder.record_due(start, slow, Err("503".to_owned()));
        let mut other = Recorder::default();
        other.record_due(fast, fast + Duration::from_millis(5), Ok(()));

        recorder.merge(other);

        let slow_due: Vec<Instant> = recorder.slow().iter().map(|r| r.due).collect();
        assert_eq!(slow_due, [start, fast]);
        assert_eq!((recorder.ok(), recorder.errors()), (3, 1));
        let summary = recorder.summary().expect("samples");
        assert!((summary.max - 5.0).abs() < 1e-9, "{summary:?}");
    }

    #[test]
    fn percentiles_of_one_to_a_thousand_are_their_nearest_ranks() {
        let samples: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&samples, 50.0), Some(500));
        assert_eq!(percentile(&samples, 99.0), Some(990));
        assert_eq!(percentile(&samples, 99.9), Some(999));
        assert_eq!(percentile(&samples, 100.0), Some(1000));
        assert_eq!(percentile(&samples, 0.01), Some(1));
    }

    #[test]
    fn a_single_sample_is_every_percentile() {
        for p in [0.1, 50.0, 99.0, 99.9, 100.0] {
            assert_eq!(percentile(&[7], p), Some(7), "p{p}");
        }
    }

    #[test]
    fn no_samples_have_no_percentiles() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn the_summary_sorts_its_samples_and_reports_milliseconds() {
        let samples = [3_000_000, 1_000_000, 2_000_000, 4_000_000];
        let summary = Summary::of(&samples);
        assert_eq!(
            summary,
            Some(Summary {
                count: 4,
                mean: 2.5,
                p50: 2.0,
                p99: 4.0,
                p999: 4.0,
                max: 4.0
            })
        );
    }

    #[test]
    fn a_slow_tail_shows_in_p99_and_p999_but_not_in_the_median() {
        let mut samples = vec![1_000_000u64; 990];
        samples.extend(vec![100_000_000u64; 10]);
        let summary = Summary::of(&samples).expect("samples");
        assert_eq!(summary.p50, 1.0);
        assert_eq!(summary.p99, 1.0);
        assert_eq!(summary.p999, 100.0);
    }

    #[test]
    fn merged_recorders_count_both_sides() {
        let mut a = Recorder::default();
        a.record(Duration::from_millis(1), Ok(()));
        a.record(Duration::from_millis(1), Err("first".into()));
        let mut b = Recorder::default();
        b.record(Duration::from_millis(2), Ok(()));
        b.record(Duration::from_millis(2), Err("second".into()));
        a.merge(b);
        assert_eq!((a.ok(), a.errors(), a.first_error()), (2, 2, Some("first")));
    }
}
