//! List collections, a page at a time.

use shared_kernel::Error;
use shared_kernel::pagination::PageLimit;
use storage_domain::{Collection, CollectionName};

use crate::app::StorageApp;
use crate::cursor;

/// The cursor tag of this list.
const CURSOR_KIND: &str = "collections";

/// One page of a list and the cursor of the next, if there is more.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts, or none at the end.
    pub next_cursor: Option<String>,
}

impl StorageApp {
    /// Live collections ordered by name.
    ///
    /// # Errors
    /// `INVALID_INPUT` for a bad limit or cursor.
    #[tracing::instrument(skip_all)]
    pub async fn list_collections(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<Collection>, Error> {
        let limit = PageLimit::parse(limit)?;
        let after = cursor
            .map(|c| {
                cursor::decode(CURSOR_KIND, c)
                    .and_then(|name| CollectionName::parse(&name).map_err(|e| e.at("/cursor")))
            })
            .transpose()?;
        // One more than asked tells whether another page exists without a second query.
        let mut items = self.reader.collections(after, limit.get() + 1).await?;
        let has_more = items.len() > limit.get() as usize;
        items.truncate(limit.get() as usize);
        let next_cursor = has_more
            .then(|| {
                items
                    .last()
                    .map(|c| cursor::encode(CURSOR_KIND, c.name().as_str()))
            })
            .flatten();
        Ok(Page { items, next_cursor })
    }
}
