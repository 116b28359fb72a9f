//! When a collection's mark (the first phase of a change, `phases.rs`) holds writes back,
//! shared by the phases and the commit's guard check.

use std::time::Duration;

use super::super::Shared;

/// After how many transaction lifetimes a mark is taken to be abandoned.
pub(crate) const STALE_MARK_LIFETIMES: u32 = 3;

/// Whether a mark set at `since` (ms) is still in force at `now` (ms).
pub(crate) fn mark_in_force(shared: &Shared, since: i64, now: i64) -> bool {
    let stale_after = shared.options.transaction_lifetime * STALE_MARK_LIFETIMES;
    let stale_after = i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX);
    now.saturating_sub(since) < stale_after
}

/// Milliseconds since the epoch.
pub(crate) fn now_millis() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}
