//! `vestis-bench`: the benchmark suite's driver. `bench/run.sh` builds the
//! release binaries and runs it; `bench/run.sh --smoke` runs a seconds-long
//! version for CI that checks the suite works, not the figures.
//!
//! Each measure starts its servers as separate processes on 127.0.0.1,
//! loads them with `wrk`, reads their CPU time and memory from `/proc`, runs
//! the arms interleaved (a fresh server per run where state could matter),
//! and prints a Markdown table with both sides of every ratio.

// A benchmark driver may unwrap its own constants; outside data is still checked.
#![allow(clippy::unwrap_used)]

mod suite;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// The benchmark suite: vestis-mock-server against bare axum and wiremock-rs,
/// the SDK against bare reqwest, the CLI journal at two sizes.
#[derive(Debug, Parser)]
struct Args {
    /// A seconds-long run for CI: tiny sizes, one run, checks only that every
    /// arm answers as it should.
    #[arg(long)]
    smoke: bool,
    /// Runs per arm (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Seconds per wrk run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Where the built binaries are (`vestis-mock-server`, `vestis`, `bench-axum`, `bench-wiremock`).
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Only these measures (repeatable); all by default.
    #[arg(long, value_enum)]
    only: Vec<Measure>,
}

/// One row group of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Measure {
    /// GET one job and POST /generate: throughput, CPU per request, p99.
    Http,
    /// A page of 20 with many other tokens' jobs stored; RSS per stored job.
    List,
    /// RSS under endless creates with the default --max-jobs.
    Churn,
    /// Start-up to the first answered request; idle RSS.
    Startup,
    /// `Client::get` against a bare reqwest GET + serde decode.
    Sdk,
    /// The CLI journal's per-create cost at two sizes.
    Journal,
    /// The mock server's queue engine alone (no HTTP), on one thread.
    Queue,
    /// `vestis batch` at scale: against an SDK program, peak RSS, a rate limit.
    Batch,
}

/// The mock server binary's allocator: the queue engine, measured here
/// in-process, runs on what it runs on in the server. Both arms of the SDK
/// measure share it; the bare axum and wiremock-rs binaries (`src/bin`)
/// do not use it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Built together with the CLI (bench/run.sh builds both), reqwest is in
    // rustls-no-provider mode and panics on a client built with no provider
    // installed. The suite speaks plain HTTP to 127.0.0.1, so any provider
    // will do; one may be installed already, which is fine too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let mut suite = suite::Suite::new(
        args.bin_dir,
        if args.smoke { 1 } else { args.runs.max(1) },
        Duration::from_secs(if args.smoke { 1 } else { args.seconds.max(1) }),
        args.smoke,
    );
    println!("{}\n", suite::machine());
    let all = [
        Measure::Http,
        Measure::List,
        Measure::Churn,
        Measure::Startup,
        Measure::Sdk,
        Measure::Journal,
        Measure::Queue,
        Measure::Batch,
    ];
    let selected = if args.only.is_empty() {
        all.to_vec()
    } else {
        args.only
    };
    for measure in selected {
        let result = match measure {
            Measure::Http => suite::http::run(&mut suite).await,
            Measure::List => suite::list::run(&mut suite).await,
            Measure::Churn => suite::list::churn(&mut suite).await,
            Measure::Startup => suite::startup::run(&mut suite),
            Measure::Sdk => suite::sdk::run(&mut suite).await,
            Measure::Journal => suite::journal::run(&mut suite).await,
            Measure::Batch => suite::batch::run(&mut suite).await,
            Measure::Queue => suite::queue::run(&mut suite),
        };
        match result {
            Ok(table) => println!("{table}"),
            Err(e) => suite.fail(format!("{measure:?}: {e:#}")),
        }
    }
    suite.finish()
}
