//! The JSON Schema validator adapter.
//!
//! Built on `jsonschema` with its default features off, so a user's schema can never make
//! the server fetch a URL or read a local file (`$ref` resolves only inside the schema).
//! `format` is validated. A compiled validator is cached per collection id and settings
//! version, so each schema version is compiled once and a schema change is picked up at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use jsonschema::Validator;
use shared_kernel::{CollectionId, Error, ErrorCode, FieldError};
use storage_app::SchemaValidator;
use storage_domain::{Collection, CollectionSchema, DocumentData};

/// Compiled validators kept before the cache is cleared and refilled on demand.
const MAX_CACHED_VALIDATORS: usize = 1024;

/// The most failing locations one rejection lists.
const MAX_REPORTED_FAILURES: usize = 100;

/// JSON Schema validation with a per-schema-version cache of compiled validators.
#[derive(Default)]
pub struct JsonSchemaValidator {
    compiled: Mutex<HashMap<(CollectionId, u64), Arc<Validator>>>,
}

impl JsonSchemaValidator {
    /// An empty validator cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn compile(schema: &CollectionSchema) -> Result<Validator, Error> {
        jsonschema::options()
            .should_validate_formats(true)
            .build(schema.as_value())
            .map_err(|e| {
                Error::invalid_input(format!("the schema cannot be compiled: {e}"))
                    .with_field_error(FieldError::new(
                        format!("/schema{}", e.instance_path()),
                        e.to_string(),
                    ))
            })
    }

    fn validator_for(
        &self,
        collection: &Collection,
        schema: &CollectionSchema,
    ) -> Result<Arc<Validator>, Error> {
        let key = (collection.id(), collection.version());
        let mut cache = self.compiled.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(validator) = cache.get(&key) {
            return Ok(Arc::clone(validator));
        }
        let validator = Arc::new(
            Self::compile(schema)
                .map_err(|e| Error::internal("a stored schema no longer compiles", e))?,
        );
        if cache.len() >= MAX_CACHED_VALIDATORS {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&validator));
        Ok(validator)
    }
}

impl SchemaValidator for JsonSchemaValidator {
    fn check_schema(&self, schema: &CollectionSchema) -> Result<(), Error> {
        jsonschema::meta::validate(schema.as_value()).map_err(|e| {
            Error::invalid_input(format!("not a valid JSON Schema of a supported draft: {e}"))
                .with_field_error(FieldError::new(
                    format!("/schema{}", e.instance_path()),
                    e.to_string(),
                ))
        })?;
        Self::compile(schema).map(|_| ())
    }

    fn validate(&self, collection: &Collection, data: &DocumentData) -> Result<(), Error> {
        let Some(schema) = collection.schema() else {
            return Ok(());
        };
        let validator = self.validator_for(collection, schema)?;
        // Nearly every write is valid: the yes/no check stops at nothing and builds no error
        // iterators; only a rejection pays for listing what failed.
        if validator.is_valid(data.value()) {
            return Ok(());
        }
        let failures: Vec<FieldError> = validator
            .iter_errors(data.value())
            .take(MAX_REPORTED_FAILURES)
            .map(|e| FieldError::new(e.instance_path().to_string(), e.to_string()))
            .collect();
        if failures.is_empty() {
            return Ok(());
        }
        Err(Error::new(
            ErrorCode::SchemaViolation,
            format!(
                "the data fails the collection's schema at {} location(s)",
                failures.len()
            ),
        )
        .with_field_errors(failures))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use shared_kernel::Timestamp;
    use storage_domain::{CollectionName, DocumentLimits};

    use super::*;

    fn collection(schema: Value) -> Collection {
        let name = CollectionName::parse("people").unwrap_or_else(|e| panic!("{e}"));
        let schema = CollectionSchema::new(schema).unwrap_or_else(|e| panic!("{e}"));
        Collection::create(name, Some(schema), Timestamp::from_millis(0))
    }

    fn data(value: Value) -> DocumentData {
        DocumentData::parse(value, &DocumentLimits::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn person_schema() -> Value {
        json!({
            "type": "object",
            "required": ["name", "email"],
            "properties": {
                "name": {"type": "string"},
                "email": {"type": "string", "format": "email"},
                "age": {"type": "integer", "minimum": 0},
                "tags": {"type": "array", "items": {"type": "string"}}
            }
        })
    }

    #[test]
    fn conforming_data_passes() {
        let validator = JsonSchemaValidator::new();
        let result = validator.validate(
            &collection(person_schema()),
            &data(json!({"name": "A", "email": "a@b.example"})),
        );
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn every_failing_instance_path_is_listed() {
        let validator = JsonSchemaValidator::new();
        let bad = data(json!({"name": 3, "email": "not-an-email", "age": -1, "tags": ["x", 2]}));
        let error = validator
            .validate(&collection(person_schema()), &bad)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(error.code(), ErrorCode::SchemaViolation);
        let mut paths: Vec<_> = error
            .field_errors()
            .iter()
            .map(|e| e.path.clone())
            .collect();
        paths.sort();
        assert_eq!(paths, vec!["/age", "/email", "/name", "/tags/1"]);
    }

    #[test]
    fn a_missing_required_field_is_reported_at_the_object() {
        let validator = JsonSchemaValidator::new();
        let error = validator
            .validate(&collection(person_schema()), &data(json!({"name": "A"})))
            .err();
        let paths: Vec<_> = error
            .iter()
            .flat_map(|e| e.field_errors())
            .map(|e| e.path.clone())
            .collect();
        assert_eq!(paths, vec![""]);
    }

    #[test]
    fn invalid_and_unsupported_schemas_are_rejected() {
        let validator = JsonSchemaValidator::new();
        for schema in [
            json!({"type": "no-such-type"}),
            json!({"$schema": "https://example.com/my-own-draft", "type": "object"}),
            json!({"minimum": "ten"}),
        ] {
            let schema = CollectionSchema::new(schema.clone()).unwrap_or_else(|e| panic!("{e}"));
            let error = validator.check_schema(&schema).err().map(|e| e.code());
            assert_eq!(error, Some(ErrorCode::InvalidInput), "{schema:?}");
        }
        let good = CollectionSchema::new(person_schema()).unwrap_or_else(|e| panic!("{e}"));
        assert!(validator.check_schema(&good).is_ok());
    }

    #[test]
    fn a_schema_never_fetches_a_remote_reference() {
        let validator = JsonSchemaValidator::new();
        let schema = CollectionSchema::new(json!({"$ref": "https://example.com/schema.json"}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            validator.check_schema(&schema).err().map(|e| e.code()),
            Some(ErrorCode::InvalidInput)
        );
        let file = CollectionSchema::new(json!({"$ref": "file:///etc/passwd"}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            validator.check_schema(&file).err().map(|e| e.code()),
            Some(ErrorCode::InvalidInput)
        );
    }

    #[test]
    fn a_new_schema_version_is_picked_up() {
        let validator = JsonSchemaValidator::new();
        let mut people = collection(json!({"type": "object", "required": ["a"]}));
        assert!(validator.validate(&people, &data(json!({}))).is_err());
        let relaxed = CollectionSchema::new(json!({"type": "object"})).ok();
        assert!(
            people
                .change_schema(relaxed, Timestamp::from_millis(1))
                .is_ok()
        );
        assert!(validator.validate(&people, &data(json!({}))).is_ok());
    }
}
