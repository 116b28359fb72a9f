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
//! This crate depends on no other crate of the workspace on purpose: it measures the server
//! from the outside, as a user would, and must not be able to take shortcuts through its code.
//! It only ever talks to loopback addresses (see [`loopback`]).

pub mod cli;
pub mod cpu;
pub mod document;
pub mod driver;
pub mod lean;
pub mod loopback;
pub mod precise_timer;
pub mod report;
pub mod scenarios;
pub mod schedule;
pub mod stats;
pub mod tail;
pub mod ticked;
