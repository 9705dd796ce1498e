//! [`Client`]: the one place in the SDK that speaks HTTP (its builder is
//! in `builder.rs`).
//!
//! One small method per endpoint. Every answer goes through [`Client::send`],
//! which turns non-2xx statuses into typed [`Error`]s (keeping the contract's
//! `code`, `error`, the raw body and `Retry-After`) and 2xx bodies into wire
//! types (keeping the raw body when it does not decode).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures::Stream;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Error, Result};
use crate::model::{CancelJobResponse, CreateJobResponse, Job, JobId, JobKind, JobPage, JobStatus};
use crate::net::{self, Routes};
use crate::options::{CreateOptions, ListOptions, RequestOptions};
use crate::wire::{self, ErrorBody};

/// A handle on the Vestis API. Cheap to clone: clones share one connection pool.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), vestis_client::Error> {
/// use vestis_client::{ChatRequest, Client, JobKind, WaitOptions};
///
/// let client = Client::builder().token("my-token").build()?;
/// let created = client.create(JobKind::Chat, &ChatRequest::new("a red dress")).await?;
/// let job = client.wait(created.job_id, &WaitOptions::default()).await?;
/// println!("{}", job.result.unwrap().image_url);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
    /// What [`Client::with_request_options`] attached: extra headers and a
    /// timeout for every API request made through this handle.
    options: Arc<RequestOptions>,
}

#[derive(Debug)]
struct Inner {
    routes: Routes,
    base_url: String,
    /// The route API requests take (direct for a loopback base URL).
    api_http: reqwest::Client,
    auth: Option<HeaderValue>,
    /// The server's `X-Mock-Max-Attempts` from its latest answer that had
    /// one; 0 until then.
    max_attempts: AtomicU32,
}

/// The header in which a server (the mock server does) says how many
/// processing attempts a job gets; the contract has no field for it.
const MAX_ATTEMPTS_HEADER: &str = "x-mock-max-attempts";

impl Client {
    /// The client a [`ClientBuilder`](crate::ClientBuilder) made: API requests go through the
    /// route for the base URL (direct for loopback).
    pub(crate) fn assemble(
        routes: Routes,
        base_url: String,
        parsed: &reqwest::Url,
        auth: Option<HeaderValue>,
    ) -> Client {
        Client {
            inner: Arc::new(Inner {
                api_http: routes.client_for(parsed).clone(),
                routes,
                base_url,
                auth,
                max_attempts: AtomicU32::new(0),
            }),
            options: Arc::default(),
        }
    }

