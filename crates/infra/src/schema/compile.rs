//! Compiling schemas: the linear-time regex engine for new schemas, the backtracking engine
//! under a limit for stored schemas that need it, and the check of data against either.

use jsonschema::error::ValidationErrorKind;
use jsonschema::{PatternOptions, ValidationError, ValidationOptions, Validator};
use serde_json::Value;
use shared_kernel::{Error, ErrorCode, FieldError};

use super::limits::{MAX_COMPILED_PATTERN_BYTES, MAX_PATTERN_DFA_BYTES};
use super::shape::SchemaShape;

/// The most backtracking steps one match of a stored pattern may take on the backtracking
/// engine before it gives up (fancy-regex's default is 1,000,000, about 70 ms of CPU per
/// match on the reference machine; 20,000 is about 1.5 ms). A legitimate pattern with a
/// backreference or lookaround needs a handful of steps per character.
pub const LEGACY_BACKTRACK_LIMIT: usize = 20_000;

/// The most failing locations one rejection lists.
const MAX_REPORTED_FAILURES: usize = 100;

/// Which regex engine a compiled schema's patterns run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Engine {
    /// The `regex` crate: matching is linear in the subject's length. Every new schema.
    Linear,
    /// `fancy-regex` under [`LEGACY_BACKTRACK_LIMIT`]: only for schemas stored before new ones
    /// were held to the linear engine, whose patterns need lookaround or backreferences.
    Backtracking,
}

/// A schema ready to validate data.
pub(super) struct CompiledSchema {
    validator: Validator,
    engine: Engine,
    /// The length of the schema's canonical JSON.
    canonical_bytes: usize,
}

impl std::fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledSchema")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

fn options() -> ValidationOptions<'static> {
    jsonschema::options().should_validate_formats(true)
}

fn linear_options() -> ValidationOptions<'static> {
    options().with_pattern_options(
        PatternOptions::regex()
            .size_limit(MAX_COMPILED_PATTERN_BYTES)
            .dfa_size_limit(MAX_PATTERN_DFA_BYTES),
    )
}

fn backtracking_options() -> ValidationOptions<'static> {
    options().with_pattern_options(
        PatternOptions::fancy_regex()
            .backtrack_limit(LEGACY_BACKTRACK_LIMIT)
            .size_limit(MAX_COMPILED_PATTERN_BYTES)
            .dfa_size_limit(MAX_PATTERN_DFA_BYTES),
    )
}

impl CompiledSchema {
    /// Checks that a schema being set compiles on the linear engine.
    ///
    /// # Errors
    /// `INVALID_INPUT`; a pattern the linear engine cannot run (lookaround, backreferences,
    /// a compiled form too large) is named by its pointer (`/schema/properties/s/pattern`).
    pub(super) fn check_new_schema(schema: &Value, shape: &SchemaShape) -> Result<(), Error> {
        linear_options()
            .build(schema)
            .map(|_| ())
            .map_err(|error| compile_error(&error, shape))
    }

    /// Compiles a stored schema (`canonical_bytes` long): on the linear engine when it can,
    /// otherwise on the backtracking engine under [`LEGACY_BACKTRACK_LIMIT`] (a schema stored
    /// before patterns were held to the linear engine must keep working).
    ///
    /// # Errors
    /// `INTERNAL_ERROR` when neither engine compiles it (a stored schema always compiled).
    pub(super) fn stored_schema(schema: &Value, canonical_bytes: usize) -> Result<Self, Error> {
        if let Ok(validator) = linear_options().build(schema) {
            return Ok(Self {
                validator,
                engine: Engine::Linear,
                canonical_bytes,
            });
        }
        let validator = backtracking_options()
            .build(schema)
            .map_err(|e| Error::internal("a stored schema no longer compiles", e.to_string()))?;
        Ok(Self {
            validator,
            engine: Engine::Backtracking,
            canonical_bytes,
        })
    }

    /// The length of the schema's canonical JSON.
    pub(super) fn canonical_bytes(&self) -> usize {
        self.canonical_bytes
    }

    /// The engine its patterns run on.
    pub(super) fn engine(&self) -> Engine {
        self.engine
    }

    /// Checks `data`.
    ///
    /// # Errors
    /// `SCHEMA_VIOLATION` listing the failing instance paths (at most 100); a match the
    /// backtracking engine gave up on is listed at its instance path too: the write is refused
    /// rather than accepted unchecked.
    pub(super) fn check(&self, data: &Value) -> Result<(), Error> {
        // Nearly every write is valid: the yes/no check stops at nothing and builds no error
        // iterators; only a rejection pays for listing what failed. On the backtracking engine
        // a pattern that gives up makes the yes/no check false, and each pass pays the limit
        // again, so there the listing is the only pass.
        if self.engine == Engine::Linear && self.validator.is_valid(data) {
            return Ok(());
        }
        let mut undecided = false;
        let failures: Vec<FieldError> = self
            .validator
            .iter_errors(data)
            .take(MAX_REPORTED_FAILURES)
            .map(|e| {
                let gave_up = matches!(
                    e.kind(),
                    ValidationErrorKind::BacktrackLimitExceeded { .. }
                        | ValidationErrorKind::RegexEngineFailure { .. }
                );
                undecided |= gave_up;
                let message = if gave_up {
                    format!(
                        "the pattern at {} could not be decided within the backtracking limit \
                         ({LEGACY_BACKTRACK_LIMIT} steps): {e}",
                        e.schema_path().as_str()
                    )
                } else {
                    e.to_string()
                };
                FieldError::new(e.instance_path().to_string(), message)
            })
            .collect();
        if failures.is_empty() {
            return Ok(());
        }
        let detail = if undecided {
            format!(
                "the data fails the collection's schema, or a stored pattern needs more \
                 backtracking than allowed, at {} location(s)",
                failures.len()
            )
        } else {
            format!(
                "the data fails the collection's schema at {} location(s)",
                failures.len()
            )
        };
        Err(Error::new(ErrorCode::SchemaViolation, detail).with_field_errors(failures))
    }
}

/// A compile error of a new schema as a 400 naming where in `/schema` it is.
fn compile_error(error: &ValidationError<'_>, shape: &SchemaShape) -> Error {
    let pattern = error
        .instance()
        .as_str()
        .and_then(|source| shape.pointer_of(source));
    if let Some(pointer) = pattern {
        let message = "the pattern cannot run on the linear-time regex engine: lookaround \
                       and backreferences are not supported, and its compiled form must stay \
                       under the size limit";
        return Error::invalid_input(format!(
            "the schema cannot be compiled: the pattern at /schema{pointer} is not supported"
        ))
        .with_field_error(FieldError::new(format!("/schema{pointer}"), message));
    }
    Error::invalid_input(format!("the schema cannot be compiled: {error}")).with_field_error(
        FieldError::new(
            format!("/schema{}", error.instance_path()),
            error.to_string(),
        ),
    )
}
