//! `LogStore`: the Merkle log's storage.

use crate::Backend;

/// A fresh store's log is empty and has nothing pending.
pub async fn a_fresh_log_is_empty<B: Backend>(backend: &B) {
    let log = backend.ports().log;
    let empty = log
        .is_empty()
        .await
        .unwrap_or_else(|e| panic!("asking whether the log is empty: {}", e.chain()));
    assert!(empty, "a fresh store's log holds leaves");
    let pending = log
        .pending(10)
        .await
        .unwrap_or_else(|e| panic!("reading pending leaves: {}", e.chain()));
    assert!(pending.is_empty(), "a fresh store has pending leaves");
}
