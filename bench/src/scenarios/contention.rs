//! Issue 18's figures: what one client's heavy work does to everyone else's cheap requests.
//!
//! Each scenario is a cheap request measured in the open loop (latency from its due time, so
//! a stall shows in full) while, optionally, `--heavy-clients` clients run a heavy request
//! back to back beside it (the [`Background`]):
//!
//! - `read-version`: reads by version (`GET .../documents/{id}?version=1`, which the document
//!   cache does not serve) beside heavy queries: `$nin` of 1,000 values, `sort=-pad,name`,
//!   `limit=1000` over the `--seed` documents of the same collection;
//! - `healthz`: `GET /healthz` beside writes of a large string into a collection whose schema
//!   holds many patterns, each linear-time but scanning the whole string, none matching (so
//!   every one runs, and the write answers 422).
//!
//! With no heavy clients the same request alone gives the figure beside which the other is
//! read. The figures are meant for today's server and for the fixes after it alike: nothing
//! here expects a particular answer time.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use super::http::{collection_name, expect, get_ok, seed_bodies, seeded_id};
use super::{Prepared, spread};
use crate::driver::{self, Op, Window};
use crate::lean::LeanClient;
use crate::stats::Summary;

/// Values in each heavy query's `$nin` (the query language's limit per `$in`/`$nin`).
const NIN_VALUES: u64 = 1000;

/// Bytes of the `pad` field the heavy queries sort on.
const PAD_BYTES: usize = 512;

/// A load run back to back beside the measured requests, by `clients` clients.
pub struct Background {
    /// How many clients.
    pub clients: usize,
    /// One heavy request.
    pub op: Op,
    /// What the heavy request is, for the run's notes.
    pub what: String,
}

impl Background {
    /// Starts the load for `span` (each client finishes the request it has in flight then).
    pub fn start(self, span: Duration) -> RunningBackground {
        let window = Window {
            warmup: Duration::ZERO,
            duration: span,
        };
        let handle = tokio::spawn(driver::closed(self.clients, window, self.op));
        RunningBackground {
            clients: self.clients,
            what: self.what,
            handle,
        }
    }
}

/// A started [`Background`].
pub struct RunningBackground {
    clients: usize,
    what: String,
    handle: tokio::task::JoinHandle<driver::Outcome>,
}

impl RunningBackground {
    /// Waits at most `patience` for the heavy requests still in flight (then drops them), and
    /// says what the load did, for the run's notes.
    pub async fn finish(mut self, patience: Duration) -> String {
        let head = format!("beside {} clients of {}", self.clients, self.what);
        let outcome = match tokio::time::timeout(patience, &mut self.handle).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => return format!("{head}: the load failed: {e}"),
            Err(_) => {
                self.handle.abort();
                return format!(
                    "{head}: still running {} s after the measured requests; dropped",
                    patience.as_secs()
                );
            }
        };
        let recorder = &outcome.recorder;
        let latency = recorder
            .summary()
            .map_or_else(String::new, |l: Summary| format!(", p50 {:.0} ms", l.p50));
        let errors = match recorder.first_error() {
            Some(first) => format!(", {} errors (first: {first})", recorder.errors()),
            None => String::new(),
        };
        format!("{head}: {} answered{latency}{errors}", recorder.ok())
    }
}

