//! How connections are served on the machine's cores: a value the configuration reads
//! (`serving`) and [`run`](crate::run) applies, kept apart from both so that neither imports
//! the other for it.

use std::num::NonZeroUsize;

/// How connections are served on the machine's cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// `threads` serving threads, the caller's among them, each running a single-threaded
    /// runtime and keeping the connections it is dealt for their whole life: no wake-up
    /// crosses threads on a request's path (see `run/spread.rs`). The caller's runtime should be
    /// single-threaded too, or its other workers compete for the same cores.
    PerThread {
        /// How many, the caller's thread included.
        threads: NonZeroUsize,
    },
    /// The caller's runtime serves every connection; on a multi-threaded runtime its workers
    /// share them (tokio's work stealing).
    Shared,
}

impl Serving {
    /// [`Serving::PerThread`] with a thread for each core this process may run on.
    pub fn one_thread_per_core() -> Self {
        Self::PerThread {
            threads: std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
        }
    }

    /// How many threads `start` starts beside the caller's.
    pub(crate) fn other_threads(self) -> usize {
        match self {
            Self::PerThread { threads } => threads.get() - 1,
            Self::Shared => 0,
        }
    }
}
