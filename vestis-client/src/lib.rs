#![doc = include_str!("../README.md")]
//!
//! # Where things are
//!
//! [`Client`] makes the calls; [`ClientBuilder`] configures it and
//! [`RequestOptions`] adds headers and a timeout to some calls.
//! [`WaitOptions`] and [`PollStrategy`] say how to wait; [`WaitEvent`] and
//! [`WaitStream`] report a wait as it goes; [`Error`] (with [`ApiError`],
//! [`TransportError`], [`WaitLimit`], [`CancelOnTimeoutError`]) says why a
//! call did not return what was asked. The wire types are at the root and
//! in [`model`]; what only a server writes is in [`wire`].

// Inside (private modules): `client` holds `Client`, the only code that
// speaks HTTP; `builder` its builder; `options` the per-call options; `wait` the
// poll schedules, the wait loop, event streams and many-job waits; `net`
// which requests go through a proxy (never loopback ones) and what a
// request without an answer means; `error` the error enum; `tls` the
// rustls crypto provider the features select. The crate docs are the
// README, so crates.io and docs.rs show one text, doctested once.

#![deny(missing_docs)]
// Links in the docs must resolve on docs.rs: none to private items.
#![deny(
    rustdoc::broken_intra_doc_links,
    rustdoc::private_intra_doc_links,
    rustdoc::invalid_codeblock_attributes,
    rustdoc::invalid_rust_codeblocks,
    rustdoc::invalid_html_tags,
    rustdoc::bare_urls,
    rustdoc::unescaped_backticks
)]
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
pub mod wire;

pub use builder::{ClientBuilder, DEFAULT_BASE_URL};
pub use client::{Client, Download, MAX_ANSWER_BYTES, MAX_IMAGE_REDIRECTS};
pub use error::{
    ApiError, CancelOnTimeoutError, Error, Result, TransportError, TransportKind, WaitLimit,
};
pub use model::{
    CancelJobResponse, ChatRequest, CreateJobResponse, ErrorCode, FlatlayRequest, InvalidPayload,
    Job, JobId, JobKind, JobPage, JobResult, JobStatus, PageMetadata, Timestamp, validate_payload,
};
pub use options::{CreateOptions, ListOptions, RequestOptions};
pub use wait::{PollStrategy, StopWait, WaitEvent, WaitOptions, WaitSet, WaitStream};

/// The README's Rust snippets, compiled as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
