//! Serving on several threads: every connection is answered whichever thread it is dealt
//! to, and a stop lets requests in flight on every thread finish.

use std::num::NonZeroUsize;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use server::serving::Serving;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, spawn_app_in};

/// A server on a fresh folder serving on `threads` threads.
async fn spawn_on_threads(threads: usize) -> TestApp {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let threads = NonZeroUsize::new(threads).unwrap_or(NonZeroUsize::MIN);
    spawn_app_in(dir, |config| {
        config.serving = Serving::PerThread { threads }
    })
    .await
}

/// A client with a connection of its own (clients do not share pools).
fn own_connection_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"))
}

#[tokio::test]
async fn connections_dealt_to_three_serving_threads_are_all_answered() {
    let app = spawn_on_threads(3).await;
    app.create_collection("notes", Some(json!({"type": "object"})))
        .await;
    let url = app.url("/v1/collections/notes/documents");

    // Twelve connections: four for each thread, each writing then reading its own document.
    let clients = (0..12).map(|n| {
        let url = url.clone();
        tokio::spawn(async move {
            let client = own_connection_client();
            let created = client
                .post(&url)
                .json(&json!({"id": format!("n{n}"), "data": {"n": n}}))
                .send()
                .await
                .unwrap_or_else(|e| panic!("create n{n}: {e}"));
            assert_eq!(created.status(), StatusCode::CREATED, "create n{n}");
            for _ in 0..5 {
                let read = client
                    .get(format!("{url}/n{n}"))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("read n{n}: {e}"));
                assert_eq!(read.status(), StatusCode::OK, "read n{n}");
                let body: serde_json::Value = read
                    .json()
                    .await
                    .unwrap_or_else(|e| panic!("body n{n}: {e}"));
                assert_eq!(body["data"], json!({"n": n}));
            }
        })
    });
    for client in clients.collect::<Vec<_>>() {
        client.await.unwrap_or_else(|e| panic!("client task: {e}"));
    }

    let app = app.restart().await;
    let page = app.get("/v1/collections/notes/documents?limit=100").await;
    assert_eq!(page.status, StatusCode::OK);
    let ids = page.body["items"]
        .as_array()
        .map(|items| items.len())
        .unwrap_or_default();
    assert_eq!(ids, 12, "{:#}", page.body);
}

#[tokio::test]
async fn a_stop_lets_requests_in_flight_on_every_thread_finish() {
    let mut app = spawn_on_threads(2).await;
    app.create_collection("notes", None).await;
    let addr = app
        .base
        .trim_start_matches("http://")
        .parse::<std::net::SocketAddr>()
        .unwrap_or_else(|e| panic!("address: {e}"));

    // Two connections, so whichever thread the collection's connection went to, one of these
    // is dealt to each thread; each sends its headers and half its body, then waits.
    let mut writers = Vec::new();
    for n in 0..2 {
        let body = json!({"id": format!("slow{n}"), "data": {"n": n}}).to_string();
        let mut stream = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        let head = format!(
            "POST /v1/collections/notes/documents HTTP/1.1\r\nHost: test\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let (first, rest) = body.split_at(body.len() / 2);
        stream
            .write_all(format!("{head}{first}").as_bytes())
            .await
            .unwrap_or_else(|e| panic!("write: {e}"));
        writers.push((stream, rest.to_owned()));
    }
    // Let both servers read the heads: from then on each request is in flight.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let server = app.server.take().unwrap_or_else(|| panic!("no server"));
    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!stopping.is_finished(), "the stop waits for the requests");

    for (mut stream, rest) in writers {
        stream
            .write_all(rest.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("write the rest: {e}"));
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .await
            .unwrap_or_else(|e| panic!("read: {e}"));
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    }
    stopping
        .await
        .unwrap_or_else(|e| panic!("stop task: {e}"))
        .unwrap_or_else(|e| panic!("stop: {e}"));

    let app = spawn_app_in(app.dir, |_| {}).await;
    for n in 0..2 {
        let read = app
            .get(&format!("/v1/collections/notes/documents/slow{n}"))
            .await;
        assert_eq!(read.status, StatusCode::OK, "slow{n}: {:#}", read.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_runtime_serves_every_connection_itself() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let app = spawn_app_in(dir, |config| config.serving = Serving::Shared).await;
    app.create_collection("notes", None).await;
    for n in 0..4 {
        let client = own_connection_client();
        let created = client
            .post(app.url("/v1/collections/notes/documents"))
            .json(&json!({"id": format!("n{n}"), "data": {}}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    let page = app.get("/v1/collections/notes/documents").await;
    assert_eq!(page.body["items"].as_array().map(Vec::len), Some(4));
}
