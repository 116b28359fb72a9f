//! The filter tree: a specification that judges a document in memory.
//!
//! Semantics (MongoDB's, restricted): a clause on a data path looks at every value the path
//! reaches; a path steps into nested objects and, at an array on the way, into each object
//! element. A value that is an array matches an operator when the array itself or any of its
//! elements does (`{"tags": "x"}` matches `["x","y"]`). Comparisons (`$gt` ...) match only
//! values of the operand's JSON type. `$ne`, `$nin` and `$not` are the negations of `$eq`,
//! `$in` and their operator expression, so they also match documents without the field.
//! `null` matches only an explicit `null`; use `$exists` for missing fields.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

use super::path::{DataPath, FieldPath, MetaField};
use super::value::{compare_same_type, json_eq};
use crate::Document;

/// A filter: a tree of conditions on a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every child holds (an empty list: every document).
    And(Vec<Filter>),
    /// At least one child holds (never empty once parsed).
    Or(Vec<Filter>),
    /// A condition on one field.
    Field(FieldFilter),
}

/// Every predicate holds for the field at `path`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldFilter {
    /// The field.
    pub path: FieldPath,
    /// The predicates, all of which must hold (never empty once parsed).
    pub predicates: Vec<Predicate>,
}

/// `$gt`, `$gte`, `$lt`, `$lte`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `$gt`.
    Gt,
    /// `$gte`.
    Gte,
    /// `$lt`.
    Lt,
    /// `$lte`.
    Lte,
}

impl Comparison {
    /// Whether `value ⋛ operand` holds given their order.
    pub fn accepts(self, order: Ordering) -> bool {
        match self {
            Comparison::Gt => order == Ordering::Greater,
            Comparison::Gte => order != Ordering::Less,
            Comparison::Lt => order == Ordering::Less,
            Comparison::Lte => order != Ordering::Greater,
        }
    }

    /// The operator's name (`$gte`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Comparison::Gt => "$gt",
            Comparison::Gte => "$gte",
            Comparison::Lt => "$lt",
            Comparison::Lte => "$lte",
        }
    }
}

/// One operator applied to a field. Operands of metadata times are milliseconds (numbers).
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// Equal (an array field: also any element equal).
    Eq(Value),
    /// Not [`Predicate::Eq`].
    Ne(Value),
    /// An order comparison with a scalar operand (null, boolean, number or string).
    Compare(Comparison, Value),
    /// Equal to one of the values.
    In(Vec<Value>),
    /// Not [`Predicate::In`].
    Nin(Vec<Value>),
    /// The path reaches a value (`true`) or none (`false`).
    Exists(bool),
    /// Not all of these predicates hold (field-level `$not`).
    Not(Vec<Predicate>),
}

impl Filter {
    /// The filter every document satisfies.
    pub fn all() -> Self {
        Filter::And(Vec::new())
    }

    /// Whether `document` is live and satisfies this filter.
    pub fn is_satisfied_by(&self, document: &Document) -> bool {
        document.is_live() && self.holds_for(document)
    }

    fn holds_for(&self, document: &Document) -> bool {
        match self {
            Filter::And(children) => children.iter().all(|c| c.holds_for(document)),
            Filter::Or(children) => children.iter().any(|c| c.holds_for(document)),
            Filter::Field(field) => {
                let candidates = field_values(document, &field.path);
                field.predicates.iter().all(|p| p.holds(&candidates))
            }
        }
    }
}

impl Predicate {
    /// Whether the predicate holds for a field that reached `candidates` (none: missing).
    pub fn holds(&self, candidates: &[Cow<'_, Value>]) -> bool {
        match self {
            Predicate::Eq(operand) => any_value(candidates, |v| json_eq(v, operand)),
            Predicate::Ne(operand) => !any_value(candidates, |v| json_eq(v, operand)),
            Predicate::Compare(comparison, operand) => any_value(candidates, |v| {
                compare_same_type(v, operand).is_some_and(|order| comparison.accepts(order))
            }),
            Predicate::In(operands) => {
                any_value(candidates, |v| operands.iter().any(|o| json_eq(v, o)))
            }
            Predicate::Nin(operands) => {
                !any_value(candidates, |v| operands.iter().any(|o| json_eq(v, o)))
            }
            Predicate::Exists(wanted) => candidates.is_empty() != *wanted,
            Predicate::Not(predicates) => !predicates.iter().all(|p| p.holds(candidates)),
        }
    }
}

/// Whether `test` holds for any candidate, or for any element of an array candidate.
fn any_value(candidates: &[Cow<'_, Value>], test: impl Fn(&Value) -> bool) -> bool {
    candidates.iter().any(|candidate| {
        test(candidate)
            || matches!(candidate.as_ref(), Value::Array(items) if items.iter().any(&test))
    })
}

/// The value of a metadata field as filters see it (times in milliseconds).
pub fn meta_value(document: &Document, meta: MetaField) -> Value {
    match meta {
        MetaField::Id => Value::String(document.id().as_str().to_owned()),
        MetaField::Version => Value::from(document.version().get()),
        MetaField::CreatedAt => Value::from(document.created_at().as_millis()),
        MetaField::UpdatedAt => Value::from(document.updated_at().as_millis()),
    }
}

/// Every value `path` reaches in `document` (none for a tombstone).
pub fn field_values<'d>(document: &'d Document, path: &FieldPath) -> Vec<Cow<'d, Value>> {
    match path {
        FieldPath::Meta(meta) => vec![Cow::Owned(meta_value(document, *meta))],
        FieldPath::Data(path) => {
            let mut found = Vec::new();
            if let Some(data) = document.data() {
                collect(data.value(), path, 0, &mut found);
            }
            found
        }
    }
}

fn collect<'d>(value: &'d Value, path: &DataPath, depth: usize, found: &mut Vec<Cow<'d, Value>>) {
    let Some(segment) = path.segments().get(depth) else {
        found.push(Cow::Borrowed(value));
        return;
    };
    match value {
        Value::Object(object) => {
            if let Some(child) = object.get(segment) {
                collect(child, path, depth + 1, found);
            }
        }
        Value::Array(items) => {
            for item in items.iter().filter(|item| item.is_object()) {
                collect(item, path, depth, found);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}
