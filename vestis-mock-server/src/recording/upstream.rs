//! The real backend behind `--proxy-to`, as the recording proxy talks to
//! it: one reqwest client over rustls with the connect and request
//! timeouts, no redirects followed, answers read whole within a cap, and
//! every failure put in one sentence that names the backend and the cause
//! (the 502's message, the start's warning).

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, Method, header};

use crate::config::Proxy;
use crate::config::proxy::{PROXY_CONNECT_TIMEOUT, causes, innermost, install_provider};

/// The largest `/api/v1` answer read from the real backend: a page of
/// jobs is a few kilobytes; past this the client gets a 502.
pub(crate) const MAX_ANSWER: usize = 4 * 1024 * 1024;
/// The largest image fetched from the real backend.
pub(crate) const MAX_IMAGE: usize = 32 * 1024 * 1024;

/// The request headers forwarded: the caller's credentials, its
/// idempotency key and its body's type. Nothing else (no `X-Mock-*`,
/// which the proxying mock reads itself, no cookies, no `Host`).
pub(crate) const FORWARDED: [HeaderName; 3] = [
    header::AUTHORIZATION,
    HeaderName::from_static("idempotency-key"),
    header::CONTENT_TYPE,
];

/// Whether an answer header goes back to the client: its type, the
/// contract's `Location` and `Retry-After`, the rate-limit family, what a
/// 401 and a 405 carry, and a mock backend's `X-Mock-Max-Attempts`.
pub(crate) fn passed_back(name: &HeaderName) -> bool {
    let name = name.as_str();
    matches!(
        name,
        "content-type"
            | "location"
            | "retry-after"
            | "retry-after-ms"
            | "www-authenticate"
            | "allow"
            | "x-mock-max-attempts"
    ) || name.starts_with("x-ratelimit-")
        || name.starts_with("ratelimit")
}

/// The real API.
#[derive(Debug)]
pub(crate) struct Upstream {
    client: reqwest::Client,
    /// The base URL, no trailing `/`: `https://staging.example/api/v1`.
    base: String,
    /// `scheme://host[:port]` of `base`: images are fetched with the
    /// owner's token only from this origin.
    origin: String,
    timeout: Duration,
}

/// What the real API answered.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// Why the real API gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// No answer: refused, unreachable, timed out, TLS refused.
    #[error("{base} did not answer: {cause}")]
    Transport {
        /// The backend's base URL.
        base: String,
        /// "connection refused", "timed out after 30s", "TLS: ...".
        cause: String,
    },
    /// An answer, but not one to pass on.
    #[error("{base} gave a bad answer: {cause}")]
    BadAnswer {
        /// The backend's base URL.
        base: String,
        /// What was wrong with it.
        cause: String,
    },
}

impl Upstream {
    /// A client for `proxy.to` with `proxy.timeout`.
    ///
    /// # Errors
    ///
    /// When reqwest cannot build a client (no TLS backend loadable).
    pub(crate) fn new(proxy: &Proxy) -> Result<Upstream, String> {
        install_provider();
        let builder = reqwest::Client::builder();
        // A private CA (`--proxy-ca-cert`), on top of the system's roots.
        #[cfg(any(feature = "rustls-aws-lc", feature = "rustls-ring"))]
        let builder = {
            let (certs, has_key) = proxy.ca_certs().map_err(|e| e.to_string())?;
            if has_key && let Some(path) = &proxy.ca_cert {
                tracing::warn!(
                    "{} also holds a private key; only its certificates are read",
                    path.display()
                );
            }
            builder.tls_certs_merge(certs)
        };
        let client = builder
            .connect_timeout(PROXY_CONNECT_TIMEOUT)
            .timeout(proxy.timeout)
            // The contract has no redirects; one from the backend is
            // answered 502 (see `send`), never followed.
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(32)
            .build()
            .map_err(|e| format!("cannot build the proxy's HTTP client: {}", chain(&e)))?;
        let origin = reqwest::Url::parse(&proxy.to)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        Ok(Upstream {
            client,
            base: proxy.to.clone(),
            origin,
            timeout: proxy.timeout,
        })
    }

