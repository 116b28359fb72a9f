//! Document queries, in SQL.
//!
//! A [`Filter`](storage_domain::query::Filter) becomes a `WHERE` clause over the stored canonical JSON (`json_type`,
//! `json_extract`, `json_each`), every value and path bound as a parameter, never spliced
//! into the SQL text. Where SQL cannot say exactly what the domain means (an equality with an
//! object or array, a path that may step through an array on its way, a key SQLite's path
//! syntax cannot quote), the clause is widened to something true for every document the
//! filter accepts, and the rows are finished in memory with [`Filter::is_satisfied_by`](storage_domain::query::Filter::is_satisfied_by). Every
//! row is judged in memory anyway, so the answer is exactly the specification's.
//!
//! Pages are keyset pages: `(sort key, id) > (last key, last id)` on the same expressions the
//! `ORDER BY` uses, so page N costs what page 1 costs. `$id`, `$created_at` and `$updated_at`
//! are served by indexes. Data paths sort by (type rank, value), API.md's cross-type order.
//!
//! This file runs the statements (the two `select_*` functions); the translation is in
//! `query/filter.rs` (a filter → a `WHERE` clause), `query/keyset.rs` (a sort → `ORDER BY`
//! and the keyset condition) and `query/sql.rs` (SQL text with its bound parameters).

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params_from_iter};
use shared_kernel::{CollectionId, Error};
use storage_domain::Document;
use storage_domain::query::DocumentQuery;

use self::filter::filter_sql;
use self::keyset::{keyset_sql, keyword, sort_components};
use self::sql::Sql;
use super::reader_pool::StopSignal;
use crate::embedded::error::storage_error;
use crate::embedded::rows::DocumentRow;

mod filter;
mod keyset;
mod sql;

/// When rows may be dropped in memory, read at least this many per statement.
const MIN_INEXACT_BATCH: u32 = 256;

const DOCUMENT_COLUMNS: &str =
    "d.id, d.version, d.data, d.content_hash, d.created_at, d.updated_at, d.audit_id";

fn read_rows(
    connection: &Connection,
    text: &str,
    params: &[SqlValue],
    collection_id: &str,
) -> Result<Vec<Document>, Error> {
    let rows = connection
        .prepare_cached(text)
        .and_then(|mut statement| {
            statement
                .query_map(params_from_iter(params.iter()), |row| {
                    Ok(DocumentRow {
                        collection_id: collection_id.to_owned(),
                        id: row.get(0)?,
                        version: row.get(1)?,
                        data: row.get(2)?,
                        content_hash: row.get(3)?,
                        created_at: row.get(4)?,
                        updated_at: row.get(5)?,
                        audit_id: row.get(6)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| storage_error("querying documents", e))?;
    rows.into_iter().map(DocumentRow::into_domain).collect()
}

/// How rows are judged after SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    /// By [`Filter::is_satisfied_by`](storage_domain::query::Filter::is_satisfied_by) (always, in production).
    InMemory,
    /// Trust the SQL alone (tests use this to check exact translations).
    #[cfg(test)]
    SqlOnly,
}

/// What a stopped query was doing when it checked `stop` between rows.
const FILTERING: &str = "filtering documents";

/// The documents `query` asks for (see the module docs). SQLite's statements are stopped by
/// the reader's progress handler; the rows judged in memory check `stop` as they go.
pub(crate) fn select_documents(
    connection: &Connection,
    collection: CollectionId,
    query: &DocumentQuery,
    finish: Finish,
    stop: &StopSignal,
) -> Result<Vec<Document>, Error> {
    let collection_id = collection.to_string();
    // One snapshot for every statement of this page.
    let snapshot = connection
        .unchecked_transaction()
        .map_err(|e| storage_error("starting a read", e))?;
    let mut sql = Sql {
        exact: true,
        ..Sql::default()
    };
    let collection_param = sql.bind(SqlValue::Text(collection_id.clone()));
    let condition = filter_sql(&mut sql, &query.filter);
    let rejected =
        |document: &Document| finish == Finish::InMemory && !query.filter.is_satisfied_by(document);
    let Some(components) = sort_components(&mut sql, &query.sort) else {
        // A sort SQL cannot express: filter in SQL, order and page in memory.
        let text = format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents AS d WHERE d.collection_id = {collection_param} \
             AND d.data IS NOT NULL AND {condition}"
        );
        let mut documents = Vec::new();
        for document in read_rows(connection, &text, &sql.params, &collection_id)? {
            stop.check(FILTERING)?;
            if !rejected(&document) {
                documents.push(document);
            }
        }
        documents.sort_by(|a, b| query.sort.compare(a, b));
        if let Some(after) = &query.after {
            documents.retain(|d| {
                query
                    .sort
                    .compare_keys(&query.sort.key_of(d), after)
                    .is_gt()
            });
        }
        documents.truncate(query.limit as usize);
        return Ok(documents);
    };
    let mut order: Vec<String> = components
        .iter()
        .map(|c| format!("{} {}", c.expression, keyword(c.direction)))
        .collect();
    order.push(format!("d.id {}", keyword(query.sort.id_direction())));
    let order = order.join(", ");
    let batch = if sql.exact {
        query.limit.max(1)
    } else {
        query.limit.max(MIN_INEXACT_BATCH)
    };
    let base = sql.params.clone();
    let mut after = query.after.clone();
    let mut found = Vec::new();
    loop {
        let mut page = Sql {
            params: base.clone(),
            exact: sql.exact,
        };
        let keyset = after.as_ref().map_or_else(
            || "1".to_owned(),
            |a| keyset_sql(&mut page, &components, &query.sort, a),
        );
        let limit = page.bind(SqlValue::Integer(i64::from(batch)));
        let text = format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents AS d WHERE d.collection_id = {collection_param} \
             AND d.data IS NOT NULL AND {condition} AND {keyset} ORDER BY {order} LIMIT {limit}"
        );
        let rows = read_rows(connection, &text, &page.params, &collection_id)?;
        let exhausted = rows.len() < batch as usize;
        for document in rows {
            stop.check(FILTERING)?;
            after = Some(query.sort.key_of(&document));
            if rejected(&document) {
                continue;
            }
            found.push(document);
            if found.len() >= query.limit as usize {
                return Ok(found);
            }
        }
        if exhausted {
            break;
        }
    }
    drop(snapshot);
    Ok(found)
}

/// Whether the filter's SQL is exactly the specification (no clause was widened).
#[cfg(test)]
pub(crate) fn is_exact(filter: &storage_domain::query::Filter) -> bool {
    let mut sql = Sql {
        exact: true,
        ..Sql::default()
    };
    filter_sql(&mut sql, filter);
    sql.exact
}

#[cfg(test)]
mod tests;
