//! The store-wide audit listing (`GET /v1/audit`) on MongoDB, in log order, and its
//! positions.
//!
//! API.md "Lists": sequenced entries by leaf index, then the entries not yet sequenced, here
//! by `(order, _id)` (`write/ops.rs`: the commit's time, past the document's previous entry).
//! A position is `next leaf` and, once the walk reached the pending part, the `(order, id)`
//! of the last pending entry listed: `m.<next leaf>` or `m.<next leaf>.<order>.<id>`.
//!
//! Why nothing committed before the walk began is skipped: a pending entry the walk has not
//! reached has a larger `(order, id)` than the last one listed, or is sequenced before the
//! walk reaches it, and then its leaf index is at least the tree size when it was sequenced,
//! above every leaf listed so far, so the log part finds it. An entry that commits during
//! the walk with a smaller order than one already listed (another server's slower commit)
//! may be missed by this walk: it was not committed when the walk began.

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document as Bson_, doc};
use shared_kernel::{AuditId, Deadline, Error, Position};
use storage_app::ports::AuditQuery;

use audit_domain::LoggedAuditEntry;

use super::super::Shared;
use super::super::error::storage_error;
use super::super::layout::AUDIT_ENTRIES;
use super::super::rows::{i64_field, logged_entry_from_bson, optional_i64, str_field, to_i64};

/// What every position of this store starts with, so another store's is refused.
const TAG: &str = "m";

/// Where a walk stands.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Walk {
    /// Every matching log entry below this leaf index was listed.
    next_leaf: u64,
    /// The last pending entry listed, if the walk reached the pending part.
    pending_after: Option<(i64, AuditId)>,
}

impl Walk {
    fn parse(position: Option<&Position>) -> Result<Self, Error> {
        let Some(position) = position else {
            return Ok(Self {
                next_leaf: 0,
                pending_after: None,
            });
        };
        let invalid = || Error::invalid_field("/cursor", "the cursor does not hold a position");
        let parts: Vec<&str> = position.as_str().split('.').collect();
        let number = |text: &str| -> Result<u64, Error> {
            let n: u64 = text.parse().map_err(|_| invalid())?;
            i64::try_from(n).map_err(|_| invalid())?;
            Ok(n)
        };
        match parts.as_slice() {
            [TAG, leaf] => Ok(Self {
                next_leaf: number(leaf)?,
                pending_after: None,
            }),
            [TAG, leaf, order, id] => Ok(Self {
                next_leaf: number(leaf)?,
                pending_after: Some((
                    i64::try_from(number(order)?).map_err(|_| invalid())?,
                    AuditId::parse(id).map_err(|_| invalid())?,
                )),
            }),
            _ => Err(invalid()),
        }
    }

    fn position(&self) -> Position {
        match &self.pending_after {
            None => Position::new(format!("{TAG}.{}", self.next_leaf)),
            Some((order, id)) => Position::new(format!("{TAG}.{}.{order}.{id}", self.next_leaf)),
        }
    }
}