    /// A handle on the same client (its connection pool, token and
    /// timeouts) whose every API request also carries `options`: extra
    /// headers and a per-request timeout, for one call or a few. Options
    /// already attached to this handle stay, under the new ones.
    ///
    /// Cheap (one allocation); the original handle is unchanged. Every
    /// method works through it: [`Client::create`], [`Client::get`],
    /// [`Client::list`], [`Client::cancel`] and each poll and cancel of the
    /// waits ([`Client::wait`], [`Client::wait_stream`],
    /// [`Client::wait_many`], …). See [`RequestOptions`] for what is and
    /// is not replaced.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
    /// use vestis_client::{ChatRequest, JobKind, RequestOptions, WaitOptions};
    ///
    /// // A trace id on one create and on every poll of its wait.
    /// let traced = client.with_request_options(RequestOptions::new().header("X-Trace-Id", "t-42")?);
    /// let created = traced.create(JobKind::Chat, &ChatRequest::new("a red dress")).await?;
    /// let job = traced.wait(created.job_id, &WaitOptions::default()).await?;
    /// # let _ = job; Ok(()) }
    /// ```
    pub fn with_request_options(&self, options: RequestOptions) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            options: Arc::new(self.options.merged(options)),
        }
    }

    /// A client for `VESTIS_API_URL` (default the contract's) with `VESTIS_TOKEN`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`], as [`ClientBuilder::build`](crate::ClientBuilder::build), when `VESTIS_API_URL`
    /// or `VESTIS_TOKEN` holds an unusable value.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// // VESTIS_API_URL=http://localhost:4000/api/v1 VESTIS_TOKEN=dev
    /// let client = vestis_client::Client::from_env()?;
    /// println!("talking to {}", client.base_url());
    /// # Ok::<(), vestis_client::Error>(())
    /// ```
    pub fn from_env() -> Result<Client> {
        let mut builder = Client::builder();
        if let Ok(url) = std::env::var("VESTIS_API_URL") {
            builder = builder.base_url(url);
        }
        if let Ok(token) = std::env::var("VESTIS_TOKEN") {
            builder = builder.token(token);
        }
        builder.build()
    }

    /// The base URL requests go to (no trailing slash).
    ///
    /// # Examples
    ///
    /// ```
    /// let client = vestis_client::Client::builder().base_url("http://127.0.0.1:4000/api/v1/").build()?;
    /// assert_eq!(client.base_url(), "http://127.0.0.1:4000/api/v1");
    /// # Ok::<(), vestis_client::Error>(())
    /// ```
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The mock server's attempts per job, from the `X-Mock-Max-Attempts`
    /// header it sends on every API answer (`vestis-mock-server`'s
    /// `Faults::max_attempts`, default 3); `None` before the first such
    /// answer, and always `None` against a server that does not send it:
    /// the contract has no such field. Shared by every clone of the client.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
    /// let job = client.get(vestis_client::JobId(7)).await?;
    /// match client.mock_max_attempts() {
    ///     Some(max) => println!("attempt {} of {max}", job.attempts),
    ///     None => println!("attempt {}", job.attempts),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn mock_max_attempts(&self) -> Option<u32> {
        Some(self.inner.max_attempts.load(Ordering::Relaxed)).filter(|&n| n > 0)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.inner.base_url, path)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.inner.api_http.request(method, self.url(path));
        if let Some(auth) = &self.inner.auth {
            req = req.header(reqwest::header::AUTHORIZATION, auth.clone());
        }
        req
    }

    /// Sends an API request, with this handle's [`RequestOptions`] on top,
    /// and decodes a 2xx body as `T`; anything else is a typed error.
    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T> {
        let req = self.with_timeout(req).headers(self.options.headers.clone());
        let (status, body) = self.exchange(req).await?;
        serde_json::from_slice(&body).map_err(|source| Error::Decode {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            source,
        })
    }

    /// The request with this handle's timeout, if it has one.
    fn with_timeout(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.options.timeout {
            Some(timeout) => req.timeout(timeout),
            None => req,
        }
    }

    /// Sends a request and reads the whole answer: `Ok` with a 2xx status
    /// and the body, a typed error for anything else.
    async fn exchange(&self, req: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>)> {
        let (http, request) = req.build_split();
        let request =
            request.map_err(|e| Error::Config(format!("could not build the request: {e}")))?;
        let url = request.url().clone();
        let started = std::time::Instant::now();
        let routes = &self.inner.routes;
        let failed = |e| net::transport_error(e, &url, routes.proxy_for(&url), started.elapsed());
        let response = http.execute(request).await.map_err(failed)?;
        let status = response.status().as_u16();
        tracing::debug!(status, %url, "vestis response");
        let retry_after = retry_after(response.headers());
        if let Some(max) = response
            .headers()
            .get(MAX_ATTEMPTS_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok())
        {
            self.inner.max_attempts.store(max, Ordering::Relaxed);
        }
        if (300..400).contains(&status) {
            return Err(redirected(
                status,
                &url,
                response.headers(),
                &self.inner.base_url,
            ));
        }
        let body = read_capped(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| match e {
                Capped::Over => Error::TooLarge {
                    status,
                    limit: MAX_ANSWER_BYTES,
                },
                Capped::Failed(e) => failed(e),
            })?;
        if (200..300).contains(&status) {
            return Ok((status, body));
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        let proxy = routes.proxy_for(&url);
        Err(Error::from_api(api_error(status, body, retry_after, proxy)))
    }

    /// Creates a job with a fresh `Idempotency-Key`, retrying transient
    /// failures up to 3 times (the key makes the retries safe).
    ///
    /// # Errors
    ///
    /// The answer's typed error: [`Error::Unauthorized`] (401/403),
    /// [`Error::InvalidRequest`], [`Error::RateLimited`],
    /// [`Error::Server`], [`Error::Api`]; [`Error::Transport`] when no answer
    /// came; [`Error::Decode`] for a 2xx body that is not the contract's.
    /// A transient failure ([`Error::is_transient`]) is returned after the
    /// retries are spent.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
    /// use vestis_client::{FlatlayRequest, JobKind};
    /// let req = FlatlayRequest::new("1", "2", vec![serde_json::json!({"sku": "A1"})]);
    /// let created = client.create(JobKind::Flatlay, &req).await?;
    /// println!("queued job {}", created.job_id);
    /// # Ok(()) }
    /// ```
    pub async fn create<P: Serialize + ?Sized>(
        &self,
        kind: JobKind,
        payload: &P,
    ) -> Result<CreateJobResponse> {
        self.create_with(kind, payload, &CreateOptions::default())
            .await
    }

    /// Creates a job with explicit [`CreateOptions`]: your own
    /// `Idempotency-Key`, how many retries. (Extra headers and a timeout:
    /// [`Client::with_request_options`].)
    ///
    /// # Errors
    ///
    /// As [`Client::create`], plus [`Error::Conflict`] when the idempotency
    /// key was used before for a different request, and [`Error::Config`]
    /// when the payload cannot be serialised.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
    /// use vestis_client::{ChatRequest, CreateOptions, JobKind};
    /// // Derived from your order id: a retry after a crash finds the same job.
    /// let options = CreateOptions::default().idempotency_key("order-1234");
    /// let first = client.create_with(JobKind::Chat, &ChatRequest::new("x"), &options).await?;
    /// let again = client.create_with(JobKind::Chat, &ChatRequest::new("x"), &options).await?;
    /// assert_eq!(first.job_id, again.job_id);
    /// # Ok(()) }
    /// ```
    #[tracing::instrument(level = "debug", skip_all, fields(kind = %kind))]
    pub async fn create_with<P: Serialize + ?Sized>(
        &self,
        kind: JobKind,
        payload: &P,
        options: &CreateOptions,
    ) -> Result<CreateJobResponse> {
        let body = serde_json::to_vec(payload)
            .map_err(|e| Error::Config(format!("the payload cannot be serialised: {e}")))?;
        let path = match wire::generate_flag(kind) {
            Some(flag) => format!("/generate?{flag}=true"),
            None => "/generate".to_owned(),
        };
        let key = match (&options.idempotency_key, options.send_idempotency_key) {
            (_, false) => None,
            (Some(key), true) => Some(key.clone()),
            (None, true) => Some(uuid::Uuid::new_v4().to_string()),
        };
        let attempt = || async {
            let mut req = self
                .request(reqwest::Method::POST, &path)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/json; charset=utf-8",
                )
                .body(body.clone());
            if let Some(key) = &key {
                req = req.header("Idempotency-Key", key.as_str());
            }
            self.send::<CreateJobResponse>(req).await
        };
        if key.is_none() || options.retries == 0 {
            return attempt().await;
        }
        attempt
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(500))
                    .with_max_delay(Duration::from_secs(5))
                    .with_max_times(options.retries)
                    .with_jitter(),
            )
            .when(Error::is_transient)
            .adjust(|err, delay| match (err.retry_after(), delay) {
                (Some(after), Some(delay)) => Some(after.max(delay)),
                (_, delay) => delay,
            })
            .notify(|err, delay| tracing::debug!(%err, ?delay, "retrying create"))
            .await
    }

    /// Fetches one job.
    ///
    /// # Errors
    ///
    /// The answer's typed error: [`Error::Unauthorized`] (401/403),
    /// [`Error::NotFound`] (no such job for this token), [`Error::InvalidRequest`], [`Error::RateLimited`],
    /// [`Error::Server`], [`Error::Api`]; [`Error::Transport`] when no answer
    /// came; [`Error::Decode`] for a 2xx body that is not the contract's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
    /// let job = client.get(vestis_client::JobId(123)).await?;
    /// println!("{} is {}", job.job_id, job.status);
    /// # Ok(()) }
    /// ```
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn get(&self, id: JobId) -> Result<Job> {
        self.send(self.request(reqwest::Method::GET, &format!("/jobs/{id}")))
            .await
    }

    /// Fetches one page of the caller's jobs, newest first.
    ///
    /// # Errors
    ///
    /// The answer's typed error: [`Error::Unauthorized`] (401/403),
    /// [`Error::NotFound`], [`Error::InvalidRequest`] (a page size outside 1..=100), [`Error::RateLimited`],
    /// [`Error::Server`], [`Error::Api`]; [`Error::Transport`] when no answer
    /// came; [`Error::Decode`] for a 2xx body that is not the contract's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
    /// use vestis_client::{JobStatus, ListOptions};
    /// let page = client.list(&ListOptions::page(1, 10).status(JobStatus::Pending)).await?;
    /// println!("{} pending jobs", page.metadata.total);
    /// # Ok(()) }
    /// ```
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn list(&self, options: &ListOptions) -> Result<JobPage> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(page) = options.page {
            query.push(("page", page.to_string()));
        }
        if let Some(size) = options.page_size {
            query.push(("page_size", size.to_string()));
        }
        if let Some(status) = &options.status {
            query.push(("status", status.to_string()));
        }
        self.send(self.request(reqwest::Method::GET, "/jobs").query(&query))
            .await
    }

    /// Every job of the caller, newest first, fetched page by page (100 a
    /// page). Each job comes once, even when jobs are created between two
    /// page fetches (those new jobs are not included).
    ///
    /// # Errors
    ///
    /// The stream yields one `Err`, as [`Client::list`] returns it, for the
    /// page that failed, and ends there.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
    /// use futures::TryStreamExt;
    /// let all: Vec<_> = client.list_all(None).try_collect().await?;
    /// println!("{} jobs", all.len());
    /// # Ok(()) }
    /// ```
    pub fn list_all(&self, status: Option<JobStatus>) -> impl Stream<Item = Result<Job>> + use<> {
        let client = self.clone();
        // (next page, smallest id seen so far)
        let start: (Option<u64>, Option<JobId>) = (Some(1), None);
        let pages = futures::stream::try_unfold(start, move |(next, oldest)| {
            let client = client.clone();
            let status = status.clone();
            async move {
                let Some(page) = next else {
                    return Ok::<_, Error>(None);
                };
                let options = ListOptions::page(page, 100).status_filter(status);
                let got = client.list(&options).await?;
                let more = page < got.metadata.total_pages && !got.jobs.is_empty();
                // Newest first: jobs created since the last page push older
                // ones onto this page again. Anything not older than the
                // oldest job already yielded was yielded (or is newer than
                // the listing): skip it, so every job comes exactly once.
                let fresh: Vec<Job> = got
                    .jobs
                    .into_iter()
                    .filter(|job| oldest.is_none_or(|oldest| job.job_id < oldest))
                    .collect();
                let oldest = fresh.iter().map(|job| job.job_id).min().or(oldest);
                let next = if more { Some(page + 1) } else { None };
                Ok(Some((
                    futures::stream::iter(fresh.into_iter().map(Ok)),
                    (next, oldest),
                )))
            }
        });
        futures::TryStreamExt::try_flatten(pages)
    }

    /// Cancels a pending job. A job already processing or finished: [`Error::Conflict`].
    ///
    /// # Errors
    ///
    /// The answer's typed error: [`Error::Unauthorized`] (401/403),
    /// [`Error::Conflict`] (the job is no longer pending), [`Error::NotFound`], [`Error::InvalidRequest`], [`Error::RateLimited`],
    /// [`Error::Server`], [`Error::Api`]; [`Error::Transport`] when no answer
    /// came; [`Error::Decode`] for a 2xx body that is not the contract's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
    /// match client.cancel(vestis_client::JobId(123)).await {
    ///     Ok(done) => println!("job {} {}", done.job_id, done.status),
    ///     Err(vestis_client::Error::Conflict(e)) => println!("too late: {}", e.message),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn cancel(&self, id: JobId) -> Result<CancelJobResponse> {
        self.send(self.request(reqwest::Method::DELETE, &format!("/jobs/{id}")))
            .await
    }

    /// Downloads a result image. No credentials are sent, nor the headers
    /// of [`Client::with_request_options`] (its timeout applies): image
    /// URLs are public by contract and may live on another host.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] (no image for that job) or another typed error
    /// for a non-2xx answer; [`Error::Transport`] when no answer (or not the
    /// whole body) came.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: vestis_client::Client, job: vestis_client::Job) -> Result<(), vestis_client::Error> {
    /// if let Some(result) = &job.result {
    ///     let png = client.download(&result.image_url).await?;
    ///     std::fs::write("out.png", &png).unwrap();
    /// }
    /// # Ok(()) }
    /// ```
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn download(&self, url: &str) -> Result<Vec<u8>> {
        let mut download = self.open_download(url).await?;
        let mut image = Vec::new();
        while let Some(chunk) = download.chunk().await? {
            image.extend_from_slice(&chunk);
        }
        Ok(image)
    }

    /// Starts downloading a result image, to read piece by piece: for
    /// writing it to disk without holding it in memory (the `vestis` CLI
    /// does). No credentials are sent: image URLs are public by contract
    /// and may live on another host, so up to [`MAX_IMAGE_REDIRECTS`]
    /// redirects are followed (a CDN's), unlike API requests.
    ///
    /// # Errors
    ///
    /// As [`Client::download`]: a typed error for a non-2xx answer (its
    /// body read up to [`MAX_ANSWER_BYTES`]), [`Error::Redirected`] past
    /// [`MAX_IMAGE_REDIRECTS`], [`Error::Transport`] when no answer came.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: vestis_client::Client, url: &str) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::io::Write;
    /// let mut file = std::fs::File::create("out.png")?;
    /// let mut download = client.open_download(url).await?;
    /// while let Some(chunk) = download.chunk().await? {
    ///     file.write_all(&chunk)?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn open_download(&self, url: &str) -> Result<Download> {
        let mut url = reqwest::Url::parse(url)
            .map_err(|e| Error::Config(format!("invalid image URL {url:?}: {e}")))?;
        let routes = &self.inner.routes;
        let mut last_status = 0;
        for _ in 0..=MAX_IMAGE_REDIRECTS {
            let started = std::time::Instant::now();
            let request_url = url.clone();
            let failed = |e| {
                net::transport_error(
                    e,
                    &request_url,
                    routes.proxy_for(&request_url),
                    started.elapsed(),
                )
            };
            let response = self
                .with_timeout(routes.client_for(&url).get(url.clone()))
                .send()
                .await
                .map_err(failed)?;
            let status = response.status().as_u16();
            tracing::debug!(status, %url, "vestis response");
            if (300..400).contains(&status) {
                match location(&url, response.headers()) {
                    Some(next) => {
                        url = next;
                        last_status = status;
                        continue;
                    }
                    None => return Err(redirected(status, &url, response.headers(), "")),
                }
            }
            if (200..300).contains(&status) {
                return Ok(Download {
                    response,
                    url,
                    proxy: routes.proxy_for(&request_url),
                    started,
                });
            }
            let retry_after = retry_after(response.headers());
            let body = match read_capped(response, MAX_ANSWER_BYTES).await {
                Ok(body) => String::from_utf8_lossy(&body).into_owned(),
                Err(Capped::Over) => String::new(),
                Err(Capped::Failed(e)) => return Err(failed(e)),
            };
            let proxy = routes.proxy_for(&url);
            return Err(Error::from_api(api_error(status, body, retry_after, proxy)));
        }
        Err(Error::Redirected {
            status: last_status,
            location: Some(url.to_string()),
            suggested_base_url: None,
        })
    }
}

