//! Find documents: a filter, a sort, and opaque keyset cursors.
//!
//! The filter and the sort are parsed into domain specifications here (so a bad one is
//! refused before storage is touched); the reader returns one more document than the page
//! holds, which tells whether another page exists. A cursor is the last document's sort key
//! and id, tagged with a fingerprint of (collection, filter, sort) so a cursor of another query
//! is refused, and closed with a checksum so a tampered one is refused too. Paging by key, not
//! by offset, keeps every page as cheap as the first, and a walk sorted by an immutable key
//! (`$id`, `$created_at`) never repeats or skips a document that stayed unchanged.

use serde_json::{Value, json};
use shared_kernel::number;
use shared_kernel::pagination::PageLimit;
use shared_kernel::{CollectionId, Deadline, Error, Sha256Digest, canonical_json};
use storage_domain::DocumentId;
use storage_domain::query::{DocumentQuery, Filter, Sort, SortKey, SortValue};

use super::Page;
use crate::app::{DocumentView, StorageApp};

/// Hex characters of the (collection, filter, sort) fingerprint a cursor carries.
const FINGERPRINT_HEX_LEN: usize = 16;
/// Hex characters of a cursor's checksum.
const CHECKSUM_HEX_LEN: usize = 16;

/// A document query as a client sends it (`GET ?filter=&sort=&limit=&cursor=` or the body of
/// `POST .../documents/query`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryDocuments {
    /// The JSON filter (absent or `null`: every document).
    pub filter: Option<Value>,
    /// The sort (`-$updated_at,name`; absent: `$id`).
    pub sort: Option<String>,
    /// Page size (default 50, at most 1000).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// When the request's answer is no longer wanted: the reader stops the query there
    /// (`UNAVAILABLE`) instead of finishing it. `None`: no limit.
    pub deadline: Option<Deadline>,
}

impl StorageApp {
    /// One page of the live documents of `collection` that satisfy the filter, in sort order.
    ///
    /// # Errors
    /// `INVALID_INPUT` for a bad name, filter (at `/filter/...`), sort (`/sort`), limit
    /// (`/limit`) or cursor (`/cursor`); `NOT_FOUND` without the collection.
    #[tracing::instrument(level = "debug", skip_all, fields(collection = %collection))]
    pub async fn query_documents(
        &self,
        collection: &str,
        query: QueryDocuments,
    ) -> Result<Page<DocumentView>, Error> {
        let collection = self.get_collection(collection).await?;
        let filter_json = query.filter.unwrap_or(Value::Null);
        let filter = if filter_json.is_null() {
            Filter::all()
        } else {
            Filter::parse(&filter_json).map_err(|e| {
                let detail = format!("bad filter: {}", e.detail());
                Error::invalid_input(detail)
                    .with_field_errors(e.field_errors().to_vec())
                    .nested_under("/filter")
            })?
        };
        let sort = Sort::parse(query.sort.as_deref().unwrap_or_default())
            .map_err(|e| Error::invalid_field("/sort", format!("bad sort: {}", e.detail())))?;
        let limit = PageLimit::parse(query.limit)?;
        let fingerprint = fingerprint(collection.id(), &filter_json, &sort)?;
        let after = query
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c, &fingerprint, &sort))
            .transpose()?;
        let request = DocumentQuery {
            filter,
            sort: sort.clone(),
            after,
            limit: limit.get() + 1,
        };
        let mut documents = self
            .reader
            .query_documents(collection.id(), request, query.deadline)
            .await?;
        let has_more = documents.len() > limit.get() as usize;
        documents.truncate(limit.get() as usize);
        let next_cursor = has_more
            .then(|| {
                documents
                    .last()
                    .map(|d| encode_cursor(&fingerprint, &sort.key_of(d)))
            })
            .flatten();
        let items = documents
            .into_iter()
            .map(|document| DocumentView {
                collection: collection.name().clone(),
                document,
            })
            .collect();
        Ok(Page { items, next_cursor })
    }
}

/// A short hash naming the query a cursor belongs to.
fn fingerprint(collection: CollectionId, filter: &Value, sort: &Sort) -> Result<String, Error> {
    let filter = canonical_json(filter);
    let text = format!("{collection}\n{filter}\n{sort}");
    let mut hex = Sha256Digest::of(text.as_bytes()).to_hex();
    hex.truncate(FINGERPRINT_HEX_LEN);
    Ok(hex)
}

fn checksum(payload: &str) -> String {
    let mut hex = Sha256Digest::of(payload.as_bytes()).to_hex();
    hex.truncate(CHECKSUM_HEX_LEN);
    hex
}

fn value_to_json(value: &SortValue) -> Value {
    match value {
        SortValue::Missing => json!(["m"]),
        SortValue::Null => json!(["z"]),
        SortValue::Number(n) => json!(["n", n]),
        SortValue::String(s) => json!(["s", s]),
        SortValue::Object => json!(["o"]),
        SortValue::Array => json!(["a"]),
        SortValue::Bool(b) => json!(["b", b]),
    }
}

