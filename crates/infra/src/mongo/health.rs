//! How `/readyz` recovers without client writes: while the last commit failed to reach
//! MongoDB ([`super::MongoStore::commits_failing`]), a probe writes one small document every
//! [`PROBE_INTERVAL`] (majority write concern, as commits) and clears the failure as soon as
//! one is acknowledged, so a server that lost MongoDB says it is ready again once MongoDB is
//! back, not only after the next client write.

use std::sync::Weak;
use std::time::Duration;

use mongodb::bson::doc;

use super::Shared;
use super::error::storage_error;
use super::layout::SERVER_LOCKS;

/// Time between two probes while commits fail.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// The `_id` of the probe's document, beside the sequencer lock.
const PROBE_ID: &str = "health-probe";

/// Probes while the store is open (`shared` can be upgraded), and stops once it is not.
pub(crate) async fn probe_while_open(shared: Weak<Shared>) {
    loop {
        tokio::time::sleep(PROBE_INTERVAL).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if shared.last_failure().is_none() || shared.options.faults.commits_fail() {
            continue;
        }
        let written = shared
            .collection(SERVER_LOCKS)
            .update_one(
                doc! { "_id": PROBE_ID },
                doc! { "$set": { "at": mongodb::bson::DateTime::now() } },
            )
            .upsert(true)
            .await;
        match written {
            Ok(_) => {
                tracing::info!("MongoDB acknowledges writes again");
                shared.set_failure(None);
            }
            Err(e) => {
                let error = storage_error("probing MongoDB", e);
                shared.set_failure(Some(format!("MongoDB: {}", error.detail())));
            }
        }
    }
}
