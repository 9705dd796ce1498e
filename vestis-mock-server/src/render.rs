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
use serde::ser::{Serialize, SerializeStruct, Serializer};
use vestis_client::{Job, JobId, JobResult, JobStatus, Timestamp};

use crate::AppState;
use crate::queue::JobSnapshot;
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

/// `{base}/images/{id}.png`, written in place.
struct ImageUrl<'a>(ImageBase<'a>, JobId);

impl fmt::Display for ImageUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/images/{}.png", self.0, self.1)
    }
}

/// A completed job's `result`, in [`JobResult`]'s field order.
struct ResultJson<'a>(&'a JobSnapshot, ImageBase<'a>);

impl Serialize for ResultJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let snap = self.0;
        let mut out = serializer.serialize_struct("JobResult", 3)?;
        out.serialize_field("image_url", &Collected(ImageUrl(self.1, snap.id)))?;
        out.serialize_field(
            "generated_at",
            &wire_time(snap.completed_at.unwrap_or(snap.created_at)),
        )?;
        out.serialize_field("message", "Image generated successfully")?;
        out.end()
    }
}

/// Serialises a `Display` value as a JSON string.
struct Collected<T>(T);

impl<T: fmt::Display> Serialize for Collected<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl Serialize for JobJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let snap = self.snap;
        let result = (snap.status == JobStatus::Completed).then_some(ResultJson(snap, self.base));
        let error = match snap.status {
            JobStatus::Failed | JobStatus::Cancelled => snap.error.as_deref(),
            _ => None,
        };
        let mut out = serializer.serialize_struct("Job", 9)?;
        out.serialize_field("job_id", &snap.id)?;
        out.serialize_field("status", &snap.status)?;
        out.serialize_field("job_type", &snap.kind)?;
        out.serialize_field("created_at", &wire_time(snap.created_at))?;
        out.serialize_field("started_at", &snap.started_at.map(wire_time))?;
        out.serialize_field("completed_at", &snap.completed_at.map(wire_time))?;
        out.serialize_field("attempts", &snap.attempts)?;
        out.serialize_field("result", &result)?;
        out.serialize_field("error", &error)?;
        out.end()
    }
}

/// A time of the mock's clock as the wire shows it (RFC 3339, `Z`,
/// milliseconds), written without jiff's printer.
pub(crate) fn wire_time(t: SystemTime) -> WireTime {
    WireTime(t)
}

/// A wire timestamp read back (fixtures), leniently as the SDK reads it.
pub(crate) fn parse_time(s: &str) -> Option<SystemTime> {
    s.parse::<Timestamp>().ok().map(|t| t.0)
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
                image_seed: 1,
            };
            for base in [
                ImageBase::Host("h:1"),
                ImageBase::Public("https://x/\"y"),
                ImageBase::Bound(([127, 0, 0, 1], 4321).into()),
                ImageBase::Default,
            ] {
                let expected =
                    serde_json::to_string(&render_job(&snap, &base.to_string())).unwrap();
                let got = serde_json::to_string(&JobJson { snap: &snap, base }).unwrap();
                assert_eq!(got, expected, "{status:?}");
            }
        }
    }
}
