//! The measured requests' HTTP/1.1 client: a fixed set of keep-alive connections to one
//! server, each a hyper connection over its own TCP stream.
//!
//! The load tool shares the machine with the server it measures, so every microsecond it
//! spends per request is taken from the server. A general-purpose client parses a URL, looks
//! a host up in its pool and keeps redirect and proxy logic ready on every request; on two
//! cores that made the tool use more CPU per request than the server in the open loop. This
//! client only writes the request line, the `Host` header and the body, like wrk does. Setup
//! requests (collections, seeding) still go through `reqwest`.
//!
//! At most `connections` requests are in flight: a request that finds every connection busy
//! waits for one, and the wait counts in its latency (the driver measures from the intended
//! send time). A connection that failed is dropped and a new one is opened for the next
//! request.
//!
//! It serves the closed loop (`driver.rs`) and the background loads beside an open loop; the
//! open loop itself writes its requests to its own sockets (`ticked.rs`). A connection is
//! driven by the runtime thread that opened it, so a request takes an idle connection its own
//! thread opened when there is one (using another thread's costs a cross-thread wake-up each
//! way), opens a new one while fewer than `connections` are open, and only then borrows
//! another thread's.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::ThreadId;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// A connection, with the thread whose runtime drives it (the one that opened it).
struct Connection {
    owner: ThreadId,
    sender: SendRequest<Full<Bytes>>,
}

/// A fixed number of connections to one `http://host:port` server.
pub struct LeanClient {
    /// `host:port`, for connecting and for the `Host` header.
    authority: String,
    /// Connections not in use.
    idle: Mutex<Vec<Connection>>,
    /// Connections open or being opened (at most `capacity`).
    open: AtomicUsize,
    capacity: usize,
    /// One permit per connection.
    permits: Semaphore,
}

/// An answer: its status and its whole body.
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The body.
    pub body: Bytes,
}

impl LeanClient {
    /// A client of `base` (`http://host:port`, as checked by the command line) that holds at
    /// most `connections` connections, opened when first needed.
    ///
    /// # Errors
    /// When `base` is not `http://` followed by an authority and nothing else.
    pub fn new(base: &str, connections: usize) -> Result<Arc<Self>, String> {
        let authority = base
            .strip_prefix("http://")
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .ok_or_else(|| format!("the lean client needs `http://host:port`, got `{base}`"))?;
        Ok(Arc::new(Self {
            authority: authority.to_owned(),
            idle: Mutex::new(Vec::with_capacity(connections)),
            open: AtomicUsize::new(0),
            capacity: connections.max(1),
            permits: Semaphore::new(connections.max(1)),
        }))
    }

    /// The server's `host:port`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Sends `method path` (with `body` as JSON when given) and reads the whole answer.
    ///
    /// # Errors
    /// When no connection could be opened or the exchange failed (that connection is then
    /// dropped).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Answer, String> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| format!("the client is closed: {e}"))?;
        let mut connection = self.acquire().await?;
        if let Err(e) = connection.sender.ready().await {
            self.dropped();
            return Err(format!("the connection failed: {e}"));
        }
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.authority.as_str());
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| format!("bad request `{path}`: {e}"))?;
        let response = match connection.sender.send_request(request).await {
            Ok(response) => response,
            Err(e) => {
                self.dropped();
                return Err(format!("request failed: {e}"));
            }
        };
        let status = response.status();
        let body = match response.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(e) => {
                self.dropped();
                return Err(format!("reading the body failed: {e}"));
            }
        };
        self.put_idle(connection);
        Ok(Answer { status, body })
    }

    /// Sends like [`Self::send`] and expects `expected`; the error names the status and the
    /// start of the body.
    ///
    /// # Errors
    /// As [`Self::send`], or when the status is another.
    pub async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        expected: StatusCode,
    ) -> Result<Bytes, String> {
        let answer = self.send(method, path, body).await?;
        if answer.status == expected {
            return Ok(answer.body);
        }
        Err(unexpected(answer.status, &answer.body))
    }

    /// A connection for one request (the caller holds a permit): an idle one of this thread,
    /// else a new one while there is room, else another thread's idle one.
    async fn acquire(&self) -> Result<Connection, String> {
        let me = std::thread::current().id();
        if let Some(connection) = self.take_idle(|thread| thread == me) {
            return Ok(connection);
        }
        let reserved = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.capacity).then_some(open + 1)
            })
            .is_ok();
        if !reserved && let Some(connection) = self.take_idle(|_| true) {
            return Ok(connection);
        }
        if !reserved {
            // Every connection is open and none is idle, yet this request holds a permit: one
            // is being returned right now. Open a spare rather than wait.
            self.open.fetch_add(1, Ordering::AcqRel);
        }
        self.connect().await.inspect_err(|_| self.dropped())
    }

    /// Takes an idle connection whose thread `wanted` accepts; connections the server closed
    /// while idle are dropped on the way.
    fn take_idle(&self, wanted: impl Fn(ThreadId) -> bool) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let before = idle.len();
        idle.retain(|connection| !connection.sender.is_closed());
        let closed = before - idle.len();
        if closed > 0 {
            self.open.fetch_sub(closed, Ordering::AcqRel);
        }
        let position = idle
            .iter()
            .rposition(|connection| wanted(connection.owner))?;
        Some(idle.swap_remove(position))
    }

    fn put_idle(&self, connection: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(connection);
    }

    /// Counts a connection that failed and was dropped.
    fn dropped(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }

    async fn connect(&self) -> Result<Connection, String> {
        let stream = TcpStream::connect(self.authority.as_str())
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.authority))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
        let (sender, driver) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP/1.1 handshake with {} failed: {e}", self.authority))?;
        // Drives the connection until it closes; its errors reach the request that used it.
        tokio::spawn(async move {
            let _closed = driver.await;
        });
        Ok(Connection {
            owner: std::thread::current().id(),
            sender,
        })
    }
}

