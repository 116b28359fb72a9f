//! A [`Filter`] as a `WHERE` clause over the stored canonical JSON (`json_type`,
//! `json_extract`, `json_each`), every value and path bound as a parameter. Where SQL cannot
//! say exactly what the domain means, the clause is widened and [`Sql::exact`] cleared, and
//! the rows are finished in memory (see the parent module's doc).

use rusqlite::types::Value as SqlValue;
use serde_json::Value;
use storage_domain::query::{
    Comparison, DataPath, FieldFilter, FieldPath, Filter, MetaField, Predicate,
};

use super::sql::{Sql, json_path, number};

fn json_scalar(value: &Value) -> Option<SqlValue> {
    match value {
        Value::Number(n) => n.as_f64().map(number),
        Value::String(s) => Some(SqlValue::Text(s.clone())),
        Value::Bool(b) => Some(SqlValue::Integer(i64::from(*b))),
        Value::Null => Some(SqlValue::Null),
        Value::Array(_) | Value::Object(_) => None,
    }
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

pub(super) fn filter_sql(sql: &mut Sql, filter: &Filter) -> String {
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
