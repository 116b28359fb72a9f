//! Where a revision's data is kept (see `RevisionRow` in `write/repositories/documents.rs`): the current
//! revision shares the document row's, each superseded one has its own copy, and every read
//! of the past gives the same answers either way, including from stores whose revisions all
//! kept a copy.

use rusqlite::Connection;
use serde_json::{Value, json};
use storage_app::Attempt;
use storage_domain::{Collection, Document, DocumentId, Precondition, Version};
use tempfile::TempDir;

use crate::embedded::EmbeddedStore;

use super::{
    collection, commit_collection_and_document, data, ok, open, save_alone, stamp, tempdir,
};

/// Each stored revision of the store's documents: `(version, its own data column)`.
fn revision_columns(store: &EmbeddedStore) -> Vec<(i64, Option<String>)> {
    let connection = Connection::open(store.database_path()).unwrap_or_else(|e| panic!("{e}"));
    let mut statement = connection
        .prepare("SELECT version, data FROM revisions ORDER BY version")
        .unwrap_or_else(|e| panic!("{e}"));
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .and_then(Iterator::collect)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The data of every version as the reader gives it back, by version and in the list.
async fn history(store: &EmbeddedStore, orders: &Collection, id: &DocumentId) -> Vec<Value> {
    let listed = ok(store
        .reader()
        .revisions(orders.id(), id.clone(), None, 100)
        .await);
    let mut seen = Vec::new();
    for revision in listed {
        let at = ok(store
            .reader()
            .document_at(orders.id(), id.clone(), revision.version)
            .await)
        .unwrap_or_else(|| panic!("version {} is missing", revision.version.get()));
        let listed = revision.data.map(|d| d.value().clone());
        assert_eq!(at.data().map(|d| d.value().clone()), listed);
        seen.push(listed.unwrap_or(Value::Null));
    }
    seen
}

/// The first version's data, as `commit_collection_and_document` stores it.
const FIRST: &str = r#"{"a":"x","b":100}"#;

/// A store in a fresh folder (kept while the returned guard lives) with the collection
/// `orders` and one document at version 1.
async fn one_document() -> (TempDir, EmbeddedStore, Collection, Document) {
    let dir = tempdir();
    let store = open(dir.path());
    let orders = collection("orders");
    let doc = commit_collection_and_document(&store, &orders).await;
    (dir, store, orders, doc)
}

async fn save(store: &EmbeddedStore, document: &Document) {
    ok(save_alone(store, document).await);
}

#[tokio::test]
async fn the_current_revision_shares_the_documents_data_and_a_superseded_one_keeps_its_own() {
    let (_dir, store, orders, mut doc) = one_document().await;
    let first = FIRST.to_owned();
    assert_eq!(
        revision_columns(&store),
        [(1, None)],
        "a create writes its data once"
    );

    ok(doc.replace(data(json!({"v": 2})), &Precondition::None, stamp(10)));
    save(&store, &doc).await;
    assert_eq!(
        revision_columns(&store),
        [(1, Some(first.clone())), (2, None)]
    );

    ok(doc.delete(&Precondition::None, stamp(20)));
    save(&store, &doc).await;
    ok(doc.recreate(data(json!({"v": 4})), stamp(30)));
    save(&store, &doc).await;
    assert_eq!(
        revision_columns(&store),
        [
            (1, Some(first)),
            (2, Some(r#"{"v":2}"#.to_owned())),
            (3, None),
            (4, None)
        ]
    );
    assert_eq!(
        history(&store, &orders, doc.id()).await,
        [
            json!({"a": "x", "b": 100}),
            json!({"v": 2}),
            Value::Null,
            json!({"v": 4})
        ]
    );
    let gone = ok(store
        .reader()
        .document_at(orders.id(), doc.id().clone(), ok(Version::new(3)))
        .await);
    assert!(
        gone.is_some_and(|d| !d.is_live()),
        "version 3 is a tombstone"
    );
}

#[tokio::test]
async fn a_lost_race_leaves_the_current_revision_sharing_the_documents_data() {
    let (_dir, store, orders, doc) = one_document().await;
    let (mut winner, mut loser) = (doc.clone(), doc.clone());
    ok(winner.replace(data(json!({"n": 1})), &Precondition::None, stamp(10)));
    ok(loser.replace(data(json!({"n": 2})), &Precondition::None, stamp(11)));
    save(&store, &winner).await;
    assert!(save_alone(&store, &loser).await.is_err());
    assert_eq!(
        revision_columns(&store),
        [(1, Some(FIRST.to_owned())), (2, None)]
    );
    assert_eq!(
        history(&store, &orders, doc.id()).await,
        [json!({"a": "x", "b": 100}), json!({"n": 1})]
    );
}

#[tokio::test]
async fn revisions_that_kept_a_copy_of_the_current_data_read_the_same_and_are_left_alone() {
    let (_dir, store, orders, mut doc) = one_document().await;
    // What stores written before the current revision shared its data hold.
    let connection = Connection::open(store.database_path()).unwrap_or_else(|e| panic!("{e}"));
    connection
        .execute(
            "UPDATE revisions SET data = (SELECT data FROM documents) WHERE version = 1",
            [],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let first = FIRST.to_owned();
    assert_eq!(revision_columns(&store), [(1, Some(first.clone()))]);
    assert_eq!(
        history(&store, &orders, doc.id()).await,
        [json!({"a": "x", "b": 100})]
    );

    let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
    ok(doc.replace(data(json!({"v": 2})), &Precondition::None, stamp(10)));
    ok(tx.documents().save(&doc, &doc.current_revision()).await);
    ok(tx.commit().await.map_err(shared_kernel::Error::from));
    assert_eq!(revision_columns(&store), [(1, Some(first)), (2, None)]);
    assert_eq!(
        history(&store, &orders, doc.id()).await,
        [json!({"a": "x", "b": 100}), json!({"v": 2})]
    );
}
