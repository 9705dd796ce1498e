//! `--proxy-to URL [--record FILE]`: the settings of the recording proxy,
//! which forwards `/api/v1` to a real backend, follows the jobs it sees and
//! keeps what it saw (docs/record-replay.md).

use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;
use crate::recording::format::RecordingError;

/// How long a proxied request may take, connection included, by default
/// (`--proxy-timeout`).
pub const DEFAULT_PROXY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting to the real backend may take (TCP and TLS), for
/// every proxied request, poll of a followed job and image fetch.
pub const PROXY_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a followed job is polled by default (`--follow-every`).
pub const DEFAULT_FOLLOW_EVERY: Duration = Duration::from_millis(200);
/// How often the recording is saved when something changed, by default:
/// a `kill -9` loses at most this much.
pub const DEFAULT_SAVE_EVERY: Duration = Duration::from_secs(5);
/// The smallest `--follow-every`: the follower's round is a quarter of
/// it, at least 10 ms, so a shorter one would poll in a busy loop.
pub const MIN_FOLLOW_EVERY: Duration = Duration::from_millis(10);
/// The largest `--follow-every` and `--proxy-timeout`.
pub const MAX_PROXY_DURATION: Duration = Duration::from_secs(600);

/// The recording proxy's settings ([`Config::proxy`](super::Config::proxy)).
///
/// `#[non_exhaustive]`: start from [`Proxy::new`] and assign the fields.
///
/// # Examples
///
/// A recording proxy in front of another server, saving to a file:
///
/// ```no_run
/// # async fn demo() -> Result<(), vestis_mock_server::ServeError> {
/// use vestis_mock_server::config::Proxy;
/// use vestis_mock_server::{Config, MockServer};
///
/// let mut proxy = Proxy::new("https://staging.example/api/v1");
/// proxy.record = Some("recording.json".into());
/// let config = Config { proxy: Some(proxy), ..Config::default() };
/// let server = MockServer::start(config).await?;
/// // ... clients use server.api_url(); the recording is saved on shutdown.
/// server.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Proxy {
    /// The real API's base URL, `http(s)://HOST[:PORT]/PATH` (usually
    /// ending in `/api/v1`); a trailing `/` is dropped.
    pub to: String,
    /// Where the recording is written (`--record`); `None` keeps it in
    /// memory only (the proxy still follows jobs and keeps images).
    pub record: Option<PathBuf>,
    /// How long a proxied request may take in all (default
    /// [`DEFAULT_PROXY_TIMEOUT`]); past it the client gets a 502.
    pub timeout: Duration,
    /// How often an unfinished job is polled on the real server (default
    /// [`DEFAULT_FOLLOW_EVERY`]).
    pub follow_every: Duration,
    /// How often the recording is saved when it changed (default
    /// [`DEFAULT_SAVE_EVERY`]; not a flag).
    pub save_every: Duration,
    /// A PEM file of one or more certificate authorities to trust for an
    /// `https://` backend (`--proxy-ca-cert`), e.g. a staging server's
    /// private CA: trusted in addition to the system's roots, never
    /// instead of them. `None`: the system's roots only.
    pub ca_cert: Option<PathBuf>,
}

impl Proxy {
    /// Forwarding to `to`, nothing written, the default timings.
    pub fn new(to: impl Into<String>) -> Proxy {
        Proxy {
            to: to.into().trim_end_matches('/').to_owned(),
            record: None,
            timeout: DEFAULT_PROXY_TIMEOUT,
            follow_every: DEFAULT_FOLLOW_EVERY,
            save_every: DEFAULT_SAVE_EVERY,
            ca_cert: None,
        }
    }

