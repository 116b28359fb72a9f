//! List a document's audit entries, in the order its changes were made.

use audit_domain::LoggedAuditEntry;
use shared_kernel::Error;
use shared_kernel::pagination::PageLimit;
use storage_domain::DocumentId;

use super::Page;
use crate::app::StorageApp;
use crate::app::document_not_found;
use crate::cursor;

/// The cursor tag of this list.
const CURSOR_KIND: &str = "history";

impl StorageApp {
    /// The audit entries of every change to a document, oldest first, a page at a time.
    ///
    /// # Errors
    /// `INVALID_INPUT` for a bad name, id, limit or cursor; `NOT_FOUND` without the collection
    /// or when the document never existed.
    #[tracing::instrument(level = "debug", skip_all, fields(collection = %collection, document = %id))]
    pub async fn document_history(
        &self,
        collection: &str,
        id: &str,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<LoggedAuditEntry>, Error> {
        let collection = self.get_collection(collection).await?;
        let id = DocumentId::parse(id)?;
        let limit = PageLimit::parse(limit)?;
        let after = cursor
            .map(|c| cursor::decode_position(CURSOR_KIND, c))
            .transpose()?;
        let first_page = after.is_none();
        let items = self
            .reader
            .document_audit_trail(collection.id(), id.clone(), after, limit.get() + 1)
            .await?;
        if items.is_empty() && first_page {
            return Err(document_not_found(&id));
        }
        Ok(Page::from_overfetch(items, limit, CURSOR_KIND, |e| {
            e.position.as_str().to_owned()
        }))
    }
}
