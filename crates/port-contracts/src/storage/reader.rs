//! `StorageReader`: reads of committed state.

use crate::Backend;

/// A fresh store lists no collections and finds none by name.
pub async fn a_fresh_store_has_no_collections<B: Backend>(backend: &B) {
    let reader = backend.ports().reader;
    let listed = reader
        .collections(None, 10)
        .await
        .unwrap_or_else(|e| panic!("listing collections: {}", e.chain()));
    assert!(listed.is_empty(), "a fresh store lists {listed:?}");
    let name = storage_domain::CollectionName::parse("orders")
        .unwrap_or_else(|e| panic!("a valid name: {}", e.chain()));
    let found = reader
        .collection(&name)
        .await
        .unwrap_or_else(|e| panic!("finding a collection: {}", e.chain()));
    assert!(found.is_none(), "a fresh store finds {found:?}");
}

/// `collections` lists live collections ordered by name, after `after`, at most `limit`.
pub async fn collections_list_by_name_after_a_name_up_to_a_limit<B: Backend>(backend: &B) {
    for text in ["pears", "apples", "figs", "oranges"] {
        super::build::commit_collection(backend, &super::build::collection(text)).await;
    }
    let reader = backend.ports().reader;
    let names = |listed: Vec<storage_domain::Collection>| -> Vec<String> {
        listed
            .iter()
            .map(|c| c.name().as_str().to_owned())
            .collect()
    };
    let all = super::build::ok("listing", reader.collections(None, 10).await);
    assert_eq!(names(all), ["apples", "figs", "oranges", "pears"]);
    let after = Some(super::build::name("figs"));
    let page = super::build::ok("a page", reader.collections(after, 1).await);
    assert_eq!(names(page), ["oranges"]);
}
