//! Document data: a JSON object that obeys every rule of API.md "Encodings".
//!
//! Once a `DocumentData` exists it is known to be storable and hashable: an object, no key
//! starting with `$`, no integer beyond ±2^53, nested at most 64 deep, within the size limit.
//! Its canonical (RFC 8785) text and content hash are computed once, at construction.
//!
//! Stored data is rebuilt from its canonical text alone ([`DocumentData::restore`]); its
//! parsed [`Value`] is built only when something asks for it (a patch, a filter, a schema
//! check). A read by id sends the canonical text as it is, so it never builds the tree of
//! allocations a `Value` is, nor frees it. The text is kept as a [`RawValue`], checked to be
//! JSON once when the data is built, so that an answer can embed it without checking again.

use std::sync::{Arc, OnceLock};

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use shared_kernel::constants::{
    DEFAULT_MAX_DOCUMENT_BYTES, MAX_DOCUMENT_DEPTH, REQUEST_BODY_OVERHEAD_BYTES,
};
use shared_kernel::number::{canonical_number, unsafe_integer_message};
use shared_kernel::{Error, ErrorCode, FieldError, Sha256Digest, canonical_json};

/// The most field errors one rejection lists; past that the client has enough to go on.
const MAX_REPORTED_VIOLATIONS: usize = 100;

/// Limits that depend on configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentLimits {
    /// The largest canonical size of a document's data, in bytes.
    pub max_bytes: usize,
}

impl DocumentLimits {
    /// The largest request body: the document limit plus room for the envelope.
    pub fn max_request_bytes(&self) -> usize {
        self.max_bytes.saturating_add(REQUEST_BODY_OVERHEAD_BYTES)
    }
}

impl Default for DocumentLimits {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
        }
    }
}

/// Valid document data with its canonical text and content hash.
///
/// Immutable once built, so it is shared rather than copied: a write hands the same data to
/// the document, its revision, the stored row and the answer, and a clone is a reference
/// count, not a copy of the text and of the parsed tree.
///
/// Two values are equal exactly when their canonical texts are, so equality compares those.
#[derive(Debug, Clone)]
pub struct DocumentData(Arc<Contents>);

#[derive(Debug)]
struct Contents {
    /// The parsed canonical text, built on first use (see the module documentation).
    value: OnceLock<Value>,
    canonical: Box<RawValue>,
    content_hash: Sha256Digest,
}

impl PartialEq for DocumentData {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.canonical() == other.canonical()
    }
}

impl DocumentData {
    /// Validates `value` and computes its canonical form. Integral numbers written as floats
    /// (`1e2`, `3.0`) become integers, which is what their canonical form says they are.
    ///
    /// # Errors
    /// `INVALID_INPUT` listing every violated rule with its JSON pointer (relative to the
    /// data); `PAYLOAD_TOO_LARGE` when the canonical form exceeds `limits.max_bytes`.
    pub fn parse(mut value: Value, limits: &DocumentLimits) -> Result<Self, Error> {
        let Value::Object(object) = &mut value else {
            return Err(Error::invalid_field(
                "",
                "document data must be a JSON object",
            ));
        };
        let mut violations = Vec::new();
        check_object(object, &mut String::new(), 1, &mut violations);
        if !violations.is_empty() {
            let detail = format!("document data breaks {} rule(s)", violations.len());
            return Err(Error::invalid_input(detail).with_field_errors(violations));
        }
        let canonical = canonical_json(&value);
        if canonical.len() > limits.max_bytes {
            return Err(Error::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "the document is {} bytes in canonical form; the limit is {}",
                    canonical.len(),
                    limits.max_bytes
                ),
            )
            .with_detail("limit_bytes", limits.max_bytes));
        }
        let content_hash = Sha256Digest::of(canonical.as_bytes());
        // The serialiser's output is JSON; a failure here would be a bug in it, not bad input.
        let canonical = RawValue::from_string(canonical)
            .map_err(|e| Error::internal("the canonical form of the data is not JSON", e))?;
        Ok(Self(Arc::new(Contents {
            value: OnceLock::from(value),
            canonical,
            content_hash,
        })))
    }

    /// Rebuilds stored data from its canonical text, trusting that it was valid when stored.
    /// Only repositories call this.
    ///
    /// # Errors
    /// `INTERNAL_ERROR` when the stored text is not JSON (a corrupted store).
    pub fn restore(canonical: String) -> Result<Self, Error> {
        let content_hash = Sha256Digest::of(canonical.as_bytes());
        // Checked without building the value: most reads never need it.
        let canonical = RawValue::from_string(canonical)
            .map_err(|e| Error::internal("stored document data is not valid JSON", e))?;
        Ok(Self(Arc::new(Contents {
            value: OnceLock::new(),
            canonical,
            content_hash,
        })))
    }

    /// The data, parsed from the canonical text on first use.
    pub fn value(&self) -> &Value {
        self.0.value.get_or_init(|| {
            // Both constructors checked that the text is JSON (`parse` wrote it from a
            // value, `restore` refused anything else), so this cannot fail.
            serde_json::from_str(self.0.canonical.get())
                .expect("the canonical text of document data was checked to be JSON")
        })
    }

    /// The RFC 8785 canonical text: what is stored, hashed and returned.
    pub fn canonical(&self) -> &str {
        self.0.canonical.get()
    }

    /// The canonical text as a JSON value to embed in an answer as it is.
    pub fn raw(&self) -> &RawValue {
        &self.0.canonical
    }

    /// Hex SHA-256 of the canonical bytes.
    pub fn content_hash(&self) -> Sha256Digest {
        self.0.content_hash
    }
}

