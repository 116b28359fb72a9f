//! The verifiable log's side of the store: what the sequencer, the signer and the operator's
//! log commands need from the data folder.
//!
//! `store.rs` implements the `LogStore` port (stored subtree hashes, head, checkpoints),
//! writing through the one writer and reading through the readers, with two memories of
//! committed state (`crate::log_memory`). Beside it, the files next to the
//! database: the signing key (`key.rs`) and the signer's memory of its last checkpoint
//! (`signer_state.rs`); and starting a successor log (`succession.rs`). Kept apart from the
//! document path because it has its own consumers and its own rules (synced writes, one key
//! per log).

pub(crate) mod key;
pub(crate) mod signer_state;
pub(crate) mod store;
pub(crate) mod succession;
