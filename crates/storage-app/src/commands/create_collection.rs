//! Create a collection.

use serde_json::Value;
use shared_kernel::{AuditId, Error, RequestContext};
use storage_domain::{Collection, CollectionName, CollectionSchema};

use crate::app::StorageApp;
use crate::idempotency::{CollectionOutcome, IdempotencyKey, Outcome};
use crate::transactions::Prepared;

/// The request to create a collection, as received (unvalidated).
#[derive(Debug)]
pub struct CreateCollection {
    /// The name.
    pub name: String,
    /// An optional JSON Schema.
    pub schema: Option<Value>,
    /// An idempotency key to record with the change (and the outcome it answered).
    pub idempotency: Option<IdempotencyKey>,
}

impl StorageApp {
    /// Creates a collection, audited.
    ///
    /// # Errors
    /// `INVALID_INPUT` for a bad name or schema; `CONFLICT` when the name is taken.
    #[tracing::instrument(level = "debug", skip_all, fields(collection = %command.name))]
    pub async fn create_collection(
        &self,
        context: &RequestContext,
        command: CreateCollection,
    ) -> Result<Collection, Error> {
        let name = CollectionName::parse(&command.name).map_err(|e| e.at("/name"))?;
        let schema = command.schema.map(CollectionSchema::new).transpose()?;
        if let Some(schema) = &schema {
            self.schemas.check_schema(schema).await?;
        }
        let audit_id = AuditId::generate();
        let (name, schema, idempotency) = (&name, &schema, command.idempotency.as_ref());
        // No guard: the store refuses a second live collection of one name at commit (a
        // unique key), which is the answer a lost race deserves.
        self.transaction(context, audit_id, |mut tx| async move {
            if tx.collections().find_by_name(name).await?.is_some() {
                return Err(Error::conflict(format!(
                    "collection `{name}` already exists"
                )));
            }
            let mut collection = Collection::create(name.clone(), schema.clone(), self.clock.now());
            tx.collections().insert(&collection).await?;
            let created = collection.clone();
            Self::record_collection_change(tx.as_mut(), &mut collection, context, audit_id).await?;
            self.record_outcome_in(tx.as_mut(), idempotency, || {
                Outcome::Collection(CollectionOutcome::from(&created))
            })
            .await?;
            Ok(Prepared::new(tx, created))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shared_kernel::ErrorCode;

    use super::*;
    use crate::commands::test_support::*;

    #[tokio::test]
    async fn a_new_collection_is_stored_with_one_audit_entry_and_one_event() {
        let mut tx = MockTx::default();
        tx.collections.expect_find_by_name().returning(|_| Ok(None));
        tx.collections
            .expect_insert()
            .times(1)
            .returning(|_| Ok(()));
        tx.expect_one_audit_entry("collection.create");
        let (app, committed) = app_with(tx, valid_schemas());
        let command = CreateCollection {
            name: "orders".into(),
            schema: Some(json!({"type": "object"})),
            idempotency: None,
        };
        let collection = app.create_collection(&context(), command).await;
        assert_eq!(collection.map(|c| c.version()).ok(), Some(1));
        assert!(committed.was_committed());
    }

    #[tokio::test]
    async fn an_existing_name_is_a_conflict_and_nothing_is_written() {
        let mut tx = MockTx::default();
        tx.collections
            .expect_find_by_name()
            .returning(|name| Ok(Some(existing_collection(name))));
        tx.collections.expect_insert().never();
        tx.audit.expect_append().never();
        let (app, committed) = app_with(tx, valid_schemas());
        let command = CreateCollection {
            name: "orders".into(),
            schema: None,
            idempotency: None,
        };
        let error = app.create_collection(&context(), command).await.err();
        assert_eq!(error.map(|e| e.code()), Some(ErrorCode::Conflict));
        assert!(!committed.was_committed());
    }

    #[tokio::test]
    async fn a_bad_name_is_rejected_before_any_transaction() {
        let (app, committed) = app_without_transactions(valid_schemas());
        let command = CreateCollection {
            name: "Bad Name".into(),
            schema: None,
            idempotency: None,
        };
        let error = app.create_collection(&context(), command).await.err();
        assert_eq!(
            error.as_ref().map(|e| e.code()),
            Some(ErrorCode::InvalidInput)
        );
        assert_eq!(
            error.map(|e| e.field_errors()[0].path.clone()).as_deref(),
            Some("/name")
        );
        assert!(!committed.was_committed());
    }
}
