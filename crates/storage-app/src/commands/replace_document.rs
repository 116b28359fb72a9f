//! Replace a document's data.

use serde_json::Value;
use shared_kernel::{AuditId, Error, RequestContext};
use storage_domain::{CollectionName, DocumentData, DocumentId, Precondition};

use crate::app::{DocumentView, StorageApp};

/// The request to replace a document.
#[derive(Debug, Clone)]
pub struct ReplaceDocument {
    /// The collection.
    pub collection: String,
    /// The document.
    pub id: String,
    /// The new data.
    pub data: Value,
    /// What `If-Match` requires.
    pub precondition: Precondition,
}

impl StorageApp {
    /// Replaces a live document's data (never creates), audited.
    ///
    /// # Errors
    /// `INVALID_INPUT`/`PAYLOAD_TOO_LARGE` for bad input; `NOT_FOUND` without the collection
    /// or a live document; `SCHEMA_VIOLATION`; `PRECONDITION_FAILED` on a stale `If-Match`.
    #[tracing::instrument(level = "debug", skip_all, fields(collection = %command.collection, document = %command.id))]
    pub async fn replace_document(
        &self,
        context: &RequestContext,
        command: ReplaceDocument,
    ) -> Result<DocumentView, Error> {
        let name = CollectionName::parse(&command.collection)?;
        let id = DocumentId::parse(&command.id)?;
        let data =
            DocumentData::parse(command.data, &self.limits).map_err(|e| e.nested_under("/data"))?;
        let (name, id, data, precondition) = (&name, &id, &data, &command.precondition);
        let audit_id = AuditId::generate();
        self.transaction(context, audit_id, |mut tx| async move {
            let (collection, mut document) = Self::load_document(tx.as_mut(), name, id).await?;
            self.schemas
                .validate(&collection, data)
                .await
                .map_err(|e| e.nested_under("/data"))?;
            document.replace(data.clone(), precondition, self.stamp(context, audit_id))?;
            self.prepare_document_change(tx, &collection, document, context, None)
                .await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shared_kernel::ErrorCode;
    use storage_domain::Version;

    use super::*;
    use crate::commands::test_support::*;
    use crate::guards::CommitError;

    fn command(precondition: Precondition) -> ReplaceDocument {
        ReplaceDocument {
            collection: "orders".into(),
            id: "o-1".into(),
            data: json!({"b": 2}),
            precondition,
        }
    }

    #[tokio::test]
    async fn a_replace_moves_the_version_and_is_audited_once() {
        let mut tx = MockTx::with_live_document();
        tx.documents.expect_save().times(1).returning(|_, _| Ok(()));
        tx.expect_one_audit_entry("document.replace");
        let (app, committed) = app_with(tx, valid_schemas());
        let view = app
            .replace_document(&context(), command(Precondition::None))
            .await;
        assert_eq!(view.map(|v| v.document.version().get()).ok(), Some(2));
        assert!(committed.was_committed());
    }

    #[tokio::test]
    async fn a_stale_version_is_a_failed_precondition_and_nothing_is_written() {
        let mut tx = MockTx::with_live_document();
        tx.expect_nothing_written();
        let (app, committed) = app_with(tx, valid_schemas());
        let stale = Precondition::OneOf(vec![Version::new(9).unwrap_or(Version::FIRST)]);
        let error = app.replace_document(&context(), command(stale)).await.err();
        assert_eq!(error.map(|e| e.code()), Some(ErrorCode::PreconditionFailed));
        assert!(!committed.was_committed());
    }

    #[tokio::test]
    async fn a_missing_document_is_not_found_and_never_created() {
        let mut tx = MockTx::with_collection();
        tx.documents.expect_find().returning(|_, _| Ok(None));
        tx.expect_nothing_written();
        let (app, committed) = app_with(tx, valid_schemas());
        let error = app
            .replace_document(&context(), command(Precondition::None))
            .await
            .err();
        assert_eq!(error.map(|e| e.code()), Some(ErrorCode::NotFound));
        assert!(!committed.was_committed());
    }

    #[tokio::test]
    async fn data_failing_the_schema_is_rejected_and_nothing_is_written() {
        let mut tx = MockTx::with_live_document();
        tx.expect_nothing_written();
        let (app, committed) = app_with(tx, rejecting_schemas());
        let error = app
            .replace_document(&context(), command(Precondition::None))
            .await
            .err();
        assert_eq!(error.map(|e| e.code()), Some(ErrorCode::SchemaViolation));
        assert!(!committed.was_committed());
    }

    #[tokio::test]
    async fn a_replace_whose_reads_went_stale_runs_again_with_one_audit_id() {
        let attempt = |refuse_commit| {
            let mut tx = MockTx::with_collection();
            tx.documents
                .expect_find()
                .times(1)
                .returning(|c, id| Ok(Some(live_document(c, id))));
            tx.documents.expect_save().times(1).returning(|_, _| Ok(()));
            tx.expect_one_audit_entry("document.replace");
            tx.refuse_commit = refuse_commit;
            tx
        };
        let (first_tx, again_tx) = (attempt(Some(CommitError::Stale)), attempt(None));
        let (first_guards, again_guards) = (first_tx.guards(), again_tx.guards());
        let (app, first, second) = app_with_two_attempts(first_tx, again_tx);
        let view = app
            .replace_document(&context(), command(Precondition::None))
            .await;
        assert_eq!(view.map(|v| v.document.version().get()).ok(), Some(2));
        assert!(!first.was_committed());
        assert!(second.was_committed());
        assert_eq!(first_guards.asked().len(), 2, "collection and document");
        assert_eq!(again_guards.asked().len(), 2, "asked again on fresh reads");
    }

    #[tokio::test]
    async fn a_conflict_that_is_not_a_stale_read_is_answered_without_a_second_attempt() {
        let mut tx = MockTx::with_live_document();
        tx.documents
            .expect_save()
            .times(1)
            .returning(|_, _| Err(Error::conflict("a real conflict")));
        tx.expect_nothing_written_after_save();
        let (app, committed) = app_with(tx, valid_schemas());
        let error = app
            .replace_document(&context(), command(Precondition::None))
            .await
            .err();
        assert_eq!(error.map(|e| e.code()), Some(ErrorCode::Conflict));
        assert!(!committed.was_committed());
    }
}
