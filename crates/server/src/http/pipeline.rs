//! The middleware every request passes, written as one service around the routes. From
//! outside in: the request context (request id, trace id, span, echoed id) → the panic
//! catcher → the timeout → the write gate (writes refused while the log cannot sign) →
//! `Idempotency-Key` handling (POST with a key only) → the routes.
//!
//! Why one service and not a stack of layers: each `axum::middleware::from_fn` layer boxes
//! its future and a clone of the boxed service behind it, and tower-http's panic catcher adds
//! a future of its own, so a read by id went through four boxed futures, each moved (copied)
//! into its box, before reaching its handler. Here the whole path is one `async` function in
//! one box; the order of the steps and what each does are unchanged.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use shared_kernel::constants::REQUEST_ID_HEADER;
use shared_kernel::{Actor, Deadline, Error, RequestContext, RequestId, TraceId};
use tower::Service;
use tracing::Instrument;

use super::AppState;
use super::dispatch::call_routes;
use super::host;
use super::idempotency;
use super::problem::{self, ApiError};
use super::request_id::REQUEST_ID;

/// The routes inside the middleware (see the module documentation).
#[derive(Clone)]
pub struct Pipeline {
    state: AppState,
    routes: Router,
}

impl Pipeline {
    /// `routes` (with their state already given) inside the middleware.
    pub fn new(state: AppState, routes: Router) -> Self {
        Self { state, routes }
    }

    /// Takes the client's `X-Request-Id` when it follows the grammar (else generates one),
    /// reads a W3C `traceparent`, stores the [`RequestContext`] for extractors, serves the
    /// request inside a span, and echoes the id on the response.
    async fn serve(self, mut request: Request) -> Response {
        let request_id = request
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| RequestId::parse(v).ok())
            .unwrap_or_else(RequestId::generate);
        let trace_id = request
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split('-').nth(1))
            .and_then(|id| TraceId::parse(id).ok());
        // The span gives every line logged while serving the request its method, path and
        // id. It has no `status` field filled in at the end: nothing logs after the answer is
        // made, and recording a field on an open span made the JSON formatter parse and
        // re-serialise the span's fields, which was a sixth of the instructions of a read.
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.uri().path(),
            request_id = %request_id,
        );
        let echoed = HeaderValue::from_str(request_id.as_str()).ok();
        request.extensions_mut().insert(RequestContext {
            actor: Actor::Anonymous,
            request_id: request_id.clone(),
            trace_id,
            // Set with the timeout, below.
            deadline: None,
        });
        let mut response = REQUEST_ID
            .scope(request_id, self.catching_panics(request))
            .instrument(span)
            .await;
        if let Some(value) = echoed {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        response
    }

    /// A panic anywhere below becomes a 500 problem like any internal error (with the
    /// request id, which is still in scope), never a dropped connection.
    async fn catching_panics(self, request: Request) -> Response {
        AssertUnwindSafe(self.within_timeout(request))
            .catch_unwind()
            .await
            .unwrap_or_else(problem::panic_response)
    }

    /// Answers 503 when the request outlives the configured timeout. The deadline also goes
    /// into the request's extensions ([`Deadline`]): dropping the route's future stops only
    /// what runs on this task, so work the request started elsewhere (a query on a reader
    /// thread) is handed the deadline and stops there too.
    async fn within_timeout(self, mut request: Request) -> Response {
        let limit = self.state.request_timeout();
        let deadline = Deadline::after(limit);
        request.extensions_mut().insert(deadline);
        if let Some(context) = request.extensions_mut().get_mut::<RequestContext>() {
            context.deadline = Some(deadline);
        }
        match tokio::time::timeout(limit, self.route(request)).await {
            Ok(response) => response,
            Err(_) => ApiError(Error::unavailable(
                "the request took longer than the configured timeout",
                std::io::Error::from(std::io::ErrorKind::TimedOut),
            ))
            .into_response(),
        }
    }

    /// A request without a valid `Host` is refused; a request that could change data while
    /// the log refuses to grow is answered at once (see [`super::WriteGate`]); a POST with an
    /// `Idempotency-Key` goes through the key's handling; anything else straight to its route.
    async fn route(self, request: Request) -> Response {
        if let Err(error) = host::check(&request) {
            return ApiError(error).into_response();
        }
        if let Err(refused) = self
            .state
            .write_gate()
            .admit(request.method(), request.uri().path())
        {
            return ApiError(refused).into_response();
        }
        if idempotency::applies_to(&request) {
            idempotency::with_key(self.state, request, self.routes).await
        } else {
            call_routes(self.routes, request).await
        }
    }
}

