//! The write gate: closed when the log cannot sign what writes would add, so the store stops
//! taking changes while reads and proofs go on.
//!
//! The log's signer closes it (see `log_worker.rs`) when the database is older than the last
//! checkpoint signed (`LOG_ROLLED_BACK`): a write would add an audit entry the log could
//! never sign without contradicting a checkpoint clients may hold. Every request that could
//! change data is then answered 503 `LOG_ROLLED_BACK`, naming the last signed size; reads,
//! queries (a `POST .../documents/query` changes nothing) and log proofs are served as
//! before. Only a restart with the data put back, or a successor log, opens it again.

use std::sync::{Arc, OnceLock};

use axum::http::Method;
use shared_kernel::{Error, ErrorCode};

/// Why writes are refused, once they are.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    detail: String,
    signed_tree_size: u64,
    tree_size: u64,
}

/// Shared by every serving thread and the log's sequencer; open until closed, once.
#[derive(Debug, Clone, Default)]
pub struct WriteGate(Arc<OnceLock<Refusal>>);

impl WriteGate {
    /// Refuses writes from now on, for the reason `error` gives (its detail and its
    /// `signed_tree_size` and `tree_size` details).
    pub fn close(&self, error: &Error) {
        let size = |name: &str| {
            error
                .details()
                .get(name)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        };
        let _first_reason_kept = self.0.set(Refusal {
            detail: error.detail().to_owned(),
            signed_tree_size: size("signed_tree_size"),
            tree_size: size("tree_size"),
        });
    }

    /// Whether writes are refused.
    pub fn is_closed(&self) -> bool {
        self.0.get().is_some()
    }

    /// `Ok` when a request of `method` on `path` may go on; the refusal otherwise.
    ///
    /// # Errors
    /// `LOG_ROLLED_BACK` for a request that could change data while the gate is closed.
    pub fn admit(&self, method: &Method, path: &str) -> Result<(), Error> {
        let Some(refusal) = self.0.get() else {
            return Ok(());
        };
        if changes_nothing(method, path) {
            return Ok(());
        }
        Err(Error::new(ErrorCode::LogRolledBack, refusal.detail.clone())
            .with_detail("signed_tree_size", refusal.signed_tree_size)
            .with_detail("tree_size", refusal.tree_size))
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
                Some(ErrorCode::LogRolledBack),
                "{method} {path}"
            );
            let details = refused.map(|e| e.details().clone()).unwrap_or_default();
            assert_eq!(details.get("signed_tree_size"), Some(&250.into()));
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
