//! End-to-end tests over real HTTP against a real server.
//!
//! The suite reads state only through the API — never a backend's files or tables — so it
//! runs unchanged against any backend: `OFFCHAIN_TEST_STORE` picks it (see
//! [`helpers::test_store`]), and "nothing was stored" is an API snapshot
//! ([`snapshot::StoreSnapshot`]). Backend-specific tests (a tampered file, a crash, an
//! upgrade) live beside the backend instead.
//!
//! One test binary (so the crate graph links once); each test gets its own data folder
//! through [`helpers::spawn_app`], so tests never share state.

mod audit;
mod collections;
mod concurrency;
mod configuration;
mod connections;
mod documents;
mod errors;
mod helpers;
mod history;
mod idempotency;
mod input_limits;
mod log;
mod persistence;
mod proof;
mod query;
mod query_limits;
mod schemas;
mod serving;
mod snapshot;
