//! List a document's revisions, oldest first.

use shared_kernel::Error;
use shared_kernel::pagination::PageLimit;
use storage_domain::{DocumentId, Revision, Version};

use super::Page;
use crate::app::StorageApp;
use crate::app::document_not_found;
use crate::cursor;

/// The cursor tag of this list.
const CURSOR_KIND: &str = "revisions";

impl StorageApp {
    /// Every version of a document (tombstones included), oldest first, a page at a time.
    ///
    /// # Errors
    /// `INVALID_INPUT` for a bad name, id, limit or cursor; `NOT_FOUND` without the collection
    /// or when the document never existed.
    #[tracing::instrument(level = "debug", skip_all, fields(collection = %collection, document = %id))]
    pub async fn list_revisions(
        &self,
        collection: &str,
        id: &str,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<Revision>, Error> {
        let collection = self.get_collection(collection).await?;
        let id = DocumentId::parse(id)?;
        let limit = PageLimit::parse(limit)?;
        let after = cursor.map(decode).transpose()?;
        let items = self
            .reader
            .revisions(collection.id(), id.clone(), after, limit.get() + 1)
            .await?;
        if items.is_empty() && after.is_none() {
            return Err(document_not_found(&id));
        }
        Ok(Page::from_overfetch(items, limit, CURSOR_KIND, |r| {
            r.version.get().to_string()
        }))
    }
}

fn decode(text: &str) -> Result<Version, Error> {
    let key = cursor::decode(CURSOR_KIND, text)?;
    key.parse::<u64>()
        .ok()
        .and_then(|n| Version::new(n).ok())
        .ok_or_else(|| {
            Error::invalid_field(
                "/cursor",
                "the cursor is malformed or belongs to another list",
            )
        })
}
