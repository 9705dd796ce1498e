//! `vestis-verify` against real servers: the in-process mock server (every
//! check passes, none skipped) and deliberately broken ones, each breaking
//! one sentence of the contract, which must be caught by the check that
//! names it and nothing else, and conformant servers that cannot show
//! everything (slow jobs, no idempotency), whose checks skip, never fail.

// Tests may unwrap: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broken;
mod mock;
mod skips;
mod unreachable;
mod util;
