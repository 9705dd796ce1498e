//! What callers configure: [`ClientBuilder`] (base URL, token, timeouts),
//! [`RequestOptions`] (extra headers and a timeout for the requests of one
//! call) and the per-call options of create and list.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::model::JobStatus;
use crate::net::Routes;

/// The contract's default base URL, what [`Client::builder`] starts from.
///
/// # Examples
///
/// ```
/// let client = vestis_client::Client::builder().build()?;
/// assert_eq!(client.base_url(), vestis_client::DEFAULT_BASE_URL);
/// # Ok::<(), vestis_client::Error>(())
/// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// let client = vestis_client::Client::builder().base_url("http://127.0.0.1:4000/api/v1").build()?;
    /// assert_eq!(client.base_url(), "http://127.0.0.1:4000/api/v1");
    /// # Ok::<(), vestis_client::Error>(())
    /// ```
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The bearer token: the caller's identity; jobs belong to it.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = vestis_client::Client::builder().token("dev").build()?;
    /// # let _ = client; Ok::<(), vestis_client::Error>(())
    /// ```
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// How long to wait for a TCP (and TLS) connection.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let client = vestis_client::Client::builder().connect_timeout(Duration::from_secs(2)).build()?;
    /// # let _ = client; Ok::<(), vestis_client::Error>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait between two reads of an answer.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let client = vestis_client::Client::builder().read_timeout(Duration::from_secs(10)).build()?;
    /// # let _ = client; Ok::<(), vestis_client::Error>(())
    /// ```
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// How long one whole request may take.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let client = vestis_client::Client::builder().request_timeout(Duration::from_secs(20)).build()?;
    /// # let _ = client; Ok::<(), vestis_client::Error>(())
    /// ```
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The `User-Agent` header (default `vestis-client/<version>`).
    ///
    /// # Examples
    ///
    /// ```
    /// let client = vestis_client::Client::builder().user_agent("my-app/1.0").build()?;
    /// # let _ = client; Ok::<(), vestis_client::Error>(())
    /// ```
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Uses a caller-configured `reqwest::Client` (its own timeouts, proxy,
    /// TLS) for every request; the builder's timeouts and user agent are then
    /// not applied, nor the SDK's rule that loopback never goes through a proxy.
    ///
    /// # Examples
    ///
    /// ```
    /// let http = reqwest::Client::builder().build().unwrap(); // reqwest 0.13, the SDK's
    /// let client = vestis_client::Client::builder().http_client(http).build()?;
    /// # let _ = client; Ok::<(), vestis_client::Error>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// let client = vestis_client::Client::builder().token("dev").build()?;
    /// assert!(vestis_client::Client::builder().base_url("localhost:4000").build().is_err());
    /// # let _ = client; Ok::<(), vestis_client::Error>(())
    /// ```
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

/// Options for [`Client::create_with`].
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
/// use vestis_client::{ChatRequest, CreateOptions, JobKind};
/// // A key derived from your own order id: a retry after a crash finds the same job.
/// let options = CreateOptions::default().idempotency_key("order-1234").retries(5);
/// let created = client.create_with(JobKind::Chat, &ChatRequest::new("x"), &options).await?;
/// # let _ = created; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CreateOptions {
    pub(crate) idempotency_key: Option<String>,
    pub(crate) send_idempotency_key: bool,
    pub(crate) retries: usize,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            idempotency_key: None,
            send_idempotency_key: true,
            retries: 3,
        }
    }
}

impl CreateOptions {
    /// Uses this `Idempotency-Key` instead of a fresh random one, e.g. to
    /// replay a create whose answer was lost (the CLI's journal does this).
    ///
    /// # Examples
    ///
    /// ```
    /// let options = vestis_client::CreateOptions::default().idempotency_key("order-1234");
    /// # let _ = options;
    /// ```
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self.send_idempotency_key = true;
        self
    }

    /// Sends no `Idempotency-Key`. A create is then never retried, since a
    /// retry could make a second job.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = vestis_client::CreateOptions::default().without_idempotency_key();
    /// # let _ = options;
    /// ```
    pub fn without_idempotency_key(mut self) -> Self {
        self.idempotency_key = None;
        self.send_idempotency_key = false;
        self
    }

    /// How many times a transient failure is retried (default 3; only with a key).
    ///
    /// # Examples
    ///
    /// ```
    /// let options = vestis_client::CreateOptions::default().retries(0);
    /// # let _ = options;
    /// ```
    pub fn retries(mut self, retries: usize) -> Self {
        self.retries = retries;
        self
    }
}

/// Query of [`Client::list`].
///
/// `#[non_exhaustive]` (the API may add filters): start from
/// [`ListOptions::default`] or [`ListOptions::page`] and chain.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
/// use vestis_client::{JobStatus, ListOptions};
/// let failed = client.list(&ListOptions::default().status(JobStatus::Failed)).await?;
/// let second = client.list(&ListOptions::page(2, 50)).await?;
/// println!("{} failed, {} on page 2", failed.metadata.total, second.jobs.len());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOptions {
    /// Page number from 1 (server default 1).
    pub page: Option<u64>,
    /// Jobs per page, 1..=100 (server default 20).
    pub page_size: Option<u32>,
    /// Only jobs with this status.
    pub status: Option<JobStatus>,
}

