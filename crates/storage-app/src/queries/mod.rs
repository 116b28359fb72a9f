//! Query handlers: each file adds one `impl StorageApp` read method. Queries read committed
//! state through the `StorageReader` port and never open a write transaction.

pub mod get_collection;
pub mod get_document;
pub mod list_collections;

pub use list_collections::Page;
