//! The one place that speaks HTTP: raw requests whose exact status, headers
//! and body the checks inspect.
//!
//! The SDK's typed client would hide what verify must see (a body that is
//! not JSON, a missing header), so requests go out through plain reqwest.
//! Overload answers (429, 502, 503, 504) are waited out and retried here, so
//! a busy staging server does not fail unrelated checks; every 429 and 503
//! is recorded with its `Retry-After` for the overload check.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{self, HeaderMap};
use serde_json::Value;

use crate::Error;
use crate::report::abbrev;

/// Whether this build can speak HTTPS (a `rustls` feature is on).
const HTTPS: bool = cfg!(any(feature = "rustls-ring", feature = "rustls-aws-lc"));

/// Makes ring rustls's process default, as vestis-client does (see its
/// `tls` module), unless a provider is installed already or aws-lc-rs is
/// selected (reqwest then brings its own).
fn install_tls_provider() {
    #[cfg(all(feature = "rustls-ring", not(feature = "rustls-aws-lc")))]
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Attempts per request while the server answers 429/502/503/504.
const OVERLOAD_ATTEMPTS: u32 = 5;
/// Attempts per request while the connection fails.
const TRANSPORT_ATTEMPTS: u32 = 3;
/// The longest `Retry-After` honoured; longer asks are cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Which credentials a request carries.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Auth {
    /// `Authorization: Bearer <--token>`.
    Primary,
    /// `Authorization: Bearer <--second-token>` (the primary one if unset).
    Second,
    /// No `Authorization` header.
    Without,
    /// This exact `Authorization` header value.
    Header(&'static str),
}

/// A request body.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    Empty,
    Json(Value),
    Raw {
        content_type: &'static str,
        bytes: Vec<u8>,
    },
}

/// A request to send: a path under the API URL (or an absolute URL), its
/// credentials, extra headers and body.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    method: Method,
    target: String,
    auth: Auth,
    headers: Vec<(&'static str, String)>,
    body: Payload,
}

impl Req {
    pub(crate) fn new(method: Method, target: impl Into<String>) -> Req {
        Req {
            method,
            target: target.into(),
            auth: Auth::Primary,
            headers: Vec::new(),
            body: Payload::Empty,
        }
    }

    pub(crate) fn get(target: impl Into<String>) -> Req {
        Req::new(Method::GET, target)
    }

    pub(crate) fn post(target: impl Into<String>) -> Req {
        Req::new(Method::POST, target)
    }

    pub(crate) fn delete(target: impl Into<String>) -> Req {
        Req::new(Method::DELETE, target)
    }

