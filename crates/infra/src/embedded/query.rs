//! Document queries and the store-wide audit listing, in SQL.
//!
//! A [`Filter`] becomes a `WHERE` clause over the stored canonical JSON (`json_type`,
//! `json_extract`, `json_each`), every value and path bound as a parameter, never spliced
//! into the SQL text. Where SQL cannot say exactly what the domain means (an equality with an
//! object or array, a path that may step through an array on its way, a key SQLite's path
//! syntax cannot quote), the clause is widened to something true for every document the
//! filter accepts, and the rows are finished in memory with [`Filter::is_satisfied_by`]. Every
//! row is judged in memory anyway, so the answer is exactly the specification's.
//!
//! Pages are keyset pages: `(sort key, id) > (last key, last id)` on the same expressions the
//! `ORDER BY` uses, so page N costs what page 1 costs. `$id`, `$created_at` and `$updated_at`
//! are served by indexes. Data paths sort by (type rank, value), API.md's cross-type order.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params, params_from_iter};
use serde_json::Value;
use shared_kernel::{CollectionId, Error};
use storage_app::queries::list_audit::AuditQuery;
use storage_domain::Document;
use storage_domain::query::{
    Comparison, DataPath, Direction, DocumentQuery, FieldFilter, FieldPath, Filter, MetaField,
    Predicate, Sort, SortKey, SortValue,
};

use audit_domain::LoggedAuditEntry;
use audit_domain::merkle::Hash;
use audit_domain::succession::LogEntry;

use super::error::{corrupt, storage_error};
use super::reader_pool::StopSignal;
use super::rows::{DocumentRow, from_sql_integer, to_sql_integer};

/// When rows may be dropped in memory, read at least this many per statement.
const MIN_INEXACT_BATCH: u32 = 256;

/// SQL text with numbered parameters (`?1`, `?2`, ...) and their values.
#[derive(Default)]
struct Sql {
    params: Vec<SqlValue>,
    /// Whether the filter's SQL is exactly the specification (no widening happened).
    exact: bool,
}

impl Sql {
    /// Binds `value` and returns its placeholder.
    fn bind(&mut self, value: SqlValue) -> String {
        self.params.push(value);
        format!("?{}", self.params.len())
    }
}

/// A number as SQLite should compare it: integers as integers.
fn number(value: f64) -> SqlValue {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "integral and within ±2^53 (checked): exact"
    )]
    if value.fract() == 0.0 && value.abs() <= 9_007_199_254_740_992.0 {
        SqlValue::Integer(value as i64)
    } else {
        SqlValue::Real(value)
    }
}

