//! The load tool of the benchmark suite (issue 7) and the pieces its peers share.
//!
//! `offchain-loadgen` drives a running Offchain DB (or a peer) over HTTP on loopback, in a closed
//! loop (N clients, each sending its next request when the last one answered) or an open loop (a
//! fixed request rate, latency measured from the *intended* send time so that a stalled server
//! cannot hide its stall: no coordinated omission). It prints a table and writes JSON.
//!
//! The peers live beside it: `offchain-hello` (the HTTP ceiling, a minimal axum server),
//! `offchain-sqlite-ceiling` (the storage ceiling, raw SQLite writing the same four rows per write
//! as the embedded store) and the `pg` scenario (PostgreSQL with a JSONB table and an audit
//! trigger). `scripts/bench-peers.sh` runs them all and `report` puts every figure in one table.
//!
//! The load tool uses no code of the product on purpose: it measures the server from the
//! outside, as a user would, and must not be able to take shortcuts through its code. Only the
//! raw-SQLite peer uses the product's `infra` crate, for the store's own migrations, so that it
//! writes into the very tables the store has. It only ever talks to loopback addresses (see
//! [`loopback`]). It is a cargo workspace of its own (`bench/`), outside the product's.

pub mod cli;
pub mod cpu;
pub mod document;
pub mod driver;
pub mod lean;
pub mod loopback;
pub mod report;
pub mod scenarios;
pub mod schedule;
pub mod stats;
pub mod tail;
pub mod ticked;
