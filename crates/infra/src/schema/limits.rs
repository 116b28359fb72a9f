//! What a new schema may cost: its size, its subschemas, its patterns.
//!
//! Checked only when a schema is set (create collection, PUT schema). A schema stored before
//! these limits existed keeps working whatever it costs: refusing it now would stop every
//! write to its collection.

use shared_kernel::{Error, FieldError};

use super::shape::SchemaShape;

/// The default [`SchemaLimits::max_schema_bytes`]: 256 KiB of canonical JSON.
pub const DEFAULT_MAX_SCHEMA_BYTES: usize = 256 * 1024;
/// The most JSON objects a new schema may hold as subschemas.
pub const MAX_SUBSCHEMAS: usize = 10_000;
/// The most `pattern` keywords and `patternProperties` keys a new schema may hold.
pub const MAX_PATTERNS: usize = 1_000;
/// The most bytes all of a new schema's patterns may hold together.
pub const MAX_PATTERN_BYTES: usize = 64 * 1024;
/// The largest compiled form of one pattern on the linear-time engine, in bytes (the regex
/// crate's `size_limit`; its default, 10 MiB, would let one short pattern such as
/// `(\w{100}){100}` take megabytes). With [`MAX_PATTERNS`] this bounds a schema's regexes.
pub const MAX_COMPILED_PATTERN_BYTES: usize = 256 * 1024;
/// The lazy DFA's cache per pattern on the linear-time engine, in bytes (`dfa_size_limit`).
pub const MAX_PATTERN_DFA_BYTES: usize = 256 * 1024;

/// The caps a new schema must fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaLimits {
    /// The largest schema, in bytes of its canonical (RFC 8785) JSON.
    pub max_schema_bytes: usize,
}

impl Default for SchemaLimits {
    fn default() -> Self {
        Self {
            max_schema_bytes: DEFAULT_MAX_SCHEMA_BYTES,
        }
    }
}

impl SchemaLimits {
    /// Checks a schema's canonical size.
    ///
    /// # Errors
    /// `INVALID_INPUT` at `/schema` when it is larger than [`Self::max_schema_bytes`].
    pub(super) fn check_size(&self, canonical_bytes: usize) -> Result<(), Error> {
        if canonical_bytes > self.max_schema_bytes {
            return Err(refused(format!(
                "the schema is {canonical_bytes} bytes of canonical JSON, above the limit of {} \
                 (max_schema_bytes)",
                self.max_schema_bytes
            )));
        }
        Ok(())
    }

    /// Checks a schema's measured cost against the fixed caps.
    ///
    /// # Errors
    /// `INVALID_INPUT` at `/schema`, naming the cap, when one is exceeded.
    pub(super) fn check_cost(shape: &SchemaShape) -> Result<(), Error> {
        if shape.subschemas > MAX_SUBSCHEMAS {
            return Err(refused(format!(
                "the schema holds {} subschemas, above the limit of {MAX_SUBSCHEMAS}",
                shape.subschemas
            )));
        }
        if shape.patterns.len() > MAX_PATTERNS {
            return Err(refused(format!(
                "the schema holds {} patterns (`pattern` and `patternProperties` keys), above \
                 the limit of {MAX_PATTERNS}",
                shape.patterns.len()
            )));
        }
        if shape.pattern_bytes > MAX_PATTERN_BYTES {
            return Err(refused(format!(
                "the schema's patterns hold {} bytes together, above the limit of \
                 {MAX_PATTERN_BYTES}",
                shape.pattern_bytes
            )));
        }
        Ok(())
    }
}

fn refused(message: String) -> Error {
    Error::invalid_input(format!("the schema is over a limit: {message}"))
        .with_field_error(FieldError::new("/schema", message))
}
