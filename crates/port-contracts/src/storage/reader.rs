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
