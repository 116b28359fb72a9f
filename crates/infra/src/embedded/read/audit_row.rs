//! One stored audit row as the listings read it, checked against its own leaf hash (so an
//! edit made to the file behind the store's back surfaces as an error, not as history).

use audit_domain::LoggedAuditEntry;
use audit_domain::merkle::Hash;
use audit_domain::succession::LogEntry;
use shared_kernel::{Error, Position};

use crate::embedded::error::corrupt;
use crate::embedded::rows::from_sql_integer;

/// The columns every listing selects, in [`AuditRow::read`]'s order.
macro_rules! audit_row_columns {
    () => {
        "seq, leaf, leaf_hash, leaf_index, patch"
    };
}
pub(crate) use audit_row_columns;

/// One stored audit row.
pub(crate) struct AuditRow {
    /// The store's own commit order (internal: never handed out as a number clients count).
    pub(crate) seq: u64,
    pub(crate) leaf_index: Option<u64>,
    leaf: Vec<u8>,
    leaf_hash: Vec<u8>,
    patch: Option<String>,
}

impl AuditRow {
    /// Reads the columns of [`audit_row_columns`].
    pub(crate) fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawAuditRow> {
        Ok(RawAuditRow {
            seq: row.get(0)?,
            leaf: row.get(1)?,
            leaf_hash: row.get(2)?,
            leaf_index: row.get(3)?,
            patch: row.get(4)?,
        })
    }

    /// The checked entry, listed at `position`.
    pub(crate) fn into_domain(self, position: Position) -> Result<LoggedAuditEntry, Error> {
        let entry =
            LogEntry::from_leaf_bytes(&self.leaf).map_err(|e| corrupt("audit entry leaf", e))?;
        let leaf_hash =
            Hash::try_from(self.leaf_hash.as_slice()).map_err(|e| corrupt("audit leaf hash", e))?;
        if entry.leaf_hash() != leaf_hash {
            return Err(corrupt(
                "audit leaf hash",
                format!("entry {} does not match its leaf hash", entry.id()),
            ));
        }
        let patch = self
            .patch
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| corrupt("audit patch", e))?;
        Ok(LoggedAuditEntry {
            position,
            entry,
            leaf_hash,
            leaf_index: self.leaf_index,
            patch,
        })
    }
}

/// A row as SQLite gave it, before its integers are checked.
pub(crate) struct RawAuditRow {
    seq: i64,
    leaf: Vec<u8>,
    leaf_hash: Vec<u8>,
    leaf_index: Option<i64>,
    patch: Option<String>,
}

impl RawAuditRow {
    /// Checks the integers.
    pub(crate) fn checked(self) -> Result<AuditRow, Error> {
        Ok(AuditRow {
            seq: from_sql_integer(self.seq, "audit sequence")?,
            leaf_index: self
                .leaf_index
                .map(|i| from_sql_integer(i, "leaf index"))
                .transpose()?,
            leaf: self.leaf,
            leaf_hash: self.leaf_hash,
            patch: self.patch,
        })
    }
}