    /// The base URL, e.g. `https://staging.example/api/v1`.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Sends `method` to the API's `rest` (the path after the base, with
    /// its `/` and query: `/jobs/7?x=1`), with `headers`' forwarded ones
    /// and `body`; reads the answer whole, up to [`MAX_ANSWER`].
    ///
    /// # Errors
    ///
    /// [`UpstreamError::Transport`] when no answer came,
    /// [`UpstreamError::BadAnswer`] for a redirect or an answer over the cap.
    pub(crate) async fn send(
        &self,
        method: Method,
        rest: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Answer, UpstreamError> {
        let mut request = self
            .client
            .request(method, format!("{}{rest}", self.base))
            .body(body);
        for name in &FORWARDED {
            for value in headers.get_all(name) {
                let mut value = value.clone();
                // Never printed by a debug or trace log of the client.
                value.set_sensitive(*name == header::AUTHORIZATION);
                request = request.header(name, value);
            }
        }
        self.answer(request, MAX_ANSWER).await
    }

    /// `GET /jobs/{id}` as `token`.
    pub(crate) async fn poll(&self, id: u64, token: &str) -> Result<Answer, UpstreamError> {
        let request = self
            .client
            .get(format!("{}/jobs/{id}", self.base))
            .bearer_auth(token);
        self.answer(request, MAX_ANSWER).await
    }

    /// The image at `url` (the real server's `image_url`), with `token`
    /// when it is on the API's own origin.
    pub(crate) async fn image(&self, url: &str, token: Option<&str>) -> Result<Bytes, String> {
        let mut request = self.client.get(url);
        if let Some(token) = token
            && reqwest::Url::parse(url)
                .is_ok_and(|u| u.origin().ascii_serialization() == self.origin)
        {
            request = request.bearer_auth(token);
        }
        let answer = self
            .answer(request, MAX_IMAGE)
            .await
            .map_err(|e| e.to_string())?;
        if answer.status != 200 {
            return Err(format!(
                "{} answered HTTP {}",
                super::format::without_query(url),
                answer.status
            ));
        }
        Ok(answer.body)
    }

    /// Whether the backend answers at all (any status will do): the
    /// start's probe. `Ok(Some(hint))` when it answered 404 "Route not
    /// found", the sign of a base URL missing its `/api/v1`.
    pub(crate) async fn probe(&self) -> Result<Option<String>, UpstreamError> {
        match self
            .answer(self.client.get(format!("{}/jobs", self.base)), MAX_ANSWER)
            .await
        {
            Ok(answer)
                if answer.status == 404
                    && String::from_utf8_lossy(&answer.body)
                        .to_ascii_lowercase()
                        .contains("route not found") =>
            {
                Ok(Some(format!(
                    "{}/jobs answered 404 \"Route not found\": does the URL miss the API's path (e.g. {}/api/v1)?",
                    self.base, self.base
                )))
            }
            Ok(_) | Err(UpstreamError::BadAnswer { .. }) => Ok(None),
            Err(transport) => Err(transport),
        }
    }

    async fn answer(
        &self,
        request: reqwest::RequestBuilder,
        cap: usize,
    ) -> Result<Answer, UpstreamError> {
        let transport = |e: reqwest::Error| UpstreamError::Transport {
            base: self.base.clone(),
            // Without the URL: an image's may carry credentials in its query.
            cause: self.cause(&e.without_url()),
        };
        let bad = |cause: String| UpstreamError::BadAnswer {
            base: self.base.clone(),
            cause,
        };
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        if status.is_redirection() {
            let to = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("nowhere");
            return Err(bad(format!(
                "a redirect (HTTP {}) to {to}, which the proxy does not follow",
                status.as_u16()
            )));
        }
        if response.content_length().is_some_and(|n| n > cap as u64) {
            return Err(bad(format!("an answer over {} bytes", cap)));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > cap {
                return Err(bad(format!("an answer over {} bytes", cap)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status: status.as_u16(),
            headers: std::mem::take(response.headers_mut()),
            body: Bytes::from(body),
        })
    }

    /// One phrase for why no answer came.
    fn cause(&self, e: &reqwest::Error) -> String {
        let detail = chain(e);
        let lower = detail.to_ascii_lowercase();
        if e.is_timeout() {
            format!("timed out after {}s", self.timeout.as_secs_f64())
        } else if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
            "TLS handshake failed: the backend's certificate is not trusted (unknown issuer; for a private CA, pass --proxy-ca-cert FILE)".to_owned()
        } else if lower.contains("certificate")
            || lower.contains("tls")
            || lower.contains("handshake")
        {
            format!("TLS handshake failed: {}", innermost(e))
        } else if lower.contains("connection refused") {
            "connection refused".to_owned()
        } else if lower.contains("dns")
            || lower.contains("lookup")
            || lower.contains("resolve")
            || lower.contains("name or service not known")
        {
            let host = reqwest::Url::parse(&self.base)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            format!("DNS lookup failed for {host}")
        } else if e.is_connect() {
            format!("cannot connect: {}", innermost(e))
        } else {
            detail
        }
    }
}

/// An error and its sources, innermost last, without repeats.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for text in causes(e).map(ToString::to_string) {
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}
