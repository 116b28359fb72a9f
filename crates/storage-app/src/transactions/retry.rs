//! When to run a refused unit of work again, and how long to wait first: bounded, jittered
//! exponential backoff. No clock and no runtime: the wait itself is the [`Pause`] port, so
//! tests answer it at once and the server sleeps on its own runtime.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use async_trait::async_trait;
use shared_kernel::Deadline;

/// Waits: the one thing the manager needs from a runtime.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Pause: Send + Sync {
    /// Returns after `delay` (dropping the future stops the wait).
    async fn pause(&self, delay: Duration);
}

/// How often and how patiently a refused unit of work runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1), while the store refuses
    /// transiently.
    pub max_attempts: u32,
    /// Attempts in all, the first included, while each is refused only because another write
    /// committed first (a stale read). Contention always lets one writer through, so a write
    /// among `n` racing ones on one document needs up to `n` attempts: this is much higher
    /// than `max_attempts`, and stale pauses are short and outside `budget` (the request's
    /// deadline still bounds them).
    pub max_stale_attempts: u32,
    /// The ceiling of the first pause; each later one doubles it.
    pub base_delay: Duration,
    /// The ceiling no pause exceeds.
    pub max_delay: Duration,
    /// The most all pauses of one unit of work may add up to.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    /// Four attempts, pauses of at most 5, 10, 20 ms (capped at 100 ms), at most 250 ms in
    /// all: a write is a short request, and a store that stays refusing for longer is better
    /// reported than waited on. Under contention, 128 attempts with pauses of 2.5 to 5 ms.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            max_stale_attempts: 128,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(100),
            budget: Duration::from_millis(250),
        }
    }
}

/// Why an attempt was refused, which decides the pause before the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A guard went stale: something else committed, the store is not in trouble, so the
    /// first repeat runs at once on fresh reads; later ones pause briefly (jittered, not
    /// growing), to spread the racing writers.
    Stale,
    /// The store failed transiently, or a commit's outcome was unknown and turned out not to
    /// be stored: always back off.
    Transient,
}

/// The retries of one unit of work so far.
pub(crate) struct Retries {
    policy: RetryPolicy,
    deadline: Option<Deadline>,
    /// Attempts refused transiently so far.
    transient_refusals: u32,
    /// Attempts refused as stale so far.
    stale_refusals: u32,
    backoffs: u32,
    paused: Duration,
}

impl Retries {
    /// The first attempt is about to run.
    pub(crate) fn new(policy: RetryPolicy, deadline: Option<Deadline>) -> Self {
        Self {
            policy,
            deadline,
            transient_refusals: 0,
            stale_refusals: 0,
            backoffs: 0,
            paused: Duration::ZERO,
        }
    }

    /// The pause before the next attempt after `refusal`, or `None` to give up: the attempt
    /// cap is reached, the pause would overrun the budget, or the request's deadline would
    /// pass before the next attempt could start.
    pub(crate) fn next(&mut self, refusal: Refusal) -> Option<Duration> {
        let delay = match refusal {
            Refusal::Stale => {
                self.stale_refusals += 1;
                if self.stale_refusals >= self.policy.max_stale_attempts.max(1) {
                    return None;
                }
                if self.stale_refusals == 1 {
                    Duration::ZERO
                } else {
                    jittered(self.policy.base_delay, random_fraction())
                }
            }
            Refusal::Transient => {
                self.transient_refusals += 1;
                if self.transient_refusals >= self.policy.max_attempts.max(1) {
                    return None;
                }
                let delay = jittered(self.ceiling(), random_fraction());
                self.backoffs += 1;
                let paused = self.paused.checked_add(delay)?;
                if paused > self.policy.budget {
                    return None;
                }
                self.paused = paused;
                delay
            }
        };
        if self
            .deadline
            .is_some_and(|deadline| deadline.remaining() <= delay)
        {
            return None;
        }
        Some(delay)
    }

    /// The ceiling of the next backoff: the base doubled per earlier backoff, capped.
    fn ceiling(&self) -> Duration {
        let factor = 1_u32.checked_shl(self.backoffs).unwrap_or(u32::MAX);
        self.policy
            .base_delay
            .saturating_mul(factor)
            .min(self.policy.max_delay)
    }
}

