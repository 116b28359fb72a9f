//! The checks only the embedded store can make ([`audit_app::auditor::BackendChecks`] for
//! [`AuditReader`]): its one writer hands out commit sequences (`seq`, SQLite's
//! `AUTOINCREMENT`) in commit order and never skips one (a rolled-back write rolls the counter
//! in `sqlite_sequence` back too), so every number from 1 to the counter is stored, and a gap
//! is a deleted entry, even a pending one the log never saw.

use audit_app::auditor::{BackendChecks, COMMIT_SEQUENCE, Finding, check_gap_free_sequence};
use rusqlite::{OptionalExtension, params};
use shared_kernel::Error;

use super::reader::{AuditReader, limit, unsigned};
use crate::embedded::error::storage_error;
use crate::embedded::rows::{from_sql_integer, to_sql_integer};

impl BackendChecks for AuditReader {
    fn check_backend(&self, report: &mut dyn FnMut(Finding)) -> Result<Vec<String>, Error> {
        check_gap_free_sequence(
            |after_seq, page| self.commit_seqs(after_seq, page),
            || self.allocated_seq(),
            report,
        )?;
        Ok(vec![COMMIT_SEQUENCE.to_owned()])
    }
}

impl AuditReader {
    /// The commit sequences of the stored audit entries after `after_seq`, increasing.
    fn commit_seqs(&self, after_seq: u64, page: usize) -> Result<Vec<u64>, Error> {
        self.query(
            "reading the commit sequence",
            "SELECT seq FROM audit_entries WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            params![to_sql_integer(after_seq, "seq")?, limit(page)],
            |row| unsigned(row, 0, "audit entry seq"),
        )
    }

    /// The last commit sequence handed out: SQLite's `AUTOINCREMENT` counter, `None` before
    /// the first entry.
    fn allocated_seq(&self) -> Result<Option<u64>, Error> {
        let allocated: Option<i64> = self
            .connection()
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'audit_entries'",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| storage_error("reading the commit sequence counter", e))?;
        allocated
            .map(|seq| from_sql_integer(seq, "commit sequence counter"))
            .transpose()
    }
}
