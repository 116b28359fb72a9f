//! End-to-end tests over real HTTP against a real server on a real SQLite file.
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