/// The most answers any API request reads: 1 MiB. A job is a few KiB and a
/// page of 100 jobs well under this; a larger answer is not the API's (a
/// misrouted download, a broken proxy, a hostile server) and is refused
/// with [`Error::TooLarge`] instead of filling memory.
pub const MAX_ANSWER_BYTES: u64 = 1024 * 1024;

/// How many redirects an image download follows ([`Client::open_download`]).
/// API requests follow none ([`Error::Redirected`]).
pub const MAX_IMAGE_REDIRECTS: usize = 5;

/// A result image being downloaded ([`Client::open_download`]): read it
/// with [`Download::chunk`] until `None`.
#[derive(Debug)]
pub struct Download {
    response: reqwest::Response,
    url: reqwest::Url,
    proxy: Option<String>,
    started: std::time::Instant,
}

impl Download {
    /// The image's size in bytes, when the server said (`Content-Length`).
    pub fn content_length(&self) -> Option<u64> {
        self.response.content_length()
    }

    /// The next piece of the image, `None` once it is all read.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] when the connection breaks off.
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>> {
        match self.response.chunk().await {
            Ok(chunk) => Ok(chunk.map(|c| c.to_vec())),
            Err(e) => Err(net::transport_error(
                e,
                &self.url,
                self.proxy.clone(),
                self.started.elapsed(),
            )),
        }
    }
}

