//! The Audit bounded context: audit entries, the port that records them, and the RFC 9162
//! Merkle log that makes them verifiable.
//!
//! - [`entry`]: the audit entry of API.md and its leaf bytes (the JCS of its fields).
//! - [`logger`]: the `AuditLogger` port, the one way any layer records an audit entry.
//! - [`merkle`]: RFC 9162 hashing, proofs and verification.
//! - [`note`]: C2SP signed notes with Ed25519 (sign, verify, verifier keys).
//! - [`checkpoint`]: C2SP checkpoints, the signed heads of the log.
//! - [`receipt`]: verified read bundles (JSON and C2SP `tlog-proof`) and their verifier.
//! - [`consistency`]: offline check that one signed checkpoint extends another.
//! - [`succession`]: the `log.succession` entry that links a successor log to its predecessor.
//!
//! Pure and fast, with no I/O of any kind: the offline verifier links this crate alone (with
//! the shared kernel), so it must not depend on a runtime, HTTP, or a database driver.

mod canonical_text;
pub mod checkpoint;
pub mod consistency;
pub mod entry;
pub mod logged;
pub mod logger;
pub mod merkle;
pub mod note;
pub mod receipt;
pub mod succession;

pub use entry::{AuditEntry, AuditOperation, AuditRecord, AuditSubject};
pub use logged::LoggedAuditEntry;
pub use logger::AuditLogger;
