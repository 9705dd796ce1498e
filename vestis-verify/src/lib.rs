//! Checks that a server honours the Vestis job API contract,
//! over plain HTTP, so a backend team can run the contract the frontend
//! teams test against in its own CI, and the mock server can prove it on
//! itself.
//!
//! Generic API testers know nothing of what an asynchronous job API
//! promises: a lifecycle that only moves forward, terminal jobs that never
//! change, cancel racing the worker, idempotent creates, isolation between
//! tokens, pagination that stays consistent while jobs are added,
//! `Retry-After` on 429/503. These checks do. The `vestis verify` command
//! is a thin wrapper around [`run`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), vestis_verify::Error> {
//! use vestis_verify::Config;
//!
//! let config = Config::new("https://staging.example/api/v1", "ci-token").second_token("ci-token-2");
//! let report = vestis_verify::run(&config, |line| eprintln!("{line}")).await?;
//! print!("{}", report.to_text());
//! assert!(report.passed());
//! # Ok(()) }
//! ```
//!
//! [`catalog`] lists every check with its contract sentence. How the crate
//! is laid out inside is described once, with the rest of the workspace, in
//! [docs/architecture.md](https://example.invalid/vestis/blob/main/docs/architecture.md#contract-verification-vestis-verifysrc);
//! how to use the checks, in
//! [docs/verify.md](https://example.invalid/vestis/blob/main/docs/verify.md).

#![deny(missing_docs)]
// Links in the docs must resolve on docs.rs: none to private items.
#![deny(rustdoc::broken_intra_doc_links, rustdoc::private_intra_doc_links)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Tests may unwrap: a failed unwrap is a failed test.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod catalog;

mod checks;
mod error;
mod http;
mod report;
mod session;

use std::time::Duration;

pub use catalog::{CATALOG, CheckInfo, Group, Needs};
pub use error::Error;
pub use report::{CheckResult, Outcome, Report, Violation, abbrev};

/// Jobs a run normally creates: one per type, one added while listing
/// (then cancelled), one for idempotency.
pub const JOBS_PLANNED: usize = 8;
/// The most a run creates: one more if the first job to cancel was already
/// running, one more if the server ignores `Idempotency-Key`.
pub const JOBS_AT_MOST: usize = 10;

/// What to check and how long to wait: set the fields after [`Config::new`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use vestis_verify::Config;
///
/// let mut config = Config::new("http://127.0.0.1:4000/api/v1", "t").second_token("t2");
/// config.job_timeout = Duration::from_secs(60);
/// config.quick = true;
/// assert_eq!(config.second_token.as_deref(), Some("t2"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The API base URL, e.g. `https://staging.example/api/v1`.
    pub api_url: String,
    /// The bearer token the jobs are created with.
    pub token: String,
    /// A second token, for the isolation checks; they are skipped without it.
    pub second_token: Option<String>,
    /// How long checks that need a started or finished job wait (default 5 minutes, the guide's).
    pub job_timeout: Duration,
    /// Only the checks that need no finished job.
    pub quick: bool,
    /// Time between polls while waiting for jobs (default 1 s).
    pub poll_interval: Duration,
    /// `X-Mock-Duration` sent with each create: how long a job runs on the
    /// mock server (default 2 s); other servers ignore the header.
    pub mock_duration: Duration,
}

impl Config {
    /// Defaults for everything but the server and the token.
    pub fn new(api_url: impl Into<String>, token: impl Into<String>) -> Config {
        Config {
            api_url: api_url.into(),
            token: token.into(),
            second_token: None,
            job_timeout: Duration::from_secs(300),
            quick: false,
            poll_interval: Duration::from_secs(1),
            mock_duration: Duration::from_secs(2),
        }
    }

    /// Sets [`Config::second_token`].
    pub fn second_token(mut self, token: impl Into<String>) -> Config {
        self.second_token = Some(token.into());
        self
    }
}

/// Runs every check against the server and reports each verdict; jobs
/// still pending at the end are cancelled. `progress` receives a line at
/// each phase (for stderr).
///
/// # Errors
///
/// - [`Error::Unauthorized`] when the server answers 401 to a token.
/// - [`Error::Connection`] when it cannot be reached (after retries).
/// - [`Error::Config`] for an unusable API URL or identical tokens.
pub async fn run(config: &Config, progress: impl FnMut(&str)) -> Result<Report, Error> {
    checks::run(config, progress).await
}

/// This crate's README (its crates.io page), compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadme;