    /// Checks the URL and the timings.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidSetting`] naming `proxy_to` for a URL that is
    /// not `http://` or `https://` (or `https://` in a build without TLS),
    /// or carries a query, a fragment or credentials; naming the timing
    /// that is 0 or over [`MAX_PROXY_DURATION`], or `--follow-every` under
    /// [`MIN_FOLLOW_EVERY`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        // Named by their flags: the binary is where these are mostly met.
        let bad = |reason: String| ConfigError::setting("--proxy-to", reason);
        let url = reqwest::Url::parse(&self.to).map_err(|e| {
            let why = if self.to.contains("://") {
                e.to_string()
            } else {
                "missing http:// or https://".to_owned()
            };
            bad(format!(
                "must be a URL like https://staging.example/api/v1: {why}"
            ))
        })?;
        match url.scheme() {
            "http" => {}
            "https" if cfg!(any(feature = "rustls-aws-lc", feature = "rustls-ring")) => {}
            "https" => {
                return Err(bad(
                    "is https://, but this build has no TLS (build with the `rustls` feature)"
                        .into(),
                ));
            }
            other => return Err(bad(format!("must be http:// or https://, not {other}://"))),
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("must not have a query or a fragment".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "must not carry credentials (clients send their own bearer token)".into(),
            ));
        }
        for (name, value) in [
            ("--proxy-timeout", self.timeout),
            ("--follow-every", self.follow_every),
            ("save_every", self.save_every),
        ] {
            if value.is_zero() || value > MAX_PROXY_DURATION {
                return Err(ConfigError::setting(
                    name,
                    format!(
                        "must be more than 0 and at most {}s",
                        MAX_PROXY_DURATION.as_secs()
                    ),
                ));
            }
        }
        if self.follow_every < MIN_FOLLOW_EVERY {
            return Err(ConfigError::setting(
                "--follow-every",
                format!(
                    "must be at least {}ms (a shorter one polls in a busy loop)",
                    MIN_FOLLOW_EVERY.as_millis()
                ),
            ));
        }
        Ok(())
    }

    /// Checks `ca_cert` before the server starts, so the binary refuses it
    /// before its "listening" line: the file must be readable, hold one or
    /// more PEM certificates (`-----BEGIN CERTIFICATE-----`), and each
    /// must be usable as a root. Reads it again each time. A private key
    /// in the same file is not an error (only its certificates are read);
    /// the server warns about it once at start.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidSetting`] naming `--proxy-ca-cert`, the file
    /// and the problem; also when this build has no TLS.
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_mock_server::config::Proxy;
    ///
    /// let mut proxy = Proxy::new("https://staging.example/api/v1");
    /// assert!(proxy.check_ca_cert().is_ok(), "no CA file: nothing to check");
    /// proxy.ca_cert = Some("/no/such/ca.pem".into());
    /// let refused = proxy.check_ca_cert().unwrap_err().to_string();
    /// assert!(refused.contains("--proxy-ca-cert") && refused.contains("/no/such/ca.pem"));
    /// ```
    pub fn check_ca_cert(&self) -> Result<(), ConfigError> {
        #[cfg(any(feature = "rustls-aws-lc", feature = "rustls-ring"))]
        {
            let (certs, _) = self.ca_certs()?;
            if let Some(path) = &self.ca_cert {
                install_provider();
                reqwest::Client::builder()
                    .tls_certs_merge(certs)
                    .build()
                    .map_err(|e| {
                        ca_refused(
                            path,
                            format!(
                                "holds a certificate that cannot be a root: {}",
                                innermost(&e)
                            ),
                        )
                    })?;
            }
            Ok(())
        }
        #[cfg(not(any(feature = "rustls-aws-lc", feature = "rustls-ring")))]
        match &self.ca_cert {
            Some(path) => Err(ca_refused(
                path,
                "cannot be used: this build has no TLS (build with the `rustls` feature)".into(),
            )),
            None => Ok(()),
        }
    }

    /// The certificates of `ca_cert` (none without it), and whether the
    /// file holds a private key too (a PEM `... PRIVATE KEY` block).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidSetting`] naming `--proxy-ca-cert`: the file
    /// cannot be read, has a broken PEM block, or holds no certificate.
    #[cfg(any(feature = "rustls-aws-lc", feature = "rustls-ring"))]
    pub(crate) fn ca_certs(&self) -> Result<(Vec<reqwest::Certificate>, bool), ConfigError> {
        let Some(path) = &self.ca_cert else {
            return Ok((Vec::new(), false));
        };
        let pem =
            std::fs::read(path).map_err(|e| ca_refused(path, format!("cannot be read: {e}")))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            ca_refused(
                path,
                format!("is not a PEM certificate file: {}", innermost(&e)),
            )
        })?;
        if certs.is_empty() {
            return Err(ca_refused(
                path,
                "holds no certificate (expected one or more -----BEGIN CERTIFICATE----- blocks)"
                    .into(),
            ));
        }
        let has_key = pem
            .windows(b" PRIVATE KEY-----".len())
            .any(|w| w == b" PRIVATE KEY-----");
        Ok((certs, has_key))
    }

    /// Checks `record` before the server starts, so the binary refuses it
    /// before it binds (and before its "listening" line): a directory, a
    /// file that is not a whole recording this build reads (not JSON,
    /// another `format`, a newer `version`, a field missing or of the
    /// wrong type: it would be overwritten or misread), a recording of
    /// another backend (its `source` is not [`Proxy::to`]: job ids of two
    /// backends would collide), or a directory where no file can be
    /// created. A missing file is a new recording. The file is read by
    /// the same code the recorder opens it with, which checks again.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Record`] naming the file and the problem.
    pub fn check_record(&self) -> Result<(), ConfigError> {
        let Some(path) = &self.record else {
            return Ok(());
        };
        let refuse = |why: String| ConfigError::Record(format!("{}: {why}", path.display()));
        if path.is_dir() {
            return Err(refuse("is a directory".into()));
        }
        if path.exists() {
            let recording = crate::recording::format::read(path).map_err(|e| {
                ConfigError::Record(match e {
                    RecordingError::NotARecording { .. } => {
                        format!("{e}; refusing to overwrite it (choose another file)")
                    }
                    other => other.to_string(),
                })
            })?;
            let source = recording.source.trim_end_matches('/');
            if source != self.to {
                return Err(refuse(format!(
                    "is a recording of {source}, not of --proxy-to {}; continuing it would mix the jobs of two backends (choose another file)",
                    self.to
                )));
            }
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => std::path::Path::new("."),
        };
        tempfile::tempfile_in(dir)
            .map(drop)
            .map_err(|e| refuse(format!("cannot write in {}: {e}", dir.display())))
    }
}

