//! An audit entry as the store keeps it: its place in commit order and in the log, beside
//! the patch its hash commits to. Its own module because it holds either kind of log entry
//! (`entry` knows nothing of successions; `succession` builds on `entry`).

use serde_json::Value;

use crate::merkle::Hash;
use crate::succession::LogEntry;

/// An audit entry as stored: its commit sequence, leaf hash, log index once sequenced, and
/// the patch kept beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedAuditEntry {
    /// Commit sequence: the order in which entries were committed (1, 2, ...); in a successor
    /// log its `log.succession` entry is 1, the entries it took over following in their
    /// commit order.
    pub seq: u64,
    /// The entry: a data entry, or a successor log's `log.succession` entry (listed by
    /// `/v1/audit` at its leaf position, never in a document's trail).
    pub entry: LogEntry,
    /// SHA-256(0x00 ‖ leaf bytes).
    pub leaf_hash: Hash,
    /// Its index in the Merkle log, once the sequencer has placed it.
    pub leaf_index: Option<u64>,
    /// The RFC 6902 patch whose hash is the entry's `patch_sha256`.
    pub patch: Option<Value>,
}
