//! Sort orders and sort keys.
//!
//! A sort is a comma list of paths, `-` for descending (`-$updated_at,name`); ties are broken
//! by `$id` (ascending unless the list names `-$id`, which must then come last). Values of
//! different JSON types sort by API.md's cross-type order: missing < null < numbers < strings
//! < objects < arrays < booleans. Within a type: numbers by value, strings by their UTF-8
//! bytes, `false < true`; objects are all equal to each other, and so are arrays (the next
//! sort field, then `$id`, decides). A sort path follows object keys only: a path that meets
//! an array before its end is missing.

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;
use shared_kernel::Error;

use super::filter::meta_value;
use super::path::{FieldPath, MetaField};
use crate::{Document, DocumentId};

/// The most fields a sort may name (the `$id` tie-breaker included).
pub const MAX_SORT_FIELDS: usize = 8;

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Smallest first.
    Ascending,
    /// Largest first.
    Descending,
}

impl Direction {
    /// Applies the direction to an ascending order.
    pub fn apply(self, order: Ordering) -> Ordering {
        match self {
            Direction::Ascending => order,
            Direction::Descending => order.reverse(),
        }
    }
}

/// One sort field other than the `$id` tie-breaker.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SortField {
    /// The field (never `$id`).
    pub path: FieldPath,
    /// Its direction.
    pub direction: Direction,
}

/// A sort order: fields, then `$id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sort {
    fields: Vec<SortField>,
    id_direction: Direction,
}

/// A document's position in a sort order: one value per sort field, then its id.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// The values of [`Sort::fields`], in order.
    pub values: Vec<SortValue>,
    /// The tie-breaker.
    pub id: DocumentId,
}

/// A field's value as a sort sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum SortValue {
    /// The path reaches nothing.
    Missing,
    /// `null`.
    Null,
    /// A number (metadata times in milliseconds, versions too).
    Number(f64),
    /// A string (the `$id` as well).
    String(String),
    /// Any object (all objects sort equal).
    Object,
    /// Any array (all arrays sort equal).
    Array,
    /// A boolean.
    Bool(bool),
}

impl SortValue {
    /// The cross-type rank: missing 0, null 1, number 2, string 3, object 4, array 5,
    /// boolean 6.
    pub fn rank(&self) -> u8 {
        match self {
            SortValue::Missing => 0,
            SortValue::Null => 1,
            SortValue::Number(_) => 2,
            SortValue::String(_) => 3,
            SortValue::Object => 4,
            SortValue::Array => 5,
            SortValue::Bool(_) => 6,
        }
    }

    /// The sort value of a JSON value (or of a missing one).
    pub fn of(value: Option<&Value>) -> Self {
        match value {
            None => SortValue::Missing,
            Some(Value::Null) => SortValue::Null,
            Some(Value::Bool(b)) => SortValue::Bool(*b),
            Some(Value::Number(n)) => SortValue::Number(n.as_f64().unwrap_or(0.0)),
            Some(Value::String(s)) => SortValue::String(s.clone()),
            Some(Value::Object(_)) => SortValue::Object,
            Some(Value::Array(_)) => SortValue::Array,
        }
    }

    /// The ascending order of two sort values.
    pub fn compare(&self, other: &Self) -> Ordering {
        match (self, other) {
            (SortValue::Number(a), SortValue::Number(b)) => {
                a.partial_cmp(b).unwrap_or(Ordering::Equal)
            }
            (SortValue::String(a), SortValue::String(b)) => a.as_bytes().cmp(b.as_bytes()),
            (SortValue::Bool(a), SortValue::Bool(b)) => a.cmp(b),
            (
                SortValue::Missing
                | SortValue::Null
                | SortValue::Number(_)
                | SortValue::String(_)
                | SortValue::Object
                | SortValue::Array
                | SortValue::Bool(_),
                _,
            ) => self.rank().cmp(&other.rank()),
        }
    }
}

impl Sort {
    /// By `$id` ascending: the default.
    pub fn by_id() -> Self {
        Self {
            fields: Vec::new(),
            id_direction: Direction::Ascending,
        }
    }

    /// Parses `a,-b.c,$created_at` (empty: [`Sort::by_id`]).
    ///
    /// # Errors
    /// `INVALID_INPUT` for a bad path, a field named twice, a field after `$id`, or more than
    /// [`MAX_SORT_FIELDS`] fields.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut sort = Self::by_id();
        if text.is_empty() {
            return Ok(sort);
        }
        let items: Vec<&str> = text.split(',').collect();
        if items.len() > MAX_SORT_FIELDS {
            return Err(Error::invalid_input(format!(
                "a sort may name at most {MAX_SORT_FIELDS} fields"
            )));
        }
        for (index, item) in items.iter().enumerate() {
            let (direction, name) = match item.strip_prefix('-') {
                Some(rest) => (Direction::Descending, rest),
                None => (Direction::Ascending, *item),
            };
            let path = FieldPath::parse(name).map_err(|e| {
                Error::invalid_input(format!("sort field `{item}`: {}", e.detail()))
            })?;
            if path == FieldPath::Meta(MetaField::Id) {
                if index + 1 != items.len() {
                    return Err(Error::invalid_input(
                        "`$id` is unique, so it must be the last sort field",
                    ));
                }
                sort.id_direction = direction;
                continue;
            }
            if sort.fields.iter().any(|f| f.path == path) {
                return Err(Error::invalid_input(format!(
                    "sort field `{name}` is named twice"
                )));
            }
            sort.fields.push(SortField { path, direction });
        }
        Ok(sort)
    }

    /// The fields before the `$id` tie-breaker.
    pub fn fields(&self) -> &[SortField] {
        &self.fields
    }

    /// The direction of the `$id` tie-breaker.
    pub fn id_direction(&self) -> Direction {
        self.id_direction
    }

    /// Where `document` stands in this order.
    pub fn key_of(&self, document: &Document) -> SortKey {
        SortKey {
            values: self
                .fields
                .iter()
                .map(|field| sort_value(document, &field.path))
                .collect(),
            id: document.id().clone(),
        }
    }

    /// The order of two keys of this sort.
    pub fn compare_keys(&self, a: &SortKey, b: &SortKey) -> Ordering {
        self.fields
            .iter()
            .zip(a.values.iter().zip(&b.values))
            .map(|(field, (x, y))| field.direction.apply(x.compare(y)))
            .find(|order| order.is_ne())
            .unwrap_or_else(|| {
                self.id_direction
                    .apply(a.id.as_str().as_bytes().cmp(b.id.as_str().as_bytes()))
            })
    }

    /// The order of two documents.
    pub fn compare(&self, a: &Document, b: &Document) -> Ordering {
        self.compare_keys(&self.key_of(a), &self.key_of(b))
    }
}

/// The value `path` has in `document` for sorting: object keys only.
fn sort_value(document: &Document, path: &FieldPath) -> SortValue {
    match path {
        FieldPath::Meta(meta) => SortValue::of(Some(&meta_value(document, *meta))),
        FieldPath::Data(path) => {
            let mut value = document.data().map(|d| d.value());
            for segment in path.segments() {
                value = value
                    .and_then(|v| v.as_object())
                    .and_then(|o| o.get(segment));
            }
            SortValue::of(value)
        }
    }
}

impl fmt::Display for Sort {
    /// The canonical text: `a,-b,$id`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for field in &self.fields {
            if field.direction == Direction::Descending {
                f.write_str("-")?;
            }
            write!(f, "{},", field.path)?;
        }
        if self.id_direction == Direction::Descending {
            f.write_str("-")?;
        }
        f.write_str("$id")
    }
}
