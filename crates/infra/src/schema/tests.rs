//! The validator adapter: what it accepts, refuses and keeps.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shared_kernel::{ErrorCode, Timestamp};
use storage_domain::{CollectionName, DocumentLimits};

use super::*;

fn validator() -> JsonSchemaValidator {
    validator_with(SchemaOptions::default())
}

fn validator_with(options: SchemaOptions) -> JsonSchemaValidator {
    JsonSchemaValidator::new(options).unwrap_or_else(|e| panic!("{e}"))
}

fn collection(schema: Value) -> Collection {
    let name = CollectionName::parse("people").unwrap_or_else(|e| panic!("{e}"));
    Collection::create(name, Some(schema_of(schema)), Timestamp::from_millis(0))
}

fn schema_of(schema: Value) -> CollectionSchema {
    CollectionSchema::new(schema).unwrap_or_else(|e| panic!("{e}"))
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

/// The schema of issue 18: `anyOf` of 150 patterns like `^(a|a)*\1b...$` (about 17 KB),
/// exponential on the backtracking engine for `aaaa…a!`.
fn hostile_schema() -> Value {
    let patterns: Vec<Value> = (0..150)
        .map(|i| json!({"pattern": format!("^(a|a)*\\1b{i:0>88}$")}))
        .collect();
    json!({"type": "object", "properties": {"s": {"anyOf": patterns}}})
}

fn paths(error: &Error) -> Vec<String> {
    let mut paths: Vec<String> = error
        .field_errors()
        .iter()
        .map(|e| e.path.clone())
        .collect();
    paths.sort();
    paths
}

#[tokio::test]
async fn conforming_data_passes() {
    let result = validator()
        .validate(
            &collection(person_schema()),
            &data(json!({"name": "A", "email": "a@b.example"})),
        )
        .await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn a_collection_without_schema_accepts_anything() {
    let name = CollectionName::parse("free").unwrap_or_else(|e| panic!("{e}"));
    let free = Collection::create(name, None, Timestamp::from_millis(0));
    let validator = validator();
    assert!(
        validator
            .validate(&free, &data(json!({"x": 1})))
            .await
            .is_ok()
    );
    assert_eq!(validator.cached_schemas(), 0);
}

#[tokio::test]
async fn every_failing_instance_path_is_listed() {
    let bad = data(json!({"name": 3, "email": "not-an-email", "age": -1, "tags": ["x", 2]}));
    let people = collection(person_schema());
    let validator = validator();
    // The first check compiles off-thread, the second is answered inline from the cache:
    // both say the same.
    for _ in 0..2 {
        let error = validator
            .validate(&people, &bad)
            .await
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(error.code(), ErrorCode::SchemaViolation);
        assert_eq!(paths(&error), vec!["/age", "/email", "/name", "/tags/1"]);
    }
}

#[tokio::test]
async fn a_missing_required_field_is_reported_at_the_object() {
    let error = validator()
        .validate(&collection(person_schema()), &data(json!({"name": "A"})))
        .await
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert_eq!(paths(&error), vec![""]);
}

#[tokio::test]
async fn invalid_and_unsupported_schemas_are_rejected() {
    let validator = validator();
    for schema in [
        json!({"type": "no-such-type"}),
        json!({"$schema": "https://example.com/my-own-draft", "type": "object"}),
        json!({"minimum": "ten"}),
    ] {
        let error = validator.check_schema(&schema_of(schema.clone())).await;
        assert_eq!(
            error.err().map(|e| e.code()),
            Some(ErrorCode::InvalidInput),
            "{schema}"
        );
    }
    assert!(
        validator
            .check_schema(&schema_of(person_schema()))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_schema_never_fetches_a_remote_reference() {
    let validator = validator();
    for reference in ["https://example.com/schema.json", "file:///etc/passwd"] {
        let schema = schema_of(json!({"$ref": reference}));
        assert_eq!(
            validator
                .check_schema(&schema)
                .await
                .err()
                .map(|e| e.code()),
            Some(ErrorCode::InvalidInput),
            "{reference}"
        );
    }
}

#[tokio::test]
async fn a_new_schema_version_is_picked_up_and_replaces_the_old_one() {
    let validator = validator();
    let mut people = collection(json!({"type": "object", "required": ["a"]}));
    assert!(validator.validate(&people, &data(json!({}))).await.is_err());
    let relaxed = CollectionSchema::new(json!({"type": "object"})).ok();
    assert!(
        people
            .change_schema(relaxed, Timestamp::from_millis(1))
            .is_ok()
    );
    assert!(validator.validate(&people, &data(json!({}))).await.is_ok());
    assert_eq!(validator.cached_schemas(), 1, "one entry per collection");
}

#[tokio::test]
async fn the_hostile_schema_of_issue_18_is_refused_naming_its_first_pattern() {
    let error = validator()
        .check_schema(&schema_of(hostile_schema()))
        .await
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert_eq!(error.code(), ErrorCode::InvalidInput);
    assert_eq!(paths(&error), vec!["/schema/properties/s/anyOf/0/pattern"]);
}

#[tokio::test]
async fn lookaround_and_backreferences_are_refused_in_new_schemas() {
    let validator = validator();
    for (schema, pointer) in [
        (
            json!({"properties": {"s": {"pattern": "^(?=a)a$"}}}),
            "/schema/properties/s/pattern",
        ),
        (
            json!({"patternProperties": {"^(a)\\1$": {"type": "string"}}}),
            "/schema/patternProperties/^(a)\\1$",
        ),
        (
            json!({"propertyNames": {"pattern": "(?<!x)y"}}),
            "/schema/propertyNames/pattern",
        ),
    ] {
        let error = validator
            .check_schema(&schema_of(schema.clone()))
            .await
            .err()
            .unwrap_or_else(|| panic!("accepted {schema}"));
        assert_eq!(error.code(), ErrorCode::InvalidInput, "{schema}");
        assert_eq!(paths(&error), vec![pointer.to_owned()], "{schema}");
    }
    let linear = json!({"properties": {"s": {"pattern": "^[a-z]+(-[a-z]+)*$"}}});
    assert!(validator.check_schema(&schema_of(linear)).await.is_ok());
}

#[tokio::test]
async fn a_stored_backtracking_schema_keeps_working_and_gives_up_with_a_violation() {
    let validator = validator();
    let backreference = collection(json!({"properties": {"s": {"pattern": "^(a+)-\\1$"}}}));
    assert!(
        validator
            .validate(&backreference, &data(json!({"s": "aa-aa"})))
            .await
            .is_ok()
    );
    let error = validator
        .validate(&backreference, &data(json!({"s": "aa-a"})))
        .await
        .err()
        .map(|e| (e.code(), paths(&e)));
    assert_eq!(
        error,
        Some((ErrorCode::SchemaViolation, vec!["/s".to_owned()]))
    );

    let hostile = collection(hostile_schema());
    let started = Instant::now();
    let error = validator
        .validate(
            &hostile,
            &data(json!({"s": format!("{}!", "a".repeat(30))})),
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    // The old engine took 10.9 s here; the limit ends it in a fraction of a second (the
    // margin is for a busy machine).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(error.code(), ErrorCode::SchemaViolation);
    assert_eq!(paths(&error), vec!["/s"]);
    assert!(
        error.field_errors()[0]
            .message
            .contains("backtracking limit"),
        "{:?}",
        error.field_errors()
    );
}

#[tokio::test]
async fn a_schema_above_the_size_cap_is_refused_at_schema() {
    let validator = validator_with(SchemaOptions {
        limits: SchemaLimits {
            max_schema_bytes: 1024,
        },
        ..SchemaOptions::default()
    });
    let values: Vec<String> = (0..200).map(|i| format!("value-{i}")).collect();
    let error = validator
        .check_schema(&schema_of(json!({"enum": values})))
        .await
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert_eq!(error.code(), ErrorCode::InvalidInput);
    assert_eq!(paths(&error), vec!["/schema"]);
    assert!(
        error.detail().contains("max_schema_bytes"),
        "{}",
        error.detail()
    );
    assert!(
        validator
            .check_schema(&schema_of(json!({"enum": [1, 2]})))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_schema_over_a_cost_cap_is_refused_naming_the_cap() {
    let validator = validator();
    let patterns: serde_json::Map<String, Value> = (0..=limits::MAX_PATTERNS)
        .map(|i| (format!("^p{i}$"), json!({})))
        .collect();
    let error = validator
        .check_schema(&schema_of(json!({"patternProperties": patterns})))
        .await
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert_eq!(paths(&error), vec!["/schema"]);
    assert!(error.detail().contains("patterns"), "{}", error.detail());

    let nested: Vec<Value> = (0..=limits::MAX_SUBSCHEMAS).map(|_| json!({})).collect();
    let error = validator
        .check_schema(&schema_of(json!({"anyOf": nested})))
        .await
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert!(error.detail().contains("subschemas"), "{}", error.detail());
}

#[tokio::test]
async fn replaced_schemas_and_forgotten_collections_free_their_cache_entries() {
    let validator = validator();
    let big: Vec<String> = (0..20_000).map(|i| format!("value-{i:06}")).collect();
    let mut people = collection(json!({"enum": big}));
    let document = data(json!({"x": 1}));
    let mut first_bytes = 0;
    for round in 0..6 {
        let _ = validator.validate(&people, &document).await;
        assert_eq!(validator.cached_schemas(), 1, "round {round}");
        if round == 0 {
            first_bytes = validator.cached_bytes();
            assert!(first_bytes > 200_000 * cache::BYTES_PER_SCHEMA_BYTE / 2);
        }
        assert_eq!(validator.cached_bytes(), first_bytes, "round {round}");
        let again = CollectionSchema::new(json!({"enum": big})).ok();
        assert!(
            people
                .change_schema(again, Timestamp::from_millis(round + 1))
                .is_ok()
        );
    }
    validator.forget(people.id());
    assert_eq!(
        (validator.cached_schemas(), validator.cached_bytes()),
        (0, 0)
    );
}

#[tokio::test]
async fn the_cache_stays_within_its_byte_budget() {
    let budget = 64 * 1024;
    let validator = validator_with(SchemaOptions {
        cache_bytes: budget,
        ..SchemaOptions::default()
    });
    let document = data(json!({"x": 1}));
    for i in 0..50 {
        let values: Vec<String> = (0..100).map(|v| format!("c{i}-{v}")).collect();
        let schema = json!({"enum": values});
        assert!(
            validator
                .validate(&collection(schema), &document)
                .await
                .is_err()
        );
        assert!(
            validator.cached_bytes() <= budget,
            "{}",
            validator.cached_bytes()
        );
    }
    assert!(validator.cached_schemas() < 50);
}