/// Why a capped read stopped.
enum Capped {
    /// The body is longer than the cap.
    Over,
    /// The connection failed.
    Failed(reqwest::Error),
}

/// Reads `response`'s body, refusing it as soon as it passes `limit`
/// bytes (at once when its `Content-Length` says it will).
async fn read_capped(
    mut response: reqwest::Response,
    limit: u64,
) -> std::result::Result<Vec<u8>, Capped> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(Capped::Over);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Capped::Failed)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(Capped::Over);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A redirect's `Location`, made absolute against the request's URL.
fn location(url: &reqwest::Url, headers: &HeaderMap) -> Option<reqwest::Url> {
    let value = headers.get(reqwest::header::LOCATION)?.to_str().ok()?;
    url.join(value).ok()
}

/// The error for a 3xx answer to a request for `url` on `base_url`: where
/// it pointed, and the base URL that implies when the target keeps the
/// request's path after the base (`http://h/api/v1/jobs/1` redirected to
/// `https://h/api/v1/jobs/1` suggests `https://h/api/v1`).
fn redirected(status: u16, url: &reqwest::Url, headers: &HeaderMap, base_url: &str) -> Error {
    let target = location(url, headers);
    let suggested_base_url = target.as_ref().and_then(|target| {
        let rest = url.as_str().strip_prefix(base_url)?;
        let target = target.as_str();
        let base = target.strip_suffix(rest)?;
        (!base_url.is_empty() && !rest.is_empty() && !base.is_empty()).then(|| base.to_owned())
    });
    Error::Redirected {
        status,
        location: target.map(String::from),
        suggested_base_url,
    }
}