fn json_scalar(value: &Value) -> Option<SqlValue> {
    match value {
        Value::Number(n) => n.as_f64().map(number),
        Value::String(s) => Some(SqlValue::Text(s.clone())),
        Value::Bool(b) => Some(SqlValue::Integer(i64::from(*b))),
        Value::Null => Some(SqlValue::Null),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// SQLite's JSON path for `path` (`$."a"."b"`), unless a key cannot be written in it.
fn json_path(segments: &[String]) -> Option<String> {
    let quotable = |s: &String| !s.chars().any(|c| c == '"' || c == '\\' || c.is_control());
    segments.iter().all(quotable).then(|| {
        let mut path = String::from("$");
        for segment in segments {
            path.push_str(".\"");
            path.push_str(segment);
            path.push('"');
        }
        path
    })
}

/// What a predicate looks at: the JSON type and the SQL value of one candidate.
struct Candidate<'a> {
    kind: &'a str,
    value: &'a str,
}

/// `candidate ⋛ operand` for a scalar operand of the candidate's type, else false.
fn scalar_test(
    sql: &mut Sql,
    c: &Candidate<'_>,
    operator: &str,
    operand: &Value,
) -> Option<String> {
    let (kind, value) = (c.kind, c.value);
    let bound = json_scalar(operand)?;
    Some(match operand {
        Value::Null => match operator {
            "=" | ">=" | "<=" => format!("{kind} = 'null'"),
            _ => "0".to_owned(),
        },
        Value::Bool(_) => {
            let p = sql.bind(bound);
            format!("{kind} IN ('true','false') AND {value} {operator} {p}")
        }
        Value::Number(_) => {
            let p = sql.bind(bound);
            format!("{kind} IN ('integer','real') AND {value} {operator} {p}")
        }
        Value::String(_) => {
            let p = sql.bind(bound);
            format!("{kind} = 'text' AND {value} {operator} {p}")
        }
        Value::Array(_) | Value::Object(_) => return None,
    })
}

/// `candidate` equals one of `operands` (scalars, bound as one JSON array).
fn in_test(sql: &mut Sql, c: &Candidate<'_>, operands: &[Value]) -> Option<String> {
    if operands.iter().any(|v| v.is_array() || v.is_object()) {
        return None;
    }
    let list = sql.bind(SqlValue::Text(Value::Array(operands.to_vec()).to_string()));
    let (kind, value) = (c.kind, c.value);
    Some(format!(
        "EXISTS (SELECT 1 FROM json_each({list}) AS i WHERE (i.type = {kind} OR \
         (i.type IN ('integer','real') AND {kind} IN ('integer','real'))) AND i.atom IS {value})"
    ))
}

fn comparison_operator(comparison: Comparison) -> &'static str {
    match comparison {
        Comparison::Gt => ">",
        Comparison::Gte => ">=",
        Comparison::Lt => "<",
        Comparison::Lte => "<=",
    }
}

/// Where a field's candidates come from.
enum Target {
    /// A metadata column: one candidate of a fixed type.
    Meta(&'static str, &'static str),
    /// A data path (bound as parameter `path`): the value, or any element of an array value.
    Data { path: String },
}

