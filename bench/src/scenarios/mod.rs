//! The scenarios: how each prepares its data and what one request is.
//!
//! Preparing may find that the server lacks what a scenario needs (an endpoint answering 404):
//! the scenario is then [`Prepared::Unavailable`], reported loudly and never as zero.

pub mod contention;
pub mod delay;
pub mod http;
pub mod pg;

use crate::driver::Op;
use crate::ticked::PlainRequest;

/// What preparing a scenario gave.
pub enum Prepared {
    /// Ready to run `op`; `note` says what to know about the figures.
    Ready {
        /// One request, for the closed loop.
        op: Op,
        /// What to know about the figures.
        note: Option<String>,
        /// The same request as data, for the open loop ([`crate::ticked`]); `None` when the
        /// scenario has no open-loop form (the PostgreSQL peer).
        open: Option<PlainRequest>,
    },
    /// The server does not offer what the scenario needs; the reason.
    Unavailable(String),
}

/// Spreads sequence numbers over `0..n` in a scrambled order, so consecutive requests touch
/// different documents (a multiplicative hash; never 0 for n = 0).
pub fn spread(seq: u64, n: u64) -> u64 {
    (seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17) % n.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_stays_in_range_and_touches_many_values() {
        let seen: std::collections::HashSet<u64> = (0..1000).map(|s| spread(s, 100)).collect();
        assert!(seen.iter().all(|v| *v < 100));
        assert!(seen.len() > 80, "{}", seen.len());
        assert_eq!(spread(5, 0), 0);
    }
}
