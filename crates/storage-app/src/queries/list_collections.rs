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

impl<T> Page<T> {
    /// Builds a page from `items` read with a limit of `limit + 1`: the extra item, if any,
    /// only tells that another page exists (one query instead of two), and is cut off. The
    /// next cursor is the last kept item's `key`, tagged with the list's `kind`.
    pub(crate) fn from_overfetch(
        mut items: Vec<T>,
        limit: PageLimit,
        kind: &str,
        key: impl Fn(&T) -> String,
    ) -> Self {
        let page_size = limit.get() as usize;
        let has_more = items.len() > page_size;
        items.truncate(page_size);
        let next_cursor = if has_more {
            items.last().map(|last| cursor::encode(kind, &key(last)))
        } else {
            None
        };
        Self { items, next_cursor }
    }
}

impl StorageApp {
    /// Live collections ordered by name.
    ///
    /// # Errors
    /// `INVALID_INPUT` for a bad limit or cursor.
    #[tracing::instrument(level = "debug", skip_all)]
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
        let items = self.reader.collections(after, limit.get() + 1).await?;
        Ok(Page::from_overfetch(items, limit, CURSOR_KIND, |c| {
            c.name().as_str().to_owned()
        }))
    }
}
