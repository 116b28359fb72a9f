//! The `CollectionRepository` port on a write transaction: collections found through the
//! transaction's cache of live collections, inserted and updated by id (the name is unique:
//! a duplicate is a `CONFLICT`).

use async_trait::async_trait;
use rusqlite::params;
use shared_kernel::{CollectionId, Error};
use storage_domain::repository::CollectionRepository;
use storage_domain::{Collection, CollectionName};

use crate::embedded::error::{conflict_or_storage_error, storage_error};
use crate::embedded::rows::{self, CollectionRow, from_sql_integer};
use crate::embedded::write::transaction::SqliteTransaction;

#[async_trait]
impl CollectionRepository for SqliteTransaction {
    #[tracing::instrument(level = "debug", name = "embedded.collections.find_by_name", skip_all)]
    async fn find_by_name(&mut self, name: &CollectionName) -> Result<Option<Collection>, Error> {
        if self.is_optimistic() {
            return self.read_collection_optimistically(name).await;
        }
        // This transaction holds the writer: an entry that is current cannot change under it.
        let stamp = match self.cached_collections() {
            Some((cache, stamp)) => match cache.get(name.as_str(), stamp) {
                Some(collection) => return Ok(Some(collection)),
                None => Some(stamp),
            },
            None => None,
        };
        let key = name.as_str().to_owned();
        let found = self
            .run(move |connection| rows::select_live_collection(connection, &key))
            .await?;
        if let (Some(stamp), Some(collection), Some((cache, _))) =
            (stamp, &found, self.cached_collections())
        {
            cache.put(name.as_str(), stamp, collection);
        }
        Ok(found)
    }

    #[tracing::instrument(level = "debug", name = "embedded.collections.insert", skip_all)]
    async fn insert(&mut self, collection: &Collection) -> Result<(), Error> {
        let row = CollectionRow::from_domain(collection)?;
        self.changing_collections();
        self.run(move |connection| {
            connection
                .prepare_cached(
                    "INSERT INTO collections \
                     (id, name, schema, version, created_at, updated_at, deleted_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .and_then(|mut statement| {
                    statement.execute(params![
                        row.id,
                        row.name,
                        row.schema,
                        row.version,
                        row.created_at,
                        row.updated_at,
                        row.deleted_at
                    ])
                })
                .map(drop)
                .map_err(|e| {
                    conflict_or_storage_error("inserting a collection", e, || {
                        Error::conflict(format!("collection `{}` already exists", row.name))
                    })
                })
        })
        .await
    }

    #[tracing::instrument(level = "debug", name = "embedded.collections.update", skip_all)]
    async fn update(&mut self, collection: &Collection) -> Result<(), Error> {
        let row = CollectionRow::from_domain(collection)?;
        self.changing_collections();
        self.run(move |connection| {
            // The name is immutable; only the settings and the deletion move.
            let changed = connection
                .prepare_cached(
                    "UPDATE collections SET schema = ?2, version = ?3, updated_at = ?4, \
                     deleted_at = ?5 WHERE id = ?1",
                )
                .and_then(|mut statement| {
                    statement.execute(params![
                        row.id,
                        row.schema,
                        row.version,
                        row.updated_at,
                        row.deleted_at
                    ])
                })
                .map_err(|e| {
                    conflict_or_storage_error("updating a collection", e, || {
                        Error::conflict(format!("collection `{}` already exists", row.name))
                    })
                })?;
            if changed == 0 {
                return Err(Error::not_found(format!(
                    "collection `{}` not found",
                    row.name
                )));
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(
        level = "debug",
        name = "embedded.collections.count_live_documents",
        skip_all
    )]
    async fn count_live_documents(&mut self, id: CollectionId) -> Result<u64, Error> {
        let id = id.to_string();
        self.run(move |connection| {
            let count: i64 = connection
                .prepare_cached(
                    "SELECT COUNT(*) FROM documents WHERE collection_id = ?1 AND data IS NOT NULL",
                )
                .and_then(|mut statement| statement.query_row(params![id], |row| row.get(0)))
                .map_err(|e| storage_error("counting documents", e))?;
            from_sql_integer(count, "document count")
        })
        .await
    }
}