/// The error for an answer with an unexpected status: the status and the start of the body.
pub fn unexpected(status: impl std::fmt::Display, body: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
    format!("HTTP {status}: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_http_authority_is_accepted() {
        assert!(LeanClient::new("http://127.0.0.1:8080", 4).is_ok());
        for bad in [
            "https://x:1",
            "http://",
            "http://x:1/path",
            "127.0.0.1:8080",
        ] {
            assert!(LeanClient::new(bad, 4).is_err(), "{bad}");
        }
    }

    /// A server on loopback that answers `GET /hello` and echoes `POST /echo`, and counts the
    /// connections it accepted.
    async fn counting_server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        use axum::Router;
        use axum::routing::{get, post};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let accepted = Arc::new(AtomicUsize::new(0));
        let app = Router::new()
            .route("/hello", get(|| async { "hi" }))
            .route("/echo", post(|body: String| async move { body }));
        let counting = Arc::clone(&accepted);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                counting.fetch_add(1, Ordering::Relaxed);
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (address, accepted)
    }

    #[tokio::test]
    async fn requests_reuse_connections_and_read_whole_answers() {
        let (address, accepted) = counting_server().await;
        let client =
            LeanClient::new(&format!("http://{address}"), 2).unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..10 {
            let body = client
                .expect(Method::GET, "/hello", None, StatusCode::OK)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&body[..], b"hi");
        }
        let echoed = client
            .expect(
                Method::POST,
                "/echo",
                Some(Bytes::from_static(b"{\"a\":1}")),
                StatusCode::OK,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&echoed[..], b"{\"a\":1}");
        let missing = client
            .expect(Method::GET, "/nowhere", None, StatusCode::OK)
            .await
            .err()
            .unwrap_or_default();
        assert!(missing.starts_with("HTTP 404"), "{missing}");
        assert_eq!(
            accepted.load(Ordering::Relaxed),
            1,
            "one request at a time uses one connection"
        );
    }

    /// One open-loop lane: a thread with a runtime of its own that sends `GET /hello` through
    /// `client` each time it is told to, and says when the answer is in.
    fn lane(
        client: Arc<LeanClient>,
        mut go: tokio::sync::mpsc::Receiver<()>,
        done: tokio::sync::mpsc::Sender<Result<Bytes, String>>,
    ) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("{e}"));
            runtime.block_on(async move {
                while go.recv().await.is_some() {
                    let answer = client
                        .expect(Method::GET, "/hello", None, StatusCode::OK)
                        .await;
                    if done.send(answer).await.is_err() {
                        return;
                    }
                }
            });
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_lane_keeps_to_the_connections_its_own_runtime_drives() {
        let (address, accepted) = counting_server().await;
        let client =
            LeanClient::new(&format!("http://{address}"), 4).unwrap_or_else(|e| panic!("{e}"));
        let (done_tx, mut done) = tokio::sync::mpsc::channel(1);
        let mut gos = Vec::new();
        let mut threads = Vec::new();
        for _ in 0..2 {
            let (go, go_rx) = tokio::sync::mpsc::channel(1);
            gos.push(go);
            threads.push(lane(Arc::clone(&client), go_rx, done_tx.clone()));
        }
        // The lanes take strict turns, so each finds the other's connection idle: a pool that
        // ignored threads would hand it over, and one connection would serve both.
        for _ in 0..10 {
            for go in &gos {
                go.send(()).await.unwrap_or_else(|e| panic!("{e}"));
                let body = done
                    .recv()
                    .await
                    .unwrap_or_else(|| panic!("a lane stopped"));
                assert_eq!(body.as_deref().ok(), Some(&b"hi"[..]));
            }
        }
        assert_eq!(
            accepted.load(Ordering::Relaxed),
            2,
            "one connection per lane"
        );
        drop(gos);
        for thread in threads {
            thread.join().unwrap_or_else(|_| panic!("a lane panicked"));
        }
    }
}
