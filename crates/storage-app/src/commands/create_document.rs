//! Create (or re-create after delete) a document.

use serde_json::Value;
use shared_kernel::{AuditId, Error, RequestContext};
use storage_domain::{CollectionName, Document, DocumentData, DocumentId};

use crate::app::{DocumentView, StorageApp};
use crate::idempotency::IdempotencyKey;

/// The request to create a document, as received (unvalidated).
#[derive(Debug)]
pub struct CreateDocument {
    /// The collection.
    pub collection: String,
    /// The id, or none to have one generated.
    pub id: Option<String>,
    /// The data.
    pub data: Value,
    /// An idempotency key to record with the change (and the outcome it answered).
    pub idempotency: Option<IdempotencyKey>,
}

impl StorageApp {
    /// Creates a document at version 1, or re-creates a deleted one (its version sequence
    /// continues), audited.
    ///
    /// # Errors
    /// `INVALID_INPUT` or `PAYLOAD_TOO_LARGE` for bad input (paths into the request body);
    /// `NOT_FOUND` without the collection; `SCHEMA_VIOLATION` when the data fails its schema;
    /// `CONFLICT` when a live document has the id.
    #[tracing::instrument(level = "debug", skip_all, fields(collection = %command.collection))]
    pub async fn create_document(
        &self,
        context: &RequestContext,
        command: CreateDocument,
    ) -> Result<DocumentView, Error> {
        let name = CollectionName::parse(&command.collection)?;
        // A generated id (UUIDv7) is new by construction, so there is nothing to look up; the
        // insert's unique index would still refuse a collision with CONFLICT.
        let (id, generated) = match command.id {
            Some(id) => (DocumentId::parse(&id).map_err(|e| e.at("/id"))?, false),
            None => (DocumentId::generate(), true),
        };
        let data =
            DocumentData::parse(command.data, &self.limits).map_err(|e| e.nested_under("/data"))?;
        let idempotency = command.idempotency.as_ref();
        let (name, id, data) = (&name, &id, &data);
        let audit_id = AuditId::generate();
        self.transaction(context, audit_id, |mut tx| async move {
            let collection = Self::live_collection(tx.as_mut(), name).await?;
            self.schemas
                .validate(&collection, data)
                .await
                .map_err(|e| e.nested_under("/data"))?;
            let stamp = self.stamp(context, audit_id);
            let existing = if generated {
                None
            } else {
                Self::find_document(tx.as_mut(), &collection, id).await?
            };
            let document = match existing {
                None => Document::create(collection.id(), id.clone(), data.clone(), stamp),
                Some(mut existing) => {
                    existing.recreate(data.clone(), stamp)?;
                    existing
                }
            };
            self.prepare_document_change(tx, &collection, document, context, idempotency)
                .await
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
    use crate::guards::Guard;

    fn command(data: Value) -> CreateDocument {
        CreateDocument {
            collection: "orders".into(),
            id: Some("o-1".into()),
            data,
            idempotency: None,
        }
    }

    #[tokio::test]
    async fn a_new_document_is_saved_with_one_audit_entry_inside_the_transaction() {
        let mut tx = MockTx::with_collection();
        tx.documents.expect_find().returning(|_, _| Ok(None));
        tx.documents.expect_save().times(1).returning(|_, _| Ok(()));
        tx.expect_one_audit_entry("document.create");
        let guards = tx.guards();
        let (app, committed) = app_with(tx, valid_schemas());
        let view = app
            .create_document(&context(), command(json!({"a": 1})))
            .await;
        assert_eq!(view.map(|v| v.document.version().get()).ok(), Some(1));
        assert!(committed.was_committed());
        // The races with a delete of the collection and with a schema change: the create
        // commits only while its collection is live at the version (schema) it validated
        // against, and while the id is still unused.
        assert!(matches!(
            guards.asked().as_slice(),
            [
                Guard::CollectionLive { version: 1, .. },
                Guard::DocumentAt { version: None, .. }
            ]
        ));
    }

    fn key() -> IdempotencyKey {
        let scope = crate::idempotency::IdempotencyScope::new(
            "anonymous".into(),
            "POST".into(),
            "/v1/collections/orders/documents".into(),
            "k",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        IdempotencyKey {
            scope,
            request_hash: shared_kernel::Sha256Digest::of(b"{}"),
        }
    }

    #[tokio::test]
    async fn a_keyed_create_records_what_it_created_in_its_own_transaction() {
        use std::sync::{Arc, Mutex};

        use crate::idempotency::{KeptAnswer, Outcome};

        let audit_id = Arc::new(Mutex::new(None));
        let mut tx = MockTx::with_collection();
        tx.documents.expect_find().returning(|_, _| Ok(None));
        tx.documents.expect_save().times(1).returning(|_, _| Ok(()));
        let appended = Arc::clone(&audit_id);
        tx.audit.expect_append().times(1).returning(move |record| {
            *appended.lock().unwrap_or_else(|e| panic!("{e}")) = Some(record.entry.id.to_string());
            Ok(())
        });
        tx.outbox.expect_append().times(1).returning(|_| Ok(()));
        tx.idempotency
            .expect_purge_scope_if_expired()
            .times(1)
            .returning(|_, _| Ok(()));
        let recorded = Arc::new(Mutex::new(None));
        let kept = Arc::clone(&recorded);
        tx.idempotency
            .expect_record()
            .withf(|key, _, _| key.scope.key == "k")
            .times(1)
            .returning(move |_, answer, _| {
                *kept.lock().unwrap_or_else(|e| panic!("{e}")) = Some(answer.clone());
                Ok(())
            });
        let (app, committed) = app_with(tx, valid_schemas());
        let view = app
            .create_document(
                &context(),
                CreateDocument {
                    idempotency: Some(key()),
                    ..command(json!({"b": 1e2, "a": 1}))
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(committed.was_committed());
        let recorded = recorded.lock().unwrap_or_else(|e| panic!("{e}")).take();
        let Some(KeptAnswer::Replay(Outcome::Document(snapshot))) = recorded else {
            panic!("not a document outcome: {recorded:?}");
        };
        assert_eq!(snapshot, crate::idempotency::DocumentOutcome::from(&view));
        assert_eq!((snapshot.id.as_str(), snapshot.version), ("o-1", 1));
        assert_eq!(snapshot.collection, "orders");
        assert_eq!(
            snapshot.data.map(|d| d.get().to_owned()).as_deref(),
            Some(r#"{"a":1,"b":100}"#)
        );
        assert_eq!(
            Some(snapshot.audit_id),
            audit_id.lock().unwrap_or_else(|e| panic!("{e}")).clone(),
            "the outcome names the change's audit entry"
        );
    }

    #[tokio::test]
    async fn a_create_without_a_key_touches_no_idempotency_record() {
        let mut tx = MockTx::with_collection();
        tx.documents.expect_find().returning(|_, _| Ok(None));
        tx.documents.expect_save().times(1).returning(|_, _| Ok(()));
        tx.expect_one_audit_entry("document.create");
        tx.idempotency.expect_record().never();
        tx.idempotency.expect_purge_scope_if_expired().never();
        let (app, committed) = app_with(tx, valid_schemas());
        let view = app
            .create_document(&context(), command(json!({"a": 1})))
            .await;
        assert!(view.is_ok(), "{view:?}");
        assert!(committed.was_committed());
    }

    #[tokio::test]
    async fn a_live_id_is_a_conflict_and_nothing_is_written() {
        let mut tx = MockTx::with_live_document();
        tx.expect_nothing_written();
        let (app, committed) = app_with(tx, valid_schemas());
        let error = app
            .create_document(&context(), command(json!({"a": 1})))
            .await
            .err();
        assert_eq!(error.map(|e| e.code()), Some(ErrorCode::Conflict));
        assert!(!committed.was_committed());
    }

    #[tokio::test]
    async fn data_failing_the_schema_is_rejected_and_nothing_is_written() {
        let mut tx = MockTx::with_collection();
        tx.expect_nothing_written();
        tx.documents.expect_find().never();
        let (app, committed) = app_with(tx, rejecting_schemas());
        let error = app
            .create_document(&context(), command(json!({"a": 1})))
            .await
            .err();
        assert_eq!(
            error.as_ref().map(|e| e.code()),
            Some(ErrorCode::SchemaViolation)
        );
        assert_eq!(
            error.map(|e| e.field_errors()[0].path.clone()).as_deref(),
            Some("/data/a")
        );
        assert!(!committed.was_committed());
    }

    #[tokio::test]
    async fn invalid_data_is_rejected_before_any_transaction() {
        let (app, committed) = app_without_transactions(valid_schemas());
        let error = app
            .create_document(&context(), command(json!({"$a": 1})))
            .await
            .err();
        assert_eq!(
            error.as_ref().map(|e| e.code()),
            Some(ErrorCode::InvalidInput)
        );
        assert_eq!(
            error.map(|e| e.field_errors()[0].path.clone()).as_deref(),
            Some("/data/$a")
        );
        assert!(!committed.was_committed());
    }

    #[tokio::test]
    async fn an_unknown_collection_is_not_found() {
        let mut tx = MockTx::default();
        tx.collections.expect_find_by_name().returning(|_| Ok(None));
        tx.expect_nothing_written();
        let (app, _) = app_with(tx, valid_schemas());
        let error = app
            .create_document(&context(), command(json!({})))
            .await
            .err();
        assert_eq!(error.map(|e| e.code()), Some(ErrorCode::NotFound));
    }

    #[tokio::test]
    async fn a_generated_id_is_not_looked_up() {
        let mut tx = MockTx::with_collection();
        tx.documents.expect_find().never();
        tx.documents.expect_save().times(1).returning(|_, _| Ok(()));
        tx.expect_one_audit_entry("document.create");
        let (app, committed) = app_with(tx, valid_schemas());
        let view = app
            .create_document(
                &context(),
                CreateDocument {
                    id: None,
                    ..command(json!({"a": 1}))
                },
            )
            .await;
        assert_eq!(view.map(|v| v.document.version().get()).ok(), Some(1));
        assert!(committed.was_committed());
    }
}
