//! A stored job as the contract shows it, and where its image is served.
//!
//! One home for the job's wire shape, shared by `/api/v1` and `/__admin`:
//! [`render_job`] builds the SDK's [`Job`]; [`JobJson`] writes the very
//! same JSON straight from a snapshot, with no intermediate strings (the
//! `/api/v1` hot path).

use std::convert::Infallible;
use std::fmt;
use std::time::SystemTime;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use vestis_client::{Job, JobId, JobResult, JobStatus, PageMetadata, Timestamp};

use crate::queue::JobSnapshot;
use crate::state::AppState;
use crate::wire_time::WireTime;

/// The job as the contract shows it; `image_base` prefixes a completed job's image URL.
pub(crate) fn render_job(snap: &JobSnapshot, image_base: &str) -> Job {
    let result = (snap.status == JobStatus::Completed).then(|| JobResult {
        image_url: format!("{image_base}/images/{}.png", snap.id),
        generated_at: Timestamp(snap.completed_at.unwrap_or(snap.created_at)),
        message: "Image generated successfully".to_owned(),
    });
    Job {
        job_id: snap.id,
        status: snap.status.clone(),
        job_type: snap.kind,
        created_at: Timestamp(snap.created_at),
        started_at: snap.started_at.map(Timestamp),
        completed_at: snap.completed_at.map(Timestamp),
        attempts: snap.attempts,
        result,
        error: match snap.status {
            JobStatus::Failed | JobStatus::Cancelled => snap.error.clone(),
            _ => None,
        },
    }
}

/// Where images are served: `--public-url`, else the request's `Host`, else the bound address.
pub(crate) fn image_base(state: &AppState, headers: &HeaderMap) -> String {
    ImageBase::of(state, headers.get(header::HOST)).to_string()
}

/// The request's `Host` header, taken alone (extracting a whole
/// `HeaderMap` would copy every header).
#[derive(Debug, Clone)]
pub(crate) struct Host(pub(crate) Option<HeaderValue>);

impl<S: Sync> FromRequestParts<S> for Host {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Host(parts.headers.get(header::HOST).cloned()))
    }
}

/// An image URL's base, borrowed from the config or the request: written
/// into the JSON as it is serialised, never built as a string first.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ImageBase<'a> {
    /// `--public-url`, as given.
    Public(&'a str),
    /// `http://` and the request's (well-formed) `Host`.
    Host(&'a str),
    /// `http://` and the bound address.
    Bound(std::net::SocketAddr),
    /// Nothing better known.
    Default,
}

impl<'a> ImageBase<'a> {
    /// The base for a request with these headers.
    pub(crate) fn of(state: &'a AppState, host: Option<&'a HeaderValue>) -> ImageBase<'a> {
        if let Some(url) = &state.config.public_url {
            return ImageBase::Public(url);
        }
        let host = host.and_then(|h| h.to_str().ok()).filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
        });
        match (host, state.local_addr.get()) {
            (Some(host), _) => ImageBase::Host(host),
            (None, Some(addr)) => ImageBase::Bound(*addr),
            (None, None) => ImageBase::Default,
        }
    }
}

impl fmt::Display for ImageBase<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageBase::Public(url) => f.write_str(url),
            ImageBase::Host(host) => write!(f, "http://{host}"),
            ImageBase::Bound(addr) => write!(f, "http://{addr}"),
            ImageBase::Default => f.write_str("http://localhost:4000"),
        }
    }
}

/// A job's wire JSON, written from its snapshot: the same bytes as
/// serialising [`render_job`]'s [`Job`], without its allocations.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobJson<'a> {
    pub(crate) snap: &'a JobSnapshot,
    pub(crate) base: ImageBase<'a>,
}

impl JobJson<'_> {
    /// Appends the job's JSON object to `out`, in [`Job`]'s field order.
    ///
    /// Written by hand rather than through serde: the keys, the statuses,
    /// the job types and the timestamps are known to need no escaping,
    /// so only the text that may (an error, an unknown status,
    /// `--public-url`) goes through serde_json's string escaping, which
    /// was a tenth of a GET's instructions.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        let snap = self.snap;
        out.extend_from_slice(b"{\"job_id\":");
        put_u64(out, snap.id.0);
        out.extend_from_slice(b",\"status\":");
        match &snap.status {
            JobStatus::Unknown(other) => put_escaped(out, other),
            known => put_plain(out, known.as_str()),
        }
        out.extend_from_slice(b",\"job_type\":");
        put_plain(out, snap.kind.as_str());
        out.extend_from_slice(b",\"created_at\":");
        put_time(out, snap.created_at);
        out.extend_from_slice(b",\"started_at\":");
        put_optional_time(out, snap.started_at);
        out.extend_from_slice(b",\"completed_at\":");
        put_optional_time(out, snap.completed_at);
        out.extend_from_slice(b",\"attempts\":");
        put_u64(out, u64::from(snap.attempts));
        out.extend_from_slice(b",\"result\":");
        if snap.status == JobStatus::Completed {
            out.extend_from_slice(b"{\"image_url\":");
            put_image_url(out, self.base, snap.id);
            out.extend_from_slice(b",\"generated_at\":");
            put_time(out, snap.completed_at.unwrap_or(snap.created_at));
            out.extend_from_slice(b",\"message\":\"Image generated successfully\"}");
        } else {
            out.extend_from_slice(b"null");
        }
        out.extend_from_slice(b",\"error\":");
        match (&snap.status, &snap.error) {
            (JobStatus::Failed | JobStatus::Cancelled, Some(error)) => put_escaped(out, error),
            _ => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
    }
}

