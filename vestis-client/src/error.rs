//! The crate's one error type.
//!
//! Every failure keeps what a caller needs to act on it: the HTTP status, the
//! contract's `code` and `error` text, the raw body when it was not the
//! contract's JSON, and for waits the last job seen.

use std::time::Duration;

use crate::model::{ErrorCode, Job};

/// An error answer from the server (any non-2xx status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status code.
    pub status: u16,
    /// The contract's `code`, when the body was the contract's JSON.
    pub code: Option<ErrorCode>,
    /// The contract's `error` text, or a description of the status.
    pub message: String,
    /// The raw body, kept when it was not the contract's JSON.
    pub body: Option<String>,
    /// The server's `Retry-After` (or `Retry-After-Ms`), if it sent one.
    pub retry_after: Option<Duration>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (HTTP {})", self.message, self.status)
    }
}

/// Everything that can go wrong talking to the Vestis API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 401/403: the token is missing or was rejected.
    #[error("unauthorized: {0}")]
    Unauthorized(ApiError),
    /// 404: no such job for this token (or an unknown route).
    #[error("not found: {0}")]
    NotFound(ApiError),
    /// 409: the job is no longer pending, or an idempotency key was reused differently.
    #[error("conflict: {0}")]
    Conflict(ApiError),
    /// 429: over the rate limit; `retry_after` says when to come back.
    #[error("rate limited: {error}")]
    RateLimited {
        /// The server's answer.
        error: ApiError,
        /// The server's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// 400, 405, 413, 415, 422: the request itself is wrong; retrying will not help.
    #[error("invalid request: {0}")]
    InvalidRequest(ApiError),
    /// 500–599: the server failed or is overloaded (a 503 usually carries
    /// [`ApiError::retry_after`]). Only 500, 502, 503 and 504 are transient.
    #[error("server error: {0}")]
    Server(ApiError),
    /// Any other non-2xx answer (a 3xx that was not followed, or a 4xx the
    /// contract does not use, such as 408 or 410).
    #[error("unexpected response: {0}")]
    Api(ApiError),
    /// The request never got an answer: connection refused or reset, DNS, TLS, timeout.
    #[error("transport error: {0}")]
    Transport(#[source] reqwest::Error),
    /// A 2xx answer whose body is not what the contract promises.
    #[error("could not decode the server's answer (HTTP {status}): {source}")]
    Decode {
        /// The HTTP status of the answer.
        status: u16,
        /// The raw body.
        body: String,
        /// What the JSON decoder said.
        #[source]
        source: serde_json::Error,
    },
    /// The job ended `failed`.
    #[error("job {} failed: {}", .0.job_id, .0.error.as_deref().unwrap_or("no reason given"))]
    JobFailed(Box<Job>),
    /// The job ended `cancelled`.
    #[error("job {} was cancelled", .0.job_id)]
    JobCancelled(Box<Job>),
    /// The wait's deadline passed, or its polls ran out, before the job finished.
    #[error("timed out after {elapsed:?} and {polls} polls waiting for the job{}",
        last.as_ref().map(|j| format!(" (last status: {})", j.status)).unwrap_or_default())]
    TimedOut {
        /// How long the wait lasted.
        elapsed: Duration,
        /// How many polls were sent.
        polls: u32,
        /// The last job state seen, if any poll succeeded.
        last: Option<Box<Job>>,
    },
    /// Something unusable was handed to the SDK before any request: a base
    /// URL that is not `http(s)://`, a token that cannot be a header value,
    /// a payload that cannot be serialised.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    /// Maps a non-2xx answer to the matching variant.
    pub(crate) fn from_api(error: ApiError) -> Error {
        match error.status {
            401 | 403 => Error::Unauthorized(error),
            404 => Error::NotFound(error),
            409 => Error::Conflict(error),
            429 => Error::RateLimited {
                retry_after: error.retry_after,
                error,
            },
            400 | 405 | 413 | 415 | 422 => Error::InvalidRequest(error),
            500..=599 => Error::Server(error),
            _ => Error::Api(error),
        }
    }

    /// The server's error answer, when there was one.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Error::Unauthorized(e)
            | Error::NotFound(e)
            | Error::Conflict(e)
            | Error::InvalidRequest(e)
            | Error::Server(e)
            | Error::Api(e)
            | Error::RateLimited { error: e, .. } => Some(e),
            _ => None,
        }
    }

    /// The HTTP status of the answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Decode { status, .. } => Some(*status),
            other => other.api_error().map(|e| e.status),
        }
    }

    /// Whether waiting and asking again may succeed: connection failures,
    /// timeouts, 429, 500, 502, 503 and 504.
    ///
    /// # Examples
    ///
    /// ```
    /// # use vestis_client::Error;
    /// let e = Error::Config("x".into());
    /// assert!(!e.is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport(_) | Error::RateLimited { .. } => true,
            Error::Server(e) => matches!(e.status, 500 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// The delay the server asked for (`Retry-After`), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.api_error().and_then(|e| e.retry_after)
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
