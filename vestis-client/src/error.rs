//! The crate's one error type.
//!
//! Every failure keeps what a caller needs to act on it: the HTTP status, the
//! contract's `code` and `error` text, the raw body when it was not the
//! contract's JSON, and for waits the last job seen.

use std::time::Duration;

use crate::model::{ErrorCode, Job};

/// An error answer from the server (any non-2xx status), as the
/// [`Error`] variants for answers carry it.
///
/// `#[non_exhaustive]`: read its fields; build one (for a test double of
/// your own) with [`ApiError::new`].
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
/// use vestis_client::{Error, JobId};
/// match client.cancel(JobId(7)).await {
///     Ok(_) => println!("cancelled"),
///     Err(Error::Conflict(api)) => println!("HTTP {}: {}", api.status, api.message),
///     Err(other) => return Err(other),
/// }
/// # Ok(()) }
/// ```
///
/// ```
/// use vestis_client::{ApiError, Error, ErrorCode};
/// let api = ApiError::new(404, Some(ErrorCode::NotFound), "Job not found");
/// assert_eq!(api.to_string(), "Job not found (HTTP 404)");
/// assert!(matches!(Error::from(api), Error::NotFound(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    /// The proxy the request went through (e.g. `http://10.0.0.1:3128`),
    /// set when the answer was not the contract's JSON: the proxy, not the
    /// API, most likely wrote it (a 502 from a proxy that cannot reach the API).
    pub proxy: Option<String>,
}

impl ApiError {
    /// An answer with this status, code and message, no raw body, no
    /// `Retry-After` and no proxy (set those by assignment).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use vestis_client::ApiError;
    /// let mut api = ApiError::new(503, None, "Service unavailable");
    /// api.retry_after = Some(Duration::from_secs(2));
    /// # let _ = api;
    /// ```
    pub fn new(status: u16, code: Option<ErrorCode>, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            body: None,
            retry_after: None,
            proxy: None,
        }
    }
}

/// The variant of [`Error`] that matches an answer's status, as the SDK
/// maps every non-2xx answer.
impl From<ApiError> for Error {
    fn from(error: ApiError) -> Error {
        Error::from_api(error)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.proxy {
            Some(proxy) => write!(
                f,
                "{} (HTTP {} from the proxy {proxy}, not from the API)",
                self.message, self.status
            ),
            None => write!(f, "{} (HTTP {})", self.message, self.status),
        }
    }
}

/// What kind of failure left a request without an answer.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: vestis_client::Client) {
/// use vestis_client::{Error, JobId, TransportKind};
/// if let Err(Error::Transport(e)) = client.get(JobId(1)).await {
///     if e.kind() == TransportKind::Timeout {
///         eprintln!("the server is slow: {e}");
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// The host name did not resolve. Nothing was sent.
    Resolve,
    /// No connection (refused, unreachable, TLS handshake failed, connect
    /// timeout), to the server or to the proxy. Nothing was sent.
    Connect,
    /// No answer in time after the request was (perhaps) sent: the server
    /// may have acted on it.
    Timeout,
    /// The connection broke after the request was (perhaps) sent, or while
    /// the answer was read: the server may have acted on it.
    Interrupted,
    /// Anything else reqwest reports (a redirect loop, a bad proxy URL).
    Other,
}

/// A request that got no (whole) answer: where it was going, through which
/// proxy, and the innermost cause, said once.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: vestis_client::Client) {
/// use vestis_client::{ChatRequest, Error, JobKind};
/// match client.create(JobKind::Chat, &ChatRequest::new("x")).await {
///     // e.g. "cannot connect to 127.0.0.1:9: connection refused"
///     Err(Error::Transport(e)) if e.is_request_unsent() => eprintln!("{e}: nothing was created"),
///     Err(e) => eprintln!("{e}: the job may exist; replay with the same Idempotency-Key"),
///     Ok(created) => println!("job {}", created.job_id),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct TransportError {
    pub(crate) kind: TransportKind,
    pub(crate) target: String,
    pub(crate) proxy: Option<String>,
    pub(crate) cause: String,
    pub(crate) elapsed: Duration,
    #[source]
    pub(crate) source: reqwest::Error,
}

impl TransportError {
    /// What kind of failure this was.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: vestis_client::Client) {
    /// if let Err(vestis_client::Error::Transport(e)) = client.get(vestis_client::JobId(1)).await {
    ///     println!("{:?} on the way to {} (proxy: {:?})", e.kind(), e.target(), e.proxy());
    /// }
    /// # }
    /// ```
    pub fn kind(&self) -> TransportKind {
        self.kind
    }

