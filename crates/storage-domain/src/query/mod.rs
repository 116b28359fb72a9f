//! Queries as specifications: a filter is a domain object that judges a document in memory
//! ([`Filter::is_satisfied_by`]), and each storage adapter translates the same tree into its
//! own query language.
//!
//! - [`path`]: what a filter or sort names: data paths (`address.city`) and metadata
//!   (`$id`, `$version`, `$created_at`, `$updated_at`).
//! - [`filter`]: the filter tree and its in-memory judgement (MongoDB semantics: an array
//!   field matches when any element matches; comparisons only within one JSON type).
//! - [`parse`]: the JSON filter language, a safe subset of MongoDB's, with its limits.
//! - [`sort`]: sort orders (`-$updated_at,a.b`), ties broken by `$id`, and sort keys, which
//!   follow API.md's cross-type order.
//!
//! Pure domain code: no I/O, no driver. The rules are in API.md "Queries".

pub mod filter;
pub mod parse;
pub mod path;
pub mod sort;
mod value;

#[cfg(test)]
mod tests;

pub use filter::{Comparison, FieldFilter, Filter, Predicate};
pub use parse::{MAX_FILTER_CLAUSES, MAX_FILTER_DEPTH, MAX_IN_VALUES};
pub use path::{DataPath, FieldPath, MetaField};
pub use sort::{Direction, Sort, SortField, SortKey, SortValue};
pub use value::json_eq;

/// What a storage adapter is asked for: the live documents that satisfy `filter`, in `sort`
/// order, strictly after the `after` key when given, at most `limit` of them.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentQuery {
    /// Which documents.
    pub filter: Filter,
    /// In which order.
    pub sort: Sort,
    /// Where the previous page ended (exclusive).
    pub after: Option<SortKey>,
    /// The most documents to return.
    pub limit: u32,
}
