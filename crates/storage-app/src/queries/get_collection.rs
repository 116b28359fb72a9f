//! Read one collection.

use shared_kernel::Error;
use storage_domain::{Collection, CollectionName};

use crate::app::{StorageApp, collection_not_found};

impl StorageApp {
    /// The live collection named `name`.
    ///
    /// # Errors
    /// `INVALID_INPUT` for a bad name; `NOT_FOUND` when there is none.
    #[tracing::instrument(level = "debug", skip_all, fields(collection = %name))]
    pub async fn get_collection(&self, name: &str) -> Result<Collection, Error> {
        let name = CollectionName::parse(name)?;
        self.reader
            .collection(&name)
            .await?
            .ok_or_else(|| collection_not_found(&name))
    }
}
