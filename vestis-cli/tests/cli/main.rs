//! The real `vestis` binary (assert_cmd) against the mock server running
//! in this test process, each test with its own temporary `VESTIS_HOME`.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod batch;
mod commands;
mod crash;
mod edges;
mod faults_wire;
mod history;
mod journal;
mod man;
mod output;
mod pipes;
mod preview;
mod pty;
mod terminal;
mod util;
mod verify;
