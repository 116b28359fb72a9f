//! The Storage bounded context: collections of JSON documents with versions and history.
//!
//! - [`collection`]: the `Collection` aggregate (name, immutable id, optional JSON Schema) and
//!   its events.
//! - [`document`]: the `Document` entity (data, version, tombstone), the value objects that
//!   validate on construction (`DocumentId`, `Version`, `DocumentData`), revisions and events.
//! - [`query`]: filters as specifications (`is_satisfied_by`), sorts and sort keys.
//! - [`repository`]: the ports through which application code loads and stores them.
//!
//! Pure domain code: it must not depend on an async runtime, HTTP, or any database driver.
//! Aggregates record past-tense events; only repositories rebuild them from storage, through
//! the clearly named `restore` constructors.

pub mod collection;
pub mod document;
pub mod query;
pub mod repository;

pub use collection::{Collection, CollectionEvent, CollectionName, CollectionSchema};
pub use document::{
    Document, DocumentData, DocumentEvent, DocumentId, DocumentLimits, DocumentOperation,
    Precondition, Revision, Version,
};
