//! The embedded store's settings, gathered from the parts they tune (durability from the
//! connection, group commit from the writer, the document cache from the readers), so that
//! the store's wiring in `mod.rs` takes one value.

use super::connection::Durability;
use super::read::document_cache::DEFAULT_DOCUMENT_CACHE_BYTES;
use super::write::commit_health::CommitFaults;
use super::write::writer::GroupCommitOptions;

/// How many reads run at once by default, each on its own thread and connection: one per
/// core (at least two: one of them serves only point reads, see `read/reader_pool.rs`). More
/// threads park and wake more often, fewer leave a core idle: on 2 cores, 2 threads served
/// 31k reads/s, 1 thread 26k and 4 threads 25k.
pub fn default_readers() -> usize {
    std::thread::available_parallelism().map_or(2, |cores| cores.get().max(2))
}

/// Settings of the embedded store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedOptions {
    /// How hard a commit works to survive a crash.
    pub durability: Durability,
    /// How many reads run at once (reader threads, each with its own connection; at least 2,
    /// of which query pages and other scans may use all but one).
    pub readers: usize,
    /// When a group of writes stops growing and commits.
    pub group_commit: GroupCommitOptions,
    /// How many bytes of committed documents are kept in memory for reads by id (0 keeps
    /// none); see `read/document_cache.rs`.
    pub document_cache_bytes: usize,
    /// The test seam that makes commits fail as on a full disk; off by default.
    pub commit_faults: CommitFaults,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            durability: Durability::default(),
            readers: default_readers(),
            group_commit: GroupCommitOptions::default(),
            document_cache_bytes: DEFAULT_DOCUMENT_CACHE_BYTES,
            commit_faults: CommitFaults::default(),
        }
    }
}