/// Appends `key` to a JSON pointer, escaping `~` and `/` (RFC 6901).
fn push_pointer_token(pointer: &mut String, key: &str) {
    pointer.push('/');
    for c in key.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            other => pointer.push(other),
        }
    }
}

fn report(violations: &mut Vec<FieldError>, path: &str, message: impl Into<String>) {
    if violations.len() < MAX_REPORTED_VIOLATIONS {
        violations.push(FieldError::new(path, message));
    }
}

fn check_object(
    object: &mut Map<String, Value>,
    path: &mut String,
    depth: usize,
    violations: &mut Vec<FieldError>,
) {
    if depth > MAX_DOCUMENT_DEPTH {
        report(
            violations,
            path,
            format!("nesting deeper than {MAX_DOCUMENT_DEPTH} levels"),
        );
        return;
    }
    for (key, value) in object.iter_mut() {
        let saved = path.len();
        push_pointer_token(path, key);
        if key.starts_with('$') {
            report(violations, path, "keys must not start with `$`");
        }
        check_value(value, path, depth, violations);
        path.truncate(saved);
    }
}

fn check_value(
    value: &mut Value,
    path: &mut String,
    depth: usize,
    violations: &mut Vec<FieldError>,
) {
    match value {
        Value::Object(object) => check_object(object, path, depth + 1, violations),
        Value::Array(items) => {
            if depth + 1 > MAX_DOCUMENT_DEPTH {
                report(
                    violations,
                    path,
                    format!("nesting deeper than {MAX_DOCUMENT_DEPTH} levels"),
                );
                return;
            }
            for (index, item) in items.iter_mut().enumerate() {
                let saved = path.len();
                path.push('/');
                path.push_str(&index.to_string());
                check_value(item, path, depth + 1, violations);
                path.truncate(saved);
            }
        }
        Value::Number(number) => match canonical_number(number) {
            Some(canonical) => *number = canonical,
            None => report(violations, path, unsafe_integer_message()),
        },
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<DocumentData, Error> {
        DocumentData::parse(value, &DocumentLimits::default())
    }

    fn paths(error: &Error) -> Vec<&str> {
        error
            .field_errors()
            .iter()
            .map(|e| e.path.as_str())
            .collect()
    }

    #[test]
    fn valid_data_gets_its_canonical_text_and_hash() {
        let data = parse(json!({"b": 1e2, "a": [1.5, "x"]})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(data.canonical(), r#"{"a":[1.5,"x"],"b":100}"#);
        assert_eq!(
            data.content_hash(),
            Sha256Digest::of(data.canonical().as_bytes())
        );
        assert_eq!(data.value(), &json!({"a": [1.5, "x"], "b": 100}));
    }

    #[test]
    fn data_must_be_an_object() {
        for value in [json!([]), json!("x"), json!(1), json!(null)] {
            assert_eq!(
                parse(value).err().map(|e| e.code()),
                Some(ErrorCode::InvalidInput)
            );
        }
    }

    #[test]
    fn dollar_keys_are_rejected_with_every_path() {
        let error = parse(json!({"$a": 1, "b": {"$c": 2}, "d": [{"$e": 3}], "f~/": {"$g": 0}}))
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(paths(&error), vec!["/$a", "/b/$c", "/d/0/$e", "/f~0~1/$g"]);
    }

    #[test]
    fn integers_beyond_two_to_the_fifty_third_are_rejected() {
        assert!(parse(json!({"n": 9_007_199_254_740_992_u64})).is_ok());
        assert!(parse(json!({"n": -9_007_199_254_740_992_i64})).is_ok());
        for value in [
            json!({"n": 9_007_199_254_740_993_u64}),
            json!({"n": -9_007_199_254_740_993_i64}),
            json!({"n": 1e300}),
            json!({"n": [u64::MAX]}),
        ] {
            let error = parse(value).err().unwrap_or_else(|| panic!("accepted"));
            assert_eq!(error.code(), ErrorCode::InvalidInput);
        }
    }

    #[test]
    fn nesting_is_limited_to_sixty_four_levels() {
        let mut deep = json!(1);
        for _ in 0..64 {
            deep = json!({ "k": deep });
        }
        assert!(parse(deep.clone()).is_ok(), "64 nested objects are fine");
        let too_deep = json!({ "k": deep });
        let error = parse(too_deep).err().unwrap_or_else(|| panic!("accepted"));
        assert!(error.field_errors()[0].message.contains("nesting"));
    }

    #[test]
    fn data_over_the_size_limit_is_too_large() {
        let limits = DocumentLimits { max_bytes: 15 };
        assert!(DocumentData::parse(json!({"a": "1234567"}), &limits).is_ok());
        let error = DocumentData::parse(json!({"a": "12345678"}), &limits).err();
        assert_eq!(error.map(|e| e.code()), Some(ErrorCode::PayloadTooLarge));
    }

    #[test]
    fn restored_data_hashes_like_parsed_data() {
        let data = parse(json!({"x": [1, 2]})).unwrap_or_else(|e| panic!("{e}"));
        let restored =
            DocumentData::restore(data.canonical().to_owned()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(restored, data);
    }
}
