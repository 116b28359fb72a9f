//! The request id of the request a task is serving, set by the pipeline around each request
//! so that error bodies built deep inside (`problem.rs`) can name it.

use shared_kernel::RequestId;

tokio::task_local! {
    /// The request id of the request being served, for error bodies built deep inside.
    pub(super) static REQUEST_ID: RequestId;
}

/// The request id of the request this task is serving (empty outside a request).
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(|id| id.as_str().to_owned())
        .unwrap_or_default()
}
