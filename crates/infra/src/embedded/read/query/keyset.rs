//! A sort as `ORDER BY` expressions, and the keyset condition `(sort key, id) > (last key,
//! last id)` on those same expressions, so page N costs what page 1 costs. Data paths sort by
//! (type rank, value), API.md's cross-type order.

use rusqlite::types::Value as SqlValue;
use storage_domain::query::{Direction, FieldPath, MetaField, Sort, SortKey, SortValue};

use super::sql::{Sql, json_path, number};

/// One `ORDER BY` expression and how to bind a key's value against it.
pub(super) struct Component {
    pub(super) expression: String,
    pub(super) direction: Direction,
    /// The part of a sort value this expression holds.
    pub(super) part: Part,
}

#[derive(Clone, Copy)]
pub(super) enum Part {
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
pub(super) fn sort_components(sql: &mut Sql, sort: &Sort) -> Option<Vec<Component>> {
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

pub(super) fn keyword(direction: Direction) -> &'static str {
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
pub(super) fn keyset_sql(
    sql: &mut Sql,
    components: &[Component],
    sort: &Sort,
    after: &SortKey,
) -> String {
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