impl Service<Request> for Pipeline {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    /// Always ready: so is the router (axum's `Router::poll_ready` answers at once).
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let pipeline = self.clone();
        Box::pin(async move { Ok(pipeline.serve(request).await) })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::{Body, to_bytes};
    use axum::http::{StatusCode, header};
    use axum::routing::get;
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;
    use crate::config::Config;

    /// A pipeline on a real (temporary) store with a 200 ms timeout, around routes that
    /// answer, panic, or outlive the timeout.
    async fn pipeline(dir: &tempfile::TempDir) -> Pipeline {
        let mut config = Config::with_data_dir(dir.path());
        config.request_timeout = Duration::from_millis(200);
        let (state, _log) = crate::wiring::wire(&config).await.expect("store");
        let routes = Router::new()
            .route("/ok", get(|| async { "fine" }))
            .route(
                "/panic",
                get(|| async {
                    panic!("boom");
                    #[expect(unreachable_code, reason = "the route must name a response type")]
                    ""
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "late"
                }),
            );
        Pipeline::new(state, routes)
    }

    async fn send(pipeline: Pipeline, path: &str, request_id: Option<&str>) -> (Response, Value) {
        let mut request = Request::builder().uri(path).header(header::HOST, "test");
        if let Some(id) = request_id {
            request = request.header(REQUEST_ID_HEADER, id);
        }
        let response = pipeline
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .unwrap_or_else(|never| match never {});
        let (parts, body) = response.into_parts();
        let bytes = to_bytes(body, usize::MAX).await.expect("body");
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (Response::from_parts(parts, Body::from(bytes)), json)
    }

    fn echoed_id(response: &Response) -> &str {
        response
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .expect("X-Request-Id on every answer")
    }

    /// `response` is a problem with this status and code, naming `request_id` in its body and
    /// in its `X-Request-Id` header.
    fn assert_problem(
        (response, problem): (Response, Value),
        status: StatusCode,
        code: &str,
        request_id: &str,
    ) {
        assert_eq!(response.status(), status);
        assert_eq!(
            response
                .headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.as_bytes()),
            Some(&b"application/problem+json"[..])
        );
        assert_eq!(problem["code"], code);
        assert_eq!(problem["request_id"], request_id);
        assert_eq!(echoed_id(&response), request_id);
    }

    #[tokio::test]
    async fn a_valid_client_request_id_is_echoed_and_a_missing_one_generated() {
        let dir = tempfile::tempdir().expect("dir");
        let pipeline = pipeline(&dir).await;
        let (response, _) = send(pipeline.clone(), "/ok", Some("client-chosen-id-1")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(echoed_id(&response), "client-chosen-id-1");
        let (response, _) = send(pipeline, "/ok", None).await;
        assert!(RequestId::parse(echoed_id(&response)).is_ok());
        assert_ne!(echoed_id(&response), "client-chosen-id-1");
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_a_500_problem_carrying_the_request_id() {
        let dir = tempfile::tempdir().expect("dir");
        assert_problem(
            send(pipeline(&dir).await, "/panic", Some("panic-request-1")).await,
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "panic-request-1",
        );
    }

    #[tokio::test]
    async fn a_request_past_the_timeout_answers_503_unavailable() {
        let dir = tempfile::tempdir().expect("dir");
        assert_problem(
            send(pipeline(&dir).await, "/slow", Some("slow-request-1")).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "slow-request-1",
        );
    }

    #[tokio::test]
    async fn an_http_1_1_request_without_host_answers_400_naming_the_header() {
        let dir = tempfile::tempdir().expect("dir");
        let request = Request::builder()
            .uri("/ok")
            .header(REQUEST_ID_HEADER, "no-host-1")
            .body(Body::empty())
            .expect("request");
        let response = pipeline(&dir)
            .await
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
        let (parts, body) = response.into_parts();
        let bytes = to_bytes(body, usize::MAX).await.expect("body");
        let problem: Value = serde_json::from_slice(&bytes).expect("json");
        assert_problem(
            (
                Response::from_parts(parts, Body::from(bytes)),
                problem.clone(),
            ),
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            "no-host-1",
        );
        assert_eq!(problem["errors"][0]["path"], "/Host");
    }
}
