//! The JSON Schema validator adapter.
//!
//! Built on `jsonschema` with its default features off, so a user's schema can never make
//! the server fetch a URL or read a local file (`$ref` resolves only inside the schema).
//! `format` is validated. What a client can make it cost is bounded (see
//! `docs/limits-schemas.md`):
//!
//! - [`limits`]: a new schema's size (a setting) and measured cost ([`shape`]) are capped;
//! - [`compile`]: a new schema's patterns run on the linear-time `regex` engine (a pattern it
//!   cannot run is refused, named by its pointer); a schema stored before that rule runs on
//!   the backtracking engine under a step limit, and a match that hits it refuses the write;
//! - [`cache`]: compiled schemas are kept per collection within a byte budget (a setting);
//! - [`pool`]: validation that may be slow runs on a few threads of its own, never on the
//!   threads that serve connections. Small documents against small compiled linear schemas are
//!   checked inline (a thread hop would cost more than the check), and a collection without a
//!   schema costs nothing.

pub mod cache;
pub mod compile;
pub mod limits;
mod pool;
mod shape;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use shared_kernel::canonical::canonical_json;
use shared_kernel::{CollectionId, Error, FieldError};
use storage_app::SchemaValidator;
use storage_domain::{Collection, CollectionSchema, DocumentData};

use self::cache::{CompiledCache, DEFAULT_SCHEMA_CACHE_BYTES, estimate};
use self::compile::{CompiledSchema, Engine};
pub use self::limits::SchemaLimits;
use self::pool::ValidationPool;
use self::shape::SchemaShape;

/// Largest document (canonical bytes) checked inline on the caller's thread.
pub const INLINE_MAX_DATA_BYTES: usize = 16 * 1024;
/// Largest schema (canonical bytes) whose documents may be checked inline.
pub const INLINE_MAX_SCHEMA_BYTES: usize = 16 * 1024;

/// How the validator is bounded.
#[derive(Debug, Clone)]
pub struct SchemaOptions {
    /// What a new schema may cost.
    pub limits: SchemaLimits,
    /// Estimated bytes of compiled schemas kept (see [`cache`]).
    pub cache_bytes: usize,
    /// Threads that run validation off the serving threads (at least one).
    pub threads: usize,
    /// Test seam: runs on a validation thread at the start of every job that validates a
    /// document there (see [`ValidationStall`]). Never set outside tests.
    pub stall: Option<ValidationStall>,
}

impl Default for SchemaOptions {
    fn default() -> Self {
        Self {
            limits: SchemaLimits::default(),
            cache_bytes: DEFAULT_SCHEMA_CACHE_BYTES,
            threads: std::thread::available_parallelism().map_or(2, |cores| cores.get().max(2)),
            stall: None,
        }
    }
}

/// A hook that holds a validation thread, so a test can show that a stalled validation does
/// not hold the connections served beside it. It is given the collection being validated.
#[derive(Clone)]
pub struct ValidationStall(Arc<dyn Fn(&Collection) + Send + Sync>);

impl ValidationStall {
    /// Wraps `hook`.
    pub fn new(hook: impl Fn(&Collection) + Send + Sync + 'static) -> Self {
        Self(Arc::new(hook))
    }
}

impl fmt::Debug for ValidationStall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ValidationStall")
    }
}

/// JSON Schema validation with a byte-bounded cache of compiled schemas and threads of its own.
pub struct JsonSchemaValidator {
    limits: SchemaLimits,
    cache: Arc<CompiledCache>,
    pool: ValidationPool,
    stall: Option<ValidationStall>,
}

impl JsonSchemaValidator {
    /// A validator with `options`; starts its threads.
    ///
    /// # Errors
    /// `UNAVAILABLE` when a thread cannot be started.
    pub fn new(options: SchemaOptions) -> Result<Self, Error> {
        Ok(Self {
            limits: options.limits,
            cache: Arc::new(CompiledCache::new(options.cache_bytes)),
            pool: ValidationPool::new(options.threads)?,
            stall: options.stall,
        })
    }

    /// The estimated bytes of compiled schemas kept.
    pub fn cached_bytes(&self) -> usize {
        self.cache.bytes()
    }

    /// How many collections have a compiled schema kept.
    pub fn cached_schemas(&self) -> usize {
        self.cache.len()
    }
}

/// The compiled form of `collection`'s current `schema`, from the cache or compiled now.
/// Blocking: may compile.
fn compiled_for(
    cache: &CompiledCache,
    collection: &Collection,
    schema: &CollectionSchema,
) -> Result<Arc<CompiledSchema>, Error> {
    if let Some(compiled) = cache.get(collection.id(), collection.version()) {
        return Ok(compiled);
    }
    let value = schema.as_value();
    let compiled = Arc::new(CompiledSchema::stored_schema(
        value,
        canonical_json(value).len(),
    )?);
    let bytes = estimate(
        compiled.canonical_bytes(),
        SchemaShape::of(value).patterns.len(),
    );
    cache.insert(
        collection.id(),
        collection.version(),
        Arc::clone(&compiled),
        bytes,
    );
    Ok(compiled)
}

impl CompiledSchema {
    /// Whether checking a document of `data_bytes` is cheap enough to do on the caller's
    /// thread: linear patterns, a small schema and a small document.
    fn runs_inline(&self, data_bytes: usize) -> bool {
        self.engine() == Engine::Linear
            && self.canonical_bytes() <= INLINE_MAX_SCHEMA_BYTES
            && data_bytes <= INLINE_MAX_DATA_BYTES
    }
}

#[async_trait]
impl SchemaValidator for JsonSchemaValidator {
    async fn check_schema(&self, schema: &CollectionSchema) -> Result<(), Error> {
        self.limits
            .check_size(canonical_json(schema.as_value()).len())?;
        let shape = SchemaShape::of(schema.as_value());
        SchemaLimits::check_cost(&shape)?;
        let schema = schema.clone();
        self.pool
            .run(move || {
                jsonschema::meta::validate(schema.as_value()).map_err(|e| {
                    Error::invalid_input(format!(
                        "not a valid JSON Schema of a supported draft: {e}"
                    ))
                    .with_field_error(FieldError::new(
                        format!("/schema{}", e.instance_path()),
                        e.to_string(),
                    ))
                })?;
                CompiledSchema::check_new_schema(schema.as_value(), &shape)
            })
            .await
    }

    async fn validate(&self, collection: &Collection, data: &DocumentData) -> Result<(), Error> {
        let Some(schema) = collection.schema() else {
            return Ok(());
        };
        if let Some(compiled) = self.cache.get(collection.id(), collection.version())
            && compiled.runs_inline(data.canonical().len())
        {
            return compiled.check(data.value());
        }
        let (cache, stall) = (Arc::clone(&self.cache), self.stall.clone());
        let (collection, schema, data) = (collection.clone(), schema.clone(), data.clone());
        self.pool
            .run(move || {
                if let Some(ValidationStall(hook)) = &stall {
                    hook(&collection);
                }
                compiled_for(&cache, &collection, &schema)?.check(data.value())
            })
            .await
    }

    fn forget(&self, collection: CollectionId) {
        self.cache.forget(collection);
    }
}