impl Target {
    /// `test` holds for some candidate, as 0 or 1 (never NULL, so `NOT` is safe).
    fn any(
        &self,
        sql: &mut Sql,
        test: &dyn Fn(&mut Sql, &Candidate<'_>) -> Option<String>,
    ) -> Option<String> {
        match self {
            Target::Meta(kind, column) => {
                let whole = test(
                    sql,
                    &Candidate {
                        kind,
                        value: column,
                    },
                )?;
                Some(format!("COALESCE(({whole}), 0)"))
            }
            Target::Data { path } => {
                let kind = format!("json_type(d.data, {path})");
                let value = format!("json_extract(d.data, {path})");
                let whole = test(
                    sql,
                    &Candidate {
                        kind: &kind,
                        value: &value,
                    },
                )?;
                let element = test(
                    sql,
                    &Candidate {
                        kind: "e.type",
                        value: "e.atom",
                    },
                )?;
                Some(format!(
                    "COALESCE(({whole}) OR ({kind} = 'array' AND EXISTS (SELECT 1 FROM \
                     json_each(d.data, {path}) AS e WHERE {element})), 0)"
                ))
            }
        }
    }

    fn exists(&self) -> String {
        match self {
            Target::Meta(..) => "1".to_owned(),
            Target::Data { path } => format!("(json_type(d.data, {path}) IS NOT NULL)"),
        }
    }
}

fn predicate_sql(sql: &mut Sql, target: &Target, predicate: &Predicate) -> Option<String> {
    match predicate {
        Predicate::Eq(v) => target.any(sql, &|s, c| scalar_test(s, c, "=", v)),
        Predicate::Ne(v) => {
            let eq = target.any(sql, &|s, c| scalar_test(s, c, "=", v))?;
            Some(format!("NOT {eq}"))
        }
        Predicate::Compare(comparison, v) => {
            let operator = comparison_operator(*comparison);
            target.any(sql, &|s, c| scalar_test(s, c, operator, v))
        }
        Predicate::In(values) => target.any(sql, &|s, c| in_test(s, c, values)),
        Predicate::Nin(values) => {
            let found = target.any(sql, &|s, c| in_test(s, c, values))?;
            Some(format!("NOT {found}"))
        }
        Predicate::Exists(wanted) => {
            Some(format!("({} = {})", target.exists(), i64::from(*wanted)))
        }
        Predicate::Not(inner) => {
            let all = inner
                .iter()
                .map(|p| predicate_sql(sql, target, p))
                .collect::<Option<Vec<_>>>()?;
            Some(format!("NOT ({})", all.join(" AND ")))
        }
    }
}

fn meta_target(meta: MetaField) -> Target {
    match meta {
        MetaField::Id => Target::Meta("'text'", "d.id"),
        MetaField::Version => Target::Meta("'integer'", "d.version"),
        MetaField::CreatedAt => Target::Meta("'integer'", "d.created_at"),
        MetaField::UpdatedAt => Target::Meta("'integer'", "d.updated_at"),
    }
}

/// A field clause, exact when possible; otherwise a clause every accepted document meets.
fn field_sql(sql: &mut Sql, field: &FieldFilter) -> String {
    let (target, segments) = match &field.path {
        FieldPath::Meta(meta) => (meta_target(*meta), None),
        FieldPath::Data(path) => {
            let Some(text) = json_path(path.segments()) else {
                sql.exact = false;
                return "1".to_owned();
            };
            let path_param = sql.bind(SqlValue::Text(text));
            (Target::Data { path: path_param }, Some(path))
        }
    };
    // Build into a scratch copy so a clause that cannot be translated leaves no parameters.
    let mark = sql.params.len();
    let translated = field
        .predicates
        .iter()
        .map(|p| predicate_sql(sql, &target, p))
        .collect::<Option<Vec<_>>>();
    let Some(parts) = translated else {
        sql.params.truncate(mark);
        sql.exact = false;
        return "1".to_owned();
    };
    let clause = format!("({})", parts.join(" AND "));
    match segments {
        Some(path) if path.segments().len() > 1 => {
            // An array on the way makes the path reach several values: let memory decide.
            sql.exact = false;
            let arrays = array_prefixes(sql, path);
            format!("({clause} OR {arrays})")
        }
        Some(_) | None => clause,
    }
}

/// 1 when a proper prefix of `path` is an array (0 otherwise).
fn array_prefixes(sql: &mut Sql, path: &DataPath) -> String {
    let segments = path.segments();
    let tests: Vec<String> = (1..segments.len())
        .filter_map(|n| json_path(&segments[..n]))
        .map(|prefix| {
            let p = sql.bind(SqlValue::Text(prefix));
            format!("COALESCE(json_type(d.data, {p}) = 'array', 0)")
        })
        .collect();
    format!("({})", tests.join(" OR "))
}

fn filter_sql(sql: &mut Sql, filter: &Filter) -> String {
    match filter {
        Filter::And(children) if children.is_empty() => "1".to_owned(),
        Filter::And(children) => {
            let parts: Vec<String> = children.iter().map(|c| filter_sql(sql, c)).collect();
            format!("({})", parts.join(" AND "))
        }
        Filter::Or(children) => {
            let parts: Vec<String> = children.iter().map(|c| filter_sql(sql, c)).collect();
            format!("({})", parts.join(" OR "))
        }
        Filter::Field(field) => field_sql(sql, field),
    }
}

/// One `ORDER BY` expression and how to bind a key's value against it.
struct Component {
    expression: String,
    direction: Direction,
    /// The part of a sort value this expression holds.
    part: Part,
}

#[derive(Clone, Copy)]
enum Part {
    /// A metadata column's value.
    Meta,
    /// A data value's cross-type rank.
    Rank,
    /// A data value within its type (0 for types without an order).
    Value,
}

fn bind_part(value: &SortValue, part: Part) -> SqlValue {
    match (part, value) {
        (Part::Rank, v) => SqlValue::Integer(i64::from(v.rank())),
        (Part::Meta | Part::Value, SortValue::Number(n)) => number(*n),
        (Part::Meta | Part::Value, SortValue::String(s)) => SqlValue::Text(s.clone()),
        (Part::Meta | Part::Value, SortValue::Bool(b)) => SqlValue::Integer(i64::from(*b)),
        (
            Part::Meta | Part::Value,
            SortValue::Missing | SortValue::Null | SortValue::Object | SortValue::Array,
        ) => SqlValue::Integer(0),
    }
}

/// The sort as SQL expressions, or `None` when a path cannot be written in SQLite's syntax.
fn sort_components(sql: &mut Sql, sort: &Sort) -> Option<Vec<Component>> {
    let mut components = Vec::new();
    for field in sort.fields() {
        let direction = field.direction;
        match &field.path {
            FieldPath::Meta(meta) => {
                let column = match meta {
                    MetaField::Id => "d.id",
                    MetaField::Version => "d.version",
                    MetaField::CreatedAt => "d.created_at",
                    MetaField::UpdatedAt => "d.updated_at",
                };
                components.push(Component {
                    expression: column.to_owned(),
                    direction,
                    part: Part::Meta,
                });
            }
            FieldPath::Data(path) => {
                let p = sql.bind(SqlValue::Text(json_path(path.segments())?));
                let kind = format!("json_type(d.data, {p})");
                components.push(Component {
                    expression: format!(
                        "(CASE {kind} WHEN 'null' THEN 1 WHEN 'integer' THEN 2 WHEN 'real' THEN 2 \
                         WHEN 'text' THEN 3 WHEN 'object' THEN 4 WHEN 'array' THEN 5 \
                         WHEN 'true' THEN 6 WHEN 'false' THEN 6 ELSE 0 END)"
                    ),
                    direction,
                    part: Part::Rank,
                });
                components.push(Component {
                    expression: format!(
                        "(CASE WHEN {kind} IN ('integer','real','text','true','false') \
                         THEN json_extract(d.data, {p}) ELSE 0 END)"
                    ),
                    direction,
                    part: Part::Value,
                });
            }
        }
    }
    Some(components)
}

fn keyword(direction: Direction) -> &'static str {
    match direction {
        Direction::Ascending => "ASC",
        Direction::Descending => "DESC",
    }
}

