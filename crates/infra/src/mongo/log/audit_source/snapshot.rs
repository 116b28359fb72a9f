//! One page read from one snapshot: a read-only transaction with snapshot read concern, so
//! the queries of a page (a document and its newest revision, a collection and its entries)
//! see the store at one moment. A whole audit cannot be one snapshot (MongoDB keeps
//! snapshot history for minutes), which is why the source fixes the log's head instead
//! (`reader.rs`).

use futures_util::TryStreamExt;
use mongodb::bson::{Document as Bson_, doc};
use mongodb::options::ReadConcern;
use mongodb::{Client, ClientSession, Database};
use shared_kernel::Error;

use super::super::super::error::storage_error;

/// What one query asks for.
#[derive(Debug, Clone, Default)]
pub(super) struct Query {
    filter: Bson_,
    sort: Option<Bson_>,
    limit: Option<usize>,
    projection: Option<Bson_>,
}

impl Query {
    /// The documents matching `filter`.
    pub(super) fn new(filter: Bson_) -> Self {
        Self {
            filter,
            ..Self::default()
        }
    }

    /// In this order.
    pub(super) fn sort(self, sort: Bson_) -> Self {
        Self {
            sort: Some(sort),
            ..self
        }
    }

    /// At most `limit` of them.
    pub(super) fn limit(self, limit: usize) -> Self {
        Self {
            limit: Some(limit),
            ..self
        }
    }

    /// Only these fields.
    pub(super) fn fields(self, projection: Bson_) -> Self {
        Self {
            projection: Some(projection),
            ..self
        }
    }
}

/// An open read snapshot.
pub(super) struct Snapshot {
    session: ClientSession,
}

impl Snapshot {
    /// Starts one.
    pub(super) async fn begin(client: &Client) -> Result<Self, Error> {
        let mut session = client
            .start_session()
            .await
            .map_err(|e| storage_error("starting a session for the audit", e))?;
        session
            .start_transaction()
            .read_concern(ReadConcern::snapshot())
            .await
            .map_err(|e| storage_error("starting a read snapshot for the audit", e))?;
        Ok(Self { session })
    }

    /// Runs `query` on `collection` of `database` in the snapshot.
    pub(super) async fn find(
        &mut self,
        database: &Database,
        collection: &str,
        query: Query,
    ) -> Result<Vec<Bson_>, Error> {
        // MongoDB reads a limit of 0 as "no limit".
        if query.limit == Some(0) {
            return Ok(Vec::new());
        }
        let action = format!("reading `{collection}` for the audit");
        let collection = database.collection::<Bson_>(collection);
        let mut find = collection.find(query.filter);
        if let Some(sort) = query.sort {
            find = find.sort(sort);
        }
        if let Some(limit) = query.limit {
            find = find.limit(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        if let Some(projection) = query.projection {
            find = find.projection(projection);
        }
        let mut cursor = find
            .session(&mut self.session)
            .await
            .map_err(|e| storage_error(&action, e))?;
        cursor
            .stream(&mut self.session)
            .try_collect()
            .await
            .map_err(|e| storage_error(&action, e))
    }

    /// The one document `filter` names in `collection`, if any.
    pub(super) async fn find_one(
        &mut self,
        database: &Database,
        collection: &str,
        query: Query,
    ) -> Result<Option<Bson_>, Error> {
        Ok(self
            .find(database, collection, query.limit(1))
            .await?
            .into_iter()
            .next())
    }

    /// Ends it (nothing was written: committing only releases it).
    pub(super) async fn end(mut self) -> Result<(), Error> {
        self.session
            .commit_transaction()
            .await
            .map_err(|e| storage_error("ending a read snapshot for the audit", e))
    }
}

/// `{field: {$in: values}}`.
pub(super) fn any_of(field: &str, values: Vec<mongodb::bson::Bson>) -> Bson_ {
    doc! { field: { "$in": values } }
}

/// The keyset filter "strictly after these values of these fields, in this order":
/// `(a > x) or (a = x and b > y) or ...`.
pub(super) fn after_keys(keys: &[(&str, mongodb::bson::Bson)]) -> Bson_ {
    let mut clauses = Vec::with_capacity(keys.len());
    for (at, (field, value)) in keys.iter().enumerate() {
        let mut clause = Bson_::new();
        for (equal, value) in keys.iter().take(at) {
            clause.insert(*equal, value.clone());
        }
        clause.insert(*field, doc! { "$gt": value.clone() });
        clauses.push(clause);
    }
    doc! { "$or": clauses }
}

/// The filter "`_id` after `key`" for an `_id` that is a document (`{c, d}`, `{c, d, v}`, an
/// idempotency scope), in the order of a sort on `_id`. MongoDB compares documents field by
/// field, so `{_id: {$gt: key}}` is a range of the `_id` index; the test stand-in sorts them
/// so too but answers no range over documents at all, so there the filter spells the same
/// order out over the `_id`'s fields (a scan per page: it holds test data only).
pub(super) fn after_id(key: &Bson_, documents_compare: bool) -> Bson_ {
    if documents_compare {
        return doc! { "_id": { "$gt": key.clone() } };
    }
    let fields: Vec<(String, mongodb::bson::Bson)> = key
        .iter()
        .map(|(field, value)| (format!("_id.{field}"), value.clone()))
        .collect();
    let keys: Vec<(&str, mongodb::bson::Bson)> = fields
        .iter()
        .map(|(field, value)| (field.as_str(), value.clone()))
        .collect();
    after_keys(&keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_an_id_is_a_range_on_mongodb_and_spelled_out_over_its_fields_elsewhere() {
        let key = doc! { "c": "x", "d": "doc-2" };
        assert_eq!(
            after_id(&key, true),
            doc! { "_id": { "$gt": { "c": "x", "d": "doc-2" } } }
        );
        assert_eq!(
            after_id(&key, false),
            doc! { "$or": [
                { "_id.c": { "$gt": "x" } },
                { "_id.c": "x", "_id.d": { "$gt": "doc-2" } },
            ] }
        );
    }
}
