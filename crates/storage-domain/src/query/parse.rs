//! The JSON filter language: a safe subset of MongoDB's query documents.
//!
//! `{"a.b": 3}` (equality), `{"a": {"$gt": 1, "$lt": 5}}`, `$eq $ne $gt $gte $lt $lte $in
//! $nin $exists`, `{"$and": [...]}`, `{"$or": [...]}` and field-level `$not`. Anything else
//! (`$where`, `$regex`, `$expr`, `$nor`, any unknown `$` key) is refused with `INVALID_INPUT`
//! naming the operator, its field and its JSON pointer, before any storage is touched. Limits
//! keep a filter's cost bounded: nesting depth, clause count and `$in` list length.

use serde_json::{Map, Value};
use shared_kernel::number::{canonical_number, unsafe_integer_message};
use shared_kernel::{Error, Timestamp};

use super::filter::{Comparison, FieldFilter, Filter, Predicate};
use super::path::{FieldPath, MetaField};

/// The deepest nesting of a filter (each `$and`/`$or` element, operator object and `$not`
/// is one level; the filter itself is level 1).
pub const MAX_FILTER_DEPTH: usize = 16;
/// The most clauses one filter may hold. A clause is one condition: an equality
/// (`{"a": 1}`), one operator of an operator object (`$gt`, `$in`, `$exists`, ...), or an
/// empty filter `{}`. `$and`, `$or` and `$not` only combine clauses and do not count, so an
/// `$or` may list 256 alternatives. The cost stays bounded: every combinator holds at least
/// one clause and nests at most [`MAX_FILTER_DEPTH`] deep, so a filter has at most
/// `256 × 16` nodes.
pub const MAX_FILTER_CLAUSES: usize = 256;
/// The most values one `$in` or `$nin` may list.
pub const MAX_IN_VALUES: usize = 1000;

/// The operators a field's operator object may use.
const FIELD_OPERATORS: &str = "$eq, $ne, $gt, $gte, $lt, $lte, $in, $nin, $exists, $not";

impl Filter {
    /// Parses a JSON filter (see the module docs).
    ///
    /// # Errors
    /// `INVALID_INPUT` with the JSON pointer (relative to the filter) of the first problem:
    /// an unsupported operator, a malformed operand, a bad path, or a limit exceeded.
    pub fn parse(value: &Value) -> Result<Self, Error> {
        Parser { clauses: 0 }.filter(value, "", 1)
    }
}

struct Parser {
    clauses: usize,
}

fn pointer(parent: &str, token: &str) -> String {
    let escaped = token.replace('~', "~0").replace('/', "~1");
    format!("{parent}/{escaped}")
}

fn unsupported(operator: &str, field: Option<&FieldPath>, at: &str) -> Error {
    let place = field.map_or_else(String::new, |f| format!(" on field `{f}`"));
    let allowed = if field.is_some() {
        FIELD_OPERATORS
    } else {
        "$and, $or and field names"
    };
    Error::invalid_field(
        at,
        format!("operator `{operator}`{place} at `{at}` is not supported; use {allowed}"),
    )
}

impl Parser {
    fn count(&mut self, at: &str) -> Result<(), Error> {
        self.clauses += 1;
        if self.clauses > MAX_FILTER_CLAUSES {
            return Err(Error::invalid_field(
                at,
                format!("a filter may hold at most {MAX_FILTER_CLAUSES} clauses"),
            ));
        }
        Ok(())
    }

    fn depth(depth: usize, at: &str) -> Result<(), Error> {
        if depth > MAX_FILTER_DEPTH {
            return Err(Error::invalid_field(
                at,
                format!("a filter may nest at most {MAX_FILTER_DEPTH} levels deep"),
            ));
        }
        Ok(())
    }