/// A page of jobs as the SDK's `JobPage` shows it (`jobs`, then
/// `metadata`), appended to `out`.
pub(crate) fn write_page(out: &mut Vec<u8>, jobs: &[JobJson<'_>], metadata: &PageMetadata) {
    out.extend_from_slice(b"{\"jobs\":[");
    for (i, job) in jobs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        job.write(out);
    }
    out.extend_from_slice(b"],\"metadata\":");
    // A struct of four integers: serialising it cannot fail.
    let _ = serde_json::to_writer(&mut *out, metadata);
    out.push(b'}');
}

fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// A JSON string of text known to need no escaping (ASCII letters).
fn put_plain(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

/// A JSON string of any text, escaped by serde_json.
fn put_escaped(out: &mut Vec<u8>, text: &str) {
    // Writing a `str` to a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

fn put_time(out: &mut Vec<u8>, t: SystemTime) {
    match WireTime(t).fixed() {
        // Digits and `-:.TZ` only: nothing to escape.
        Some(bytes) => {
            out.push(b'"');
            out.extend_from_slice(&bytes);
            out.push(b'"');
        }
        None => {
            let _ = serde_json::to_writer(&mut *out, &Timestamp(t));
        }
    }
}

fn put_optional_time(out: &mut Vec<u8>, t: Option<SystemTime>) {
    match t {
        Some(t) => put_time(out, t),
        None => out.extend_from_slice(b"null"),
    }
}

/// `"{base}/images/{id}.png"`. A `Host` base holds only the characters
/// [`ImageBase::of`] lets through and a bound address only digits and
/// `.:[]`, none of which JSON escapes; `--public-url` is escaped.
fn put_image_url(out: &mut Vec<u8>, base: ImageBase<'_>, id: JobId) {
    match base {
        ImageBase::Public(url) => {
            put_escaped(out, url);
            out.pop(); // its closing quote: the path follows
        }
        ImageBase::Host(host) => {
            out.extend_from_slice(b"\"http://");
            out.extend_from_slice(host.as_bytes());
        }
        ImageBase::Bound(addr) => {
            use std::io::Write as _;
            let _ = write!(out, "\"http://{addr}");
        }
        ImageBase::Default => out.extend_from_slice(b"\"http://localhost:4000"),
    }
    out.extend_from_slice(b"/images/");
    put_u64(out, id.0);
    out.extend_from_slice(b".png\"");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vestis_client::JobKind;

    use super::*;

    /// `JobJson` writes exactly what serialising `render_job` writes, in every status.
    #[test]
    fn job_json_matches_the_sdk_shape_byte_for_byte() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_000_000_123);
        let ids = [JobId(7), JobId(10), JobId(1_234_567_890), JobId(u64::MAX)];
        for (status, id) in JobStatus::KNOWN.iter().flat_map(|s| ids.map(|id| (s, id))) {
            let snap = JobSnapshot {
                id,
                kind: JobKind::Chat,
                status: status.clone(),
                created_at: t,
                started_at: Some(t + Duration::from_secs(1)),
                completed_at: status.is_terminal().then_some(t + Duration::from_secs(4)),
                attempts: 2,
                error: Some("it \"broke\"\n".to_owned()),
            };
            for base in [
                ImageBase::Host("h:1"),
                ImageBase::Public("https://x/\"y"),
                ImageBase::Bound(([127, 0, 0, 1], 4321).into()),
                ImageBase::Default,
            ] {
                let expected =
                    serde_json::to_string(&render_job(&snap, &base.to_string())).unwrap();
                let mut got = Vec::new();
                JobJson { snap: &snap, base }.write(&mut got);
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    expected,
                    "{status:?} {base}"
                );
                // As a page of three, with the SDK's `JobPage` as the reference.
                let job = render_job(&snap, &base.to_string());
                let metadata = PageMetadata {
                    page: 2,
                    page_size: 3,
                    total: 9,
                    total_pages: 3,
                };
                let expected = serde_json::to_string(&vestis_client::JobPage {
                    jobs: vec![job.clone(), job.clone(), job],
                    metadata,
                })
                .unwrap();
                let mut got = Vec::new();
                write_page(&mut got, &[JobJson { snap: &snap, base }; 3], &metadata);
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    expected,
                    "{status:?} {base}"
                );
            }
        }
    }
}
