//! An audit entry as the store keeps it: its place in the listing that returned it and in the
//! log, beside the patch its hash commits to. Its own module because it holds either kind of log entry
//! (`entry` knows nothing of successions; `succession` builds on `entry`).

use serde_json::Value;
use shared_kernel::Position;

use crate::merkle::Hash;
use crate::succession::LogEntry;

/// An audit entry as stored: where its listing resumes after it, its leaf hash, log index once
/// sequenced, and the patch kept beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedAuditEntry {
    /// Where the listing that returned this entry resumes after it: the backend's opaque
    /// position (see [`Position`]), for the next page's cursor. Not a number to count or
    /// compare: no port hands out a gap-free commit sequence.
    pub position: Position,
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
