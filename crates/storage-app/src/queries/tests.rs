//! The query handlers against a mocked `StorageReader`: found, not found, bad input (the
//! reader is never asked), and paging.

use audit_domain::LoggedAuditEntry;
use shared_kernel::{Actor, AuditId, CollectionId, ErrorCode, Timestamp};
use storage_domain::document::ChangeStamp;
use storage_domain::{
    CollectionName, Document, DocumentOperation, Precondition, Revision, Version,
};

use crate::commands::test_support::{app_with_reader, existing_collection, live_document};
use crate::ports::MockStorageReader;

fn with_collection() -> MockStorageReader {
    let mut reader = MockStorageReader::new();
    reader
        .expect_collection()
        .returning(|name| Ok(Some(existing_collection(name))));
    reader
}

fn without_collection() -> MockStorageReader {
    let mut reader = MockStorageReader::new();
    reader.expect_collection().returning(|_| Ok(None));
    reader
}

fn code<T: std::fmt::Debug>(result: Result<T, shared_kernel::Error>) -> Option<ErrorCode> {
    result.err().map(|e| e.code())
}

fn tombstone(collection: CollectionId, id: &storage_domain::DocumentId) -> Document {
    let mut document = live_document(collection, id);
    let stamp = ChangeStamp {
        at: Timestamp::from_millis(2),
        actor: Actor::Anonymous,
        audit_id: AuditId::generate(),
    };
    assert!(document.delete(&Precondition::None, stamp).is_ok());
    document
}

fn revision(version: u64) -> Revision {
    let collection_id = CollectionId::generate();
    let id = storage_domain::DocumentId::parse("d").unwrap_or_else(|e| panic!("{e}"));
    let document = live_document(collection_id, &id);
    Revision {
        version: Version::new(version).unwrap_or(Version::FIRST),
        operation: DocumentOperation::Replace,
        ..document.current_revision()
    }
}

#[tokio::test]
async fn a_collection_is_found_or_not_found() {
    assert!(
        app_with_reader(with_collection())
            .get_collection("orders")
            .await
            .is_ok()
    );
    assert_eq!(
        code(
            app_with_reader(without_collection())
                .get_collection("orders")
                .await
        ),
        Some(ErrorCode::NotFound)
    );
}

#[tokio::test]
async fn a_bad_name_is_rejected_without_asking_the_reader() {
    let mut reader = MockStorageReader::new();
    reader.expect_collection().never();
    assert_eq!(
        code(app_with_reader(reader).get_collection("Bad Name").await),
        Some(ErrorCode::InvalidInput)
    );
}

#[tokio::test]
async fn collections_are_paged_with_a_cursor_only_when_more_remain() {
    let mut reader = MockStorageReader::new();
    reader
        .expect_collections()
        .withf(|after, limit| after.is_none() && *limit == 3)
        .returning(|_, _| {
            Ok(["a", "b", "c"]
                .iter()
                .map(|n| {
                    existing_collection(&CollectionName::parse(n).unwrap_or_else(|e| panic!("{e}")))
                })
                .collect())
        });
    let page = app_with_reader(reader)
        .list_collections(Some(2), None)
        .await;
    let page = page.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.items.len(), 2);
    let cursor = page.next_cursor.unwrap_or_default();
    assert_eq!(
        crate::cursor::decode("collections", &cursor)
            .ok()
            .as_deref(),
        Some("b")
    );

    let mut reader = MockStorageReader::new();
    reader.expect_collections().returning(|_, _| Ok(Vec::new()));
    let last = app_with_reader(reader).list_collections(None, None).await;
    assert_eq!(last.map(|p| p.next_cursor).ok(), Some(None));
}

#[tokio::test]
async fn bad_limits_and_cursors_are_rejected_without_asking_the_reader() {
    let mut reader = MockStorageReader::new();
    reader.expect_collections().never();
    let app = app_with_reader(reader);
    assert_eq!(
        code(app.list_collections(Some(0), None).await),
        Some(ErrorCode::InvalidInput)
    );
    assert_eq!(
        code(app.list_collections(Some(1001), None).await),
        Some(ErrorCode::InvalidInput)
    );
    assert_eq!(
        code(app.list_collections(None, Some("not-a-cursor")).await),
        Some(ErrorCode::InvalidInput)
    );
    let foreign = crate::cursor::encode("revisions", "3");
    assert_eq!(
        code(app.list_collections(None, Some(&foreign)).await),
        Some(ErrorCode::InvalidInput)
    );
}

