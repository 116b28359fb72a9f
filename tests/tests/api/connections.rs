//! Connections that cannot pile up (issue 18): header read and keep-alive timeouts, the cap
//! on open connections, a prompt shutdown with half-sent requests open, `Host` required on
//! HTTP/1.1, and thousands of idle connections that do not stop the server serving.
//!
//! These speak raw HTTP/1.1 over TCP, since an HTTP client hides what a connection does.
//! Timeouts are set short here and asserted with wide margins.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use server::config::{Store, StoreMode};
use server::connection_limits::ConnectionLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, spawn_app_in, test_store};

/// Long enough never to fire during a test that is not about it.
const NEVER: Duration = Duration::from_secs(120);

async fn spawn_with(limits: ConnectionLimits) -> TestApp {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    spawn_app_in(dir, |config| config.connections = limits).await
}

fn addr(app: &TestApp) -> SocketAddr {
    app.base
        .trim_start_matches("http://")
        .parse()
        .unwrap_or_else(|e| panic!("address: {e}"))
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(addr(app))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

async fn send(stream: &mut TcpStream, bytes: &str) {
    stream
        .write_all(bytes.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
}

/// One HTTP/1.1 answer read off `stream`: status, head (lowercase) and JSON body.
async fn read_answer(stream: &mut TcpStream) -> (u16, String, Value) {
    let mut bytes = Vec::new();
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let read = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut chunk))
            .await
            .unwrap_or_else(|_| panic!("no answer within 20 s"))
            .unwrap_or_else(|e| panic!("read: {e}"));
        assert!(read > 0, "closed before an answer: {bytes:?}");
        bytes.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map(|value| value.trim().parse().unwrap_or(0))
        .unwrap_or(0);
    while bytes.len() < head_end + length {
        let read = stream
            .read(&mut chunk)
            .await
            .unwrap_or_else(|e| panic!("read body: {e}"));
        assert!(read > 0, "closed in the body");
        bytes.extend_from_slice(&chunk[..read]);
    }
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("status line: {head}"));
    let body = serde_json::from_slice(&bytes[head_end..head_end + length]).unwrap_or(Value::Null);
    (status, head, body)
}

