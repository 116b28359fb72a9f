//! Finding documents: filters, sorts and keyset pages over GET and POST; every refused
//! construct; walks that stay exact while other clients write; and the store-wide audit list.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::helpers::{Answer, TestApp, spawn_app};
use crate::snapshot::StoreSnapshot;

const DOCS: &str = "/v1/collections/c/documents";

/// Percent-encodes a query parameter value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn get_query(
    app: &TestApp,
    filter: Option<&Value>,
    sort: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Answer {
    let mut url = format!("{DOCS}?limit={limit}&sort={}", encode(sort));
    if let Some(filter) = filter {
        url.push_str(&format!("&filter={}", encode(&filter.to_string())));
    }
    if let Some(cursor) = cursor {
        url.push_str(&format!("&cursor={cursor}"));
    }
    app.get(&url).await
}

async fn post_query(app: &TestApp, body: &Value) -> Answer {
    app.post_json(&format!("{DOCS}/query"), body).await
}

fn ids(answer: &Answer) -> Vec<String> {
    assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.body);
    answer.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Every page of a GET query, `limit` at a time.
async fn walk(app: &TestApp, filter: Option<&Value>, sort: &str, limit: u32) -> Vec<String> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = get_query(app, filter, sort, limit, cursor.as_deref()).await;
        all.extend(ids(&page));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
}

async fn seed_people(app: &TestApp) {
    app.create_collection("c", None).await;
    let people = [
        (
            "ann",
            json!({"name": "Ann", "age": 31, "tags": ["admin", "ops"], "address": {"city": "Oslo"}}),
        ),
        (
            "bob",
            json!({"name": "Bob", "age": 25, "tags": ["ops"], "address": {"city": "Bergen"}}),
        ),
        (
            "cat",
            json!({"name": "Cat", "age": 40, "address": {"city": "Oslo"}}),
        ),
        ("dan", json!({"name": "Dan", "age": "unknown"})),
        ("eve", json!({"name": "Eve", "age": 31, "tags": []})),
    ];
    for (id, data) in people {
        app.create_document("c", id, data).await;
    }
}

#[tokio::test]
async fn documents_are_found_by_filter_sorted_and_paged_over_get_and_post() {
    let app = spawn_app().await;
    seed_people(&app).await;
    assert_eq!(
        app.delete(&format!("{DOCS}/eve"), None).await.status,
        StatusCode::NO_CONTENT
    );

    let oslo = json!({"address.city": "Oslo"});
    assert_eq!(walk(&app, Some(&oslo), "", 1).await, ["ann", "cat"]);
    let ops = json!({"tags": "ops"});
    assert_eq!(walk(&app, Some(&ops), "-$id", 50).await, ["bob", "ann"]);
    let adults = json!({"$or": [{"age": {"$gte": 30}}, {"tags": {"$exists": false}}]});
    // Descending: strings after numbers in the cross-type order, so `"unknown"` comes first.
    assert_eq!(
        walk(&app, Some(&adults), "-age,name", 2).await,
        ["dan", "cat", "ann"]
    );
    // Mixed types sort missing < null < numbers < strings; deleted documents never appear.
    assert_eq!(
        walk(&app, None, "age", 2).await,
        ["bob", "ann", "cat", "dan"]
    );
    assert_eq!(
        walk(&app, Some(&json!({"age": {"$not": {"$gt": 30}}})), "", 10).await,
        ["bob", "dan"]
    );

    let first = post_query(
        &app,
        &json!({"filter": adults, "sort": "-age,name", "limit": 2}),
    )
    .await;
    assert_eq!(ids(&first), ["dan", "cat"]);
    let page = &first.body["items"][1];
    assert_eq!(page["collection"], "c");
    assert_eq!(page["version"], 1);
    assert_eq!(page["data"]["address"]["city"], "Oslo");
    for field in ["content_hash", "created_at", "updated_at", "audit_id"] {
        assert!(page[field].is_string(), "{field} in {page:#}");
    }
    let cursor = first.body["next_cursor"].clone();
    let second = post_query(
        &app,
        &json!({"filter": adults, "sort": "-age,name", "limit": 2, "cursor": cursor}),
    )
    .await;
    assert_eq!(ids(&second), ["ann"]);
    assert_eq!(second.body["next_cursor"], Value::Null);

    // A GET cursor works for the same query over POST: the cursor names the query, not the verb.
    let get_first = get_query(&app, Some(&adults), "-age,name", 2, None).await;
    assert_eq!(get_first.body["next_cursor"], cursor);

    let recent = json!({"$created_at": {"$gte": "2000-01-01T00:00:00Z"}, "$version": 1});
    assert_eq!(walk(&app, Some(&recent), "$created_at", 3).await.len(), 4);
}