fn value_from_json(value: &Value) -> Option<SortValue> {
    let items = value.as_array()?;
    let tag = items.first()?.as_str()?;
    let arg = items.get(1);
    let expected_len = if matches!(tag, "n" | "s" | "b") { 2 } else { 1 };
    if items.len() != expected_len {
        return None;
    }
    Some(match tag {
        "m" => SortValue::Missing,
        "z" => SortValue::Null,
        // Every number a document or its metadata holds lies within ±2^53.
        "n" => SortValue::Number(arg?.as_f64().filter(|f| number::is_storable(*f))?),
        "s" => SortValue::String(arg?.as_str()?.to_owned()),
        "o" => SortValue::Object,
        "a" => SortValue::Array,
        "b" => SortValue::Bool(arg?.as_bool()?),
        _ => return None,
    })
}

/// `hex(payload)` + checksum, where the payload is `[fingerprint, [values...], id]`.
fn encode_cursor(fingerprint: &str, key: &SortKey) -> String {
    let values: Vec<Value> = key.values.iter().map(value_to_json).collect();
    let payload = json!([fingerprint, values, key.id.as_str()]).to_string();
    let mut cursor: String = payload.bytes().map(|b| format!("{b:02x}")).collect();
    cursor.push_str(&checksum(&payload));
    cursor
}

