//! A collection's JSON Schema, as an opaque value.
//!
//! Whether a schema is a valid JSON Schema is decided by the application's `SchemaValidator`
//! port (the domain knows no validator library); the domain only insists on its shape.

use std::sync::Arc;

use serde_json::Value;
use shared_kernel::Error;

/// A JSON Schema document (an object), checked by the schema validator port before use.
///
/// Shared, not copied: a collection is cloned for every request that uses it (out of the
/// stores' caches), and a schema is a tree of allocations that never changes once made.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionSchema(Arc<Value>);

impl CollectionSchema {
    /// Wraps a schema value.
    ///
    /// # Errors
    /// `INVALID_INPUT` at `/schema` when it is not a JSON object.
    pub fn new(schema: Value) -> Result<Self, Error> {
        if !schema.is_object() {
            return Err(Error::invalid_field(
                "/schema",
                "a schema must be a JSON object",
            ));
        }
        Ok(Self(Arc::new(schema)))
    }

    /// The schema document.
    pub fn as_value(&self) -> &Value {
        &self.0
    }
}
