//! Typed async SDK for the Vestis image-generation job API.
//!
//! Create a job, wait for it the way the API's frontend guide prescribes
//! (fixed 2 s polling or a 1 s ×1.2 back-off capped at 5 s, within a
//! 5-minute deadline), and get the image — with `Retry-After` honoured,
//! transient failures tolerated, and every failure a typed [`Error`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), vestis_client::Error> {
//! use vestis_client::{ChatRequest, Client, JobKind, WaitOptions};
//!
//! let client = Client::builder().base_url("http://localhost:4000/api/v1").token("dev").build()?;
//! let created = client.create(JobKind::Chat, &ChatRequest::new("a linen summer dress")).await?;
//! let job = client.wait(created.job_id, &WaitOptions::default()).await?;
//! println!("{}", job.result.map(|r| r.image_url).unwrap_or_default());
//! # Ok(()) }
//! ```
//!
//! # Modules
//!
//! - [`model`]: wire types shared with the mock server (`JobId`, `JobKind`,
//!   `JobStatus`, `Job`, payloads, the error body).
//! - `client`: [`Client`], one method per endpoint; the only code that
//!   speaks HTTP.
//! - `builder`: [`ClientBuilder`]; `options`: [`CreateOptions`], [`ListOptions`].
//! - `wait`: [`PollStrategy`], [`WaitOptions`], [`WaitEvent`] streams and
//!   many-job waits.
//! - `net`: which requests go through a proxy (never loopback ones) and
//!   what a request without an answer means ([`TransportError`]).
//! - `error`: [`Error`], the crate's one error type.
//! - `tls`: the rustls crypto provider the features select.
//!
//! # Features
//!
//! - `rustls` (default): HTTPS through rustls with aws-lc-rs, reqwest's
//!   default provider (`rustls-aws-lc`).
//! - `rustls-ring`: ring instead, a fifth less CPU to build. It switches
//!   reqwest to `rustls-no-provider` for the whole program: another reqwest
//!   client built before this crate's first `Client` (and without a TLS
//!   feature of its own) panics unless the program installs a provider
//!   first, e.g. `rustls::crypto::ring::default_provider().install_default()`.
//! - With neither (`default-features = false`), `http://` only; an
//!   `https://` base URL is a [`Error::Config`] at build time.
//!
//! With `rustls-ring`, building a [`Client`] installs ring as the process's
//! default rustls provider unless one is installed already; to use another,
//! install it before the first `build()`.

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Tests may unwrap: a failed unwrap is a failed test.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod builder;
mod client;
mod error;
pub mod model;
mod net;
mod options;
mod tls;
mod wait;

pub use builder::{ClientBuilder, DEFAULT_BASE_URL};
pub use client::Client;
pub use error::{ApiError, Error, Result, TransportError, TransportKind};
pub use model::{
    CancelJobResponse, ChatRequest, CreateJobResponse, ErrorBody, ErrorCode, FlatlayRequest,
    InvalidPayload, Job, JobId, JobKind, JobPage, JobResult, JobStatus, PageMetadata, Timestamp,
    validate_payload,
};
pub use options::{CreateOptions, ListOptions};
pub use wait::{CancelOnTimeoutError, PollStrategy, WaitEvent, WaitOptions, WaitStream};

/// The README's Rust snippets, compiled as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// This crate's README (its crates.io page), compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadme;
