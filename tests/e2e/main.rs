//! End-to-end tests across crates: the SDK against the real mock server
//! in-process, and the frontend guide's JavaScript against the same server.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod guide_js;
mod sdk;
mod util;
