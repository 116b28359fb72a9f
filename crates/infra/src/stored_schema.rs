//! How a collection's JSON Schema is kept, on every backend: as JSON text (a schema is full of
//! `$` keys, which BSON field names should not carry), read back through the domain's checks.

use serde_json::Value;
use shared_kernel::Error;
use storage_domain::CollectionSchema;

/// The text to store for `schema`, if any.
///
/// # Errors
/// `INTERNAL_ERROR` when serde cannot write it.
pub(crate) fn schema_text(schema: Option<&CollectionSchema>) -> Result<Option<String>, Error> {
    schema
        .map(|schema| serde_json::to_string(schema.as_value()))
        .transpose()
        .map_err(|e| Error::internal("could not encode the collection's schema", e))
}

/// The schema stored as `text`.
///
/// # Errors
/// `INTERNAL_ERROR` when the text is not a schema (the store was changed behind its back).
pub(crate) fn schema_from_text(text: &str) -> Result<CollectionSchema, Error> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Error::internal("stored collection schema is malformed", e))?;
    CollectionSchema::new(value)
        .map_err(|e| Error::internal("stored collection schema is malformed", e))
}
