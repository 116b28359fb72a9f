//! Change a document with an RFC 7396 merge patch.

use serde_json::Value;
use shared_kernel::{AuditId, Error, RequestContext};
use storage_domain::{CollectionName, DocumentId, Precondition};

use crate::app::{DocumentView, StorageApp};

/// The request to merge-patch a document.
#[derive(Debug, Clone)]
pub struct PatchDocument {
    /// The collection.
    pub collection: String,
    /// The document.
    pub id: String,
    /// The RFC 7396 merge patch.
    pub merge_patch: Value,
    /// What `If-Match` requires.
    pub precondition: Precondition,
}

impl StorageApp {
    /// Applies a merge patch to a live document; the result is validated like new data (its
    /// rules, size and schema), audited with the RFC 6902 patch from the old data to the new.
    ///
    /// # Errors
    /// `INVALID_INPUT` when the result breaks a data rule (paths into the resulting document);
    /// `PAYLOAD_TOO_LARGE` when it exceeds the limit; `NOT_FOUND`; `SCHEMA_VIOLATION`;
    /// `PRECONDITION_FAILED` on a stale `If-Match`.
    #[tracing::instrument(level = "debug", skip_all, fields(collection = %command.collection, document = %command.id))]
    pub async fn patch_document(
        &self,
        context: &RequestContext,
        command: PatchDocument,
    ) -> Result<DocumentView, Error> {
        let name = CollectionName::parse(&command.collection)?;
        let id = DocumentId::parse(&command.id)?;
        let (name, id, command) = (&name, &id, &command);
        let audit_id = AuditId::generate();
        self.transaction(context, audit_id, |mut tx| async move {
            let (collection, mut document) = Self::load_document(tx.as_mut(), name, id).await?;
            let stamp = self.stamp(context, audit_id);
            document.merge_patch(
                &command.merge_patch,
                &self.limits,
                &command.precondition,
                stamp,
            )?;
            if let Some(data) = document.data() {
                self.schemas.validate(&collection, data).await?;
            }
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
    use storage_domain::{DocumentData, Version};

    use super::*;
    use crate::commands::test_support::*;

    fn command(merge_patch: Value, precondition: Precondition) -> PatchDocument {
        PatchDocument {
            collection: "orders".into(),
            id: "o-1".into(),
            merge_patch,
            precondition,
        }
    }

    #[tokio::test]
    async fn a_patch_merges_moves_the_version_and_is_audited_once() {
        let mut tx = MockTx::with_live_document();
        tx.documents.expect_save().times(1).returning(|_, _| Ok(()));
        tx.expect_one_audit_entry("document.patch");
        let (app, committed) = app_with(tx, valid_schemas());
        let view = app
            .patch_document(&context(), command(json!({"b": 2}), Precondition::None))
            .await;
        let data = view
            .as_ref()
            .ok()
            .and_then(|v| v.document.data())
            .map(DocumentData::value)
            .cloned();
        assert_eq!(data, Some(json!({"a": 1, "b": 2})));
        assert_eq!(view.map(|v| v.document.version().get()).ok(), Some(2));
        assert!(committed.was_committed());
    }

    #[tokio::test]
    async fn a_stale_version_is_a_failed_precondition_and_nothing_is_written() {
        let mut tx = MockTx::with_live_document();
        tx.expect_nothing_written();
        let (app, committed) = app_with(tx, valid_schemas());
        let stale = Precondition::OneOf(vec![Version::new(2).unwrap_or(Version::FIRST)]);
        let error = app
            .patch_document(&context(), command(json!({"b": 2}), stale))
            .await
            .err();
        assert_eq!(error.map(|e| e.code()), Some(ErrorCode::PreconditionFailed));
        assert!(!committed.was_committed());
    }

    #[tokio::test]
    async fn a_result_failing_the_schema_is_rejected_and_nothing_is_written() {
        let mut tx = MockTx::with_live_document();
        tx.expect_nothing_written();
        let (app, committed) = app_with(tx, rejecting_schemas());
        let error = app
            .patch_document(&context(), command(json!({"b": 2}), Precondition::None))
            .await
            .err();
        assert_eq!(error.map(|e| e.code()), Some(ErrorCode::SchemaViolation));
        assert!(!committed.was_committed());
    }

    #[tokio::test]
    async fn a_result_breaking_a_data_rule_is_rejected_and_nothing_is_written() {
        let mut tx = MockTx::with_live_document();
        tx.expect_nothing_written();
        let (app, committed) = app_with(tx, valid_schemas());
        let error = app
            .patch_document(&context(), command(json!({"$bad": 1}), Precondition::None))
            .await
            .err();
        assert_eq!(error.map(|e| e.code()), Some(ErrorCode::InvalidInput));
        assert!(!committed.was_committed());
    }

    #[tokio::test]
    async fn a_missing_document_is_not_found_and_never_created() {
        let mut tx = MockTx::with_collection();
        tx.documents.expect_find().returning(|_, _| Ok(None));
        tx.expect_nothing_written();
        let (app, committed) = app_with(tx, valid_schemas());
        let error = app
            .patch_document(&context(), command(json!({"b": 2}), Precondition::None))
            .await
            .err();
        assert_eq!(error.map(|e| e.code()), Some(ErrorCode::NotFound));
        assert!(!committed.was_committed());
    }
}
