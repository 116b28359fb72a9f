//! The write gate: closed when the log cannot sign what writes would add, so the store stops
//! taking changes while reads and proofs go on.
//!
//! The log's signer closes it (see `log_worker.rs`) when the database is older than the last
//! checkpoint signed: a write would add an audit entry the log could never sign without
//! contradicting a checkpoint clients may hold. Every request that could change data is then
//! answered 503 `UNAVAILABLE`, the contract's code for storage that cannot serve (API.md
//! "Errors"; clients branch on `code`), whose `detail` names the last signed size and the two
//! ways out, with RFC 9457 extension members `reason: "log_rolled_back"`, `last_signed_size`
//! and `database_size`. No `Retry-After`: retrying does not help, only an operator does (the
//! contract asks for it over a concurrency cap, not here). Reads, queries (a
//! `POST .../documents/query` changes nothing) and log proofs are served as before. Only a
//! restart with the data put back, or a successor log, opens it again.

use std::sync::{Arc, OnceLock};

use axum::http::Method;
use serde_json::{Map, Value};
use shared_kernel::{Error, ErrorCode};

/// Why writes are refused, once they are.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    detail: String,
    /// `reason`, `last_signed_size`, `database_size`.
    extensions: Map<String, Value>,
}

/// Shared by every serving thread and the log's sequencer; open until closed, once.
#[derive(Debug, Clone, Default)]
pub struct WriteGate(Arc<OnceLock<Refusal>>);

impl WriteGate {
    /// Refuses writes from now on, for the reason `error` gives (the signer's refusal, see
    /// `audit_app::signer::rolled_back`: its detail and its extension members).
    pub fn close(&self, error: &Error) {
        let _first_reason_kept = self.0.set(Refusal {
            detail: error.detail().to_owned(),
            extensions: error.extensions().clone(),
        });
    }

    /// Whether writes are refused.
    pub fn is_closed(&self) -> bool {
        self.0.get().is_some()
    }

    /// `Ok` when a request of `method` on `path` may go on; the refusal otherwise.
    ///
    /// # Errors
    /// `UNAVAILABLE` (reason `log_rolled_back`) for a request that could change data while
    /// the gate is closed.
    pub fn admit(&self, method: &Method, path: &str) -> Result<(), Error> {
        let Some(refusal) = self.0.get() else {
            return Ok(());
        };
        if changes_nothing(method, path) {
            return Ok(());
        }
        Err(refusal.extensions.iter().fold(
            Error::new(ErrorCode::Unavailable, refusal.detail.clone()),
            |error, (name, value)| error.with_extension(name.clone(), value.clone()),
        ))
    }
}

/// Reads, and the one POST that only reads (a query).
fn changes_nothing(method: &Method, path: &str) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || (*method == Method::POST && path.ends_with("/documents/query"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_gate_refuses_changes_with_the_signed_size_and_admits_reads() {
        let gate = WriteGate::default();
        assert!(gate.admit(&Method::POST, "/v1/collections").is_ok());
        gate.close(&audit_app::signer::rolled_back(250, 100));
        assert!(gate.is_closed());
        for (method, path) in [
            (Method::POST, "/v1/collections/people/documents"),
            (Method::PUT, "/v1/collections/people/documents/a"),
            (Method::PATCH, "/v1/collections/people/documents/a"),
            (Method::DELETE, "/v1/collections/people"),
        ] {
            let refused = gate.admit(&method, path).err();
            assert_eq!(
                refused.as_ref().map(Error::code),
                Some(ErrorCode::Unavailable),
                "{method} {path}"
            );
            let detail = refused.as_ref().map(Error::detail).unwrap_or_default();
            assert!(detail.contains("size 250"), "{detail}");
            assert!(detail.contains("offchain-db log succeed"), "{detail}");
            let members = refused.map(|e| e.extensions().clone()).unwrap_or_default();
            assert_eq!(members.get("reason"), Some(&"log_rolled_back".into()));
            assert_eq!(members.get("last_signed_size"), Some(&250.into()));
            assert_eq!(members.get("database_size"), Some(&100.into()));
        }
        for (method, path) in [
            (Method::GET, "/v1/collections/people/documents/a"),
            (Method::GET, "/v1/log/checkpoint"),
            (Method::POST, "/v1/collections/people/documents/query"),
        ] {
            assert!(gate.admit(&method, path).is_ok(), "{method} {path}");
        }
    }
}
