//! What group commit achieved: how many groups committed and how many writes they carried.
//!
//! The benchmark suite needs "the group size our server actually achieved" to run the raw
//! SQLite ceiling at the same size, and an operator wants to see whether commits are being
//! shared at all. The writer thread counts here (relaxed atomics: each counter is only ever
//! written by that one thread) and logs a summary now and then (see [`StatsLog`]);
//! [`crate::embedded::EmbeddedStore::write_stats`] reads a snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Upper bounds of the group-size histogram's buckets; the last bucket takes the rest.
const BUCKET_BOUNDS: [u64; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/// How often, at most, the writer logs a summary while it is busy.
pub(crate) const LOG_INTERVAL: Duration = Duration::from_secs(2);

/// A snapshot of the group-commit counters since the store opened.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WriteStats {
    /// Group transactions committed (each one `COMMIT`, so one fsync under `full`).
    pub groups: u64,
    /// Writes (transactions) those groups carried; rolled-back ones are not counted.
    pub writes: u64,
    /// The most writes one group carried.
    pub largest_group: u64,
    /// Groups whose `COMMIT` failed (every member was told).
    pub failed_groups: u64,
    /// Committed groups by size: `(upper bound, count)`, the bound `u64::MAX` for the rest.
    pub histogram: Vec<(u64, u64)>,
}

impl WriteStats {
    /// Writes per committed group on average (0 when nothing committed).
    pub fn mean_group_size(&self) -> f64 {
        if self.groups == 0 {
            0.0
        } else {
            // A ratio for display; the counts stay far below 2^52.
            self.writes as f64 / self.groups as f64
        }
    }
}

/// The live counters, shared by the writer thread and the store's handles.
#[derive(Debug, Default)]
pub(crate) struct GroupCounters {
    groups: AtomicU64,
    writes: AtomicU64,
    largest: AtomicU64,
    failed: AtomicU64,
    buckets: [AtomicU64; BUCKET_BOUNDS.len() + 1],
}

impl GroupCounters {
    /// Counts a committed group of `size` writes.
    pub(crate) fn committed(&self, size: u64) {
        self.groups.fetch_add(1, Ordering::Relaxed);
        self.writes.fetch_add(size, Ordering::Relaxed);
        self.largest.fetch_max(size, Ordering::Relaxed);
        let bucket = BUCKET_BOUNDS
            .iter()
            .position(|bound| size <= *bound)
            .unwrap_or(BUCKET_BOUNDS.len());
        if let Some(counter) = self.buckets.get(bucket) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a group whose commit failed.
    pub(crate) fn failed(&self) {
        self.failed.fetch_add(1, Ordering::AcqRel);
    }

    /// Groups lost so far (their commit failed or SQLite abandoned them).
    pub(crate) fn failed_count(&self) -> u64 {
        self.failed.load(Ordering::Acquire)
    }

    /// A snapshot.
    pub(crate) fn snapshot(&self) -> WriteStats {
        let bounds = BUCKET_BOUNDS.iter().copied().chain([u64::MAX]);
        WriteStats {
            groups: self.groups.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            largest_group: self.largest.load(Ordering::Relaxed),
            failed_groups: self.failed.load(Ordering::Relaxed),
            histogram: bounds
                .zip(&self.buckets)
                .map(|(bound, count)| (bound, count.load(Ordering::Relaxed)))
                .filter(|(_, count)| *count > 0)
                .collect(),
        }
    }
}

/// Logs the counters at info level: at most every [`LOG_INTERVAL`] while groups commit, and
/// once more when the writer goes idle, so the last line always covers all groups so far.
/// `scripts/bench-peers.sh` reads `groups=` and `writes=` from these lines.
#[derive(Debug)]
pub(crate) struct StatsLog {
    logged_groups: u64,
    last: Instant,
}

impl StatsLog {
    pub(crate) fn new() -> Self {
        Self {
            logged_groups: 0,
            last: Instant::now(),
        }
    }

    /// Whether groups committed since the last line.
    pub(crate) fn has_news(&self, counters: &GroupCounters) -> bool {
        counters.groups.load(Ordering::Relaxed) != self.logged_groups
    }

    /// Logs when the interval passed (or `now` is set) and there is news.
    pub(crate) fn maybe_log(&mut self, counters: &GroupCounters, now: bool) {
        if !self.has_news(counters) || (!now && self.last.elapsed() < LOG_INTERVAL) {
            return;
        }
        let stats = counters.snapshot();
        self.logged_groups = stats.groups;
        self.last = Instant::now();
        tracing::info!(
            groups = stats.groups,
            writes = stats.writes,
            mean_group_size = format!("{:.1}", stats.mean_group_size()),
            largest_group = stats.largest_group,
            failed_groups = stats.failed_groups,
            histogram = ?stats.histogram,
            "embedded writer: group commits so far"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_groups_are_counted_by_size() {
        let counters = GroupCounters::default();
        for size in [1, 3, 3, 64, 1000] {
            counters.committed(size);
        }
        counters.failed();
        let stats = counters.snapshot();
        assert_eq!(stats.groups, 5);
        assert_eq!(stats.writes, 1071);
        assert_eq!(stats.largest_group, 1000);
        assert_eq!(stats.failed_groups, 1);
        assert_eq!(
            stats.histogram,
            vec![(1, 1), (4, 2), (64, 1), (u64::MAX, 1)]
        );
        assert!((stats.mean_group_size() - 214.2).abs() < 1e-9);
        assert!(WriteStats::default().mean_group_size().abs() < f64::EPSILON);
    }
}