    /// Where the request was going: `host:port`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn demo(e: vestis_client::TransportError) {
    /// println!("no answer from {}", e.target()); // e.g. "127.0.0.1:4000"
    /// # }
    /// ```
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The proxy the request went through, if any (without credentials).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn demo(e: vestis_client::TransportError) {
    /// if let Some(proxy) = e.proxy() {
    ///     println!("check the proxy {proxy}");
    /// }
    /// # }
    /// ```
    pub fn proxy(&self) -> Option<&str> {
        self.proxy.as_deref()
    }

    /// Whether the request provably never left this machine (the name did
    /// not resolve, or no connection was made): a create that failed so made
    /// no job and can be forgotten. `false` means the outcome is unknown.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn demo(e: vestis_client::TransportError) {
    /// if e.is_request_unsent() {
    ///     println!("nothing was created: safe to forget");
    /// }
    /// # }
    /// ```
    pub fn is_request_unsent(&self) -> bool {
        matches!(self.kind, TransportKind::Resolve | TransportKind::Connect)
    }

    fn describe(&self) -> String {
        let via = match &self.proxy {
            Some(proxy) => format!(" through the proxy {proxy}"),
            None => String::new(),
        };
        let (target, cause) = (&self.target, &self.cause);
        match self.kind {
            TransportKind::Resolve => format!("cannot resolve {target}{via}: {cause}"),
            TransportKind::Connect => format!("cannot connect to {target}{via}: {cause}"),
            TransportKind::Timeout => format!(
                "no answer from {target}{via} after {}",
                human_duration(self.elapsed)
            ),
            TransportKind::Interrupted => {
                format!("the connection to {target}{via} broke off: {cause}")
            }
            TransportKind::Other => format!("request to {target}{via} failed: {cause}"),
        }
    }
}

/// A duration as people write it: whole seconds from 1 s up (`1s`,
/// `1m 30s`), milliseconds below (`250ms`).
pub(crate) fn human_duration(d: Duration) -> humantime::FormattedDuration {
    let rounded = if d >= Duration::from_secs(1) {
        Duration::from_secs(d.as_secs() + u64::from(d.subsec_millis() >= 500))
    } else {
        Duration::from_millis(u64::try_from(d.as_micros().div_ceil(1000)).unwrap_or(u64::MAX))
    };
    humantime::format_duration(rounded)
}

/// Everything that can go wrong talking to the Vestis API.
///
/// One variant per way a call can end without what was asked: an answer
/// with an error status (keeping the server's [`ApiError`]), no answer
/// ([`Error::Transport`]), a body that is not the contract's, a job that
/// ended `failed` or `cancelled`, a wait that ran out of time. The enum is
/// `#[non_exhaustive]`: a `match` needs a `_` arm.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
/// use vestis_client::{Error, JobId, WaitLimit, WaitOptions};
/// match client.wait(JobId(7), &WaitOptions::default().cancel_on_timeout(true)).await {
///     Ok(job) => println!("done: {}", job.image_url().unwrap_or_default()),
///     Err(Error::JobFailed(job)) => println!("failed: {:?}", job.error),
///     Err(Error::TimedOut { limit: WaitLimit::Deadline, cancel, .. }) => {
///         println!("deadline passed; cancelled: {}", matches!(cancel, Some(Ok(()))))
///     }
///     Err(e) if e.is_transient() => println!("try again later: {e}"),
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
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
    /// The request got no (whole) answer: DNS, connection refused or reset,
    /// TLS, timeout. [`TransportError::is_request_unsent`] tells whether it
    /// provably never left this machine.
    #[error(transparent)]
    Transport(TransportError),
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
    /// The wait ended before the job finished: its deadline passed or its
    /// poll limit was reached (`limit` says which). With
    /// [`WaitOptions::cancel_on_timeout`](crate::WaitOptions::cancel_on_timeout),
    /// `cancel` says whether the job was cancelled.
    #[error("timed out after {} and {polls} poll{} waiting for the job: {}{}{}", human_duration(*elapsed),
        if *polls == 1 { "" } else { "s" },
        limit,
        last.as_ref().map(|j| format!(" (last status: {})", j.status)).unwrap_or_default(),
        describe_cancel(cancel.as_ref()))]
    #[non_exhaustive]
    TimedOut {
        /// How long the wait lasted.
        elapsed: Duration,
        /// How many polls were sent.
        polls: u32,
        /// The last job state seen, if any poll succeeded.
        last: Option<Box<Job>>,
        /// Which limit ended the wait.
        limit: WaitLimit,
        /// The cancel [`WaitOptions::cancel_on_timeout`](crate::WaitOptions::cancel_on_timeout)
        /// asked for: `None` when it was off, `Some(Ok(()))` when the job
        /// was cancelled, `Some(Err(_))` with why it was not (the job may
        /// still run).
        cancel: Option<std::result::Result<(), CancelOnTimeoutError>>,
    },
    /// Something unusable was handed to the SDK before any request: a base
    /// URL that is not `http(s)://`, a token that cannot be a header value,
    /// a payload that cannot be serialised.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A 3xx answer to an API request. The SDK never follows one: a
    /// followed redirect drops the token (401) and turns a create's POST
    /// into a GET, and an API that redirects is almost always a base URL
    /// that is wrong (`http` for `https`, another host or port).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: vestis_client::Client) {
    /// use vestis_client::{Error, JobId};
    /// if let Err(Error::Redirected { suggested_base_url: Some(url), .. }) = client.get(JobId(1)).await {
    ///     eprintln!("the API lives at {url}: use that as the base URL");
    /// }
    /// # }
    /// ```
    #[error("the server redirected (HTTP {status}) to {}{}",
        location.as_deref().unwrap_or("no location (no Location header)"),
        suggested_base_url.as_ref().map(|u| format!("; the API's base URL is probably {u}")).unwrap_or_default())]
    Redirected {
        /// The HTTP status (301, 302, 303, 307 or 308).
        status: u16,
        /// Where the server sent the request, made absolute; `None` when
        /// it sent no usable `Location`.
        location: Option<String>,
        /// The base URL the redirect implies: `location` less the part of
        /// the request URL that followed the base URL, when it ends so.
        suggested_base_url: Option<String>,
    },
    /// An answer over [`MAX_ANSWER_BYTES`](crate::MAX_ANSWER_BYTES): no API
    /// answer is that large (a job is a few KiB, a page of 100 jobs well
    /// under 1 MiB), so the SDK stops reading rather than hold it in memory.
    /// Image downloads through [`Client::open_download`](crate::Client::open_download)
    /// have no such cap: they are streamed.
    #[error(
        "the server's answer (HTTP {status}) is over {limit} bytes, more than any API answer: refused"
    )]
    TooLarge {
        /// The HTTP status of the answer.
        status: u16,
        /// The cap, in bytes ([`MAX_ANSWER_BYTES`](crate::MAX_ANSWER_BYTES)).
        limit: u64,
    },
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
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_client::{ApiError, Error};
    /// let e = Error::from(ApiError::new(409, None, "Conflict"));
    /// assert_eq!(e.api_error().map(|api| api.status), Some(409));
    /// assert!(Error::Config("bad URL".into()).api_error().is_none());
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_client::{ApiError, Error};
    /// assert_eq!(Error::from(ApiError::new(503, None, "busy")).status(), Some(503));
    /// ```
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Decode { status, .. }
            | Error::Redirected { status, .. }
            | Error::TooLarge { status, .. } => Some(*status),
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
    /// use vestis_client::ApiError;
    /// let e = Error::Config("x".into());
    /// assert!(!e.is_transient());
    /// assert!(Error::from(ApiError::new(503, None, "busy")).is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport(_) | Error::RateLimited { .. } => true,
            Error::Server(e) => matches!(e.status, 500 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// Whether the request provably never left this machine (DNS failure,
    /// no connection): see [`TransportError::is_request_unsent`]. `false`
    /// for every other error, including those whose outcome is unknown.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: vestis_client::Client) {
    /// use vestis_client::{ChatRequest, JobKind};
    /// if let Err(e) = client.create(JobKind::Chat, &ChatRequest::new("x")).await {
    ///     if e.is_request_unsent() {
    ///         println!("no job was made: {e}");
    ///     }
    /// }
    /// # }
    /// ```
    pub fn is_request_unsent(&self) -> bool {
        matches!(self, Error::Transport(e) if e.is_request_unsent())
    }

    /// The delay the server asked for (`Retry-After`), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use vestis_client::{ApiError, Error};
    /// let mut api = ApiError::new(429, None, "Too many requests");
    /// api.retry_after = Some(Duration::from_secs(2));
    /// assert_eq!(Error::from(api).retry_after(), Some(Duration::from_secs(2)));
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        self.api_error().and_then(|e| e.retry_after)
    }
}

