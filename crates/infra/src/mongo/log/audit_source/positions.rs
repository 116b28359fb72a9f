//! The positions this source makes for its listings without a natural key (see
//! `audit_app::auditor::TableSource`): `a.<order>.<id>` for an audit entry, by the order the
//! sequencer takes pending entries in (`(order, _id)`, `write/ops.rs`), and `o.<id>` for an
//! outbox event, by its `_id`. Anything else is refused as `INVALID_INPUT`.

use mongodb::bson::{Bson, Document as Bson_, doc};
use shared_kernel::{Error, Position};

/// An audit entry's position.
pub(super) fn entry_position(order: i64, id: &str) -> Position {
    Position::new(format!("a.{order}.{id}"))
}

/// An outbox event's position.
pub(super) fn event_position(id: &str) -> Position {
    Position::new(format!("o.{id}"))
}

fn foreign(position: &Position) -> Error {
    Error::invalid_field(
        "/cursor",
        format!(
            "`{}` is no position of this MongoDB audit source",
            position.as_str()
        ),
    )
}

/// The filter for the audit entries after `after` by `(order, _id)` (everything when
/// `None`).
pub(super) fn entries_after(after: Option<&Position>) -> Result<Bson_, Error> {
    let Some(after) = after else {
        return Ok(Bson_::new());
    };
    let (order, id) = after
        .as_str()
        .strip_prefix("a.")
        .and_then(|rest| rest.split_once('.'))
        .and_then(|(order, id)| Some((order.parse::<i64>().ok()?, id)))
        .filter(|(_, id)| !id.is_empty())
        .ok_or_else(|| foreign(after))?;
    Ok(doc! { "$or": [
        { "order": { "$gt": order } },
        { "order": order, "_id": { "$gt": id } },
    ] })
}

/// The filter for the outbox events after `after` by `_id`.
pub(super) fn events_after(after: Option<&Position>) -> Result<Bson_, Error> {
    let Some(after) = after else {
        return Ok(Bson_::new());
    };
    let id = after
        .as_str()
        .strip_prefix("o.")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| foreign(after))?;
    Ok(doc! { "_id": { "$gt": Bson::String(id.to_owned()) } })
}

/// Both conditions (either may be empty).
pub(super) fn both(first: Bson_, second: Bson_) -> Bson_ {
    match (first.is_empty(), second.is_empty()) {
        (true, _) => second,
        (_, true) => first,
        (false, false) => doc! { "$and": [first, second] },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_foreign_ones_are_invalid_input() {
        let made = entry_position(-5, "0190-ab");
        let filter = entries_after(Some(&made)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            filter,
            doc! { "$or": [
                { "order": { "$gt": -5_i64 } },
                { "order": -5_i64, "_id": { "$gt": "0190-ab" } },
            ] }
        );
        let event = events_after(Some(&event_position("e.1"))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(event, doc! { "_id": { "$gt": "e.1" } });
        let invalid = |refused: Option<Error>| {
            refused.map(|e| e.code()) == Some(shared_kernel::ErrorCode::InvalidInput)
        };
        for alien in ["", "a.", "a.x.id", "a.1.", "a.1", "o.", "m.0", "7"] {
            let position = Position::new(alien);
            assert!(invalid(entries_after(Some(&position)).err()), "{alien:?}");
            assert!(invalid(events_after(Some(&position)).err()), "{alien:?}");
        }
        assert!(invalid(entries_after(Some(&event_position("e"))).err()));
        assert!(invalid(events_after(Some(&made)).err()));
        assert_eq!(entries_after(None).ok(), Some(Bson_::new()));
    }
}
