//! HTTP tests of the mock server: the real server on `127.0.0.1:0`, driven
//! with reqwest, one module per area of the contract.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod admin;
mod binary;
mod concurrency;
mod contract;
mod control;
mod dashboard;
mod deadlines;
mod edges;
mod faults;
mod ids;
mod listing;
mod localhost;
mod openapi;
mod proof;
mod proxy;
mod proxy_binary;
mod proxy_tls;
mod replay;
#[path = "../common/binary.rs"]
mod spawned;
mod state;
mod util;
mod wire_faults;
