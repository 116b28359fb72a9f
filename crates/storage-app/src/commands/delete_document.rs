//! Delete a document, leaving a tombstone.

use shared_kernel::{AuditId, Error, RequestContext};
use storage_domain::{CollectionName, DocumentId, Precondition};

use crate::app::{DocumentView, StorageApp};

/// The request to delete a document.
#[derive(Debug, Clone)]
pub struct DeleteDocument {
    /// The collection.
    pub collection: String,
    /// The document.
    pub id: String,
    /// What `If-Match` requires.
    pub precondition: Precondition,
}

impl StorageApp {
    /// Deletes a live document, audited; returns the tombstone (its version is the new ETag).
    ///
    /// # Errors
    /// `NOT_FOUND` without the collection or a live document; `PRECONDITION_FAILED` on a
    /// stale `If-Match`.
    #[tracing::instrument(level = "debug", skip_all, fields(collection = %command.collection, document = %command.id))]
    pub async fn delete_document(
        &self,
        context: &RequestContext,
        command: DeleteDocument,
    ) -> Result<DocumentView, Error> {
        let name = CollectionName::parse(&command.collection)?;
        let id = DocumentId::parse(&command.id)?;
        let (name, id, command) = (&name, &id, &command);
        let audit_id = AuditId::generate();
        self.transaction(context, audit_id, |mut tx| async move {
            let (collection, mut document) = Self::load_document(tx.as_mut(), name, id).await?;
            document.delete(&command.precondition, self.stamp(context, audit_id))?;
            self.prepare_document_change(tx, &collection, document, context, None)
                .await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use shared_kernel::ErrorCode;
    use storage_domain::Version;

    use super::*;
    use crate::commands::test_support::*;

    fn command(precondition: Precondition) -> DeleteDocument {
        DeleteDocument {
            collection: "orders".into(),
            id: "o-1".into(),
            precondition,
        }
    }

    #[tokio::test]
    async fn a_delete_leaves_an_audited_tombstone() {
        let mut tx = MockTx::with_live_document();
        tx.documents.expect_save().times(1).returning(|_, _| Ok(()));
        tx.expect_one_audit_entry("document.delete");
        let (app, committed) = app_with(tx, valid_schemas());
        let view = app
            .delete_document(&context(), command(Precondition::AnyLive))
            .await;
        assert_eq!(
            view.as_ref().map(|v| v.document.is_live()).ok(),
            Some(false)
        );
        assert_eq!(view.map(|v| v.document.version().get()).ok(), Some(2));
        assert!(committed.was_committed());
    }

    #[tokio::test]
    async fn a_stale_version_is_a_failed_precondition_and_nothing_is_written() {
        let mut tx = MockTx::with_live_document();
        tx.expect_nothing_written();
        let (app, committed) = app_with(tx, valid_schemas());
        let stale = Precondition::OneOf(vec![Version::new(5).unwrap_or(Version::FIRST)]);
        let error = app.delete_document(&context(), command(stale)).await.err();
        assert_eq!(error.map(|e| e.code()), Some(ErrorCode::PreconditionFailed));
        assert!(!committed.was_committed());
    }

    #[tokio::test]
    async fn a_missing_document_is_not_found() {
        let mut tx = MockTx::with_collection();
        tx.documents.expect_find().returning(|_, _| Ok(None));
        tx.expect_nothing_written();
        let (app, _) = app_with(tx, valid_schemas());
        let error = app
            .delete_document(&context(), command(Precondition::None))
            .await
            .err();
        assert_eq!(error.map(|e| e.code()), Some(ErrorCode::NotFound));
    }
}
