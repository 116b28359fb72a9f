//! What a schema costs to compile and run, measured from its JSON before it is compiled.
//!
//! The walk knows which keywords hold subschemas by name (`properties`, `$defs`, ...) so that
//! a property named `pattern` or `enum` is never mistaken for the keyword, and it does not
//! descend into values that are data rather than schemas (`enum`, `const`, `default`,
//! `examples`). Every other value under a schema is walked as if it could be a schema (a
//! `$ref` may point into an unknown keyword), which can only over-count.

use serde_json::Value;

/// Keywords whose value is an object of subschemas keyed by names (not keywords).
const NAMED_SUBSCHEMAS: [&str; 6] = [
    "properties",
    "$defs",
    "definitions",
    "dependentSchemas",
    "dependencies",
    "patternProperties",
];

/// Keywords whose value is data, never a schema: not walked.
const DATA_KEYWORDS: [&str; 4] = ["enum", "const", "default", "examples"];

/// One regular expression of a schema and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SchemaPattern {
    /// JSON pointer into the schema: the `pattern` keyword, or the `patternProperties` entry.
    pub(super) pointer: String,
    /// The ECMA-262 source.
    pub(super) source: String,
}

/// The measured cost of a schema.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct SchemaShape {
    /// JSON objects walked as schemas (the root included): an upper bound of subschemas.
    pub(super) subschemas: usize,
    /// Every `pattern` and `patternProperties` key, in document order.
    pub(super) patterns: Vec<SchemaPattern>,
    /// Total bytes of the patterns' sources.
    pub(super) pattern_bytes: usize,
}

impl SchemaShape {
    /// Measures `schema`.
    pub(super) fn of(schema: &Value) -> Self {
        let mut shape = Self::default();
        let mut pointer = String::new();
        shape.walk_schema(schema, &mut pointer);
        shape
    }

    /// The pointer of the pattern whose source is `source`, if the schema has one.
    pub(super) fn pointer_of(&self, source: &str) -> Option<&str> {
        self.patterns
            .iter()
            .find(|pattern| pattern.source == source)
            .map(|pattern| pattern.pointer.as_str())
    }

    fn add_pattern(&mut self, pointer: String, source: &str) {
        self.pattern_bytes = self.pattern_bytes.saturating_add(source.len());
        self.patterns.push(SchemaPattern {
            pointer,
            source: source.to_owned(),
        });
    }

    /// A value in schema position: an object is a schema, an array a list of them.
    fn walk_schema(&mut self, value: &Value, pointer: &mut String) {
        match value {
            Value::Object(keywords) => {
                self.subschemas = self.subschemas.saturating_add(1);
                for (keyword, inner) in keywords {
                    let mark = push(pointer, keyword);
                    match keyword.as_str() {
                        data if DATA_KEYWORDS.contains(&data) => {}
                        "pattern" if inner.is_string() => {
                            self.add_pattern(pointer.clone(), inner.as_str().unwrap_or_default());
                        }
                        named if NAMED_SUBSCHEMAS.contains(&named) => {
                            self.walk_named(named == "patternProperties", inner, pointer);
                        }
                        _ => self.walk_schema(inner, pointer),
                    }
                    pointer.truncate(mark);
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    let mark = push(pointer, &index.to_string());
                    self.walk_schema(item, pointer);
                    pointer.truncate(mark);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
        }
    }

    /// An object of subschemas keyed by names; with `keys_are_patterns` (`patternProperties`)
    /// each key is also a pattern.
    fn walk_named(&mut self, keys_are_patterns: bool, value: &Value, pointer: &mut String) {
        let Value::Object(entries) = value else {
            self.walk_schema(value, pointer);
            return;
        };
        for (name, inner) in entries {
            let mark = push(pointer, name);
            if keys_are_patterns {
                self.add_pattern(pointer.clone(), name);
            }
            self.walk_schema(inner, pointer);
            pointer.truncate(mark);
        }
    }
}

/// Appends `/token` (escaped as RFC 6901 says) and returns the length to truncate back to.
fn push(pointer: &mut String, token: &str) -> usize {
    let mark = pointer.len();
    pointer.push('/');
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            other => pointer.push(other),
        }
    }
    mark
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn patterns_are_found_with_their_pointers_and_data_is_not_walked() {
        let schema = json!({
            "properties": {
                "pattern": {"type": "string", "pattern": "^a+$"},
                "enum": {"patternProperties": {"^x/y~": {"pattern": "b"}}}
            },
            "enum": [{"pattern": "not a schema"}],
            "anyOf": [{"pattern": "c"}]
        });
        let shape = SchemaShape::of(&schema);
        let found: Vec<(&str, &str)> = shape
            .patterns
            .iter()
            .map(|p| (p.pointer.as_str(), p.source.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![
                ("/anyOf/0/pattern", "c"),
                ("/properties/enum/patternProperties/^x~1y~0", "^x/y~"),
                ("/properties/enum/patternProperties/^x~1y~0/pattern", "b"),
                ("/properties/pattern/pattern", "^a+$"),
            ]
        );
        assert_eq!(shape.pattern_bytes, 1 + 5 + 1 + 4);
        // The root, the two properties, the patternProperties entry, the anyOf item.
        assert_eq!(shape.subschemas, 5);
        assert_eq!(
            shape.pointer_of("b"),
            Some("/properties/enum/patternProperties/^x~1y~0/pattern")
        );
    }
}
