//! The HTTP scenarios against Offchain DB (and `hello` against the minimal peer): setup
//! (a collection with a schema, seeded documents) and one request each.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use super::{Prepared, spread};
use crate::document;
use crate::driver::Op;
use crate::lean::{LeanClient, unexpected};
use crate::ticked::{self, PlainRequest};

/// Reads an answer to the end and checks its status; the error names status and body.
///
/// # Errors
/// When the request failed or the status is not `expected`.
pub async fn expect(
    answer: Result<reqwest::Response, reqwest::Error>,
    expected: StatusCode,
) -> Result<Body, String> {
    let answer = answer.map_err(|e| format!("request failed: {e}"))?;
    let status = answer.status();
    let body = answer
        .bytes()
        .await
        .map_err(|e| format!("reading the body failed: {e}"))?;
    if status == expected {
        Ok(Body(body.to_vec()))
    } else {
        Err(unexpected(status, &body))
    }
}

/// The bytes of a response body.
#[derive(Debug, Clone)]
pub struct Body(pub Vec<u8>);

impl Body {
    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.0).ok()
    }
}

/// A fresh collection name for a scenario.
pub fn collection_name(scenario: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!(
        "bench_{}_{millis}_{}",
        scenario.replace('-', "_"),
        std::process::id()
    )
}

/// Creates a collection with the benchmark schema.
///
/// # Errors
/// When the server does not answer 201.
pub async fn create_collection(client: &Client, base: &str, name: &str) -> Result<(), String> {
    let answer = client
        .post(format!("{base}/v1/collections"))
        .json(&json!({"name": name, "schema": document::schema()}))
        .send()
        .await;
    expect(answer, StatusCode::CREATED)
        .await
        .map(drop)
        .map_err(|e| format!("creating collection `{name}`: {e}"))
}

/// The id of seeded document `i`.
pub fn seeded_id(i: u64) -> String {
    format!("doc-{i}")
}

/// Creates documents `doc-0` .. `doc-{count-1}` with `concurrency` requests at a time.
///
/// # Errors
/// On the first document that is not created.
pub async fn seed(
    client: &Client,
    base: &str,
    collection: &str,
    count: u64,
    concurrency: u64,
) -> Result<(), String> {
    let body_for = |i| document::create_body(i, Some(&seeded_id(i)));
    seed_bodies(client, base, collection, count, concurrency, body_for).await
}

