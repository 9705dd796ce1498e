//! A stored job as the contract shows it, and where its image is served.
//!
//! One home for the job's wire shape, shared by `/api/v1` and `/__admin`.

use std::time::SystemTime;

use axum::http::{HeaderMap, header};
use vestis_client::{Job, JobResult, JobStatus, Timestamp};

use crate::AppState;
use crate::queue::JobSnapshot;

/// The job as the contract shows it; `image_base` prefixes a completed job's image URL.
pub(crate) fn render_job(snap: &JobSnapshot, image_base: &str) -> Job {
    let result = (snap.status == JobStatus::Completed).then(|| JobResult {
        image_url: format!("{image_base}/images/{}.png", snap.id),
        generated_at: wire_time(snap.completed_at.unwrap_or(snap.created_at)),
        message: "Image generated successfully".to_owned(),
    });
    Job {
        job_id: snap.id,
        status: snap.status.clone(),
        job_type: snap.kind,
        created_at: wire_time(snap.created_at),
        started_at: snap.started_at.map(wire_time),
        completed_at: snap.completed_at.map(wire_time),
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
    if let Some(url) = &state.config.public_url {
        return url.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
        });
    match host {
        Some(host) => format!("http://{host}"),
        None => match state.local_addr.get() {
            Some(addr) => format!("http://{addr}"),
            None => "http://localhost:4000".to_owned(),
        },
    }
}

/// A time of the mock's clock as the wire shows it (RFC 3339, `Z`).
pub(crate) fn wire_time(t: SystemTime) -> Timestamp {
    Timestamp(t)
}

/// A wire timestamp read back (fixtures), leniently as the SDK reads it.
pub(crate) fn parse_time(s: &str) -> Option<SystemTime> {
    s.parse::<Timestamp>().ok().map(|t| t.0)
}