    pub(crate) fn auth(mut self, auth: Auth) -> Req {
        self.auth = auth;
        self
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Req {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn json(mut self, body: Value) -> Req {
        self.body = Payload::Json(body);
        self
    }

    pub(crate) fn raw(mut self, content_type: &'static str, bytes: Vec<u8>) -> Req {
        self.body = Payload::Raw {
            content_type,
            bytes,
        };
        self
    }
}

/// One request and the answer it got.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    /// What was sent, for reports: `POST /api/v1/generate?chat=true {"prompt":…}`.
    pub(crate) sent: String,
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Exchange {
    /// The body as JSON, if it is JSON.
    pub(crate) fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// A header's value as text (lossy), if present.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    /// What came back, for reports: status, content type and the start of the body.
    pub(crate) fn received(&self) -> String {
        let content_type = self
            .header("content-type")
            .map(|c| abbrev(&c, 60))
            .unwrap_or_else(|| "no Content-Type".to_owned());
        format!(
            "{} ({content_type}) {}",
            self.status,
            abbrev(&String::from_utf8_lossy(&self.body), 200)
        )
    }
}

/// A 429 or 503 answer, as the overload check needs it.
#[derive(Debug, Clone)]
pub(crate) struct Overload {
    pub(crate) sent: String,
    pub(crate) received: String,
    pub(crate) retry_after: Option<String>,
}

#[derive(Debug, Default)]
struct Stats {
    responses: u64,
    overloads: Vec<Overload>,
}

/// The HTTP side of a run: one connection pool, both tokens, and what was seen.
#[derive(Debug)]
pub(crate) struct Http {
    client: reqwest::Client,
    api_url: String,
    token: String,
    second_token: Option<String>,
    stats: Mutex<Stats>,
}

impl Http {
    pub(crate) fn new(
        api_url: &str,
        token: &str,
        second_token: Option<&str>,
    ) -> Result<Http, Error> {
        let api_url = api_url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&api_url)
            .map_err(|e| Error::Config(format!("--api-url {api_url:?} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "--api-url {api_url:?} must start with http:// or https://"
            )));
        }
        if parsed.scheme() == "https" && !HTTPS {
            return Err(Error::Config(format!(
                "--api-url {api_url:?}: https needs the `rustls` feature of vestis-verify"
            )));
        }
        install_tls_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("vestis-verify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Http {
            client,
            api_url,
            token: token.to_owned(),
            second_token: second_token.map(str::to_owned),
            stats: Mutex::new(Stats::default()),
        })
    }

    /// The API URL, without a trailing slash.
    pub(crate) fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Responses received so far (retried ones included).
    pub(crate) fn responses(&self) -> u64 {
        self.stats().responses
    }

    /// Every 429 and 503 answer seen so far.
    pub(crate) fn overloads(&self) -> Vec<Overload> {
        self.stats().overloads.clone()
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        // No await while held: a plain mutex is right, and a panic elsewhere
        // leaves the counters usable.
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `req`, waiting out overload answers and connection failures.
    ///
    /// # Errors
    ///
    /// [`Error::Connection`] when the request fails in transit on every attempt.
    pub(crate) async fn send(&self, req: &Req) -> Result<Exchange, Error> {
        let url = self.url(&req.target);
        let sent = describe(req, &url);
        let mut transport_failures = 0;
        let mut attempts = 0;
        loop {
            let answer = match self.once(req, &url).await {
                Ok(answer) => answer,
                Err(e) => {
                    transport_failures += 1;
                    if transport_failures >= TRANSPORT_ATTEMPTS {
                        return Err(Error::Connection {
                            sent: short(&sent),
                            message: chain(&e),
                            source: Box::new(e),
                        });
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let exchange = Exchange {
                sent: sent.clone(),
                status: answer.0,
                headers: answer.1,
                body: answer.2,
            };
            let retry_after = exchange.header("retry-after");
            if matches!(exchange.status, 429 | 503) {
                self.stats().overloads.push(Overload {
                    sent: sent.clone(),
                    received: exchange.received(),
                    retry_after: retry_after.clone(),
                });
            }
            attempts += 1;
            if !matches!(exchange.status, 429 | 502 | 503 | 504) || attempts >= OVERLOAD_ATTEMPTS {
                return Ok(exchange);
            }
            tokio::time::sleep(pause_for(retry_after.as_deref())).await;
        }
    }

    async fn once(
        &self,
        req: &Req,
        url: &str,
    ) -> Result<(u16, HeaderMap, Vec<u8>), reqwest::Error> {
        let mut builder = self.client.request(req.method.clone(), url);
        builder = match req.auth {
            Auth::Primary => builder.bearer_auth(&self.token),
            Auth::Second => builder.bearer_auth(self.second_token.as_ref().unwrap_or(&self.token)),
            Auth::Without => builder,
            Auth::Header(value) => builder.header(header::AUTHORIZATION, value),
        };
        for (name, value) in &req.headers {
            builder = builder.header(*name, value);
        }
        builder = match &req.body {
            Payload::Empty => builder,
            Payload::Json(value) => builder.json(value),
            Payload::Raw {
                content_type,
                bytes,
            } => builder
                .header(header::CONTENT_TYPE, *content_type)
                .body(bytes.clone()),
        };
        let response = builder.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        self.stats().responses += 1;
        Ok((status, headers, body))
    }

    fn url(&self, target: &str) -> String {
        if target.starts_with("http://") || target.starts_with("https://") {
            target.to_owned()
        } else {
            format!("{}{target}", self.api_url)
        }
    }
}

/// How long to wait before retrying an overload answer: its `Retry-After`
/// in seconds (at least 1, at most 30), or 1 s without a usable one.
fn pause_for(retry_after: Option<&str>) -> Duration {
    retry_after
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.max(1)).min(MAX_RETRY_AFTER))
        .unwrap_or(Duration::from_secs(1))
}

/// `METHOD /path?query` and the start of the body.
fn describe(req: &Req, url: &str) -> String {
    let path = reqwest::Url::parse(url)
        .map(|u| match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        })
        .unwrap_or_else(|_| url.to_owned());
    let mut text = format!("{} {path}", req.method);
    match req.auth {
        Auth::Without => text.push_str(" (no Authorization)"),
        Auth::Header(value) => text.push_str(&format!(" (Authorization: {value:?})")),
        Auth::Second => text.push_str(" (as --second-token)"),
        Auth::Primary => {}
    }
    for (name, value) in &req.headers {
        if !name.starts_with("x-mock") {
            text.push_str(&format!(" ({name}: {})", abbrev(value, 60)));
        }
    }
    match &req.body {
        Payload::Empty => {}
        Payload::Json(value) => text.push_str(&format!(" {}", abbrev(&value.to_string(), 120))),
        Payload::Raw {
            content_type,
            bytes,
        } if bytes.len() > 120 => {
            text.push_str(&format!(" ({content_type}, {} bytes)", bytes.len()))
        }
        Payload::Raw {
            content_type,
            bytes,
        } => text.push_str(&format!(
            " ({content_type}) {}",
            abbrev(&String::from_utf8_lossy(bytes), 120)
        )),
    }
    text
}

/// The `METHOD /path` part of a description.
fn short(sent: &str) -> String {
    sent.split(' ').take(2).collect::<Vec<_>>().join(" ")
}

/// An error and its causes on one line.
/// What went wrong in transit, each cause once: reqwest's outer layers
/// repeat the URL and "error sending request", so the message names the
/// host and the innermost cause (`cannot connect to 127.0.0.1:9: connection
/// refused`), as the SDK's transport errors do.
fn chain(error: &reqwest::Error) -> String {
    let mut innermost: &dyn std::error::Error = error;
    while let Some(cause) = innermost.source() {
        innermost = cause;
    }
    let cause = match innermost.downcast_ref::<std::io::Error>() {
        Some(io) if io.kind() != std::io::ErrorKind::Other => io.kind().to_string(),
        _ => innermost.to_string(),
    };
    let host = error
        .url()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
        .unwrap_or_else(|| "the server".to_owned());
    let text = if error.is_connect() {
        format!("cannot connect to {host}: {cause}")
    } else if error.is_timeout() {
        format!("no answer from {host} in time: {cause}")
    } else {
        format!("the exchange with {host} broke off: {cause}")
    };
    abbrev(&text, 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_bounded() {
        assert_eq!(pause_for(None), Duration::from_secs(1));
        assert_eq!(pause_for(Some("3")), Duration::from_secs(3));
        assert_eq!(pause_for(Some("0")), Duration::from_secs(1));
        assert_eq!(pause_for(Some("9999")), MAX_RETRY_AFTER);
        assert_eq!(pause_for(Some("soon")), Duration::from_secs(1));
    }
}
