//! The moment a request's work must stop.
//!
//! The server knows how long a request may take; the work that a request starts on other
//! threads (a query running on a database connection) does not see the request's future being
//! dropped at its timeout. A [`Deadline`] is that limit as a plain value, handed down with the
//! work, so an adapter can refuse to start work that is already too late and stop work that
//! runs past it. A monotonic instant: wall-clock jumps do not move it.

use std::time::{Duration, Instant};

/// A point on the monotonic clock after which a request's work is no longer wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(Instant);

impl Deadline {
    /// `budget` from now. A budget too large to represent means "never" in practice and is
    /// clamped to about a century.
    pub fn after(budget: Duration) -> Self {
        let now = Instant::now();
        Self(
            now.checked_add(budget)
                .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
                .unwrap_or(now),
        )
    }

    /// At `instant`.
    pub const fn at(instant: Instant) -> Self {
        Self(instant)
    }

    /// The instant itself.
    pub const fn instant(self) -> Instant {
        self.0
    }

    /// Whether the deadline is now or behind us.
    pub fn has_passed(self) -> bool {
        Instant::now() >= self.0
    }

    /// The time left (zero once passed).
    pub fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_passes_once_its_budget_is_spent_and_never_before() {
        let later = Deadline::after(Duration::from_secs(3600));
        assert!(!later.has_passed());
        assert!(later.remaining() > Duration::from_secs(3500));
        let now = Deadline::after(Duration::ZERO);
        assert!(now.has_passed());
        assert_eq!(now.remaining(), Duration::ZERO);
        assert!(now < later);
    }

    #[test]
    fn an_enormous_budget_is_clamped_instead_of_overflowing() {
        let never = Deadline::after(Duration::MAX);
        assert!(!never.has_passed());
    }
}
