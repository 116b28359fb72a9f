//! A connection past the cap when no open connection is idle: its request is answered 503
//! `UNAVAILABLE` with `Retry-After` (the contract's answer "over a concurrency cap"), then it
//! is closed.
//!
//! The request is read before the answer is written, so the client sees the 503 rather than
//! a reset. That takes a descriptor for a moment, so at most [`REFUSALS_AT_ONCE`] are answered
//! at a time, each for at most [`REFUSAL_TIME`]; beyond that a connection is closed at once.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpStream;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use super::table::ConnectionTable;

/// Refused connections answered at once, at most.
pub(super) const REFUSALS_AT_ONCE: usize = 64;
/// The longest a refused connection is kept to read its request and send the answer.
pub(super) const REFUSAL_TIME: Duration = Duration::from_secs(2);

/// The service answering every request of a refused connection.
pub(super) type RefusalService = BoxCloneSyncService<Request, Response, Infallible>;

/// Answers `stream`'s request 503 in the background, or closes it at once when
/// [`REFUSALS_AT_ONCE`] are already being answered.
pub(super) fn refuse(stream: TcpStream, table: &Arc<ConnectionTable>, answer: &RefusalService) {
    if !table.start_refusal(REFUSALS_AT_ONCE) {
        return;
    }
    let table = Arc::clone(table);
    let service = answer
        .clone()
        .map_request(|request: hyper::Request<Incoming>| request.map(Body::new));
    tokio::spawn(async move {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .keep_alive(false)
            .header_read_timeout(None::<Duration>);
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let _ended_or_timed_out = tokio::time::timeout(REFUSAL_TIME, connection).await;
        table.end_refusal();
    });
}