fn after_operator(direction: Direction) -> &'static str {
    match direction {
        Direction::Ascending => ">",
        Direction::Descending => "<",
    }
}

/// `(k1, k2, ..., id) > (after...)` in the sort's directions.
fn keyset_sql(sql: &mut Sql, components: &[Component], sort: &Sort, after: &SortKey) -> String {
    let mut columns: Vec<(String, Direction, String)> = Vec::new();
    let parts = components.iter().scan(0_usize, |field, c| {
        let index = *field;
        if !matches!(c.part, Part::Rank) {
            *field += 1;
        }
        Some((c, index))
    });
    for (component, index) in parts {
        let value = after
            .values
            .get(index)
            .map_or(SqlValue::Integer(0), |v| bind_part(v, component.part));
        let p = sql.bind(value);
        columns.push((component.expression.clone(), component.direction, p));
    }
    let id = sql.bind(SqlValue::Text(after.id.as_str().to_owned()));
    columns.push(("d.id".to_owned(), sort.id_direction(), id));
    let first = columns[0].1;
    if columns.iter().all(|(_, d, _)| *d == first) {
        let left: Vec<&str> = columns.iter().map(|(e, _, _)| e.as_str()).collect();
        let right: Vec<&str> = columns.iter().map(|(_, _, p)| p.as_str()).collect();
        return format!(
            "({}) {} ({})",
            left.join(", "),
            after_operator(first),
            right.join(", ")
        );
    }
    let mut alternatives = Vec::new();
    for n in 0..columns.len() {
        let mut terms: Vec<String> = columns[..n]
            .iter()
            .map(|(e, _, p)| format!("{e} = {p}"))
            .collect();
        let (e, d, p) = &columns[n];
        terms.push(format!("{e} {} {p}", after_operator(*d)));
        alternatives.push(format!("({})", terms.join(" AND ")));
    }
    format!("({})", alternatives.join(" OR "))
}

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
pub(super) enum Finish {
    /// By [`Filter::is_satisfied_by`] (always, in production).
    InMemory,
    /// Trust the SQL alone (tests use this to check exact translations).
    #[cfg(test)]
    SqlOnly,
}

