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
    #[error("could not reach the server ({sent}): {message}")]
    Connection {
        /// The request, as `METHOD /path`.
        sent: String,
        /// What went wrong, with its causes.
        message: String,
    },
    /// The settings cannot work, e.g. an API URL that is not `http(s)://`.
    #[error("{0}")]
    Config(String),
}