#[tokio::test]
async fn a_post_query_is_a_read_that_works_with_an_idempotency_key() {
    let app = spawn_app().await;
    seed_people(&app).await;
    let send = |key: &'static str| {
        TestApp::send(
            app.request(Method::POST, &format!("{DOCS}/query"))
                .header("idempotency-key", key)
                .json(&json!({"filter": {"age": 31}})),
        )
    };
    let first = send("q-1").await;
    assert_eq!(ids(&first), ["ann", "eve"]);
    let before = StoreSnapshot::take(&app).await;
    let replay = send("q-1").await;
    assert_eq!(replay.body, first.body);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        StoreSnapshot::take(&app).await,
        before,
        "a query changes nothing"
    );
}

#[tokio::test]
async fn a_document_named_query_stays_readable_and_other_posts_are_not_allowed() {
    let app = spawn_app().await;
    app.create_collection("c", None).await;
    app.create_document("c", "query", json!({"x": 1})).await;
    let read = app.get(&format!("{DOCS}/query")).await;
    assert_eq!(read.status, StatusCode::OK, "{:#}", read.body);
    assert_eq!(read.body["data"], json!({"x": 1}));
    assert_eq!(ids(&post_query(&app, &json!({})).await), ["query"]);
    post_query(&app, &json!({"filter": {"x": 1}}))
        .await
        .body
        .get("items")
        .unwrap_or_else(|| panic!("no items"));
    app.post_json(&format!("{DOCS}/other"), &json!({}))
        .await
        .assert_problem(405, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn every_refused_construct_answers_400_naming_it() {
    let app = spawn_app().await;
    seed_people(&app).await;
    let mut deep = json!({"a": 1});
    for _ in 0..16 {
        deep = json!({"$and": [deep]});
    }
    let many: Vec<Value> = (0..257).map(|i| json!({ format!("f{i}"): i })).collect();
    let long_in = json!({"a": {"$in": (0..1001).collect::<Vec<_>>()}});
    let filters = [
        (json!({"$where": "this.a == 1"}), "/filter/$where", "$where"),
        (json!({"a": {"$regex": "^A"}}), "/filter/a/$regex", "$regex"),
        (
            json!({"$expr": {"$eq": ["$a", 1]}}),
            "/filter/$expr",
            "$expr",
        ),
        (
            json!({"$or": [{"a": {"$foo": 1}}]}),
            "/filter/$or/0/a/$foo",
            "$foo",
        ),
        (
            json!({"a": {"$not": {"$regex": "x"}}}),
            "/filter/a/$not/$regex",
            "$regex",
        ),
        (json!({"$nor": [{"a": 1}]}), "/filter/$nor", "$nor"),
        (json!({"a": {"$gt": [1]}}), "/filter/a/$gt", "$gt"),
        (
            json!({"$created_at": {"$gt": "yesterday"}}),
            "/filter/$created_at/$gt",
            "yesterday",
        ),
        (
            json!({"a": {"$elemMatch": {"b": 1}}}),
            "/filter/a/$elemMatch",
            "$elemMatch",
        ),
        (
            deep,
            "/filter/$and/0/$and/0/$and/0/$and/0/$and/0/$and/0/$and/0/$and/0/$and/0/$and/0/$and/0/$and/0/$and/0/$and/0/$and/0/$and/0",
            "16",
        ),
        (json!({"$or": many}), "/filter/$or/256/f256", "256"),
        (long_in, "/filter/a/$in", "1000"),
        (json!(["a"]), "/filter", "object"),
    ];
    for (filter, path, named) in filters {
        for answer in [
            get_query(&app, Some(&filter), "", 10, None).await,
            post_query(&app, &json!({"filter": filter})).await,
        ] {
            let body = answer.assert_problem(400, "INVALID_INPUT");
            assert_eq!(answer.error_paths(), [path], "{filter}: {body:#}");
            let message = body["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains(named), "{filter}: {message}");
        }
    }

    let malformed = app
        .get(&format!("{DOCS}?filter={}", encode("{\"a\":")))
        .await;
    malformed.assert_problem(400, "INVALID_INPUT");
    assert_eq!(malformed.error_paths(), ["/filter"]);
    let duplicate = app
        .get(&format!("{DOCS}?filter={}", encode(r#"{"a":1,"a":2}"#)))
        .await;
    duplicate.assert_problem(400, "INVALID_INPUT");
    for (sort, limit) in [
        ("a,a", 10),
        ("$nope", 10),
        ("$id,a", 10),
        ("", 1001),
        ("", 0),
    ] {
        let answer = get_query(&app, None, sort, limit, None).await;
        answer.assert_problem(400, "INVALID_INPUT");
        let path = if limit == 10 { "/sort" } else { "/limit" };
        assert_eq!(answer.error_paths(), [path], "{sort} {limit}");
    }
    app.get(&format!("{DOCS}?colour=red"))
        .await
        .assert_problem(400, "INVALID_INPUT");
    let unknown = post_query(&app, &json!({"filter": {}, "skip": 5})).await;
    unknown.assert_problem(400, "INVALID_INPUT");
    assert_eq!(unknown.error_paths(), ["/skip"]);

    // Cursors: tampered, garbage, or from another query.
    let first = get_query(&app, None, "name", 2, None).await;
    let cursor = first.body["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut tampered = cursor.clone().into_bytes();
    tampered[10] = if tampered[10] == b'a' { b'b' } else { b'a' };
    let tampered = String::from_utf8(tampered).unwrap_or_default();
    for (sort, filter, cursor) in [
        ("name", None, tampered.as_str()),
        ("name", None, "not-a-cursor"),
        ("-name", None, cursor.as_str()),
        ("name", Some(json!({"age": 31})), cursor.as_str()),
    ] {
        let answer = get_query(&app, filter.as_ref(), sort, 2, Some(cursor)).await;
        answer.assert_problem(400, "INVALID_INPUT");
        assert_eq!(answer.error_paths(), ["/cursor"], "{sort} {filter:?}");
    }
    get_query(&app, None, "name", 2, Some(&cursor))
        .await
        .body
        .get("items")
        .unwrap_or_else(|| panic!("the untouched cursor works"));
    app.get("/v1/collections/nope/documents")
        .await
        .assert_problem(404, "NOT_FOUND");
}

/// Writers insert, patch, delete and re-create documents until `stop` is set.
fn spawn_writers(app: &TestApp, stop: &Arc<AtomicBool>) -> JoinSet<()> {
    let mut writers = JoinSet::new();
    for writer in 0..3_u32 {
        let client = app.client.clone();
        let base = app.base.clone();
        let stop = Arc::clone(stop);
        writers.spawn(async move {
            let mut n = 0_u32;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let mutable = format!("d{:03}", (n * 7 + writer * 13) % 90 / 3 * 3);
                let url = format!("{base}{DOCS}");
                let _ = match n % 3 {
                    0 => client
                        .post(&url)
                        .json(&json!({"id": format!("d{:03}w{writer}n{n}", n % 90), "data": {"kind": "new"}}))
                        .send()
                        .await,
                    1 => client
                        .patch(format!("{url}/{mutable}"))
                        .header("content-type", "application/merge-patch+json")
                        .body(json!({"n": n}).to_string())
                        .send()
                        .await,
                    _ => {
                        let _ = client.delete(format!("{url}/{mutable}")).send().await;
                        client
                            .post(&url)
                            .json(&json!({"id": mutable, "data": {"kind": "mutable"}}))
                            .send()
                            .await
                    }
                };
            }
        });
    }
    writers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_walk_by_id_or_created_at_under_concurrent_writes_never_repeats_or_skips() {
    let app = spawn_app().await;
    app.create_collection("c", None).await;
    // Every third document is touched by the writers; the others stay as they are.
    let mut stable = HashSet::new();
    for i in 0..90 {
        let id = format!("d{i:03}");
        let kind = if i % 3 == 0 { "mutable" } else { "stable" };
        app.create_document("c", &id, json!({"kind": kind, "i": i}))
            .await;
        if i % 3 != 0 {
            stable.insert(id);
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(&app, &stop);
    let filter = json!({"kind": {"$in": ["stable", "mutable", "new"]}});
    for sort in ["$id", "-$id", "$created_at", "-$created_at,-$id"] {
        // (id, created_at): a document deleted and re-created during the walk begins a new
        // life with a new `created_at`, and a walk by `$created_at` meets it again there.
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = get_query(&app, Some(&filter), sort, 7, cursor.as_deref()).await;
            assert_eq!(page.status, StatusCode::OK, "{:#}", page.body);
            for item in page.body["items"].as_array().cloned().unwrap_or_default() {
                let id = item["id"].as_str().unwrap_or_default().to_owned();
                let created = item["created_at"].as_str().unwrap_or_default().to_owned();
                seen.push((id, created));
            }
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            match page.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let lives: HashSet<&(String, String)> = seen.iter().collect();
        assert_eq!(lives.len(), seen.len(), "{sort}: a document came twice");
        let unique: HashSet<&String> = seen.iter().map(|(id, _)| id).collect();
        if sort.contains("$id") && !sort.contains("created") {
            assert_eq!(unique.len(), seen.len(), "{sort}: an id came twice");
        }
        let repeated = seen.len() - unique.len();
        let recreated = seen.iter().filter(|(id, _)| !stable.contains(id)).count();
        assert!(
            repeated <= recreated,
            "{sort}: only re-created documents come back"
        );
        let missing: Vec<&String> = stable.iter().filter(|id| !unique.contains(id)).collect();
        assert!(missing.is_empty(), "{sort}: skipped {missing:?}");
    }
    stop.store(true, Ordering::SeqCst);
    writers.join_all().await;
    let entries = app.get("/v1/audit?operation=document.delete&limit=1").await;
    assert_eq!(entries.status, StatusCode::OK, "{:#}", entries.body);
    assert!(
        entries.body["items"]
            .as_array()
            .is_some_and(|a| a.len() == 1),
        "the writers deleted"
    );
}

#[tokio::test]
async fn the_audit_list_spans_the_store_in_commit_order_with_filters() {
    let app = spawn_app().await;
    app.create_collection("a", None).await;
    app.create_collection("b", None).await;
    app.create_document("a", "x", json!({"n": 1})).await;
    app.create_document("b", "x", json!({"n": 1})).await;
    app.patch("/v1/collections/a/documents/x", &json!({"n": 2}), None)
        .await;

    let all = app.get("/v1/audit?limit=2").await;
    assert_eq!(all.status, StatusCode::OK, "{:#}", all.body);
    let mut operations = Vec::new();
    let mut page = all;
    loop {
        for item in page.body["items"].as_array().cloned().unwrap_or_default() {
            operations.push(
                item["entry"]["operation"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
            assert!(item["leaf_hash"].is_string());
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => page = app.get(&format!("/v1/audit?limit=2&cursor={next}")).await,
            None => break,
        }
    }
    assert_eq!(
        operations,
        [
            "collection.create",
            "collection.create",
            "document.create",
            "document.create",
            "document.patch"
        ]
    );
    let of_a = app.get("/v1/audit?collection=a&document_id=x").await;
    let versions: Vec<Value> = of_a.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["entry"]["version"].clone())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(versions, [json!(1), json!(2)]);
    let by_actor = app
        .get("/v1/audit?actor=anonymous&operation=document.patch")
        .await;
    assert_eq!(by_actor.body["items"].as_array().map(Vec::len), Some(1));
    let future = app
        .get(&format!(
            "/v1/audit?since={}",
            encode("2999-01-01T00:00:00+02:00")
        ))
        .await;
    assert_eq!(future.body["items"], json!([]));
    let past = app.get("/v1/audit?until=2000-01-01T00:00:00Z").await;
    assert_eq!(past.body["items"], json!([]));
    for bad in [
        "since=yesterday",
        "operation=document.eat",
        "actor=root",
        "collection=A%20B",
        "cursor=zz",
        "limit=1001",
        "colour=red",
    ] {
        app.get(&format!("/v1/audit?{bad}"))
            .await
            .assert_problem(400, "INVALID_INPUT");
    }
}
