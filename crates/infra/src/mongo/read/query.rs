//! Document queries on MongoDB: the collection's live documents read in id order and the
//! filter, sort and keyset page applied in memory with the domain's own specification
//! (`Filter::is_satisfied_by`, `Sort::compare`), so the results and their order are exactly
//! the contract's, including its cross-type order, which MongoDB's native sort does not
//! follow (it orders a missing field as null and an array by one element).
//!
//! The price is a scan of the collection per query page; pushing a narrower native filter
//! down (equality and ranges on scalar fields, with the same results) is the next step, with
//! the indexes of issue 30. The request's deadline bounds the scan: it is MongoDB's
//! `maxTimeMS` and is checked between batches.

use std::cmp::Ordering;
use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::bson::doc;
use shared_kernel::{CollectionId, Deadline, Error};
use storage_domain::Document;
use storage_domain::query::DocumentQuery;

use super::super::Shared;
use super::super::error::storage_error;
use super::super::layout::DOCUMENTS;
use super::super::rows::document_from_bson;

/// The page `query` selects among `collection`'s live documents.
pub(crate) async fn query_documents(
    shared: &Shared,
    collection: CollectionId,
    query: DocumentQuery,
    deadline: Option<Deadline>,
) -> Result<Vec<Document>, Error> {
    let documents = shared.collection(DOCUMENTS);
    let mut find = documents
        .find(doc! { "c": collection.to_string(), "live": true })
        .sort(doc! { "c": 1, "live": 1, "d": 1 });
    if let Some(deadline) = deadline {
        find = find.max_time(deadline.remaining().max(Duration::from_millis(1)));
    }
    let mut cursor = find
        .await
        .map_err(|e| storage_error("querying documents", e))?;
    let keep = usize::try_from(query.limit).unwrap_or(usize::MAX);
    let mut matching = Vec::new();
    while let Some(stored) = cursor
        .try_next()
        .await
        .map_err(|e| storage_error("querying documents", e))?
    {
        if deadline.is_some_and(Deadline::has_passed) {
            return Err(Error::unavailable(
                "stopped while querying documents: the request reached its deadline before \
                 the scan finished; narrow the filter or the page",
                std::io::Error::other("deadline passed"),
            ));
        }
        let document = document_from_bson(&stored)?;
        if !query.filter.is_satisfied_by(&document) {
            continue;
        }
        if let Some(after) = &query.after
            && query
                .sort
                .compare_keys(&query.sort.key_of(&document), after)
                != Ordering::Greater
        {
            continue;
        }
        matching.push(document);
        // Memory stays within twice the page, whatever the collection holds.
        if matching.len() >= keep.saturating_mul(2).max(64) {
            first_of(&mut matching, &query, keep);
        }
    }
    first_of(&mut matching, &query, keep);
    Ok(matching)
}

/// Keeps the first `keep` of `documents` in the query's order, sorted.
fn first_of(documents: &mut Vec<Document>, query: &DocumentQuery, keep: usize) {
    documents.sort_by(|a, b| query.sort.compare(a, b));
    documents.truncate(keep);
}