/// Why the cancel that [`WaitOptions::cancel_on_timeout`](crate::WaitOptions::cancel_on_timeout) asked for did not
/// happen: in [`Error::TimedOut`]'s `cancel` and in
/// [`WaitEvent::CancelledOnTimeout`](crate::WaitEvent::CancelledOnTimeout).
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: vestis_client::Client) {
/// use std::time::Duration;
/// use vestis_client::{CancelOnTimeoutError, Error, JobId, WaitOptions};
/// let options = WaitOptions::default().deadline(Duration::from_secs(30)).cancel_on_timeout(true);
/// if let Err(Error::TimedOut { cancel: Some(Err(why)), .. }) = client.wait(JobId(7), &options).await {
///     match why {
///         CancelOnTimeoutError::Request(e) if matches!(*e, Error::Conflict(_)) => {
///             println!("too late to cancel: the job is processing")
///         }
///         other => println!("the job may still run: {other}"),
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CancelOnTimeoutError {
    /// The server refused the cancel (e.g. [`Error::Conflict`]: the job
    /// started processing) or the request failed. Shared (`Arc`) so the
    /// same outcome is both in the event and in the error.
    #[error(transparent)]
    Request(std::sync::Arc<Error>),
    /// The cancel request got no answer within this time.
    #[error("the cancel request got no answer within {}", humantime::format_duration(*.0))]
    NoAnswer(Duration),
}

/// Which limit ended a wait that timed out ([`Error::TimedOut`]).
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
/// use vestis_client::{Error, JobId, WaitLimit, WaitOptions};
/// match client.wait(JobId(7), &WaitOptions::default()).await {
///     Err(Error::TimedOut { limit: WaitLimit::Deadline, .. }) => println!("out of time"),
///     Err(Error::TimedOut { limit: WaitLimit::PollLimit, polls, .. }) => println!("{polls} polls spent"),
///     other => println!("{:?}", other.map(|job| job.status)),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitLimit {
    /// The wall-clock deadline ([`WaitOptions::deadline`](crate::WaitOptions::deadline)) passed.
    Deadline,
    /// The schedule's polls ran out ([`PollStrategy::max_polls`](crate::PollStrategy::max_polls)).
    PollLimit,
}

