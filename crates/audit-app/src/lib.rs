//! The Audit application layer: the sequencer that turns committed audit entries into the
//! verifiable Merkle log, the signed checkpoints of that log, and the queries behind its API.
//!
//! - [`ports`]: what the application needs from storage ([`LogStore`]) and from a key
//!   ([`LogSigner`]).
//! - [`signer`]: the key that remembers the last checkpoint it signed, outside the
//!   database, and refuses to contradict it.
//! - [`sequencer`]: gives pending entries consecutive leaf indexes in commit order, appends
//!   their stored hashes in batches, and signs checkpoints at a bounded rate.
//! - [`origin`]: the default origin, derived from the public key.
//! - [`queries`]: checkpoints, leaves, inclusion and consistency proofs, read through the port.
//! - [`auditor`]: walks a whole store's stored facts and names every discrepancy.
//!
//! It decides *what* to write and *when*; adapters decide how. No runtime, no driver: the
//! timing loop that calls the sequencer lives in the server, which owns tokio.

pub mod auditor;
pub mod origin;
pub mod ports;
pub mod queries;
pub mod sequencer;
pub mod signer;
mod stored;

#[cfg(test)]
mod test_support;

pub use ports::{
    AuditLeaf, LogAppend, LogLeaf, LogSigner, LogStore, PendingLeaf, StoredCheckpoint, TreeHead,
};
pub use queries::LogQueries;
pub use sequencer::{Sequencer, SequencerOptions};
pub use signer::{RememberingSigner, SignedTree, SignerMemory};
