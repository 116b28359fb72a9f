//! Repository ports: how the application loads and stores aggregates inside a transaction.
//!
//! Each port is bound to one open transaction (the application's unit of work hands them
//! out), which is why methods take `&mut self`: everything done through them commits or rolls
//! back together. Adapters live in `infra`; the contract tests there enforce the `# Errors`
//! clauses below on every backend.

use async_trait::async_trait;
use shared_kernel::{CollectionId, Error};

use crate::collection::{Collection, CollectionName};
use crate::document::{Document, DocumentId, Revision};

/// Stores collections.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait CollectionRepository: Send {
    /// The live collection with this name, if any.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    async fn find_by_name(&mut self, name: &CollectionName) -> Result<Option<Collection>, Error>;

    /// Stores a new collection.
    ///
    /// # Errors
    /// MUST return `CONFLICT` when a live collection has the same name.
    async fn insert(&mut self, collection: &Collection) -> Result<(), Error>;

    /// Stores a changed collection (schema change or delete).
    ///
    /// # Errors
    /// MUST return `NOT_FOUND` when no collection has its id.
    async fn update(&mut self, collection: &Collection) -> Result<(), Error>;

    /// How many live (not deleted) documents the collection holds.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    async fn count_live_documents(&mut self, id: CollectionId) -> Result<u64, Error>;
}

/// Stores documents and their revisions.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait DocumentRepository: Send {
    /// The document with this id, live or tombstone, if it ever existed.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    async fn find(
        &mut self,
        collection: CollectionId,
        id: &DocumentId,
    ) -> Result<Option<Document>, Error>;

    /// Stores the document's current state and the revision it produced.
    ///
    /// # Errors
    /// MUST return `CONFLICT` when the stored version is not the one just before
    /// `document.version()` (or a document exists when it is version 1): a concurrent change
    /// won, and the caller may retry on fresh state.
    async fn save(&mut self, document: &Document, revision: &Revision) -> Result<(), Error>;
}
