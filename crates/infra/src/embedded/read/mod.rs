//! Reads of committed state: the reader threads and what runs on them.
//!
//! `reader.rs` implements the `StorageReader` port over the reader threads
//! (`reader_pool.rs`): point reads by id or version, history (`history.rs`), idempotency
//! records (`idempotency.rs`), query pages (`query.rs`) and the audit listing in log order
//! (`audit_list.rs`; both audit reads check rows in `audit_row.rs`). Two caches
//! answer from memory what the writer side keeps exact: the live collections
//! (`collection_cache.rs`) and documents by id (`document_cache.rs`). Nothing here uses the
//! writer, so reads can be followed without the write path.

mod audit_list;
mod audit_row;
pub(crate) mod collection_cache;
pub(crate) mod document_cache;
mod history;
pub(crate) mod idempotency;
mod query;
pub(crate) mod reader;
pub(crate) mod reader_pool;