/// Builds an [`ApiError`] from a non-2xx answer, keeping the raw body when it
/// is not the contract's JSON, and then naming the `proxy` the request went
/// through, which most likely wrote it.
fn api_error(
    status: u16,
    body: String,
    retry_after: Option<Duration>,
    proxy: Option<String>,
) -> ApiError {
    match serde_json::from_str::<ErrorBody>(&body) {
        Ok(parsed) => ApiError {
            status,
            code: Some(parsed.code),
            message: parsed.error,
            body: None,
            retry_after,
            proxy: None,
        },
        Err(_) => ApiError {
            status,
            code: None,
            message: reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("unexpected status")
                .to_owned(),
            body: Some(body),
            retry_after,
            proxy,
        },
    }
}

/// `Retry-After-Ms` (milliseconds) wins over `Retry-After` (whole seconds).
/// The HTTP-date form of `Retry-After` is not used by the contract and is ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    if let Some(ms) = number("retry-after-ms") {
        return Some(Duration::from_secs_f64((ms / 1000.0).min(86_400.0)));
    }
    number("retry-after").map(|s| Duration::from_secs_f64(s.min(86_400.0)))
}

#[cfg(test)]
mod http_edges;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_milliseconds() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        h.insert("retry-after-ms", HeaderValue::from_static("-5"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn api_error_keeps_contract_fields_or_the_raw_body() {
        let e = api_error(
            404,
            r#"{"success":false,"error":"Job not found","code":"not_found"}"#.into(),
            None,
            Some("http://proxy.example:3128".into()),
        );
        assert_eq!(e.message, "Job not found");
        assert_eq!(e.proxy, None, "the contract's JSON came from the API");
        assert_eq!(e.body, None);
        let e = api_error(
            502,
            "<html>bad gateway</html>".into(),
            None,
            Some("http://proxy.example:3128".into()),
        );
        assert_eq!(
            e.to_string(),
            "Bad Gateway (HTTP 502 from the proxy http://proxy.example:3128, not from the API)"
        );
        assert_eq!(e.code, None);
        assert_eq!(e.body.as_deref(), Some("<html>bad gateway</html>"));
        assert_eq!(e.message, "Bad Gateway");
    }

    #[test]
    fn builder_rejects_bad_urls_and_tokens() {
        assert!(Client::builder().base_url("ftp://x").build().is_err());
        assert!(Client::builder().base_url("not a url").build().is_err());
        assert!(Client::builder().token("bad\ntoken").build().is_err());
        let c = Client::builder()
            .base_url("http://127.0.0.1:9/api/v1/")
            .build()
            .unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:9/api/v1");
    }
}