/// `--proxy-ca-cert FILE: why`.
fn ca_refused(path: &std::path::Path, why: String) -> ConfigError {
    ConfigError::setting("--proxy-ca-cert", format!("{}: {why}", path.display()))
}

/// The innermost cause of `e` (the OS's or the TLS library's words), not
/// the wrappers that repeat the URL.
pub(crate) fn innermost(e: &dyn std::error::Error) -> String {
    causes(e).last().unwrap_or(e).to_string()
}

/// `e`, then each of its sources in turn.
pub(crate) fn causes<'a>(
    e: &'a (dyn std::error::Error + 'a),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'a)> {
    std::iter::successors(Some(e), |e| e.source())
}

/// Makes ring the process's rustls provider under `rustls-ring` (unless
/// one is installed); reqwest brings aws-lc-rs itself otherwise.
pub(crate) fn install_provider() {
    #[cfg(all(feature = "rustls-ring", not(feature = "rustls-aws-lc")))]
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(Proxy::new("http://127.0.0.1:1/api/v1/").validate().is_ok());
        assert_eq!(Proxy::new("http://h/api/v1/").to, "http://h/api/v1");
        for (url, says) in [
            ("staging", "missing http:// or https://"),
            ("ftp://h/api/v1", "not ftp://"),
            ("http://h/api/v1?x=1", "query"),
            ("http://u:p@h/api/v1", "credentials"),
        ] {
            let e = Proxy::new(url).validate().unwrap_err().to_string();
            assert!(
                e.starts_with("--proxy-to ") && e.contains(says),
                "{url}: {e}"
            );
        }
        let mut p = Proxy::new("http://h");
        p.follow_every = Duration::ZERO;
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .contains("--follow-every")
        );
        p.follow_every = Duration::from_millis(9);
        let e = p.validate().unwrap_err().to_string();
        assert!(
            e.starts_with("--follow-every ") && e.contains("at least 10ms"),
            "{e}"
        );
        p.follow_every = MIN_FOLLOW_EVERY;
        assert!(p.validate().is_ok());
    }
}
