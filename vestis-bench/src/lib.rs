//! The benchmark suite's building blocks, shared by the driver (`vestis-bench`)
//! and the two baseline servers (`bench-axum`, `bench-wiremock`).
//!
//! Every figure comes from a server running as its own process on
//! 127.0.0.1, driven by `wrk`; its CPU time and memory are read from
//! `/proc/<pid>`, so nothing the load generator does is counted against it.
//!
//! - [`canned`]: the static answers of the baseline servers.
//! - [`server`]: spawning a server process and reading its `/proc` figures.
//! - [`wrk`]: running `wrk` and parsing what it prints.
//! - [`stats`]: medians and the printed table.

// Tests may unwrap: a failed unwrap is a failed test.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod canned;
pub mod server;
pub mod stats;
pub mod wrk;
