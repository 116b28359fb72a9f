//! The checks only the embedded store can make ([`audit_app::auditor::BackendChecks`] for
//! [`AuditReader`]): its one writer hands out commit sequences (`seq`, SQLite's
//! `AUTOINCREMENT`) in commit order and never skips one (a rolled-back write rolls the counter
//! in `sqlite_sequence` back too), so every number from 1 to the counter is stored, and a gap
//! is a deleted entry, even a pending one the log never saw; and its sequencer takes pending
//! entries in `seq` order, so the log, the head's `last_seq` and each document's versions
//! follow the sequence ([`check_commit_order`]).

use audit_app::auditor::{
    BackendChecks, COMMIT_SEQUENCE, CommitOrderSource, Finding, RevisionKey, SeqEntry,
    check_commit_order, check_gap_free_sequence,
};
use rusqlite::{OptionalExtension, Row, params};
use shared_kernel::Error;

use super::reader::{AuditReader, column, limit, unsigned};
use crate::embedded::error::storage_error;
use crate::embedded::rows::{from_sql_integer, to_sql_integer};

impl BackendChecks for AuditReader {
    fn check_backend(&self, report: &mut dyn FnMut(Finding)) -> Result<Vec<String>, Error> {
        check_gap_free_sequence(
            |after_seq, page| self.commit_seqs(after_seq, page),
            || self.allocated_seq(),
            report,
        )?;
        check_commit_order(self, report)?;
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

/// `seq, leaf_index, id` of an audit entry.
fn seq_entry(row: &Row<'_>) -> Result<SeqEntry, Error> {
    Ok(SeqEntry {
        seq: unsigned(row, 0, "audit entry seq")?,
        leaf_index: column::<Option<i64>>(row, 1)?
            .map(|index| from_sql_integer(index, "leaf index"))
            .transpose()?,
        id: column(row, 2)?,
    })
}

impl CommitOrderSource for AuditReader {
    fn head_last_seq(&self) -> Result<Option<(u64, u64)>, Error> {
        let head: Option<(i64, i64)> = self
            .connection()
            .query_row(
                "SELECT tree_size, last_seq FROM log_state WHERE id = 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(|e| storage_error("reading the log head", e))?;
        head.map(|(size, last_seq)| {
            Ok((
                from_sql_integer(size, "tree size")?,
                from_sql_integer(last_seq, "last_seq")?,
            ))
        })
        .transpose()
    }

    fn sequenced_seqs(
        &self,
        after_index: Option<u64>,
        page: usize,
    ) -> Result<Vec<SeqEntry>, Error> {
        let after = after_index.map_or(Ok(-1), |a| to_sql_integer(a, "leaf index"))?;
        self.query(
            "reading the log's commit sequences",
            "SELECT seq, leaf_index, id FROM audit_entries WHERE leaf_index > ?1 \
             ORDER BY leaf_index LIMIT ?2",
            params![after, limit(page)],
            seq_entry,
        )
    }

    fn unsequenced_up_to(
        &self,
        at_most: u64,
        after_seq: u64,
        page: usize,
    ) -> Result<Vec<SeqEntry>, Error> {
        self.query(
            "reading unsequenced commit sequences",
            "SELECT seq, leaf_index, id FROM audit_entries WHERE leaf_index IS NULL \
             AND seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
            params![
                to_sql_integer(after_seq, "seq")?,
                to_sql_integer(at_most, "seq")?,
                limit(page)
            ],
            seq_entry,
        )
    }

    fn revision_seqs(
        &self,
        after: Option<&RevisionKey>,
        page: usize,
    ) -> Result<Vec<(RevisionKey, Option<u64>)>, Error> {
        let start = RevisionKey {
            collection_id: String::new(),
            document_id: String::new(),
            version: 0,
        };
        let after = after.unwrap_or(&start);
        self.query(
            "reading the commit sequences of revisions",
            "SELECT r.collection_id, r.document_id, r.version, e.seq \
             FROM revisions r LEFT JOIN audit_entries e ON e.id = r.audit_id \
             WHERE (r.collection_id, r.document_id, r.version) > (?1, ?2, ?3) \
             ORDER BY r.collection_id, r.document_id, r.version LIMIT ?4",
            params![
                after.collection_id,
                after.document_id,
                to_sql_integer(after.version, "version")?,
                limit(page)
            ],
            |row| {
                let key = RevisionKey {
                    collection_id: column(row, 0)?,
                    document_id: column(row, 1)?,
                    version: unsigned(row, 2, "revision version")?,
                };
                let seq = column::<Option<i64>>(row, 3)?
                    .map(|seq| from_sql_integer(seq, "audit entry seq"))
                    .transpose()?;
                Ok((key, seq))
            },
        )
    }
}
