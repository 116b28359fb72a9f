//! The auditor's view of an embedded store: [`audit_app::auditor::AuditSource`] over the
//! SQLite file, opened **read-only and without the folder lock**, so a stopped store, a copy
//! of one, or a store a running server holds can all be audited without a write to the
//! database (SQLite may still create its `-wal`/`-shm` side files, which WAL reads need).
//!
//! Every page is read inside one read transaction, so the whole audit sees one snapshot
//! (WAL keeps it stable while a server goes on writing beside it). Pages are keyset pages over
//! primary keys and unique indexes: a store of millions of rows is walked in bounded memory.

use std::path::{Path, PathBuf};

use audit_app::auditor::{
    AuditSource, CheckpointRow, DocumentKey, DocumentRow, EntryRow, LatestRevision, LinkedEntry,
    LogStateRow, RevisionKey, RevisionRow,
};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row, params};
use shared_kernel::{Error, ErrorCode, Position};

use crate::embedded::connection::open_reader;
use crate::embedded::error::storage_error;
use crate::embedded::folder::DATABASE_FILE_NAME;
use crate::embedded::migrations::latest_version;
use crate::embedded::rows::{from_sql_integer, to_sql_integer};

/// The first schema version that has the log's tables.
const LOG_SCHEMA_VERSION: i64 = 4;

/// A read-only snapshot of one store's database file.
pub struct AuditReader {
    connection: Connection,
    path: PathBuf,
}