impl ListOptions {
    /// Page `page` of `page_size` jobs.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = vestis_client::ListOptions::page(3, 100);
    /// assert_eq!((options.page, options.page_size), (Some(3), Some(100)));
    /// ```
    pub fn page(page: u64, page_size: u32) -> Self {
        ListOptions {
            page: Some(page),
            page_size: Some(page_size),
            status: None,
        }
    }

    /// Only jobs with `status`.
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_client::{JobStatus, ListOptions};
    /// let options = ListOptions::default().status(JobStatus::Pending);
    /// assert_eq!(options.page, None, "the server's default page");
    /// ```
    pub fn status(mut self, status: JobStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Only jobs with `status`, or every job for `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_client::{JobStatus, ListOptions};
    /// let filter: Option<JobStatus> = None;
    /// assert_eq!(ListOptions::page(1, 20).status_filter(filter).status, None);
    /// ```
    pub fn status_filter(mut self, status: Option<JobStatus>) -> Self {
        self.status = status;
        self
    }
}

/// Extra headers and a timeout for the requests of one call, on top of the
/// client's own (its token, user agent, connect and read timeouts, proxy
/// rules stay as they are).
///
/// Attach them with [`Client::with_request_options`], which returns a
/// handle on the same connection pool whose every API request (create,
/// get, list, cancel, and each poll and cancel of a wait) carries them:
///
/// - **Headers** are added to every API request. A header the SDK sets
///   itself (`Authorization`, `Content-Type`, `Idempotency-Key`,
///   `User-Agent`) is replaced by yours. They are not sent with
///   [`Client::download`], whose image URL may be on another host.
/// - **Timeout** bounds each request, replacing the builder's
///   [`ClientBuilder::request_timeout`]; a wait's overall deadline stays
///   [`WaitOptions::deadline`](crate::WaitOptions::deadline).
///
/// Header values are marked sensitive: `Debug` output never shows them.
///
/// # Examples
///
/// Forcing one job of the mock server to fail (its `X-Mock-Outcome`
/// header) while the other requests go on as usual:
///
/// ```no_run
/// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
/// use std::time::Duration;
/// use vestis_client::{ChatRequest, JobKind, RequestOptions};
///
/// let failing = RequestOptions::new()
///     .header("X-Mock-Outcome", "fail")?
///     .timeout(Duration::from_secs(5));
/// let doomed = client.with_request_options(failing).create(JobKind::Chat, &ChatRequest::new("x")).await?;
/// let fine = client.create(JobKind::Chat, &ChatRequest::new("y")).await?;
/// # let _ = (doomed, fine); Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    pub(crate) headers: HeaderMap,
    pub(crate) timeout: Option<Duration>,
}

impl RequestOptions {
    /// No extra headers, the client's timeouts.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = vestis_client::RequestOptions::new();
    /// # let _ = options;
    /// ```
    pub fn new() -> RequestOptions {
        RequestOptions::default()
    }

    /// Adds a header to every request, replacing an earlier one of the
    /// same name (names are case-insensitive).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `name` is not a valid header name or `value`
    /// holds characters a header cannot carry (a line break, say); the
    /// message names the header, never its value.
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_client::RequestOptions;
    /// let options = RequestOptions::new().header("X-Request-Id", "abc-123")?;
    /// assert!(RequestOptions::new().header("X-Bad", "two\nlines").is_err());
    /// assert!(RequestOptions::new().header("not a name", "x").is_err());
    /// # let _ = options;
    /// # Ok::<(), vestis_client::Error>(())
    /// ```
    pub fn header(mut self, name: &str, value: &str) -> Result<RequestOptions> {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::Config(format!("{name:?} is not a valid header name")))?;
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            Error::Config(format!(
                "the value of the header {header} has characters a header cannot carry"
            ))
        })?;
        value.set_sensitive(true);
        self.headers.insert(header, value);
        Ok(self)
    }

    /// Bounds each request of the call (connect, send and the whole
    /// answer), replacing [`ClientBuilder::request_timeout`]. A request
    /// that runs out is an [`Error::Transport`] of kind
    /// [`Timeout`](crate::TransportKind::Timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let quick = vestis_client::RequestOptions::new().timeout(Duration::from_secs(2));
    /// # let _ = quick;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> RequestOptions {
        self.timeout = Some(timeout);
        self
    }

    /// These options with `other`'s on top: its headers replace same-named
    /// ones, its timeout (if set) replaces this one.
    pub(crate) fn merged(&self, other: RequestOptions) -> RequestOptions {
        let mut merged = self.clone();
        for (name, value) in other.headers {
            if let Some(name) = name {
                merged.headers.insert(name, value);
            }
        }
        merged.timeout = other.timeout.or(self.timeout);
        merged
    }
}