    fn filter(&mut self, value: &Value, at: &str, depth: usize) -> Result<Filter, Error> {
        Self::depth(depth, at)?;
        let Value::Object(object) = value else {
            return Err(Error::invalid_field(at, "a filter must be a JSON object"));
        };
        if object.is_empty() {
            // Matches everything: one clause, so `{"$or": [{}, {}, ...]}` is bounded too.
            self.count(at)?;
        }
        let mut children = Vec::with_capacity(object.len());
        for (key, operand) in object {
            let here = pointer(at, key);
            let child = match key.as_str() {
                "$and" | "$or" => {
                    let Value::Array(items) = operand else {
                        return Err(Error::invalid_field(
                            &here,
                            format!("`{key}` takes a non-empty array of filters"),
                        ));
                    };
                    if items.is_empty() {
                        return Err(Error::invalid_field(
                            &here,
                            format!("`{key}` takes a non-empty array of filters"),
                        ));
                    }
                    let parsed = items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| {
                            self.filter(item, &pointer(&here, &i.to_string()), depth + 1)
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    if key == "$and" {
                        Filter::And(parsed)
                    } else {
                        Filter::Or(parsed)
                    }
                }
                _ if key.starts_with('$') && MetaField::parse(key).is_none() => {
                    return Err(unsupported(key, None, &here));
                }
                _ => {
                    let path = FieldPath::parse(key).map_err(|e| e.at(&here))?;
                    Filter::Field(self.field(path, operand, &here, depth)?)
                }
            };
            children.push(child);
        }
        Ok(match children.len() {
            1 => children.pop().unwrap_or_else(Filter::all),
            _ => Filter::And(children),
        })
    }

    fn field(
        &mut self,
        path: FieldPath,
        operand: &Value,
        at: &str,
        depth: usize,
    ) -> Result<FieldFilter, Error> {
        let predicates = match operand {
            Value::Object(object) if object.keys().any(|k| k.starts_with('$')) => {
                self.operators(&path, object, at, depth + 1)?
            }
            Value::Null
            | Value::Bool(_)
            | Value::Number(_)
            | Value::String(_)
            | Value::Array(_)
            | Value::Object(_) => {
                self.count(at)?;
                vec![Predicate::Eq(operand_value(&path, operand, at)?)]
            }
        };
        Ok(FieldFilter { path, predicates })
    }

    fn operators(
        &mut self,
        path: &FieldPath,
        object: &Map<String, Value>,
        at: &str,
        depth: usize,
    ) -> Result<Vec<Predicate>, Error> {
        Self::depth(depth, at)?;
        if let Some(plain) = object.keys().find(|k| !k.starts_with('$')) {
            return Err(Error::invalid_field(
                pointer(at, plain),
                format!(
                    "an operator object on field `{path}` mixes operators with the key `{plain}`"
                ),
            ));
        }
        let mut predicates = Vec::with_capacity(object.len());
        for (operator, operand) in object {
            let here = pointer(at, operator);
            if operator != "$not" {
                // `$not` counts by the operators inside it.
                self.count(&here)?;
            }
            let comparison = |c| -> Result<Predicate, Error> {
                Ok(Predicate::Compare(
                    c,
                    scalar_operand(path, operator, operand, &here)?,
                ))
            };
            let predicate = match operator.as_str() {
                "$eq" => Predicate::Eq(operand_value(path, operand, &here)?),
                "$ne" => Predicate::Ne(operand_value(path, operand, &here)?),
                "$gt" => comparison(Comparison::Gt)?,
                "$gte" => comparison(Comparison::Gte)?,
                "$lt" => comparison(Comparison::Lt)?,
                "$lte" => comparison(Comparison::Lte)?,
                "$in" => Predicate::In(list_operand(path, operator, operand, &here)?),
                "$nin" => Predicate::Nin(list_operand(path, operator, operand, &here)?),
                "$exists" => match operand {
                    Value::Bool(wanted) => Predicate::Exists(*wanted),
                    Value::Null
                    | Value::Number(_)
                    | Value::String(_)
                    | Value::Array(_)
                    | Value::Object(_) => {
                        return Err(Error::invalid_field(
                            &here,
                            format!("`$exists` on field `{path}` takes true or false"),
                        ));
                    }
                },
                "$not" => match operand {
                    Value::Object(inner)
                        if !inner.is_empty() && inner.keys().all(|k| k.starts_with('$')) =>
                    {
                        Predicate::Not(self.operators(path, inner, &here, depth + 1)?)
                    }
                    Value::Null
                    | Value::Bool(_)
                    | Value::Number(_)
                    | Value::String(_)
                    | Value::Array(_)
                    | Value::Object(_) => {
                        return Err(Error::invalid_field(
                            &here,
                            format!(
                                "`$not` on field `{path}` takes a non-empty operator object such as {{\"$gt\": 1}}"
                            ),
                        ));
                    }
                },
                _ => return Err(unsupported(operator, Some(path), &here)),
            };
            predicates.push(predicate);
        }
        Ok(predicates)
    }
}

/// Checks an operand; metadata times become milliseconds.
fn operand_value(path: &FieldPath, operand: &Value, at: &str) -> Result<Value, Error> {
    if let FieldPath::Meta(meta) = path
        && meta.is_time()
    {
        let Value::String(text) = operand else {
            return Err(Error::invalid_field(
                at,
                format!("`{path}` is compared with RFC 3339 times"),
            ));
        };
        let time = Timestamp::parse_rfc3339(text).map_err(|e| e.at(at))?;
        return Ok(Value::from(time.as_millis()));
    }
    check_numbers(operand, at)?;
    Ok(operand.clone())
}

/// Integers beyond ±2^53 cannot be compared exactly, and no document holds one: the same
/// rule as document data ([`canonical_number`]), whatever the spelling (`18446744073709551616`,
/// `1.8446744073709552e19`, `1e300`). The error names the number's own pointer.
fn check_numbers(value: &Value, at: &str) -> Result<(), Error> {
    match value {
        Value::Number(number) => match canonical_number(number) {
            Some(_) => Ok(()),
            None => Err(Error::invalid_field(
                at,
                format!("in filters, {}", unsafe_integer_message()),
            )),
        },
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_numbers(v, &pointer(at, &i.to_string()))),
        Value::Object(object) => object
            .iter()
            .try_for_each(|(key, v)| check_numbers(v, &pointer(at, key))),
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
    }
}

fn scalar_operand(
    path: &FieldPath,
    operator: &str,
    operand: &Value,
    at: &str,
) -> Result<Value, Error> {
    match operand {
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            operand_value(path, operand, at)
        }
        Value::Array(_) | Value::Object(_) => Err(Error::invalid_field(
            at,
            format!("`{operator}` on field `{path}` takes a null, boolean, number or string"),
        )),
    }
}

fn list_operand(
    path: &FieldPath,
    operator: &str,
    operand: &Value,
    at: &str,
) -> Result<Vec<Value>, Error> {
    let Value::Array(items) = operand else {
        return Err(Error::invalid_field(
            at,
            format!("`{operator}` on field `{path}` takes an array"),
        ));
    };
    if items.len() > MAX_IN_VALUES {
        return Err(Error::invalid_field(
            at,
            format!("`{operator}` may list at most {MAX_IN_VALUES} values"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| operand_value(path, item, &pointer(at, &i.to_string())))
        .collect()
}
