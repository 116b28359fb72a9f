//! Read the revision a receipt is about: the current one or version `N`, deletions included.
//!
//! Unlike [`StorageApp::get_document`] and [`StorageApp::get_document_version`], a deletion is
//! an answer here, not a 404: a proof of a deletion is exactly what an auditor may ask for.

use shared_kernel::Error;
use storage_domain::{DocumentId, Version};

use crate::app::{DocumentView, StorageApp, document_not_found};

impl StorageApp {
    /// Version `version` of document `id` (its latest when `None`), live or a tombstone.
    ///
    /// # Errors
    /// `INVALID_INPUT` for a bad name, id or version; `NOT_FOUND` without the collection, when
    /// the document never existed, or never reached that version.
    #[tracing::instrument(level = "debug", skip_all, fields(collection = %collection, document = %id, version))]
    pub async fn get_document_revision(
        &self,
        collection: &str,
        id: &str,
        version: Option<u64>,
    ) -> Result<DocumentView, Error> {
        let collection = self.get_collection(collection).await?;
        let id = DocumentId::parse(id)?;
        let document = match version {
            Some(version) => {
                let version = Version::new(version).map_err(|e| e.at("/version"))?;
                self.reader
                    .document_at(collection.id(), id.clone(), version)
                    .await?
                    .ok_or_else(|| {
                        Error::not_found(format!("document `{id}` has no version {version}"))
                    })?
            }
            None => self
                .reader
                .document(collection.id(), id.clone())
                .await?
                .ok_or_else(|| document_not_found(&id))?,
        };
        Ok(DocumentView {
            collection: collection.name().clone(),
            document,
        })
    }
}
