//! Moving committed entries from the pending part into the log, as the running server's
//! sequencer does: the application's [`Sequencer`] over the backend's `LogStore` port (it
//! reads `pending(n)` and appends the batch), so the listing contracts can move entries at
//! the moment they choose, mid-walk included.

use std::sync::Arc;

use audit_app::{RememberingSigner, Sequencer, SequencerOptions};
use audit_domain::note::{KeyName, NoteSigner};
use shared_kernel::SystemClock;

use super::build::ok;
use crate::Backend;

/// A sequencer over `backend`'s log that places at most `batch_size` entries per batch.
pub(crate) async fn sequencer<B: Backend>(backend: &B, batch_size: usize) -> Sequencer {
    let key = NoteSigner::from_seed(
        KeyName::new("contracts/log").unwrap_or_else(|e| panic!("a key name: {e}")),
        &[7; 32],
    );
    ok(
        "starting the sequencer",
        Sequencer::start(
            backend.ports().log,
            Arc::new(RememberingSigner::in_memory(key)),
            Arc::new(SystemClock),
            SequencerOptions {
                batch_size,
                ..SequencerOptions::default()
            },
        )
        .await,
    )
}

/// Sequences one batch; returns how many entries it placed.
pub(crate) async fn batch(sequencer: &mut Sequencer) -> usize {
    ok("sequencing a batch", sequencer.sequence_batch().await)
}

/// Sequences until nothing is pending.
pub(crate) async fn drain(sequencer: &mut Sequencer) {
    while batch(sequencer).await > 0 {}
}
