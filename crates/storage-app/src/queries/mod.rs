//! Query handlers: each file adds one `impl StorageApp` read method. Queries read committed
//! state through the `StorageReader` port and never open a write transaction.

pub mod document_history;
pub mod get_collection;
pub mod get_document;
pub mod get_document_revision;
pub mod get_document_version;
pub mod list_audit;
pub mod list_collections;
pub mod list_revisions;
pub mod query_documents;

pub use list_collections::Page;

#[cfg(test)]
mod tests;
