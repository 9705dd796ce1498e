//! End-to-end tests across crates: the SDK against the real mock server
//! in-process, the frontend guide's JavaScript against the same server,
//! and the dashboard and the guide's UI flow in headless Chromium.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod browser;
mod browser_setup;
mod guide_js;
mod har;
mod sdk;
mod sdk_faults;
mod util;
