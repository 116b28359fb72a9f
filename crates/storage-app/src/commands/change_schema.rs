//! Set, replace or remove a collection's schema.

use serde_json::Value;
use shared_kernel::{AuditId, Error, RequestContext};
use storage_domain::{Collection, CollectionName, CollectionSchema};

use crate::app::StorageApp;
use crate::transactions::Prepared;

/// The request to change a schema; `schema: None` removes it.
#[derive(Debug, Clone)]
pub struct ChangeSchema {
    /// The collection.
    pub collection: String,
    /// The new schema, or none.
    pub schema: Option<Value>,
}

impl StorageApp {
    /// Changes a collection's schema, audited. Later writes are checked against the new
    /// schema; existing documents are not re-checked.
    ///
    /// # Errors
    /// `INVALID_INPUT` for a bad name or schema; `NOT_FOUND` when there is no such collection.
    #[tracing::instrument(level = "debug", skip_all, fields(collection = %command.collection))]
    pub async fn change_schema(
        &self,
        context: &RequestContext,
        command: ChangeSchema,
    ) -> Result<Collection, Error> {
        let name = CollectionName::parse(&command.collection)?;
        let schema = command.schema.map(CollectionSchema::new).transpose()?;
        if let Some(schema) = &schema {
            self.schemas.check_schema(schema).await?;
        }
        let audit_id = AuditId::generate();
        let (name, schema) = (&name, &schema);
        let changed = self
            .transaction(context, audit_id, |mut tx| async move {
                // Guarded (live at the version read): a document write validated against
                // the schema this replaces cannot commit after it.
                let mut collection = Self::live_collection(tx.as_mut(), name).await?;
                collection.change_schema(schema.clone(), self.clock.now())?;
                tx.collections().update(&collection).await?;
                let changed = collection.clone();
                Self::record_collection_change(tx.as_mut(), &mut collection, context, audit_id)
                    .await?;
                Ok(Prepared::new(tx, changed))
            })
            .await?;
        // The compiled form of the replaced schema is of no further use.
        self.schemas.forget(changed.id());
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shared_kernel::ErrorCode;

    use super::*;
    use crate::commands::test_support::*;
    use crate::guards::Guard;
    use crate::ports::MockSchemaValidator;

    #[tokio::test]
    async fn a_schema_change_moves_the_version_and_is_audited() {
        let mut tx = MockTx::default();
        tx.collections
            .expect_find_by_name()
            .returning(|name| Ok(Some(existing_collection(name))));
        tx.collections
            .expect_update()
            .times(1)
            .returning(|_| Ok(()));
        tx.expect_one_audit_entry("collection.schema_change");
        let guards = tx.guards();
        let (app, committed) = app_with(tx, valid_schemas());
        let command = ChangeSchema {
            collection: "orders".into(),
            schema: Some(json!({"type": "object"})),
        };
        let collection = app.change_schema(&context(), command).await;
        assert_eq!(collection.map(|c| c.version()).ok(), Some(2));
        assert!(committed.was_committed());
        // The change commits only over the version it read.
        assert!(matches!(
            guards.asked().as_slice(),
            [Guard::CollectionLive { version: 1, .. }]
        ));
    }

    #[tokio::test]
    async fn the_replaced_schema_is_forgotten_by_the_validator_once_committed() {
        let mut tx = MockTx::default();
        tx.collections
            .expect_find_by_name()
            .returning(|name| Ok(Some(existing_collection(name))));
        tx.collections.expect_update().returning(|_| Ok(()));
        tx.expect_one_audit_entry("collection.schema_change");
        let mut schemas = MockSchemaValidator::new();
        schemas.expect_check_schema().returning(|_| Ok(()));
        schemas.expect_forget().times(1).returning(|_| ());
        let (app, committed) = app_with(tx, schemas);
        let command = ChangeSchema {
            collection: "orders".into(),
            schema: Some(json!({"type": "object"})),
        };
        assert!(app.change_schema(&context(), command).await.is_ok());
        assert!(committed.was_committed());
    }

    #[tokio::test]
    async fn an_unknown_collection_is_not_found_and_nothing_is_written() {
        let mut tx = MockTx::default();
        tx.collections.expect_find_by_name().returning(|_| Ok(None));
        tx.collections.expect_update().never();
        tx.audit.expect_append().never();
        let (app, committed) = app_with(tx, valid_schemas());
        let command = ChangeSchema {
            collection: "orders".into(),
            schema: None,
        };
        let error = app.change_schema(&context(), command).await.err();
        assert_eq!(error.map(|e| e.code()), Some(ErrorCode::NotFound));
        assert!(!committed.was_committed());
    }

    #[tokio::test]
    async fn an_invalid_schema_is_rejected_before_any_transaction() {
        let (app, committed) = app_without_transactions(rejecting_schemas());
        let command = ChangeSchema {
            collection: "orders".into(),
            schema: Some(json!({"type": 5})),
        };
        let error = app.change_schema(&context(), command).await.err();
        assert_eq!(error.map(|e| e.code()), Some(ErrorCode::InvalidInput));
        assert!(!committed.was_committed());
    }
}