/// Audit entries matching `filter` after `after`, in log order, at most `limit`.
///
/// The pending part is read first and the log part second: an entry the sequencer moves from
/// one to the other between the two reads is then in the log part (listed once, by its leaf),
/// where reading the log part first would miss it from this page. Once a walk has reached the
/// pending part, the log part skips entries at or below its `(order, id)`: those were listed
/// while pending, and are not listed again now that they are sequenced.
pub(crate) async fn audit_entries(
    shared: &Shared,
    filter: &AuditQuery,
    after: Option<&Position>,
    limit: u32,
    deadline: Option<Deadline>,
) -> Result<Vec<LoggedAuditEntry>, Error> {
    let mut walk = Walk::parse(after)?;
    let mut pending = conditions(filter);
    pending.insert("leaf_index", Bson::Null);
    let mut sequenced = conditions(filter);
    sequenced.insert(
        "leaf_index",
        doc! { "$gte": to_i64(walk.next_leaf, "audit position")? },
    );
    if let Some((order, id)) = &walk.pending_after {
        let later = vec![
            Bson::Document(doc! { "order": { "$gt": order } }),
            Bson::Document(doc! { "order": order, "_id": { "$gt": id.to_string() } }),
        ];
        pending.insert("$or", later.clone());
        sequenced.insert("$or", later);
    }
    let pending = part(
        shared,
        pending,
        doc! { "order": 1, "_id": 1 },
        limit,
        deadline,
    )
    .await?;
    let sequenced = part(shared, sequenced, doc! { "leaf_index": 1 }, limit, deadline).await?;

    let mut listed = Vec::new();
    let mut listed_ids = std::collections::HashSet::new();
    for stored in &sequenced {
        let index = optional_i64(stored, "leaf_index", "leaf index")?.unwrap_or_default();
        walk.next_leaf = u64::try_from(index).unwrap_or_default().saturating_add(1);
        listed_ids.insert(str_field(stored, "_id", "audit id")?.to_owned());
        listed.push(logged_entry_from_bson(stored, walk.position())?);
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    for stored in &pending {
        if listed.len() >= limit {
            break;
        }
        let id_text = str_field(stored, "_id", "audit id")?;
        if listed_ids.contains(id_text) {
            // Sequenced between the two reads: listed by its leaf already.
            continue;
        }
        let order = i64_field(stored, "order", "audit order")?;
        let id =
            AuditId::parse(id_text).map_err(|e| super::super::error::corrupt("audit id", e))?;
        walk.pending_after = Some((order, id));
        listed.push(logged_entry_from_bson(stored, walk.position())?);
    }
    Ok(listed)
}

/// The filter's conditions. A filter on a collection or document never matches an entry
/// without one (a successor log's `log.succession`).
fn conditions(filter: &AuditQuery) -> Bson_ {
    let mut conditions = Bson_::new();
    if let Some(collection) = &filter.collection {
        conditions.insert("collection", collection.as_str());
    }
    if let Some(document) = &filter.document_id {
        conditions.insert("document_id", document.as_str());
    }
    if let Some(actor) = &filter.actor {
        conditions.insert("actor", actor.to_string());
    }
    if let Some(operation) = filter.operation {
        conditions.insert("operation", operation.as_str());
    }
    let mut at = Bson_::new();
    if let Some(since) = filter.since {
        at.insert("$gte", since.as_millis());
    }
    if let Some(until) = filter.until {
        at.insert("$lt", until.as_millis());
    }
    if !at.is_empty() {
        conditions.insert("at", at);
    }
    conditions
}

/// One part of a page.
async fn part(
    shared: &Shared,
    filter: Bson_,
    sort: Bson_,
    limit: u32,
    deadline: Option<Deadline>,
) -> Result<Vec<Bson_>, Error> {
    let collection = shared.collection(AUDIT_ENTRIES);
    let mut find = collection.find(filter).sort(sort).limit(i64::from(limit));
    if let Some(deadline) = deadline {
        find = find.max_time(
            deadline
                .remaining()
                .max(std::time::Duration::from_millis(1)),
        );
    }
    find.await
        .map_err(|e| storage_error("listing audit entries", e))?
        .try_collect()
        .await
        .map_err(|e| storage_error("listing audit entries", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_round_trips_through_its_position_and_foreign_ones_are_refused() {
        let start = Walk::parse(None).ok();
        assert_eq!(
            start.as_ref().map(Walk::position),
            Some(Position::new("m.0"))
        );
        let walk = Walk {
            next_leaf: 7,
            pending_after: Some((1_700_000_000_000_000, AuditId::generate())),
        };
        assert_eq!(Walk::parse(Some(&walk.position())).ok(), Some(walk));
        for foreign in ["3.4", "m", "m.x", "m.1.2", "m.1.2.not-an-id", "m.-1", "x.1"] {
            let error = Walk::parse(Some(&Position::new(foreign))).err();
            assert_eq!(
                error.map(|e| e.field_errors()[0].path.clone()),
                Some("/cursor".to_owned()),
                "{foreign}"
            );
        }
    }
}
