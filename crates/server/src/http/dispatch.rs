//! Handing a request to the routes, for the pipeline and for the `Idempotency-Key` handling
//! inside it.

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use tower::Service;

/// The routes' answer to `request`.
pub async fn call_routes(mut routes: Router, request: Request) -> Response {
    match routes.call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
