//! The transaction manager's [`Pause`] on tokio's timer: the one runtime the adapters use.

use std::time::Duration;

use async_trait::async_trait;
use storage_app::Pause;

/// Sleeps on the current tokio runtime (which must have its timer enabled).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioPause;

#[async_trait]
impl Pause for TokioPause {
    async fn pause(&self, delay: Duration) {
        tokio::time::sleep(delay).await;
    }
}
