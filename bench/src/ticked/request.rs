//! What the open loop sends: a request described as data, written to a socket by the loop
//! itself.

use std::sync::Arc;

/// What a good answer's body must satisfy beyond its status (the integration delay notes the
/// `audit_id` of each acknowledged write); an error is the request's failure.
pub type AnswerCheck = Arc<dyn Fn(&[u8]) -> Result<(), String> + Send + Sync>;

/// A request described as data, so that the loop can write it to a socket itself.
#[derive(Clone)]
pub struct PlainRequest {
    /// The server's `host:port` (on loopback: the command line checked it).
    pub authority: String,
    /// `GET`, or `POST` with [`PlainRequest::body_for`]'s JSON.
    pub method: Method,
    /// The path (and query) of request `seq`.
    pub path_for: Arc<dyn Fn(u64) -> String + Send + Sync>,
    /// The status of a good answer.
    pub expected: u16,
    /// Called with the body of every answer that has the expected status, warm-up included.
    pub check: Option<AnswerCheck>,
}

/// The methods the loop sends.
#[derive(Clone)]
pub enum Method {
    /// A read: its open-loop tail is set against stolen time (the 2 ms read target's).
    Get,
    /// A write: the JSON body of request `seq`.
    Post(Arc<dyn Fn(u64) -> Vec<u8> + Send + Sync>),
}

impl PlainRequest {
    /// A GET of `path_for(seq)` expecting `expected`.
    pub fn get(
        authority: &str,
        path_for: Arc<dyn Fn(u64) -> String + Send + Sync>,
        expected: u16,
    ) -> Self {
        Self {
            authority: authority.to_owned(),
            method: Method::Get,
            path_for,
            expected,
            check: None,
        }
    }

    /// Whether this is a read (a GET).
    pub fn is_read(&self) -> bool {
        matches!(self.method, Method::Get)
    }

    /// Writes request `seq` into `buffer` (cleared first).
    pub(super) fn write(&self, seq: u64, buffer: &mut Vec<u8>) {
        buffer.clear();
        let body = match &self.method {
            Method::Get => {
                buffer.extend_from_slice(b"GET ");
                None
            }
            Method::Post(body_for) => {
                buffer.extend_from_slice(b"POST ");
                Some(body_for(seq))
            }
        };
        buffer.extend_from_slice((self.path_for)(seq).as_bytes());
        buffer.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        buffer.extend_from_slice(self.authority.as_bytes());
        if let Some(body) = &body {
            buffer.extend_from_slice(b"\r\ncontent-type: application/json\r\ncontent-length: ");
            buffer.extend_from_slice(body.len().to_string().as_bytes());
        }
        buffer.extend_from_slice(b"\r\n\r\n");
        if let Some(body) = body {
            buffer.extend_from_slice(&body);
        }
    }
}