fn decode_cursor(cursor: &str, fingerprint: &str, sort: &Sort) -> Result<SortKey, Error> {
    let invalid = || {
        Error::invalid_field(
            "/cursor",
            "the cursor is malformed, was altered, or belongs to another query",
        )
    };
    let split = cursor
        .len()
        .checked_sub(CHECKSUM_HEX_LEN)
        .filter(|_| cursor.is_ascii())
        .ok_or_else(invalid)?;
    let (hex, check) = cursor.split_at(split);
    if !hex.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(invalid)?;
    let payload = String::from_utf8(bytes).map_err(|_| invalid())?;
    if checksum(&payload) != check {
        return Err(invalid());
    }
    let parsed: Value = serde_json::from_str(&payload).map_err(|_| invalid())?;
    let (Some(tag), Some(values), Some(id), Some(3)) = (
        parsed.get(0).and_then(Value::as_str),
        parsed.get(1).and_then(Value::as_array),
        parsed.get(2).and_then(Value::as_str),
        parsed.as_array().map(Vec::len),
    ) else {
        return Err(invalid());
    };
    if tag != fingerprint {
        return Err(Error::invalid_field(
            "/cursor",
            "the cursor belongs to another query (collection, filter or sort differ)",
        ));
    }
    if values.len() != sort.fields().len() {
        return Err(invalid());
    }
    let values = values
        .iter()
        .map(value_from_json)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(invalid)?;
    let id = DocumentId::parse(id).map_err(|_| invalid())?;
    Ok(SortKey { values, id })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::json;
    use shared_kernel::ErrorCode;
    use storage_domain::{CollectionName, Document, DocumentId};

    use super::*;
    use crate::commands::test_support::{app_with_reader, existing_collection, live_document};
    use crate::ports::MockStorageReader;

    fn name() -> CollectionName {
        CollectionName::parse("c").unwrap_or_else(|e| panic!("{e}"))
    }

    /// A reader over documents `d0..d{n}` that serves any query from memory, recording the
    /// queries it was asked.
    fn reader(n: usize) -> (MockStorageReader, Arc<Mutex<Vec<DocumentQuery>>>) {
        let collection = existing_collection(&name());
        let documents: Vec<Document> = (0..n)
            .map(|i| {
                let id = DocumentId::parse(&format!("d{i:02}")).unwrap_or_else(|e| panic!("{e}"));
                live_document(collection.id(), &id)
            })
            .collect();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut reader = MockStorageReader::new();
        reader
            .expect_collection()
            .returning(move |_| Ok(Some(collection.clone())));
        let recorded = Arc::clone(&seen);
        reader
            .expect_query_documents()
            .returning(move |_, query, _| {
                let mut found: Vec<Document> = documents
                    .iter()
                    .filter(|d| query.filter.is_satisfied_by(d))
                    .filter(|d| {
                        query.after.as_ref().is_none_or(|after| {
                            query
                                .sort
                                .compare_keys(&query.sort.key_of(d), after)
                                .is_gt()
                        })
                    })
                    .cloned()
                    .collect();
                found.sort_by(|a, b| query.sort.compare(a, b));
                found.truncate(query.limit as usize);
                recorded
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(query);
                Ok(found)
            });
        (reader, seen)
    }

    fn ok<T>(result: Result<T, Error>) -> T {
        result.unwrap_or_else(|e| panic!("{}", e.chain()))
    }

    #[tokio::test]
    async fn pages_follow_the_cursor_to_the_end_asking_one_more_than_the_page() {
        let (reader, seen) = reader(5);
        let app = app_with_reader(reader);
        let mut query = QueryDocuments {
            sort: Some("-$id".to_owned()),
            limit: Some(2),
            ..QueryDocuments::default()
        };
        let mut ids = Vec::new();
        loop {
            let page = ok(app.query_documents("c", query.clone()).await);
            ids.extend(page.items.iter().map(|v| v.document.id().to_string()));
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
        assert_eq!(ids, ["d04", "d03", "d02", "d01", "d00"]);
        let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        assert!(seen.iter().all(|q| q.limit == 3));
        assert_eq!(seen.len(), 3);
    }

    #[tokio::test]
    async fn tampered_and_foreign_cursors_are_refused_at_cursor() {
        let (reader, _) = reader(3);
        let app = app_with_reader(reader);
        let first = QueryDocuments {
            filter: Some(json!({"a": 1})),
            limit: Some(1),
            ..QueryDocuments::default()
        };
        let page = ok(app.query_documents("c", first.clone()).await);
        let cursor = page.next_cursor.unwrap_or_else(|| panic!("no cursor"));
        let mut tampered = cursor.clone().into_bytes();
        tampered[4] = if tampered[4] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap_or_default();
        let foreign_filter = QueryDocuments {
            filter: Some(json!({"a": 2})),
            cursor: Some(cursor.clone()),
            ..first.clone()
        };
        let foreign_sort = QueryDocuments {
            sort: Some("-$id".to_owned()),
            cursor: Some(cursor.clone()),
            ..first.clone()
        };
        for (case, query) in [
            QueryDocuments {
                cursor: Some(tampered),
                ..first.clone()
            },
            QueryDocuments {
                cursor: Some("zz".to_owned()),
                ..first.clone()
            },
            QueryDocuments {
                cursor: Some(String::new()),
                ..first.clone()
            },
            foreign_filter,
            foreign_sort,
        ]
        .into_iter()
        .enumerate()
        {
            let error = app
                .query_documents("c", query)
                .await
                .err()
                .unwrap_or_else(|| panic!("case {case} accepted"));
            assert_eq!(error.code(), ErrorCode::InvalidInput, "case {case}");
            assert_eq!(error.field_errors()[0].path, "/cursor", "case {case}");
        }
        let same = QueryDocuments {
            filter: Some(json!({ "a": 1 })),
            cursor: Some(cursor),
            ..first
        };
        assert!(app.query_documents("c", same).await.is_ok());
    }

    #[test]
    fn a_cursor_number_no_document_could_hold_is_not_a_sort_value() {
        assert_eq!(
            value_from_json(&json!(["n", 9_007_199_254_740_992_u64])),
            Some(SortValue::Number(9_007_199_254_740_992.0))
        );
        assert_eq!(
            value_from_json(&json!(["n", 0.25])),
            Some(SortValue::Number(0.25))
        );
        let two_to_the_64: Value =
            serde_json::from_str("18446744073709551616").unwrap_or_else(|e| panic!("{e}"));
        for beyond in [two_to_the_64, json!(u64::MAX), json!(-1e300)] {
            assert_eq!(value_from_json(&json!(["n", beyond])), None, "{beyond}");
        }
    }

    #[tokio::test]
    async fn the_request_deadline_reaches_the_reader_with_the_query() {
        let deadline = Deadline::after(std::time::Duration::from_secs(5));
        let mut reader = MockStorageReader::new();
        reader
            .expect_collection()
            .returning(|name| Ok(Some(existing_collection(name))));
        reader
            .expect_query_documents()
            .withf(move |_, _, given| *given == Some(deadline))
            .times(1)
            .returning(|_, _, _| Ok(Vec::new()));
        let app = app_with_reader(reader);
        let query = QueryDocuments {
            deadline: Some(deadline),
            ..QueryDocuments::default()
        };
        assert!(ok(app.query_documents("c", query).await).items.is_empty());
    }

    #[tokio::test]
    async fn bad_filters_sorts_and_limits_never_reach_the_reader() {
        let mut reader = MockStorageReader::new();
        reader
            .expect_collection()
            .returning(|name| Ok(Some(existing_collection(name))));
        reader.expect_query_documents().never();
        let app = app_with_reader(reader);
        let cases = [
            (
                QueryDocuments {
                    filter: Some(json!({"a": {"$regex": "x"}})),
                    ..Default::default()
                },
                "/filter/a/$regex",
            ),
            (
                QueryDocuments {
                    filter: Some(json!([1])),
                    ..Default::default()
                },
                "/filter",
            ),
            (
                QueryDocuments {
                    sort: Some("a,a".to_owned()),
                    ..Default::default()
                },
                "/sort",
            ),
            (
                QueryDocuments {
                    limit: Some(1001),
                    ..Default::default()
                },
                "/limit",
            ),
            (
                QueryDocuments {
                    limit: Some(0),
                    ..Default::default()
                },
                "/limit",
            ),
        ];
        for (query, path) in cases {
            let error = app
                .query_documents("c", query)
                .await
                .err()
                .unwrap_or_else(|| panic!("{path} accepted"));
            assert_eq!(error.code(), ErrorCode::InvalidInput);
            assert_eq!(error.field_errors()[0].path, path);
        }
    }
}
