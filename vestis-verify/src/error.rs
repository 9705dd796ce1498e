//! The crate's error type: what stops a run before its checks can say anything.
//!
//! A check that finds a violation is not an error: it is a failed check in
//! the [`Report`](crate::Report). These errors are for runs that cannot go
//! on (the token is refused, the server cannot be reached, the settings are
//! unusable), which the CLI maps to its exit codes 4, 6 and 2.

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered 401 to an authenticated request: `token` names
    /// which one (`--token` or `--second-token`).
    #[error("the server rejected {token} ({sent} answered 401: {message})")]
    Unauthorized {
        /// Which token: `"--token"` or `"--second-token"`.
        token: &'static str,
        /// The request, as `METHOD /path`.
        sent: String,
        /// The server's `error` text, escaped and shortened.
        message: String,
    },
    /// The server could not be reached, or a request failed in transit
    /// (after retries).
    ///
    /// The message already names the innermost cause in one line; the
    /// transport's own error stays reachable as
    /// [`std::error::Error::source`], so a caller can walk the whole chain
    /// (or match on an `io::Error` inside it).
    #[error("could not reach the server ({sent}): {message}")]
    Connection {
        /// The request, as `METHOD /path`.
        sent: String,
        /// What went wrong, with its innermost cause, in one line.
        message: String,
        /// The last attempt's transport error (boxed: the HTTP client is
        /// not part of this crate's API).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The settings cannot work, e.g. an API URL that is not `http(s)://`.
    #[error("{0}")]
    Config(String),
}
