//! The SDK's network edge: which requests go through a proxy, and what a
//! request that got no answer means.
//!
//! Loopback destinations (`127.0.0.0/8`, `::1`, `localhost`) never go
//! through a proxy, whatever the proxy variables say: a local mock server
//! behind a corporate `HTTP_PROXY` would otherwise get the bearer token sent
//! to the proxy and a 502 back. Every other URL follows the standard
//! variables (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`, lower
//! case too) exactly as reqwest reads them, because the same matcher
//! (hyper-util's) reads them here, so an error can name the proxy it passed.

use std::error::Error as StdError;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::proxy::matcher::Matcher;
use reqwest::Url;

use crate::error::{Error, TransportError, TransportKind};

/// The two HTTP clients of one SDK client and the proxy rules between them.
#[derive(Clone)]
pub(crate) struct Routes {
    /// Follows the standard proxy variables (reqwest's default).
    proxied: reqwest::Client,
    /// Never uses a proxy: for loopback destinations.
    direct: reqwest::Client,
    /// The rules `proxied` follows, to name the proxy in errors; `None` for
    /// a caller-supplied client, whose proxy settings are its own.
    rules: Option<Arc<Matcher>>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("proxy_rules", &self.rules.is_some())
            .finish_non_exhaustive()
    }
}

impl Routes {
    /// Routes for clients built from `builder`: one that honours the proxy
    /// variables, one that ignores them.
    pub(crate) fn new(builder: impl Fn() -> reqwest::ClientBuilder) -> reqwest::Result<Routes> {
        Ok(Routes {
            proxied: builder().build()?,
            direct: builder().no_proxy().build()?,
            rules: Some(Arc::new(Matcher::from_env())),
        })
    }

    /// A caller's own client for every request.
    pub(crate) fn caller(http: reqwest::Client) -> Routes {
        Routes {
            proxied: http.clone(),
            direct: http,
            rules: None,
        }
    }

    /// The client for a request to `url`.
    pub(crate) fn client_for(&self, url: &Url) -> &reqwest::Client {
        if is_loopback(url) {
            &self.direct
        } else {
            &self.proxied
        }
    }

    /// The proxy a request to `url` goes through (without credentials), if any.
    pub(crate) fn proxy_for(&self, url: &Url) -> Option<String> {
        proxy_for(self.rules.as_deref()?, url)
    }
}

fn proxy_for(rules: &Matcher, url: &Url) -> Option<String> {
    if is_loopback(url) {
        return None;
    }
    let uri: http::Uri = url.as_str().parse().ok()?;
    let proxy = rules.intercept(&uri)?;
    // The matcher keeps credentials apart from the URI: nothing secret here.
    let uri = proxy.uri();
    Some(format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map(|a| a.as_str()).unwrap_or_default()
    ))
}

/// Whether `url` names this machine: `localhost` (and `*.localhost`, RFC
/// 6761), `127.0.0.0/8`, `::1`, or an IPv4-mapped loopback address.
pub(crate) fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

/// Turns a request that got no (whole) answer into [`Error::Transport`],
/// saying each cause once.
pub(crate) fn transport_error(
    source: reqwest::Error,
    url: &Url,
    proxy: Option<String>,
    elapsed: Duration,
) -> Error {
    let kind = if source.is_connect() {
        // Before `is_timeout`: a connect timeout sent nothing.
        if chain(&source).any(|e| e.to_string() == "dns error") {
            TransportKind::Resolve
        } else {
            TransportKind::Connect
        }
    } else if source.is_timeout() {
        TransportKind::Timeout
    } else if source.is_request() || source.is_body() || source.is_decode() {
        TransportKind::Interrupted
    } else {
        TransportKind::Other
    };
    let target = match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => url.to_string(),
    };
    Error::Transport(TransportError {
        kind,
        target,
        proxy,
        cause: root_cause(&source),
        elapsed,
        source,
    })
}

fn chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |e: &&'a (dyn StdError + 'static)| {
        (*e).source()
    })
}

/// The innermost cause, in words: an I/O error's kind (`connection
/// refused`) when it has a name, else the innermost message without its
/// `(os error N)` suffix.
fn root_cause(error: &reqwest::Error) -> String {
    let io = chain(error)
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .last();
    if let Some(io) = io {
        use std::io::ErrorKind::*;
        if matches!(
            io.kind(),
            ConnectionRefused
                | ConnectionReset
                | ConnectionAborted
                | TimedOut
                | NotConnected
                | AddrNotAvailable
                | BrokenPipe
                | UnexpectedEof
                | HostUnreachable
                | NetworkUnreachable
        ) {
            return io.kind().to_string();
        }
    }
    let innermost = chain(error)
        .last()
        .map(|e| e.to_string())
        .unwrap_or_default();
    match innermost.rfind(" (os error ") {
        Some(at) => innermost[..at].to_owned(),
        None => innermost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn loopback_is_every_local_name_and_address() {
        for local in [
            "http://127.0.0.1:4000/api/v1",
            "http://127.8.9.10/",
            "http://[::1]:4000/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost:4000/",
            "http://LOCALHOST./",
            "http://api.localhost/",
        ] {
            assert!(is_loopback(&url(local)), "{local}");
        }
        for remote in [
            "http://128.0.0.1/",
            "http://[::2]/",
            "http://localhost.example.com/",
            "https://api.example.com/",
            "http://10.0.0.1/",
        ] {
            assert!(!is_loopback(&url(remote)), "{remote}");
        }
    }

    #[test]
    fn proxy_rules_skip_loopback_and_honour_no_proxy() {
        let rules = Matcher::builder()
            .http("http://user:secret@proxy.example:3128")
            .all("http://all.example:8080")
            .no("internal.example, 10.0.0.0/8")
            .build();
        let via = |s: &str| proxy_for(&rules, &url(s));
        assert_eq!(via("http://127.0.0.1:4000/"), None);
        assert_eq!(via("http://localhost/"), None);
        assert_eq!(via("http://[::1]/"), None);
        assert_eq!(via("http://internal.example/"), None);
        assert_eq!(via("http://10.1.2.3/"), None);
        // No credentials in what errors show.
        assert_eq!(
            via("http://api.example/").as_deref(),
            Some("http://proxy.example:3128")
        );
        assert_eq!(
            via("https://api.example/").as_deref(),
            Some("http://all.example:8080")
        );
    }
}