/// How long until the server closes `stream` (reading and dropping anything it sends), or
/// `None` when it is still open after `within`.
async fn closed_after(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut sink = [0_u8; 4096];
    loop {
        match tokio::time::timeout_at((started + within).into(), stream.read(&mut sink)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

const HEALTHZ: &str = "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";

#[tokio::test]
async fn idle_connections_close_after_the_keep_alive_timeout() {
    let app = spawn_with(ConnectionLimits {
        keep_alive_timeout: Duration::from_millis(600),
        header_read_timeout: NEVER,
        ..ConnectionLimits::default()
    })
    .await;
    let mut silent = connect(&app).await;
    let silent_since = Instant::now();
    let mut served = connect(&app).await;
    send(&mut served, HEALTHZ).await;
    assert_eq!(read_answer(&mut served).await.0, 200);
    let served_since = Instant::now();

    for (name, stream, since) in [
        ("after an answer", &mut served, served_since),
        ("never used", &mut silent, silent_since),
    ] {
        let closed = closed_after(stream, Duration::from_secs(15)).await;
        assert!(closed.is_some(), "{name}: still open after 15 s");
        let idle = since.elapsed();
        assert!(
            idle >= Duration::from_millis(300),
            "{name}: closed early, {idle:?}"
        );
    }
}

#[tokio::test]
async fn a_connection_sending_its_head_a_byte_at_a_time_is_closed_at_the_header_timeout() {
    let app = spawn_with(ConnectionLimits {
        header_read_timeout: Duration::from_millis(800),
        keep_alive_timeout: NEVER,
        ..ConnectionLimits::default()
    })
    .await;
    let mut slow = connect(&app).await;
    let started = Instant::now();
    let mut closed = None;
    for byte in HEALTHZ.bytes().take(HEALTHZ.len() - 1).cycle() {
        if slow.write_all(&[byte]).await.is_err() {
            closed = Some(started.elapsed());
            break;
        }
        if let Some(after) = closed_after(&mut slow, Duration::from_millis(200)).await {
            closed = Some(started.elapsed().max(after));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still open after 20 s"
        );
    }
    let closed = closed.unwrap_or_else(|| panic!("never closed"));
    assert!(
        closed >= Duration::from_millis(400),
        "closed early: {closed:?}"
    );
    // Meanwhile others are served.
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

/// A connection whose request is in flight: a POST whose body is only half sent.
async fn busy_connection(app: &TestApp) -> TcpStream {
    let mut stream = connect(app).await;
    send(
        &mut stream,
        "POST /v1/collections/notes/documents HTTP/1.1\r\nHost: test\r\n\
         Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"id\": \"a\",",
    )
    .await;
    stream
}

#[tokio::test]
async fn past_the_cap_the_oldest_idle_connection_closes_and_with_none_idle_new_ones_get_503() {
    let app = spawn_with(ConnectionLimits {
        max_connections: 3,
        ..ConnectionLimits::default()
    })
    .await;
    app.create_collection("notes", None).await;
    // Give the server time to see each connection before the next one arrives.
    let settle = || tokio::time::sleep(Duration::from_millis(300));
    let mut oldest_idle = connect(&app).await;
    settle().await;
    let _busy1 = busy_connection(&app).await;
    settle().await;
    let mut busy2 = busy_connection(&app).await;
    settle().await;

    // At the cap: the idle one makes room.
    let mut fourth = connect(&app).await;
    assert!(
        closed_after(&mut oldest_idle, Duration::from_secs(10))
            .await
            .is_some(),
        "the oldest idle connection was closed"
    );
    send(&mut fourth, HEALTHZ).await;
    assert_eq!(read_answer(&mut fourth).await.0, 200);

    // Every connection busy: a new one is answered 503 with Retry-After and closed.
    send(
        &mut fourth,
        "POST /v1/collections/notes/documents HTTP/1.1\r\nHost: test\r\n\
         Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{",
    )
    .await;
    settle().await;
    let mut refused = connect(&app).await;
    send(&mut refused, HEALTHZ).await;
    let (status, head, problem) = read_answer(&mut refused).await;
    assert_eq!(status, 503, "{head}{problem}");
    assert!(head.contains("retry-after: 1\r\n"), "{head}");
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    assert_eq!(problem["code"], "UNAVAILABLE", "{problem}");
    assert!(problem["request_id"].is_string(), "{problem}");
    assert!(
        closed_after(&mut refused, Duration::from_secs(10))
            .await
            .is_some()
    );

    // A busy connection finishing frees its place.
    let rest = " \"data\": {}}";
    send(&mut busy2, &format!("{rest:<29}")).await;
    assert_eq!(read_answer(&mut busy2).await.0, 201);
    let mut later = connect(&app).await;
    send(&mut later, HEALTHZ).await;
    assert_eq!(read_answer(&mut later).await.0, 200);
}

#[tokio::test]
async fn a_stop_closes_idle_and_half_sent_connections_at_once() {
    let mut app = spawn_with(ConnectionLimits::default()).await;
    let mut half_sent = connect(&app).await;
    send(&mut half_sent, "GET /healthz HTTP/1.1\r\nHo").await;
    let mut idle = connect(&app).await;
    send(&mut idle, HEALTHZ).await;
    assert_eq!(read_answer(&mut idle).await.0, 200);
    let mut silent = connect(&app).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let server = app.server.take().unwrap_or_else(|| panic!("no server"));
    let started = Instant::now();
    server.stop().await.unwrap_or_else(|e| panic!("stop: {e}"));
    let stopped = started.elapsed();
    assert!(
        stopped < Duration::from_secs(10),
        "the shutdown timeout is 30 s; the stop took {stopped:?}"
    );
    for (name, stream) in [
        ("half sent", &mut half_sent),
        ("idle", &mut idle),
        ("silent", &mut silent),
    ] {
        assert!(
            closed_after(stream, Duration::from_secs(5)).await.is_some(),
            "{name} still open"
        );
    }
}

#[tokio::test]
async fn an_http_1_1_request_without_host_is_400_and_http_1_0_without_it_is_served() {
    let app = spawn_with(ConnectionLimits::default()).await;
    let mut stream = connect(&app).await;
    send(&mut stream, "GET /healthz HTTP/1.1\r\n\r\n").await;
    let (status, head, problem) = read_answer(&mut stream).await;
    assert_eq!(status, 400, "{head}{problem}");
    assert_eq!(problem["code"], "INVALID_INPUT");
    assert_eq!(problem["errors"][0]["path"], "/Host", "{problem}");

    let mut old = connect(&app).await;
    send(&mut old, "GET /healthz HTTP/1.0\r\n\r\n").await;
    let (status, _, body) = read_answer(&mut old).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "ok"}));
}

#[tokio::test]
async fn the_server_keeps_serving_with_2000_idle_connections_open() {
    let app = spawn_with(ConnectionLimits::default()).await;
    app.create_collection("notes", None).await;
    let mut idle = Vec::with_capacity(2000);
    for n in 0..2000 {
        let mut stream = connect(&app).await;
        // Half have been served once and wait for their next request; half never spoke.
        if n % 2 == 0 {
            send(&mut stream, HEALTHZ).await;
        }
        idle.push(stream);
    }
    for stream in idle.iter_mut().step_by(2) {
        assert_eq!(read_answer(stream).await.0, 200);
    }

    let started = Instant::now();
    app.create_document("notes", "while-idle", json!({"n": 1}))
        .await;
    let read = app.get("/v1/collections/notes/documents/while-idle").await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // The idle connections are still open and answer.
    for stream in idle.iter_mut().step_by(250) {
        send(stream, HEALTHZ).await;
        assert_eq!(read_answer(stream).await.0, 200);
    }
}

#[tokio::test]
async fn readyz_reports_failing_commits_and_recovers_without_client_writes() {
    let embedded_faults = infra::embedded::CommitFaults::default();
    let mongo_faults = infra::mongo::MongoFaults::default();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let app = spawn_app_in(dir, |config| {
        config.commit_faults = embedded_faults.clone();
        if let Store::Mongo(mongo) = &mut config.store {
            mongo.faults = mongo_faults.clone();
        }
    })
    .await;
    let fail_commits = |on: bool| {
        embedded_faults.fail_commits(on);
        mongo_faults.fail_commits(on);
    };
    app.create_collection("notes", None).await;
    assert_eq!(app.get("/readyz").await.status, StatusCode::OK);

    fail_commits(true);
    let write = app
        .post_json("/v1/collections/notes/documents", &json!({"data": {}}))
        .await;
    write.assert_problem(503, "UNAVAILABLE");
    let ready = app.get("/readyz").await;
    let problem = ready.assert_problem(503, "UNAVAILABLE");
    let detail = problem["detail"].as_str().unwrap_or_default();
    // The dependency is named.
    let expected = match test_store() {
        StoreMode::Embedded => "disk is full",
        StoreMode::Mongo => "MongoDB",
    };
    assert!(detail.contains(expected), "{detail}");

    fail_commits(false);
    let started = Instant::now();
    loop {
        if app.get("/readyz").await.status == StatusCode::OK {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still not ready 20 s after commits work again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.create_document("notes", "after", json!({})).await;
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_folder_and_its_files_are_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt;

    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let data = root.path().join("data");
    let app = spawn_app_in(root, |config| config.data_dir = data.clone()).await;
    app.create_collection("notes", None).await;
    app.create_document("notes", "a", json!({})).await;
    let mode = |name: &str| {
        std::fs::metadata(data.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700, "the folder");
    let mut files = vec!["log-signing.key"];
    // The embedded store keeps its data in the folder too, locked; another backend keeps it
    // elsewhere.
    if test_store() == StoreMode::Embedded {
        files.extend(["LOCK", "offchain.db", "offchain.db-wal", "offchain.db-shm"]);
    }
    for file in files {
        assert_eq!(mode(file), 0o600, "{file}");
    }
}
