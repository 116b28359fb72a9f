//! Delete an empty collection.

use shared_kernel::{AuditId, Error, RequestContext};
use storage_domain::CollectionName;

use crate::app::StorageApp;
use crate::transactions::Prepared;

/// The request to delete a collection.
#[derive(Debug, Clone)]
pub struct DeleteCollection {
    /// The collection.
    pub collection: String,
}

impl StorageApp {
    /// Deletes a collection that holds no live documents, audited. Its history stays; the
    /// name may be reused by a new collection with a new id.
    ///
    /// # Errors
    /// `NOT_FOUND` when there is no such collection; `CONFLICT` while it holds live documents.
    #[tracing::instrument(level = "debug", skip_all, fields(collection = %command.collection))]
    pub async fn delete_collection(
        &self,
        context: &RequestContext,
        command: DeleteCollection,
    ) -> Result<(), Error> {
        let name = CollectionName::parse(&command.collection)?;
        let audit_id = AuditId::generate();
        let name = &name;
        let deleted = self
            .transaction(context, audit_id, |mut tx| async move {
                // Guarded (live at the version read): a write into the collection that
                // commits before this delete is counted, and one that would commit after it
                // is refused (see `guards.rs` for how a store without a single writer
                // keeps that).
                let mut collection = Self::live_collection(tx.as_mut(), name).await?;
                let live_documents = tx
                    .collections()
                    .count_live_documents(collection.id())
                    .await?;
                collection.delete(live_documents, self.clock.now())?;
                tx.collections().update(&collection).await?;
                Self::record_collection_change(tx.as_mut(), &mut collection, context, audit_id)
                    .await?;
                Ok(Prepared::new(tx, collection.id()))
            })
            .await?;
        // A deleted collection is never validated against again.
        self.schemas.forget(deleted);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use shared_kernel::ErrorCode;

    use super::*;
    use crate::commands::test_support::*;
    use crate::guards::Guard;
    use crate::ports::MockSchemaValidator;

    #[tokio::test]
    async fn an_empty_collection_is_deleted_audited_and_forgotten_by_the_validator() {
        let mut tx = MockTx::default();
        tx.collections
            .expect_find_by_name()
            .returning(|name| Ok(Some(existing_collection(name))));
        tx.collections
            .expect_count_live_documents()
            .returning(|_| Ok(0));
        tx.collections
            .expect_update()
            .times(1)
            .returning(|_| Ok(()));
        tx.expect_one_audit_entry("collection.delete");
        let guards = tx.guards();
        let mut schemas = MockSchemaValidator::new();
        schemas.expect_forget().times(1).returning(|_| ());
        let (app, committed) = app_with(tx, schemas);
        let result = app
            .delete_collection(
                &context(),
                DeleteCollection {
                    collection: "orders".into(),
                },
            )
            .await;
        assert!(result.is_ok());
        assert!(committed.was_committed());
        // The race with a create into it: the delete commits only while the collection it
        // counted is live at the version read.
        assert!(matches!(
            guards.asked().as_slice(),
            [Guard::CollectionLive { version: 1, .. }]
        ));
    }

    #[tokio::test]
    async fn a_collection_with_live_documents_is_a_conflict_and_nothing_is_written() {
        let mut tx = MockTx::default();
        tx.collections
            .expect_find_by_name()
            .returning(|name| Ok(Some(existing_collection(name))));
        tx.collections
            .expect_count_live_documents()
            .returning(|_| Ok(2));
        tx.collections.expect_update().never();
        tx.audit.expect_append().never();
        let (app, committed) = app_with(tx, valid_schemas());
        let error = app
            .delete_collection(
                &context(),
                DeleteCollection {
                    collection: "orders".into(),
                },
            )
            .await
            .err();
        assert_eq!(error.map(|e| e.code()), Some(ErrorCode::Conflict));
        assert!(!committed.was_committed());
    }

    #[tokio::test]
    async fn an_unknown_collection_is_not_found_and_nothing_is_written() {
        let mut tx = MockTx::default();
        tx.collections.expect_find_by_name().returning(|_| Ok(None));
        tx.collections.expect_count_live_documents().never();
        tx.collections.expect_update().never();
        tx.audit.expect_append().never();
        let (app, committed) = app_with(tx, valid_schemas());
        let command = DeleteCollection {
            collection: "orders".into(),
        };
        let error = app.delete_collection(&context(), command).await.err();
        assert_eq!(error.map(|e| e.code()), Some(ErrorCode::NotFound));
        assert!(!committed.was_committed());
    }
}
