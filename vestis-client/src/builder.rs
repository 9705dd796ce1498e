//! What callers configure once: [`ClientBuilder`] (base URL, token,
//! timeouts), and [`Client::builder`], which starts one. Above the client
//! it builds, so the client imports nothing of it.

use std::time::Duration;

use reqwest::header::HeaderValue;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::net::Routes;

impl Client {
    /// A builder with the contract's defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }
}

/// The contract's default base URL.
pub const DEFAULT_BASE_URL: &str = "http://localhost:4000/api/v1";

/// Builds a [`Client`]. Every setting has a sane default.
///
/// reqwest has no timeouts by default, so the builder sets them: 10 s to
/// connect, 30 s between reads, 60 s for a whole request.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use vestis_client::Client;
///
/// let client = Client::builder()
///     .base_url("https://api.example.com/api/v1")
///     .token("secret")
///     .connect_timeout(Duration::from_secs(3))
///     .request_timeout(Duration::from_secs(20))
///     .build()?;
/// assert_eq!(client.base_url(), "https://api.example.com/api/v1");
/// assert!(Client::builder().base_url("ftp://nope").build().is_err());
/// # Ok::<(), vestis_client::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    token: Option<String>,
    connect_timeout: Duration,
    read_timeout: Duration,
    request_timeout: Duration,
    user_agent: String,
    http: Option<reqwest::Client>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            base_url: DEFAULT_BASE_URL.to_owned(),
            token: None,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            user_agent: concat!("vestis-client/", env!("CARGO_PKG_VERSION")).to_owned(),
            http: None,
        }
    }
}

impl ClientBuilder {
    /// The API's base URL, e.g. `http://localhost:4000/api/v1`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The bearer token: the caller's identity; jobs belong to it.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// How long to wait for a TCP (and TLS) connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait between two reads of an answer.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// How long one whole request may take.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The `User-Agent` header (default `vestis-client/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Uses a caller-configured `reqwest::Client` (its own timeouts, proxy,
    /// TLS) for every request; the builder's timeouts and user agent are then
    /// not applied, nor the SDK's rule that loopback never goes through a proxy.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Builds the client; fails on a base URL that is not `http(s)://…` or a
    /// token that cannot be a header value.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a base URL that is not `http(s)://…`, a token
    /// with characters a header cannot carry, or an HTTP client that cannot
    /// be built (no TLS roots).
    pub fn build(self) -> Result<Client> {
        let base_url = self.base_url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base_url)
            .map_err(|e| Error::Config(format!("invalid base URL {base_url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "invalid base URL {base_url:?}: the scheme must be http or https"
            )));
        }
        if parsed.scheme() == "https" && !crate::tls::HTTPS {
            return Err(Error::Config(format!(
                "invalid base URL {base_url:?}: https needs the `rustls` feature of vestis-client"
            )));
        }
        crate::tls::install_provider();
        let auth = match self.token {
            Some(token) => {
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                        Error::Config(
                            "the token contains characters not allowed in a header".into(),
                        )
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let routes = match self.http {
            Some(http) => Routes::caller(http),
            None => Routes::new(|| {
                reqwest::Client::builder()
                    .connect_timeout(self.connect_timeout)
                    .read_timeout(self.read_timeout)
                    .timeout(self.request_timeout)
                    .user_agent(self.user_agent.clone())
            })
            .map_err(|e| Error::Config(format!("could not build the HTTP client: {e}")))?,
        };
        Ok(Client::assemble(routes, base_url, &parsed, auth))
    }
}
