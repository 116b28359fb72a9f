//! `StoreSnapshot`: everything a client can read about a store, read through the API only, so
//! that "this request stored nothing" is checked the same way on every backend.
//!
//! What a snapshot covers, and why that is enough:
//! - every collection (`GET /v1/collections`, all pages), with its id and schema;
//! - every live document of each collection (`GET .../documents`, all pages), whole;
//! - every audit entry (`GET /v1/audit`, all pages, walked with its cursor), with its leaf
//!   index, leaf hash and patch. Every change — collection, schema, document, delete —
//!   writes exactly one audit entry in its own transaction (API.md), so an unchanged audit
//!   listing proves that no change was committed, whatever tables or collections a backend
//!   keeps them in (revisions, outbox rows and idempotency records ride in that transaction);
//! - the revisions of every document any audit entry names (`GET .../revisions`, all pages),
//!   deleted documents included, so a stored body is compared too, not only its hash;
//! - the log's checkpoint (tree size and root hash), taken once every listed entry is
//!   sequenced, so two snapshots of an unchanged store are equal however far the log
//!   sequencer was when the first was taken.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// Largest page a list endpoint serves (API.md: `limit` above 1000 → 400).
const PAGE: &str = "1000";
/// How long [`StoreSnapshot::take`] waits for the log to sequence what is already committed.
const SETTLE_POLLS: usize = 500;
const SETTLE_PAUSE: Duration = Duration::from_millis(20);

/// What a client can see of a store at one moment; compare two with `assert_eq!`.
#[derive(Debug, PartialEq)]
pub struct StoreSnapshot {
    collections: Vec<Value>,
    documents: Vec<(String, Vec<Value>)>,
    audit: Vec<Value>,
    revisions: Vec<(String, String, Result<Vec<Value>, Value>)>,
    checkpoint: Value,
}

impl StoreSnapshot {
    /// Reads the whole store through the API, once the log has sequenced every entry.
    pub async fn take(app: &TestApp) -> Self {
        let (audit, checkpoint) = settled_audit(app).await;
        let collections = list_all(app, "/v1/collections").await;
        let mut documents = Vec::new();
        for collection in &collections {
            let name = collection["name"].as_str().unwrap_or_default().to_owned();
            let listed = list_all(app, &format!("/v1/collections/{name}/documents")).await;
            documents.push((name, listed));
        }
        let mut named: Vec<(String, String)> = audit
            .iter()
            .filter_map(|item| {
                let entry = &item["entry"];
                Some((
                    entry["collection"].as_str()?.to_owned(),
                    entry["document_id"].as_str()?.to_owned(),
                ))
            })
            .collect();
        named.sort();
        named.dedup();
        let mut revisions = Vec::new();
        for (collection, id) in named {
            let path = format!("/v1/collections/{collection}/documents/{id}/revisions");
            let listed = try_list_all(app, &path).await;
            revisions.push((collection, id, listed));
        }
        Self {
            collections,
            documents,
            audit,
            revisions,
            checkpoint,
        }
    }

    /// The audit entries (`{"entry", "leaf_index", "leaf_hash", "patch"}`), in log order.
    pub fn audit(&self) -> &[Value] {
        &self.audit
    }

    /// The collections, as `GET /v1/collections` lists them.
    pub fn collections(&self) -> &[Value] {
        &self.collections
    }
}

/// Every item of the list at `path` (which may carry its own query), page by page.
pub async fn list_all(app: &TestApp, path: &str) -> Vec<Value> {
    try_list_all(app, path)
        .await
        .unwrap_or_else(|error| panic!("list {path}: {error:#}"))
}

/// Like [`list_all`], but an error answer is returned as `{"status", "code"}` rather than a
/// panic: a deleted collection's documents answer 404, and that is part of what a client sees.
async fn try_list_all(app: &TestApp, path: &str) -> Result<Vec<Value>, Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{path}{separator}limit={PAGE}");
        if let Some(cursor) = &cursor {
            url = format!("{url}&cursor={}", percent_encode(cursor));
        }
        let page = app.get(&url).await;
        if page.status != StatusCode::OK {
            return Err(json!({"status": page.status.as_u16(), "code": page.body["code"]}));
        }
        let Some(found) = page.body["items"].as_array() else {
            panic!("list {path}: no items in {:#}", page.body);
        };
        items.extend(found.iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(items),
        }
    }
}

/// `text` as a query value: cursors are opaque, so everything but RFC 3986 unreserved
/// characters is escaped.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// The audit listing and the checkpoint, once every listed entry has a leaf index and the
/// served checkpoint covers them all: the sequencer works in the background, so without this
/// two snapshots of an unchanged store could differ in leaf indexes or tree size.
async fn settled_audit(app: &TestApp) -> (Vec<Value>, Value) {
    for _ in 0..SETTLE_POLLS {
        let audit = list_all(app, "/v1/audit").await;
        let indexes: Option<Vec<u64>> = audit.iter().map(|e| e["leaf_index"].as_u64()).collect();
        if let Some(indexes) = indexes {
            let needed = indexes.iter().max().map_or(0, |last| last + 1);
            let checkpoint = checkpoint(app).await;
            if checkpoint["tree_size"].as_u64() >= Some(needed) {
                return (audit, checkpoint);
            }
        }
        tokio::time::sleep(SETTLE_PAUSE).await;
    }
    panic!("the log did not sequence the committed audit entries in time");
}

/// The served checkpoint's tree size and root hash (not `signed_at`, which is informational
/// and may change when the same tree is signed again).
async fn checkpoint(app: &TestApp) -> Value {
    let answer = TestApp::send(
        app.request(Method::GET, "/v1/log/checkpoint")
            .header("accept", "application/json"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.body);
    json!({"tree_size": answer.body["tree_size"], "root_hash": answer.body["root_hash"]})
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::StoreSnapshot;
    use crate::helpers::spawn_app;

    /// The comparisons other tests make are only as good as the snapshot's eye: each kind of
    /// change a client can make must show in it, and an untouched store must read the same.
    #[tokio::test]
    async fn a_snapshot_sees_every_kind_of_change_and_only_changes() {
        let app = spawn_app().await;
        let mut before = StoreSnapshot::take(&app).await;
        assert_eq!(
            StoreSnapshot::take(&app).await,
            before,
            "an untouched store"
        );
        let changes = [
            ("POST", "/v1/collections", json!({"name": "c"})),
            (
                "POST",
                "/v1/collections/c/documents",
                json!({"id": "d", "data": {"n": 1}}),
            ),
            (
                "PUT",
                "/v1/collections/c/documents/d",
                json!({"data": {"n": 2}}),
            ),
            (
                "PUT",
                "/v1/collections/c/schema",
                json!({"schema": {"type": "object"}}),
            ),
            ("DELETE", "/v1/collections/c/documents/d", json!(null)),
        ];
        for (method, path, body) in changes {
            let answer = match method {
                "POST" => app.post_json(path, &body).await,
                "PUT" => app.put_json(path, &body, None).await,
                _ => app.delete(path, None).await,
            };
            assert!(
                answer.status.is_success(),
                "{method} {path}: {:#}",
                answer.body
            );
            let after = StoreSnapshot::take(&app).await;
            assert_ne!(after, before, "{method} {path} does not show");
            assert_eq!(StoreSnapshot::take(&app).await, after, "nothing else moved");
            before = after;
        }
    }
}