/// Creates `count` documents with the bodies `body_for` gives (each naming its id),
/// `concurrency` requests at a time.
///
/// # Errors
/// On the first document that is not created.
pub async fn seed_bodies(
    client: &Client,
    base: &str,
    collection: &str,
    count: u64,
    concurrency: u64,
    body_for: impl Fn(u64) -> Vec<u8> + Clone + Send + 'static,
) -> Result<(), String> {
    let url = Arc::new(format!("{base}/v1/collections/{collection}/documents"));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency.max(1) {
        let client = client.clone();
        let url = url.clone();
        let body_for = body_for.clone();
        tasks.spawn(async move {
            let mut i = worker;
            while i < count {
                let body = body_for(i);
                let answer = client
                    .post(url.as_str())
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                expect(answer, StatusCode::CREATED)
                    .await
                    .map_err(|e| format!("seeding document {i}: {e}"))?;
                i += concurrency.max(1);
            }
            Ok::<(), String>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| format!("a seeding task failed: {e}"))??;
    }
    eprintln!(
        "seeded {count} documents into `{collection}` in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A request that GETs the path `path_for` gives for each request and expects 200: as an
/// operation of the closed loop, and as data for the open loop.
pub fn get_ok(
    lean: Arc<LeanClient>,
    path_for: impl Fn(u64) -> String + Send + Sync + 'static,
) -> (Op, PlainRequest) {
    let path_for: Arc<dyn Fn(u64) -> String + Send + Sync> = Arc::new(path_for);
    let plain = PlainRequest::get(
        lean.authority(),
        Arc::clone(&path_for),
        StatusCode::OK.as_u16(),
    );
    let op: Op = Arc::new(move |_client, seq| {
        let (lean, path) = (Arc::clone(&lean), path_for(seq));
        Box::pin(async move {
            lean.expect(Method::GET, &path, None, StatusCode::OK)
                .await
                .map(drop)
        })
    });
    (op, plain)
}

/// POSTs the `seq`-th ~1 KiB document (server-generated id) to `path`, expecting 201; the
/// answer's body.
///
/// # Errors
/// When the request fails or the status is not 201.
pub async fn post_document(lean: &LeanClient, path: &str, seq: u64) -> Result<Bytes, String> {
    let body = Bytes::from(document::create_body(seq, None));
    lean.expect(Method::POST, path, Some(body), StatusCode::CREATED)
        .await
}

/// The open loop's form of [`post_document`]: POSTs of the `seq`-th ~1 KiB document to
/// `path`, expecting 201.
pub fn post_documents(lean: &LeanClient, path: &str) -> PlainRequest {
    let path = path.to_owned();
    PlainRequest {
        authority: lean.authority().to_owned(),
        method: ticked::Method::Post(Arc::new(|seq| document::create_body(seq, None))),
        path_for: Arc::new(move |_| path.clone()),
        expected: StatusCode::CREATED.as_u16(),
        check: None,
    }
}

/// `create`: POST a new ~1 KiB document (server-generated id) into a collection with a schema.
///
/// # Errors
/// When the collection cannot be created.
pub async fn create(client: Client, lean: Arc<LeanClient>, base: &str) -> Result<Prepared, String> {
    let collection = collection_name("create");
    create_collection(&client, base, &collection).await?;
    let path: Arc<str> = format!("/v1/collections/{collection}/documents").into();
    let open = post_documents(&lean, &path);
    let op: Op = Arc::new(move |_client, seq| {
        let (lean, path) = (Arc::clone(&lean), Arc::clone(&path));
        Box::pin(async move { post_document(&lean, &path, seq).await.map(drop) })
    });
    Ok(Prepared::Ready {
        op,
        note: None,
        open: Some(open),
    })
}

/// `read`: GET a seeded document by id, in a scrambled order.
///
/// # Errors
/// When the collection cannot be created or seeded.
pub async fn read(
    client: Client,
    lean: Arc<LeanClient>,
    base: &str,
    seeded: u64,
) -> Result<Prepared, String> {
    let collection = collection_name("read");
    create_collection(&client, base, &collection).await?;
    seed(&client, base, &collection, seeded, 32).await?;
    let prefix = format!("/v1/collections/{collection}/documents/");
    let (op, plain) = get_ok(lean, move |seq| {
        format!("{prefix}{}", seeded_id(spread(seq, seeded)))
    });
    Ok(Prepared::Ready {
        op,
        note: Some(format!("{seeded} documents")),
        open: Some(plain),
    })
}

/// `query`: GET a filtered page (`{"group": g}`, 1 document in [`document::GROUPS`], 20 a page).
///
/// # Errors
/// When the collection cannot be created or seeded.
pub async fn query(
    client: Client,
    lean: Arc<LeanClient>,
    base: &str,
    seeded: u64,
) -> Result<Prepared, String> {
    let collection = collection_name("query");
    create_collection(&client, base, &collection).await?;
    seed(&client, base, &collection, seeded, 32).await?;
    let prefix = format!("/v1/collections/{collection}/documents");
    // `{"group":g}`, URL-encoded.
    let (op, plain) = get_ok(lean, move |seq| {
        format!(
            "{prefix}?filter=%7B%22group%22%3A{}%7D&limit=20",
            seq % document::GROUPS
        )
    });
    Ok(Prepared::Ready {
        op,
        note: Some(format!(
            "filter {{\"group\": g}} over {seeded} documents (1 in {}), pages of 20",
            document::GROUPS
        )),
        open: Some(plain),
    })
}

/// The log's current size from `GET /v1/log/checkpoint` (JSON); `None` when the endpoint
/// answers 404 (the log is not built).
///
/// # Errors
/// On any other failure.
pub async fn checkpoint_size(client: &Client, base: &str) -> Result<Option<u64>, String> {
    let answer = client
        .get(format!("{base}/v1/log/checkpoint"))
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("checkpoint request failed: {e}"))?;
    if answer.status() == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let body = expect(Ok(answer), StatusCode::OK).await?;
    body.json()
        .and_then(|v| v.get("tree_size").and_then(Value::as_u64))
        .map(Some)
        .ok_or_else(|| "the checkpoint has no numeric `tree_size`".to_owned())
}

/// Waits (at most `timeout`) until the published checkpoint covers at least `size` leaves.
async fn wait_for_size(
    client: &Client,
    base: &str,
    size: u64,
    timeout: Duration,
) -> Result<Option<u64>, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let current = checkpoint_size(client, base).await?;
        match current {
            None => return Ok(None),
            Some(current) if current >= size || Instant::now() > deadline => {
                return Ok(Some(current));
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// `proof`: GET an inclusion proof for a random leaf of the published tree.
///
/// # Errors
/// When setup fails in a way other than the log being absent.
pub async fn proof(
    client: Client,
    lean: Arc<LeanClient>,
    base: &str,
    seeded: u64,
) -> Result<Prepared, String> {
    let unavailable = || {
        Prepared::Unavailable(
            "GET /v1/log/checkpoint answered 404: the verifiable log is not built in this server"
                .to_owned(),
        )
    };
    if checkpoint_size(&client, base).await?.is_none() {
        return Ok(unavailable());
    }
    let collection = collection_name("proof");
    create_collection(&client, base, &collection).await?;
    seed(&client, base, &collection, seeded, 32).await?;
    let Some(size) = wait_for_size(&client, base, seeded, Duration::from_secs(30)).await? else {
        return Ok(unavailable());
    };
    if size == 0 {
        return Err("the log stayed empty for 30 s after seeding".to_owned());
    }
    let probe = client
        .get(format!(
            "{base}/v1/log/proofs/inclusion?index=0&tree_size={size}"
        ))
        .send()
        .await
        .map_err(|e| format!("inclusion proof request failed: {e}"))?;
    if probe.status() == StatusCode::NOT_FOUND {
        return Ok(Prepared::Unavailable(
            "GET /v1/log/proofs/inclusion answered 404: inclusion proofs are not built".to_owned(),
        ));
    }
    expect(Ok(probe), StatusCode::OK).await?;
    let prefix = format!("/v1/log/proofs/inclusion?tree_size={size}&index=");
    let (op, plain) = get_ok(lean, move |seq| format!("{prefix}{}", spread(seq, size)));
    Ok(Prepared::Ready {
        op,
        note: Some(format!("tree size {size}")),
        open: Some(plain),
    })
}

/// `verified-read`: GET `.../documents/{id}/proof` (document, entry, inclusion proof and
/// checkpoint in one answer).
///
/// # Errors
/// When setup fails in a way other than the endpoint being absent.
pub async fn verified_read(
    client: Client,
    lean: Arc<LeanClient>,
    base: &str,
    seeded: u64,
) -> Result<Prepared, String> {
    let collection = collection_name("verified-read");
    create_collection(&client, base, &collection).await?;
    seed(&client, base, &collection, seeded, 32).await?;
    let prefix = format!("/v1/collections/{collection}/documents/");
    // The last seeded document is the last to be sequenced: once it answers, all do.
    let probe_url = format!(
        "{base}{prefix}{}/proof",
        seeded_id(seeded.saturating_sub(1))
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = client
            .get(&probe_url)
            .send()
            .await
            .map_err(|e| format!("proof request failed: {e}"))?;
        let status = answer.status();
        let body = answer.bytes().await.unwrap_or_default();
        let code = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("code").and_then(Value::as_str).map(str::to_owned));
        match (status, code.as_deref()) {
            (StatusCode::OK, _) => {
                check_proof_shape(&body)?;
                break;
            }
            (StatusCode::NOT_FOUND, Some("NOT_YET_SEQUENCED")) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (StatusCode::NOT_FOUND, Some("NOT_YET_SEQUENCED")) => {
                return Err("documents were still not sequenced 30 s after seeding".to_owned());
            }
            (StatusCode::NOT_FOUND, _) => {
                return Ok(Prepared::Unavailable(format!(
                    "endpoint not available in this build: GET .../documents/{{id}}/proof \
                     answered 404 ({}) for an existing document",
                    code.as_deref().unwrap_or("no problem code")
                )));
            }
            (other, _) => {
                return Err(format!(
                    "the proof probe answered {}",
                    unexpected(other, &body)
                ));
            }
        }
    }
    let (op, plain) = get_ok(lean, move |seq| {
        format!("{prefix}{}/proof", seeded_id(spread(seq, seeded)))
    });
    Ok(Prepared::Ready {
        op,
        note: Some(format!("{seeded} documents")),
        open: Some(plain),
    })
}

/// Checks that a verified read answers the shape of API.md ("The log"): the document, its
/// audit entry, its leaf, an inclusion proof and the checkpoint it leads to. A build whose
/// endpoint answers something else would otherwise be measured as if it were the real thing.
///
/// # Errors
/// Naming the first missing field.
pub fn check_proof_shape(body: &[u8]) -> Result<(), String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the proof answer is not JSON: {e}"))?;
    let required = [
        "/document",
        "/audit_entry",
        "/leaf_index",
        "/leaf_hash",
        "/inclusion_proof/leaf_index",
        "/inclusion_proof/tree_size",
        "/inclusion_proof/hashes",
        "/checkpoint/note",
        "/checkpoint/tree_size",
        "/checkpoint/root_hash",
    ];
    match required.iter().find(|path| value.pointer(path).is_none()) {
        Some(missing) => Err(format!(
            "the proof answer lacks `{missing}` (API.md, \"The log\")"
        )),
        None => Ok(()),
    }
}

/// `hello`: GET `/` (the minimal axum peer answers 200 with a small JSON).
pub fn hello(lean: Arc<LeanClient>) -> Prepared {
    let (op, plain) = get_ok(lean, move |_seq| "/".to_owned());
    Prepared::Ready {
        op,
        note: None,
        open: Some(plain),
    }
}

#[cfg(test)]
mod tests {
    use super::check_proof_shape;

    #[test]
    fn a_proof_answer_in_the_shape_of_the_contract_passes() {
        let body = br#"{"document":{"id":"a"},"audit_entry":{"v":1},"leaf_index":3,
            "leaf_hash":"00","inclusion_proof":{"leaf_index":3,"tree_size":8,"hashes":[]},
            "checkpoint":{"note":"n","tree_size":8,"root_hash":"ff"}}"#;
        assert_eq!(check_proof_shape(body), Ok(()));
    }

    #[test]
    fn a_proof_answer_missing_a_field_is_named() {
        let body = br#"{"document":{},"audit_entry":{},"leaf_index":3,"leaf_hash":"00",
            "inclusion_proof":{"leaf_index":3,"tree_size":8,"hashes":[]}}"#;
        let error = check_proof_shape(body).unwrap_err();
        assert!(error.contains("/checkpoint/note"), "{error}");
    }
}