/// The data of heavy-query document `i`: a name, a number and a pad to sort on that does not
/// follow the numbering.
fn heavy_document(i: u64) -> Vec<u8> {
    let scrambled = spread(i, u64::MAX);
    let letter = char::from(b'a' + u8::try_from(scrambled % 26).unwrap_or(0));
    let pad: String = std::iter::repeat_n(letter, PAD_BYTES - 16)
        .chain(format!("{scrambled:016x}").chars())
        .collect();
    let body = json!({
        "id": seeded_id(i),
        "data": {"name": format!("n-{i:08}"), "k": i, "pad": pad},
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Creates `collection` (no schema) and seeds `count` heavy-query documents, unless it already
/// holds them (so the rows alone and beside the load read the same documents).
async fn heavy_collection(
    client: &Client,
    base: &str,
    collection: &str,
    count: u64,
) -> Result<(), String> {
    let last = format!(
        "{base}/v1/collections/{collection}/documents/{}",
        seeded_id(count.saturating_sub(1))
    );
    let present = client
        .get(&last)
        .send()
        .await
        .map_err(|e| format!("probing `{collection}`: {e}"))?;
    if present.status() == StatusCode::OK {
        eprintln!("`{collection}` already holds its {count} documents");
        return Ok(());
    }
    let answer = client
        .post(format!("{base}/v1/collections"))
        .json(&json!({"name": collection}))
        .send()
        .await;
    expect(answer, StatusCode::CREATED)
        .await
        .map_err(|e| format!("creating collection `{collection}`: {e}"))?;
    seed_bodies(client, base, collection, count, 32, heavy_document).await
}

/// The heavy query's body: every document but the first 1,000 numbers, sorted by the pad.
fn heavy_query() -> Vec<u8> {
    let values: Vec<u64> = (0..NIN_VALUES).collect();
    let body = json!({
        "filter": {"k": {"$nin": values}},
        "sort": "-pad,name",
        "limit": 1000,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `read-version`: reads by version, alone or beside `heavy_clients` clients of heavy queries.
///
/// # Errors
/// When the collection cannot be created or seeded, or a heavy query does not answer 200.
pub async fn read_version(
    client: Client,
    lean: Arc<LeanClient>,
    base: &str,
    seeded: u64,
    collection: Option<String>,
    heavy_clients: usize,
) -> Result<(Prepared, Option<Background>), String> {
    let collection = collection.unwrap_or_else(|| collection_name("read-version"));
    heavy_collection(&client, base, &collection, seeded).await?;
    let query_path = format!("/v1/collections/{collection}/documents/query");
    let query = Bytes::from(heavy_query());
    // One query before the run: it must be valid, and its time is worth a note.
    let started = std::time::Instant::now();
    lean.expect(
        Method::POST,
        &query_path,
        Some(query.clone()),
        StatusCode::OK,
    )
    .await
    .map_err(|e| format!("the heavy query: {e}"))?;
    let one_query = started.elapsed();
    let prefix = format!("/v1/collections/{collection}/documents/");
    let (op, open) = get_ok(Arc::clone(&lean), move |seq| {
        format!("{prefix}{}?version=1", seeded_id(spread(seq, seeded)))
    });
    let background = (heavy_clients > 0).then(|| {
        let heavy: Op = Arc::new(move |_client, _seq| {
            let (lean, path, body) = (Arc::clone(&lean), query_path.clone(), query.clone());
            Box::pin(async move {
                lean.expect(Method::POST, &path, Some(body), StatusCode::OK)
                    .await
                    .map(drop)
            })
        });
        Background {
            clients: heavy_clients,
            op: heavy,
            what: format!(
                "`$nin` of {NIN_VALUES} values, sort=-pad,name, limit=1000 over {seeded} documents"
            ),
        }
    });
    let note = format!(
        "reads by version (not served by the document cache) of {seeded} documents; one heavy \
         query alone took {:.0} ms",
        one_query.as_secs_f64() * 1e3
    );
    Ok((
        Prepared::Ready {
            op,
            note: Some(note),
            open: Some(open),
        },
        background,
    ))
}

/// The pattern-heavy schema: `anyOf` of `patterns` patterns on `/s`, each linear-time in the
/// string's length but scanning all of it, none matching a string of `a`s that ends in `!`.
fn pattern_schema(patterns: usize) -> Value {
    let branches: Vec<Value> = (0..patterns)
        .map(|i| json!({"pattern": format!("^(?:a|b|c{})*[0-9]$", i % 7)}))
        .collect();
    json!({
        "type": "object",
        "properties": {"s": {"type": "string", "anyOf": branches}},
    })
}

/// `healthz`: `GET /healthz`, alone or beside `heavy_clients` clients writing a
/// `string_kib` KiB string into a collection whose schema has `patterns` patterns.
///
/// # Errors
/// When the collection cannot be created, or a pattern-heavy write answers anything but 422.
pub async fn healthz(
    client: Client,
    lean: Arc<LeanClient>,
    base: &str,
    heavy_clients: usize,
    patterns: usize,
    string_kib: usize,
) -> Result<(Prepared, Option<Background>), String> {
    let (op, open) = get_ok(Arc::clone(&lean), |_seq| "/healthz".to_owned());
    if heavy_clients == 0 {
        let prepared = Prepared::Ready {
            op,
            note: Some("GET /healthz alone".to_owned()),
            open: Some(open),
        };
        return Ok((prepared, None));
    }
    let collection = collection_name("patterns");
    let answer = client
        .post(format!("{base}/v1/collections"))
        .json(&json!({"name": collection, "schema": pattern_schema(patterns)}))
        .send()
        .await;
    expect(answer, StatusCode::CREATED)
        .await
        .map_err(|e| format!("creating the pattern-heavy collection `{collection}`: {e}"))?;
    let mut text = "a".repeat(string_kib.max(1) * 1024 - 1);
    text.push('!');
    let body = Bytes::from(serde_json::to_vec(&json!({"data": {"s": text}})).unwrap_or_default());
    let path = format!("/v1/collections/{collection}/documents");
    let started = std::time::Instant::now();
    lean.expect(
        Method::POST,
        &path,
        Some(body.clone()),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
    .map_err(|e| format!("the pattern-heavy write: {e}"))?;
    let one_write = started.elapsed();
    let heavy: Op = Arc::new(move |_client, _seq| {
        let (lean, path, body) = (Arc::clone(&lean), path.clone(), body.clone());
        Box::pin(async move {
            lean.expect(
                Method::POST,
                &path,
                Some(body),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
            .map(drop)
        })
    });
    let background = Background {
        clients: heavy_clients,
        op: heavy,
        what: format!(
            "writes of a {string_kib} KiB string against {patterns} linear patterns (422)"
        ),
    };
    let note = format!(
        "GET /healthz; one pattern-heavy write alone took {:.0} ms",
        one_write.as_secs_f64() * 1e3
    );
    Ok((
        Prepared::Ready {
            op,
            note: Some(note),
            open: Some(open),
        },
        Some(background),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_documents_sort_apart_from_their_numbers_and_carry_the_pad() {
        let first: Value = serde_json::from_slice(&heavy_document(1)).expect("json");
        let second: Value = serde_json::from_slice(&heavy_document(2)).expect("json");
        let pad = |v: &Value| v["data"]["pad"].as_str().unwrap_or_default().to_owned();
        assert_eq!(pad(&first).len(), PAD_BYTES);
        assert_ne!(pad(&first), pad(&second));
        assert_eq!(first["id"], "doc-1");
        assert_eq!(first["data"]["k"], 1);
    }

    #[test]
    fn the_heavy_query_names_a_thousand_values_and_the_issues_sort() {
        let query: Value = serde_json::from_slice(&heavy_query()).expect("json");
        let values = query["filter"]["k"]["$nin"].as_array().map_or(0, Vec::len);
        assert_eq!(values, 1000);
        assert_eq!(query["sort"], "-pad,name");
        assert_eq!(query["limit"], 1000);
    }

    #[test]
    fn the_pattern_schema_has_one_branch_per_pattern() {
        let schema = pattern_schema(40);
        let branches = schema["properties"]["s"]["anyOf"]
            .as_array()
            .map_or(0, Vec::len);
        assert_eq!(branches, 40);
    }
}
