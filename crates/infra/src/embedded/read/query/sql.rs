//! SQL text with its bound parameters, and the values and JSON paths both the filter and the
//! sort bind.

use rusqlite::types::Value as SqlValue;

/// SQL text with numbered parameters (`?1`, `?2`, ...) and their values.
#[derive(Default)]
pub(super) struct Sql {
    pub(super) params: Vec<SqlValue>,
    /// Whether the filter's SQL is exactly the specification (no widening happened).
    pub(super) exact: bool,
}

impl Sql {
    /// Binds `value` and returns its placeholder.
    pub(super) fn bind(&mut self, value: SqlValue) -> String {
        self.params.push(value);
        format!("?{}", self.params.len())
    }
}

/// A number as SQLite should compare it: integers as integers.
pub(super) fn number(value: f64) -> SqlValue {
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

/// SQLite's JSON path for `path` (`$."a"."b"`), unless a key cannot be written in it.
pub(super) fn json_path(segments: &[String]) -> Option<String> {
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
