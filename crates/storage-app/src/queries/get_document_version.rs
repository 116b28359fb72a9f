//! Read any past version of a document, also after it was deleted.

use shared_kernel::Error;
use storage_domain::{DocumentId, Version};

use crate::app::{DocumentView, StorageApp};

impl StorageApp {
    /// Version `version` of document `id`, as it was then.
    ///
    /// # Errors
    /// `INVALID_INPUT` for a bad name, id or version; `NOT_FOUND` without the collection, when
    /// the document never reached that version, or when that version is a deletion.
    #[tracing::instrument(level = "debug", skip_all, fields(collection = %collection, document = %id, version))]
    pub async fn get_document_version(
        &self,
        collection: &str,
        id: &str,
        version: u64,
    ) -> Result<DocumentView, Error> {
        let collection = self.get_collection(collection).await?;
        let id = DocumentId::parse(id)?;
        let version = Version::new(version).map_err(|e| e.at("/version"))?;
        let document = self
            .reader
            .document_at(collection.id(), id.clone(), version)
            .await?
            .ok_or_else(|| Error::not_found(format!("document `{id}` has no version {version}")))?;
        if !document.is_live() {
            return Err(Error::not_found(format!(
                "version {version} of document `{id}` is its deletion; see its revisions"
            )));
        }
        Ok(DocumentView {
            collection: collection.name().clone(),
            document,
        })
    }
}
