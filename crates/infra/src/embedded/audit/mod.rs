//! The auditor's view of a store: a read-only snapshot of the file, opened without the
//! folder lock so that a running server's store (or a copy of it) can be audited.
//!
//! `reader.rs` opens the file and serves the log's pages (`AuditSource`); `tables.rs` serves
//! the other tables the auditor checks against the entries (`TableSource`); `own_checks.rs`
//! runs the checks only this store can make (`BackendChecks`: no gap in the commit
//! sequence). Nothing here writes, and nothing here is used by the serving store.

mod own_checks;
mod reader;
mod tables;

pub use self::reader::AuditReader;