/// What a stopped query was doing when it checked `stop` between rows.
const FILTERING: &str = "filtering documents";

/// The documents `query` asks for (see the module docs). SQLite's statements are stopped by
/// the reader's progress handler; the rows judged in memory check `stop` as they go.
pub(super) fn select_documents(
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

/// Audit entries matching `filter` after `after`, in commit order, which is log order. A
/// successor log's `log.succession` entry (`seq` 1, leaf 0) is listed too: "a walk never
/// skips an entry" (API.md "Lists"). Its collection is stored as `''` and its document as
/// `NULL`, so a collection or document filter never matches it, and its operation is no
/// data operation, so neither does an operation filter.
pub(super) fn select_audit_entries(
    connection: &Connection,
    filter: &AuditQuery,
    after: u64,
    limit: u32,
) -> Result<Vec<LoggedAuditEntry>, Error> {
    let after = to_sql_integer(after, "audit sequence")?;
    let rows = connection
        .prepare_cached(
            "SELECT seq, leaf, leaf_hash, leaf_index, patch FROM audit_entries WHERE seq > ?1 \
             AND (?2 IS NULL OR collection = ?2) AND (?3 IS NULL OR document_id = ?3) \
             AND (?4 IS NULL OR actor = ?4) AND (?5 IS NULL OR operation = ?5) \
             AND (?6 IS NULL OR at >= ?6) AND (?7 IS NULL OR at < ?7) ORDER BY seq LIMIT ?8",
        )
        .and_then(|mut statement| {
            statement
                .query_map(
                    params![
                        after,
                        filter.collection.as_ref().map(|c| c.as_str().to_owned()),
                        filter.document_id.as_ref().map(|d| d.as_str().to_owned()),
                        filter.actor.as_ref().map(ToString::to_string),
                        filter.operation.map(|o| o.as_str()),
                        filter.since.map(|t| t.as_millis()),
                        filter.until.map(|t| t.as_millis()),
                        i64::from(limit)
                    ],
                    |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, Vec<u8>>(1)?,
                            row.get::<_, Vec<u8>>(2)?,
                            row.get::<_, Option<i64>>(3)?,
                            row.get::<_, Option<String>>(4)?,
                        ))
                    },
                )?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| storage_error("listing audit entries", e))?;
    rows.into_iter()
        .map(|(seq, leaf, leaf_hash, leaf_index, patch)| {
            let entry =
                LogEntry::from_leaf_bytes(&leaf).map_err(|e| corrupt("audit entry leaf", e))?;
            let leaf_hash =
                Hash::try_from(leaf_hash.as_slice()).map_err(|e| corrupt("audit leaf hash", e))?;
            if entry.leaf_hash() != leaf_hash {
                return Err(corrupt(
                    "audit leaf hash",
                    format!("entry {} does not match its leaf hash", entry.id()),
                ));
            }
            let patch = patch
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .map_err(|e| corrupt("audit patch", e))?;
            Ok(LoggedAuditEntry {
                seq: from_sql_integer(seq, "audit sequence")?,
                entry,
                leaf_hash,
                leaf_index: leaf_index
                    .map(|i| from_sql_integer(i, "leaf index"))
                    .transpose()?,
                patch,
            })
        })
        .collect()
}

/// Whether the filter's SQL is exactly the specification (no clause was widened).
#[cfg(test)]
pub(super) fn is_exact(filter: &Filter) -> bool {
    let mut sql = Sql {
        exact: true,
        ..Sql::default()
    };
    filter_sql(&mut sql, filter);
    sql.exact
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
