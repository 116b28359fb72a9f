//! The REST API: routes under `/v1`, middleware, extractors, and the mapping of errors to
//! HTTP. Handlers are thin: extract, build a command, call the application, map to a DTO.

mod answers;
mod audit;
mod collections;
mod dispatch;
mod documents;
mod dto;
mod extract;
mod health;
mod history;
mod host;
mod idempotency;
mod log;
mod pipeline;
mod precondition;
mod problem;
mod proof;
mod query;
mod request_id;
mod write_gate;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::response::{IntoResponse, Response};
use storage_app::StorageApp;
use tower::Service;

pub use health::CommitState;
pub use problem::ApiError;
pub use write_gate::WriteGate;

/// What every handler can reach: the application and the process's lifecycle flags.
///
/// Every request clones the state (twice, with the middleware), so it is one shared pointer:
/// cloning the parts themselves cost a dozen atomic counter updates per request.
#[derive(Clone)]
pub struct AppState(Arc<Parts>);

/// What [`AppState`] shares.
struct Parts {
    /// The application over the backend's ports, which keep the backend (and the embedded
    /// store's data-folder lock) alive as long as the server.
    storage: StorageApp,
    shutting_down: Arc<AtomicBool>,
    request_timeout: Duration,
    in_flight: Arc<idempotency::InFlightKeys>,
    /// The verifiable log's read side.
    log: audit_app::LogQueries,
    /// Whether the store's commits fail, for `/readyz`.
    commits: Arc<dyn CommitState>,
    /// Closed when the log cannot sign what writes would add (see [`WriteGate`]).
    writes: WriteGate,
}

impl AppState {
    /// State over a wired application and its log; `commits` tells `/readyz` whether the
    /// backend's commits fail.
    pub fn new(
        storage: StorageApp,
        log: audit_app::LogQueries,
        commits: Arc<dyn CommitState>,
        request_timeout: Duration,
    ) -> Self {
        Self(Arc::new(Parts {
            storage,
            shutting_down: Arc::new(AtomicBool::new(false)),
            request_timeout,
            in_flight: Arc::default(),
            log,
            commits,
            writes: WriteGate::default(),
        }))
    }

    /// The longest a request may take before it is answered 503.
    fn request_timeout(&self) -> Duration {
        self.0.request_timeout
    }

    /// The application.
    pub fn storage(&self) -> &StorageApp {
        &self.0.storage
    }

    /// The verifiable log's read side.
    pub fn log(&self) -> &audit_app::LogQueries {
        &self.0.log
    }

    /// The gate the log closes when writes must stop (see [`WriteGate`]).
    pub fn write_gate(&self) -> &WriteGate {
        &self.0.writes
    }

    /// Marks the process as shutting down: `/readyz` answers 503 from now on.
    pub fn begin_shutdown(&self) {
        self.0.shutting_down.store(true, Ordering::SeqCst);
    }

    fn is_shutting_down(&self) -> bool {
        self.0.shutting_down.load(Ordering::SeqCst)
    }

    fn commits(&self) -> &dyn CommitState {
        &*self.0.commits
    }
}

/// The whole application: the routes inside their middleware ([`pipeline`]), from outside
/// in: request context (request id, trace span, echoed header) → panic catcher → timeout →
/// idempotency keys → routes.
///
/// The middleware wraps the router once, rather than through `Router::layer`, which wraps
/// every route in its own copy of the stack: the router then clones a route's boxed stack for
/// each request it serves, a tenth of the instructions of a read by id. Wrapped from outside,
/// a request clones two handles (reference counts) and the router boxes only the handler.
/// Every request still passes the whole middleware, fallbacks (404, 405) included.
pub fn router(
    state: AppState,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send + Unpin + 'static>
+ Clone
+ Send
+ Sync
+ 'static {
    let routes = Router::new()
        .merge(health::routes())
        .merge(collections::routes())
        .merge(documents::routes())
        .merge(history::routes())
        .merge(log::routes())
        .merge(proof::routes())
        .merge(query::routes())
        .merge(audit::routes())
        .fallback(problem::route_not_found)
        .method_not_allowed_fallback(problem::method_not_allowed)
        // Bodies are read by our extractors, which enforce the configured limit themselves.
        .layer(DefaultBodyLimit::disable())
        .with_state(state.clone());
    pipeline::Pipeline::new(state, routes)
}

/// What every request on a connection refused at the connection cap is answered: 503
/// `UNAVAILABLE` with `Retry-After`, through the same middleware (request id, problem body).
pub fn over_capacity(
    state: AppState,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ Sync
+ 'static {
    let routes = Router::new().fallback(|| async {
        let mut response = ApiError(shared_kernel::Error::unavailable(
            "the server is at its connection limit and no connection is idle; try again shortly",
            std::io::Error::other("max_connections reached"),
        ))
        .into_response();
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
        response
    });
    pipeline::Pipeline::new(state, routes)
}