impl std::fmt::Display for WaitLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WaitLimit::Deadline => "the deadline passed",
            WaitLimit::PollLimit => "the poll limit was reached",
        })
    }
}

/// The tail of a time-out's message that says what became of its cancel.
fn describe_cancel(cancel: Option<&std::result::Result<(), CancelOnTimeoutError>>) -> String {
    match cancel {
        None => String::new(),
        Some(Ok(())) => "; the job was cancelled".to_owned(),
        Some(Err(e)) => format!("; cancelling the job failed: {e}"),
    }
}

/// The crate's result type: `Result<T, vestis_client::Error>`.
///
/// # Examples
///
/// ```no_run
/// use vestis_client::{Client, JobId, Result};
///
/// async fn status(client: &Client, id: JobId) -> Result<String> {
///     Ok(client.get(id).await?.status.to_string())
/// }
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        let human = |d| human_duration(d).to_string();
        assert_eq!(human(Duration::from_nanos(1_001_090_587)), "1s");
        assert_eq!(human(Duration::from_millis(1_500)), "2s");
        assert_eq!(human(Duration::from_secs(300)), "5m");
        assert_eq!(human(Duration::from_millis(90_400)), "1m 30s");
        assert_eq!(human(Duration::from_micros(250_300)), "251ms");
        let timed_out = Error::TimedOut {
            elapsed: Duration::from_nanos(1_001_090_587),
            polls: 3,
            last: None,
            limit: WaitLimit::Deadline,
            cancel: None,
        };
        assert_eq!(
            timed_out.to_string(),
            "timed out after 1s and 3 polls waiting for the job: the deadline passed"
        );
        let once = Error::TimedOut {
            elapsed: Duration::from_secs(1),
            polls: 1,
            last: None,
            limit: WaitLimit::PollLimit,
            cancel: Some(Ok(())),
        };
        assert_eq!(
            once.to_string(),
            "timed out after 1s and 1 poll waiting for the job: the poll limit was reached; the job was cancelled"
        );
    }
}
