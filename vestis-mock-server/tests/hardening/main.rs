//! Hardening tests of the mock server: the stable fuzzer of its request
//! handling, security checks, and the short soak under faults. What each
//! proves and how to run its long version: `docs/RELIABILITY.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod fuzz;
mod security;
mod soak;
#[path = "../common/binary.rs"]
mod spawned;