impl AuditReader {
    /// Opens `<data_dir>/offchain.db` read-only and starts the snapshot.
    ///
    /// # Errors
    /// `UNAVAILABLE` when there is no database file or it cannot be opened or read;
    /// `INVALID_INPUT` when it is not an Offchain DB store this build can audit.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        let path = data_dir.join(DATABASE_FILE_NAME);
        if !path.is_file() {
            return Err(Error::new(
                ErrorCode::Unavailable,
                format!("there is no store database at `{}`", path.display()),
            ));
        }
        let connection = open_reader(&path)?;
        let version: i64 = connection
            .pragma_update(None, "query_only", true)
            .and_then(|()| connection.pragma_query_value(None, "user_version", |row| row.get(0)))
            .map_err(|e| storage_error("reading the schema version", e))?;
        if !(LOG_SCHEMA_VERSION..=latest_version()).contains(&version) {
            return Err(Error::invalid_input(format!(
                "`{}` is at schema version {version}; this build audits versions \
                 {LOG_SCHEMA_VERSION} to {}",
                path.display(),
                latest_version()
            )));
        }
        // One read transaction for the whole audit: every page comes from one snapshot.
        connection
            .execute_batch("BEGIN DEFERRED; SELECT 1 FROM log_state LIMIT 1;")
            .map_err(|e| storage_error("starting the read snapshot", e))?;
        Ok(Self { connection, path })
    }

    /// The database file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection holding the snapshot, for the table queries (`tables.rs`).
    pub(crate) fn connection(&self) -> &Connection {
        &self.connection
    }

    pub(crate) fn query<T>(
        &self,
        action: &str,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl Fn(&Row<'_>) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        let mut statement = self
            .connection
            .prepare_cached(sql)
            .map_err(|e| storage_error(action, e))?;
        let mut rows = statement
            .query(params)
            .map_err(|e| storage_error(action, e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| storage_error(action, e))? {
            out.push(map(row)?);
        }
        Ok(out)
    }
}

/// A column read failure: the row is not even of the declared types.
pub(crate) fn column<T: rusqlite::types::FromSql>(row: &Row<'_>, index: usize) -> Result<T, Error> {
    row.get(index)
        .map_err(|e| storage_error("reading a column", e))
}

pub(crate) fn unsigned(row: &Row<'_>, index: usize, what: &str) -> Result<u64, Error> {
    from_sql_integer(column(row, index)?, what)
}

fn optional_unsigned(row: &Row<'_>, index: usize, what: &str) -> Result<Option<u64>, Error> {
    column::<Option<i64>>(row, index)?
        .map(|v| from_sql_integer(v, what))
        .transpose()
}

/// Bytes of a BLOB or TEXT column (a tamperer may have stored either); empty for NULL.
pub(crate) fn bytes(row: &Row<'_>, index: usize) -> Result<Vec<u8>, Error> {
    match row
        .get_ref(index)
        .map_err(|e| storage_error("reading a column", e))?
    {
        ValueRef::Blob(b) | ValueRef::Text(b) => Ok(b.to_vec()),
        ValueRef::Null | ValueRef::Integer(_) | ValueRef::Real(_) => Ok(Vec::new()),
    }
}

/// The seq a position of this store names (its positions are seqs), 0 for the start.
///
/// # Errors
/// `INVALID_INPUT` for a position this store did not make.
pub(crate) fn seq_after(after: Option<&Position>) -> Result<u64, Error> {
    match after {
        Some(position) => Ok(position.numbers(1)?[0]),
        None => Ok(0),
    }
}

fn after_or_start(after: Option<u64>) -> Result<i64, Error> {
    after.map_or(Ok(-1), |a| to_sql_integer(a, "position"))
}

pub(crate) fn limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

const ENTRY_COLUMNS: &str = "e.seq, e.id, e.at, e.actor, e.operation, e.collection, \
    e.collection_id, e.document_id, e.version, e.leaf, e.leaf_hash, e.patch, e.leaf_index, \
    r.audit_id \
    FROM audit_entries e LEFT JOIN revisions r ON r.collection_id = e.collection_id \
    AND r.document_id = e.document_id AND r.version = e.version";

fn entry_row(row: &Row<'_>) -> Result<EntryRow, Error> {
    let seq = unsigned(row, 0, "audit entry seq")?;
    Ok(EntryRow {
        // The embedded store's listings resume after a seq (its one writer commits in seq
        // order), so a row's position is its seq.
        position: Position::from_numbers(&[seq]),
        id: column(row, 1)?,
        at_millis: column(row, 2)?,
        actor: column(row, 3)?,
        operation: column(row, 4)?,
        collection: column(row, 5)?,
        collection_id: column(row, 6)?,
        document_id: column(row, 7)?,
        version: optional_unsigned(row, 8, "audit entry version")?,
        leaf: bytes(row, 9)?,
        leaf_hash: bytes(row, 10)?,
        patch: column(row, 11)?,
        leaf_index: optional_unsigned(row, 12, "leaf index")?,
        revision_audit_id: column(row, 13)?,
    })
}

/// Column 12 says whether the revision's data is the document row's (see `RevisionRow` in
/// `write/repositories/documents.rs`).
const REVISION_COLUMNS: &str = "r.collection_id, r.document_id, r.version, r.operation, r.data, \
    r.content_hash, r.audit_id, e.seq, e.leaf, e.patch, r.at, r.actor, \
    r.data IS NULL AND EXISTS (SELECT 1 FROM documents d WHERE d.collection_id = r.collection_id \
      AND d.id = r.document_id AND d.version = r.version AND d.data IS NOT NULL) \
    FROM revisions r LEFT JOIN audit_entries e ON e.id = r.audit_id";

fn revision_row(row: &Row<'_>) -> Result<RevisionRow, Error> {
    // The entry's seq, read only to tell a stored entry from none.
    let entry = match optional_unsigned(row, 7, "audit entry seq")? {
        Some(_) => Some(LinkedEntry {
            leaf: bytes(row, 8)?,
            patch: column(row, 9)?,
        }),
        None => None,
    };
    Ok(RevisionRow {
        key: RevisionKey {
            collection_id: column(row, 0)?,
            document_id: column(row, 1)?,
            version: unsigned(row, 2, "revision version")?,
        },
        operation: column(row, 3)?,
        data: column(row, 4)?,
        data_in_document: column(row, 12)?,
        content_hash: column(row, 5)?,
        at_millis: column(row, 10)?,
        actor: column(row, 11)?,
        audit_id: column(row, 6)?,
        entry,
    })
}

const DOCUMENT_COLUMNS: &str = "d.collection_id, d.id, d.version, d.data, d.content_hash, \
    d.audit_id, r.version, r.content_hash, r.audit_id \
    FROM documents d LEFT JOIN revisions r ON r.collection_id = d.collection_id \
    AND r.document_id = d.id AND r.version = (SELECT MAX(m.version) FROM revisions m \
    WHERE m.collection_id = d.collection_id AND m.document_id = d.id)";

fn document_row(row: &Row<'_>) -> Result<DocumentRow, Error> {
    let latest = match optional_unsigned(row, 6, "revision version")? {
        Some(version) => Some(LatestRevision {
            version,
            content_hash: column(row, 7)?,
            audit_id: column(row, 8)?,
        }),
        None => None,
    };
    Ok(DocumentRow {
        key: DocumentKey {
            collection_id: column(row, 0)?,
            document_id: column(row, 1)?,
        },
        version: unsigned(row, 2, "document version")?,
        data: column(row, 3)?,
        content_hash: column(row, 4)?,
        audit_id: column(row, 5)?,
        latest,
    })
}

impl AuditSource for AuditReader {
    fn log_state(&self) -> Result<Option<LogStateRow>, Error> {
        self.connection
            .query_row(
                "SELECT tree_size, root FROM log_state WHERE id = 1",
                [],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?)),
            )
            .optional()
            .map_err(|e| storage_error("reading the log head", e))?
            .map(|(size, root)| {
                Ok(LogStateRow {
                    tree_size: from_sql_integer(size, "tree size")?,
                    root,
                })
            })
            .transpose()
    }

    fn checkpoints(
        &self,
        after_size: Option<u64>,
        page: usize,
    ) -> Result<Vec<CheckpointRow>, Error> {
        self.query(
            "reading checkpoints",
            "SELECT tree_size, root, note FROM checkpoints WHERE tree_size > ?1 \
             ORDER BY tree_size LIMIT ?2",
            params![after_or_start(after_size)?, limit(page)],
            |row| {
                Ok(CheckpointRow {
                    tree_size: unsigned(row, 0, "checkpoint size")?,
                    root: bytes(row, 1)?,
                    note: column(row, 2)?,
                })
            },
        )
    }

    fn sequenced_entries(
        &self,
        after_index: Option<u64>,
        page: usize,
    ) -> Result<Vec<EntryRow>, Error> {
        self.query(
            "reading sequenced audit entries",
            &format!(
                "SELECT {ENTRY_COLUMNS} WHERE e.leaf_index > ?1 ORDER BY e.leaf_index LIMIT ?2"
            ),
            params![after_or_start(after_index)?, limit(page)],
            entry_row,
        )
    }

    fn pending_entries(
        &self,
        after: Option<&Position>,
        page: usize,
    ) -> Result<Vec<EntryRow>, Error> {
        let after_seq = seq_after(after)?;
        self.query(
            "reading audit entries not yet in the log",
            &format!(
                "SELECT {ENTRY_COLUMNS} WHERE e.leaf_index IS NULL AND e.seq > ?1 \
                 ORDER BY e.seq LIMIT ?2"
            ),
            params![to_sql_integer(after_seq, "seq")?, limit(page)],
            entry_row,
        )
    }

    fn log_hashes(&self, from: u64, page: usize) -> Result<Vec<(u64, Vec<u8>)>, Error> {
        self.query(
            "reading stored tree hashes",
            "SELECT idx, hash FROM log_hashes WHERE idx >= ?1 ORDER BY idx LIMIT ?2",
            params![to_sql_integer(from, "position")?, limit(page)],
            |row| Ok((unsigned(row, 0, "stored hash position")?, bytes(row, 1)?)),
        )
    }

    fn revisions(
        &self,
        after: Option<&RevisionKey>,
        page: usize,
    ) -> Result<Vec<RevisionRow>, Error> {
        match after {
            None => self.query(
                "reading revisions",
                &format!(
                    "SELECT {REVISION_COLUMNS} \
                     ORDER BY r.collection_id, r.document_id, r.version LIMIT ?1"
                ),
                params![limit(page)],
                revision_row,
            ),
            Some(key) => self.query(
                "reading revisions",
                &format!(
                    "SELECT {REVISION_COLUMNS} \
                     WHERE (r.collection_id, r.document_id, r.version) > (?1, ?2, ?3) \
                     ORDER BY r.collection_id, r.document_id, r.version LIMIT ?4"
                ),
                params![
                    key.collection_id,
                    key.document_id,
                    to_sql_integer(key.version, "version")?,
                    limit(page)
                ],
                revision_row,
            ),
        }
    }

    fn documents(
        &self,
        after: Option<&DocumentKey>,
        page: usize,
    ) -> Result<Vec<DocumentRow>, Error> {
        match after {
            None => self.query(
                "reading documents",
                &format!("SELECT {DOCUMENT_COLUMNS} ORDER BY d.collection_id, d.id LIMIT ?1"),
                params![limit(page)],
                document_row,
            ),
            Some(key) => self.query(
                "reading documents",
                &format!(
                    "SELECT {DOCUMENT_COLUMNS} WHERE (d.collection_id, d.id) > (?1, ?2) \
                     ORDER BY d.collection_id, d.id LIMIT ?3"
                ),
                params![key.collection_id, key.document_id, limit(page)],
                document_row,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::{EmbeddedOptions, EmbeddedStore};

    #[test]
    fn a_store_is_read_beside_the_open_store_that_holds_its_lock() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let reader = AuditReader::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let head = reader.log_state().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(head.map(|h| h.tree_size), Some(0));
        assert_eq!(
            reader.sequenced_entries(None, 10).map(|r| r.len()).ok(),
            Some(0)
        );
        assert_eq!(reader.revisions(None, 10).map(|r| r.len()).ok(), Some(0));
        drop(store);
    }

    #[test]
    fn a_folder_without_a_store_or_with_another_database_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let missing = AuditReader::open(dir.path()).err().map(|e| e.code());
        assert_eq!(missing, Some(ErrorCode::Unavailable));
        let other = Connection::open(dir.path().join(DATABASE_FILE_NAME))
            .and_then(|c| c.execute_batch("CREATE TABLE t (x INTEGER);"));
        assert!(other.is_ok());
        let foreign = AuditReader::open(dir.path()).err().map(|e| e.code());
        assert_eq!(foreign, Some(ErrorCode::InvalidInput));
    }
}
