//! Why [`serve`](crate::serve) or [`MockServer::start`](crate::MockServer::start)
//! could not run: one typed error, so a caller (the binary's `main`, the
//! CLI's `--mock`, a test) can tell a refused config from a busy port
//! without reading an `io::Error`'s text.

use std::io;
use std::net::SocketAddr;

use crate::config::ConfigError;

/// Why the server could not start or stopped serving.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() {
/// use vestis_mock_server::{Config, MockServer, ServeError};
///
/// match MockServer::start(Config::default()).await {
///     Ok(server) => server.shutdown().await,
///     Err(ServeError::Config(e)) => eprintln!("bad settings: {e}"),
///     Err(e) => eprintln!("cannot serve: {e}"),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// [`Config::validate`](crate::Config::validate) refused the config;
    /// nothing was started.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No listener could be bound on the address (in use, not local, no
    /// permission).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// The listener's own address could not be read.
    #[error("cannot read the listening address: {0}")]
    LocalAddr(#[source] io::Error),
    /// Accepting connections failed for good while serving.
    #[error("cannot accept connections: {0}")]
    Accept(#[source] io::Error),
}