#[tokio::test]
async fn a_live_document_is_found_and_a_tombstone_or_absent_one_is_not() {
    let mut reader = with_collection();
    reader
        .expect_document()
        .returning(|c, id| Ok(Some(live_document(c, &id))));
    assert!(
        app_with_reader(reader)
            .get_document("orders", "d")
            .await
            .is_ok()
    );

    let mut reader = with_collection();
    reader
        .expect_document()
        .returning(|c, id| Ok(Some(tombstone(c, &id))));
    assert_eq!(
        code(app_with_reader(reader).get_document("orders", "d").await),
        Some(ErrorCode::NotFound)
    );

    let mut reader = with_collection();
    reader.expect_document().returning(|_, _| Ok(None));
    assert_eq!(
        code(app_with_reader(reader).get_document("orders", "d").await),
        Some(ErrorCode::NotFound)
    );

    let mut reader = without_collection();
    reader.expect_document().never();
    assert_eq!(
        code(app_with_reader(reader).get_document("orders", "d").await),
        Some(ErrorCode::NotFound)
    );
}

#[tokio::test]
async fn a_past_version_is_found_unless_it_is_a_deletion_or_never_existed() {
    let mut reader = with_collection();
    reader
        .expect_document_at()
        .returning(|c, id, _| Ok(Some(live_document(c, &id))));
    assert!(
        app_with_reader(reader)
            .get_document_version("orders", "d", 1)
            .await
            .is_ok()
    );

    let mut reader = with_collection();
    reader
        .expect_document_at()
        .returning(|c, id, _| Ok(Some(tombstone(c, &id))));
    assert_eq!(
        code(
            app_with_reader(reader)
                .get_document_version("orders", "d", 2)
                .await
        ),
        Some(ErrorCode::NotFound)
    );

    let mut reader = with_collection();
    reader.expect_document_at().returning(|_, _, _| Ok(None));
    assert_eq!(
        code(
            app_with_reader(reader)
                .get_document_version("orders", "d", 9)
                .await
        ),
        Some(ErrorCode::NotFound)
    );

    let mut reader = with_collection();
    reader.expect_document_at().never();
    assert_eq!(
        code(
            app_with_reader(reader)
                .get_document_version("orders", "d", 0)
                .await
        ),
        Some(ErrorCode::InvalidInput)
    );
}

#[tokio::test]
async fn revisions_are_paged_by_version_and_an_unknown_document_is_not_found() {
    let mut reader = with_collection();
    reader
        .expect_revisions()
        .withf(|_, _, after, limit| after.is_none() && *limit == 3)
        .returning(|_, _, _, _| Ok(vec![revision(1), revision(2), revision(3)]));
    let page = app_with_reader(reader)
        .list_revisions("orders", "d", Some(2), None)
        .await;
    let page = page.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.items.len(), 2);
    let cursor = page.next_cursor.unwrap_or_default();
    assert_eq!(
        crate::cursor::decode("revisions", &cursor).ok().as_deref(),
        Some("2")
    );

    let mut reader = with_collection();
    reader
        .expect_revisions()
        .returning(|_, _, _, _| Ok(Vec::new()));
    assert_eq!(
        code(
            app_with_reader(reader)
                .list_revisions("orders", "d", None, None)
                .await
        ),
        Some(ErrorCode::NotFound)
    );
}

#[tokio::test]
async fn history_of_an_unknown_document_is_not_found_and_a_foreign_cursor_is_rejected() {
    let mut reader = with_collection();
    reader
        .expect_document_audit_trail()
        .returning(|_, _, _, _| Ok(Vec::<LoggedAuditEntry>::new()));
    assert_eq!(
        code(
            app_with_reader(reader)
                .document_history("orders", "d", None, None)
                .await
        ),
        Some(ErrorCode::NotFound)
    );

    let mut reader = with_collection();
    reader.expect_document_audit_trail().never();
    let foreign = crate::cursor::encode("revisions", "1");
    let result = app_with_reader(reader)
        .document_history("orders", "d", None, Some(&foreign))
        .await;
    assert_eq!(code(result), Some(ErrorCode::InvalidInput));
}

#[tokio::test]
async fn the_revision_of_a_receipt_may_be_a_deletion_but_must_exist() {
    let mut reader = with_collection();
    reader
        .expect_document()
        .returning(|c, id| Ok(Some(tombstone(c, &id))));
    let latest = app_with_reader(reader)
        .get_document_revision("orders", "d", None)
        .await;
    assert!(latest.is_ok_and(|view| !view.document.is_live()));

    let mut reader = with_collection();
    reader
        .expect_document_at()
        .returning(|c, id, _| Ok(Some(tombstone(c, &id))));
    assert!(
        app_with_reader(reader)
            .get_document_revision("orders", "d", Some(2))
            .await
            .is_ok()
    );

    let mut reader = with_collection();
    reader.expect_document().returning(|_, _| Ok(None));
    reader.expect_document_at().returning(|_, _, _| Ok(None));
    let app = app_with_reader(reader);
    assert_eq!(
        code(app.get_document_revision("orders", "d", None).await),
        Some(ErrorCode::NotFound)
    );
    assert_eq!(
        code(app.get_document_revision("orders", "d", Some(9)).await),
        Some(ErrorCode::NotFound)
    );

    let mut reader = with_collection();
    reader.expect_document_at().never();
    assert_eq!(
        code(
            app_with_reader(reader)
                .get_document_revision("orders", "d", Some(0))
                .await
        ),
        Some(ErrorCode::InvalidInput)
    );
}
