//! Background work of the server process.

use std::time::Duration;

use shared_kernel::constants::IDEMPOTENCY_PURGE_INTERVAL;
use storage_app::StorageApp;
use tokio::task::JoinHandle;

/// Purges expired idempotency keys every `interval` until aborted. Failures are logged and
/// retried at the next tick: an unpurged key only costs space (expired keys are ignored on
/// lookup anyway).
pub fn spawn_idempotency_purge(storage: StorageApp, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match storage.purge_expired_idempotency_keys().await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "purged expired idempotency keys"),
                Err(error) => {
                    tracing::warn!(error = %error.chain(), "could not purge idempotency keys")
                }
            }
        }
    })
}

/// The purge interval in production.
pub const PURGE_INTERVAL: Duration = IDEMPOTENCY_PURGE_INTERVAL;
