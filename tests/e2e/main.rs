//! End-to-end tests across crates: the SDK against the real mock server
//! in-process, and the frontend guide's JavaScript against the same server.

mod guide_js;
mod sdk;
mod util;
