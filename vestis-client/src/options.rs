//! What callers pass per call: [`RequestOptions`] (extra headers and a
//! timeout for the requests of one call) and the options of create and
//! list (the client's own settings are the builder's, in `builder.rs`).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::error::{Error, Result};
use crate::model::JobStatus;

/// Options for [`Client::create_with`](crate::Client::create_with).
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

    /// These options with their key fixed: a fresh one drawn now if they
    /// send a key but name none, so that every retry sends the same.
    pub(crate) fn with_key(mut self) -> Self {
        if self.send_idempotency_key && self.idempotency_key.is_none() {
            self.idempotency_key = Some(uuid::Uuid::new_v4().to_string());
        }
        self
    }
}

/// Query of [`Client::list`](crate::Client::list).
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
/// Attach them with [`Client::with_request_options`](crate::Client::with_request_options), which returns a
/// handle on the same connection pool whose every API request (create,
/// get, list, cancel, and each poll and cancel of a wait) carries them:
///
/// - **Headers** are added to every API request. A header the SDK sets
///   itself (`Authorization`, `Content-Type`, `Idempotency-Key`,
///   `User-Agent`) is replaced by yours. They are not sent with
///   [`Client::download`](crate::Client::download), whose image URL may be on another host.
/// - **Timeout** bounds each request, replacing the builder's
///   [`ClientBuilder::request_timeout`](crate::ClientBuilder::request_timeout); a wait's overall deadline stays
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
    /// answer), replacing [`ClientBuilder::request_timeout`](crate::ClientBuilder::request_timeout). A request
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
