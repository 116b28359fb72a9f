//! The store-wide audit listing (`GET /v1/audit`) in log order, and its positions.
//!
//! API.md "Lists": sequenced entries by leaf index, then the entries not yet sequenced (here in
//! `seq`, commit, order); a walk never skips an entry committed before it began. A position
//! is two numbers, `(next leaf, after seq)`: the walk has listed every matching entry of the
//! log below `next leaf`, and every matching pending entry up to `after seq`. Each page reads
//! both parts in one snapshot: first the log from `next leaf`, then pending entries after
//! `after seq`.
//!
//! Why nothing is skipped: an entry that was pending when a page read it may be sequenced
//! before the next page. Its leaf index is then at least the tree size at that moment, which
//! is above every leaf the walk has listed, so the next page finds it in the log part: listed
//! twice (pending, then with its leaf index), never missed. The alternative, a cursor that
//! only remembers the pending part, would miss exactly such an entry once the walk had left
//! the log part. An entry that stays pending is found after `after seq`, which moves only over
//! listed entries (on this store a pending entry never gets a `seq` below one already
//! committed: one writer hands them out in commit order). Leaf indexes never change while the
//! server runs (`offchain-db log succeed` renumbers them, offline).

use rusqlite::{Connection, params};
use shared_kernel::{Error, Position};
use storage_app::ports::AuditQuery;

use audit_domain::LoggedAuditEntry;

use super::audit_row::{AuditRow, audit_row_columns};
use crate::embedded::error::{corrupt, storage_error};
use crate::embedded::rows::to_sql_integer;

/// The filter's conditions on parameters `?2` to `?7`. A successor log's `log.succession`
/// entry has collection `''` and document `NULL`, so a collection or document filter never
/// matches it, and its operation is no data operation, so neither does an operation filter.
macro_rules! audit_filter {
    () => {
        "AND (?2 IS NULL OR collection = ?2) AND (?3 IS NULL OR document_id = ?3) \
         AND (?4 IS NULL OR actor = ?4) AND (?5 IS NULL OR operation = ?5) \
         AND (?6 IS NULL OR at >= ?6) AND (?7 IS NULL OR at < ?7)"
    };
}

/// Sequenced entries from leaf `?1`, in leaf order (the `UNIQUE` index on `leaf_index`).
const SEQUENCED: &str = concat!(
    "SELECT ",
    audit_row_columns!(),
    " FROM audit_entries WHERE leaf_index >= ?1 ",
    audit_filter!(),
    " ORDER BY leaf_index LIMIT ?8"
);

/// Pending entries after `seq` `?1`, in commit order (the same index: its `NULL`s come first,
/// in rowid order).
const PENDING: &str = concat!(
    "SELECT ",
    audit_row_columns!(),
    " FROM audit_entries WHERE leaf_index IS NULL AND seq > ?1 ",
    audit_filter!(),
    " ORDER BY seq LIMIT ?8"
);

/// Where a walk stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Walk {
    /// Every matching log entry below this leaf index was listed.
    next_leaf: u64,
    /// Every matching pending entry up to this `seq` was listed.
    after_seq: u64,
}

impl Walk {
    fn parse(position: Option<&Position>) -> Result<Self, Error> {
        let Some(position) = position else {
            return Ok(Self {
                next_leaf: 0,
                after_seq: 0,
            });
        };
        match position.numbers(2)?.as_slice() {
            &[next_leaf, after_seq] => Ok(Self {
                next_leaf,
                after_seq,
            }),
            _ => Err(Error::invalid_field(
                "/cursor",
                "the cursor does not hold a position",
            )),
        }
    }

    fn position(self) -> Position {
        Position::from_numbers(&[self.next_leaf, self.after_seq])
    }
}

/// Audit entries matching `filter` after `after`, in log order, at most `limit`.
pub(crate) fn select_audit_entries(
    connection: &Connection,
    filter: &AuditQuery,
    after: Option<&Position>,
    limit: u32,
) -> Result<Vec<LoggedAuditEntry>, Error> {
    let mut walk = Walk::parse(after)?;
    // One snapshot for both parts: an entry sequenced between two statements would be in
    // neither.
    let snapshot = connection
        .unchecked_transaction()
        .map_err(|e| storage_error("starting a read", e))?;
    let mut listed = Vec::new();
    for row in select_part(&snapshot, SEQUENCED, walk.next_leaf, filter, limit)? {
        let index = row
            .leaf_index
            .ok_or_else(|| corrupt("audit leaf index", "a sequenced entry lost its index"))?;
        walk.next_leaf = index.saturating_add(1);
        listed.push(row.into_domain(walk.position())?);
    }
    let left = limit.saturating_sub(u32::try_from(listed.len()).unwrap_or(u32::MAX));
    if left > 0 {
        for row in select_part(&snapshot, PENDING, walk.after_seq, filter, left)? {
            walk.after_seq = row.seq;
            listed.push(row.into_domain(walk.position())?);
        }
    }
    drop(snapshot);
    Ok(listed)
}

/// One part of a page: `sql` from `from`, with the filter.
fn select_part(
    connection: &Connection,
    sql: &str,
    from: u64,
    filter: &AuditQuery,
    limit: u32,
) -> Result<Vec<AuditRow>, Error> {
    let from = to_sql_integer(from, "audit position")?;
    let rows = connection
        .prepare_cached(sql)
        .and_then(|mut statement| {
            statement
                .query_map(
                    params![
                        from,
                        filter.collection.as_ref().map(|c| c.as_str().to_owned()),
                        filter.document_id.as_ref().map(|d| d.as_str().to_owned()),
                        filter.actor.as_ref().map(ToString::to_string),
                        filter.operation.map(|o| o.as_str()),
                        filter.since.map(|t| t.as_millis()),
                        filter.until.map(|t| t.as_millis()),
                        i64::from(limit)
                    ],
                    AuditRow::read,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| storage_error("listing audit entries", e))?;
    rows.into_iter().map(|row| row.checked()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_starts_at_leaf_zero_and_round_trips_through_its_position() {
        let start = Walk::parse(None).ok();
        assert_eq!(
            start,
            Some(Walk {
                next_leaf: 0,
                after_seq: 0
            })
        );
        let walk = Walk {
            next_leaf: 7,
            after_seq: 12,
        };
        assert_eq!(Walk::parse(Some(&walk.position())).ok(), Some(walk));
        let foreign = Walk::parse(Some(&Position::from_numbers(&[3])));
        assert_eq!(
            foreign.err().map(|e| e.field_errors()[0].path.clone()),
            Some("/cursor".to_owned())
        );
    }
}
