//! Read one live document.

use shared_kernel::Error;
use storage_domain::DocumentId;

use crate::app::document_not_found;
use crate::app::{DocumentView, StorageApp};

impl StorageApp {
    /// The live document `id` in collection `collection`.
    ///
    /// # Errors
    /// `INVALID_INPUT` for a bad name or id; `NOT_FOUND` without the collection, or when the
    /// document never existed or is deleted.
    #[tracing::instrument(level = "debug", skip_all, fields(collection = %collection, document = %id))]
    pub async fn get_document(&self, collection: &str, id: &str) -> Result<DocumentView, Error> {
        let collection = self.get_collection(collection).await?;
        let id = DocumentId::parse(id)?;
        let document = self
            .reader
            .document(collection.id(), id.clone())
            .await?
            .filter(|d| d.is_live())
            .ok_or_else(|| document_not_found(&id))?;
        Ok(DocumentView {
            collection: collection.name().clone(),
            document,
        })
    }
}