/// "Equal jitter": half the ceiling, plus `fraction` of the other half, so concurrent
/// retries spread out yet none comes back at once.
pub(crate) fn jittered(ceiling: Duration, fraction: f64) -> Duration {
    let half = ceiling / 2;
    half + half.mul_f64(fraction.clamp(0.0, 1.0))
}

/// A fraction in [0, 1] that differs between calls: std's `RandomState` is seeded from the
/// operating system once per thread and moves on with every instance, which is random enough
/// to spread retries and needs no dependency.
fn random_fraction() -> f64 {
    let bits = RandomState::new().hash_one(0_u8) >> 11;
    // 53 bits fit a double's mantissa exactly.
    #[expect(
        clippy::cast_precision_loss,
        reason = "a 53-bit integer is exact in a double"
    )]
    let fraction = bits as f64 / (1_u64 << 53) as f64;
    fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            max_stale_attempts: 5,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(30),
            budget: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_first_repeat_after_a_stale_read_runs_at_once_and_later_ones_back_off() {
        let mut retries = Retries::new(policy(), None);
        assert_eq!(retries.next(Refusal::Stale), Some(Duration::ZERO));
        let second = retries.next(Refusal::Stale).unwrap_or_default();
        assert!(second >= Duration::from_millis(5) && second <= Duration::from_millis(10));
    }

    #[test]
    fn backoff_doubles_within_its_jitter_and_stops_at_the_ceiling() {
        let mut retries = Retries::new(policy(), None);
        let ceilings = [10, 20, 30, 30];
        for ceiling in ceilings {
            let delay = retries.next(Refusal::Transient);
            let ceiling = Duration::from_millis(ceiling);
            assert!(
                delay.is_some_and(|d| d >= ceiling / 2 && d <= ceiling),
                "{delay:?} outside [{:?}, {ceiling:?}]",
                ceiling / 2
            );
        }
        assert_eq!(
            retries.next(Refusal::Transient),
            None,
            "five attempts in all"
        );
    }

    #[test]
    fn the_budget_bounds_the_pauses_of_one_unit_of_work() {
        let mut retries = Retries::new(
            RetryPolicy {
                budget: Duration::from_millis(12),
                ..policy()
            },
            None,
        );
        assert!(retries.next(Refusal::Transient).is_some());
        // The second pause would take at least 10 ms more: past the budget.
        assert_eq!(retries.next(Refusal::Transient), None);
    }

    #[test]
    fn stale_refusals_have_their_own_higher_cap_and_short_pauses_outside_the_budget() {
        let mut retries = Retries::new(
            RetryPolicy {
                max_stale_attempts: 40,
                budget: Duration::from_millis(1),
                ..policy()
            },
            None,
        );
        assert_eq!(retries.next(Refusal::Stale), Some(Duration::ZERO));
        for _ in 2..40 {
            let delay = retries.next(Refusal::Stale);
            assert!(
                delay.is_some_and(
                    |d| d >= Duration::from_millis(5) && d <= Duration::from_millis(10)
                ),
                "{delay:?}"
            );
        }
        assert_eq!(retries.next(Refusal::Stale), None, "forty attempts in all");
    }

    #[test]
    fn no_retry_starts_that_the_deadline_would_cut_short() {
        let mut retries = Retries::new(policy(), Some(Deadline::after(Duration::from_millis(1))));
        assert_eq!(retries.next(Refusal::Transient), None);
    }

    #[test]
    fn jitter_keeps_between_half_and_all_of_the_ceiling() {
        let ceiling = Duration::from_millis(100);
        assert_eq!(jittered(ceiling, 0.0), Duration::from_millis(50));
        assert_eq!(jittered(ceiling, 1.0), ceiling);
        assert_eq!(jittered(ceiling, 7.0), ceiling);
        let fractions: Vec<f64> = (0..32).map(|_| random_fraction()).collect();
        assert!(fractions.iter().all(|f| (0.0..=1.0).contains(f)));
        assert!(
            fractions.windows(2).any(|pair| pair[0] != pair[1]),
            "the fraction varies"
        );
    }
}
