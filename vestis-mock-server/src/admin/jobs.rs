//! `/__admin/jobs`: every job of every token (filtered and paged for the
//! dashboard), one job, loading jobs (the `--fixtures` shape), and
//! finishing or cancelling a job now.

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use vestis_client::ErrorCode;

use crate::api::jobs::job_id;
use crate::api::query::{MAX_PAGE, last, page_number, query_pairs};
use crate::api::render::{image_base, render_job};
use crate::config::Fixtures;
use crate::errors::{ApiError, json_response};
use crate::hash::owner_fingerprint;
use crate::queue::{AdminJob, ForceError, JobFilter, JobSnapshot, Outcome, State as JobState};
use crate::state::AppState;

/// The most jobs one page of `GET /__admin/jobs` may hold.
const MAX_PAGE_SIZE: u64 = 1000;

/// The API's job shape plus `owner`, `token_fingerprint` and `payload`.
fn admin_view(job: AdminJob, base: &str) -> Value {
    let mut view = serde_json::to_value(render_job(&job.job, base)).unwrap_or_default();
    if let Value::Object(map) = &mut view {
        map.insert("owner".into(), Value::String(job.owner.to_string()));
        map.insert(
            "token_fingerprint".into(),
            Value::String(owner_fingerprint(&job.owner)),
        );
        map.insert("payload".into(), job.payload);
    }
    view
}

/// The filter from `?status=&kind=&token=fp:…&page=&page_size=`.
fn filter(query: Option<&str>) -> Result<JobFilter, ApiError> {
    let pairs = query_pairs(query);
    // Page numbers as the API reads them (`api::query`): the last value
    // counts, and an empty one is not a number.
    let mut filter = JobFilter {
        page: last(&pairs, "page").map_or(Ok(1), |v| page_usize("page", v, MAX_PAGE))?,
        page_size: last(&pairs, "page_size")
            .map(|v| page_usize("page_size", v, MAX_PAGE_SIZE))
            .transpose()?,
        ..JobFilter::default()
    };
    for (key, value) in &pairs {
        if value.is_empty() {
            continue; // an empty form field: no filter
        }
        match key.as_ref() {
            "status" => {
                let state = value
                    .parse()
                    .ok()
                    .as_ref()
                    .and_then(JobState::from_public)
                    .ok_or_else(|| ApiError::invalid(format!("status: unknown {value:?}")))?;
                filter.status = Some(state);
            }
            "kind" => {
                let kind = value
                    .parse()
                    .map_err(|_| ApiError::invalid(format!("kind: unknown {value:?}")))?;
                filter.kind = Some(kind);
            }
            "token" => {
                let fp = value.strip_prefix("fp:").unwrap_or(value);
                filter.token = Some(format!("fp:{}", fp.to_ascii_lowercase()));
            }
            "page" | "page_size" => {} // read above
            other => {
                return Err(ApiError::invalid(format!(
                    "Unknown filter {other:?} (known: status, kind, token, page, page_size)"
                )));
            }
        }
    }
    Ok(filter)
}

/// [`page_number`] as the queue's `usize` (saturating where a page past
/// `usize::MAX` could not exist anyway: it is past the end).
fn page_usize(key: &str, value: &str, max: u64) -> Result<usize, ApiError> {
    page_number(key, value, max).map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// `GET /__admin/jobs`: every job of every token, newest first; filtered
/// by `status`, `kind` and `token` (a fingerprint), paged by `page` and
/// `page_size` (without `page_size`, every matching job).
pub(super) async fn all(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response<Body>, ApiError> {
    let filter = filter(query.as_deref())?;
    let base = image_base(&state, &headers);
    let (page, total) = state.queue.admin_page(&filter);
    let jobs: Vec<Value> = page.into_iter().map(|job| admin_view(job, &base)).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "total": total,
            "page": filter.page,
            "page_size": filter.page_size,
            "jobs": jobs,
        }),
    ))
}

/// `GET /__admin/jobs/{id}`: one job of any token.
pub(super) async fn one(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let job = state
        .queue
        .admin_job(job_id(&raw)?)
        .ok_or_else(ApiError::job_not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &admin_view(job, &image_base(&state, &headers)),
    ))
}

/// `POST /__admin/jobs`: loads a JSON array of jobs, all or none.
pub(super) async fn load(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response<Body>, ApiError> {
    let value: Value = super::body(raw, "a JSON array of jobs")?;
    let fixtures = Fixtures::from_value(&value).map_err(|e| ApiError::invalid(e.to_string()))?;
    let loaded = state
        .queue
        .load(fixtures.0)
        .map_err(|e| ApiError::new(ErrorCode::Conflict, e.to_string()))?;
    let base = image_base(&state, &headers);
    let jobs: Vec<_> = loaded.iter().map(|s| render_job(s, &base)).collect();
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"loaded": jobs.len(), "jobs": jobs}),
    ))
}

/// The answer to a forced change: the job as the API now shows it, or
/// 404 / 409.
fn forced(
    state: &AppState,
    headers: &HeaderMap,
    result: Result<JobSnapshot, ForceError>,
) -> Result<Response<Body>, ApiError> {
    let snap = result.map_err(|e| match e {
        ForceError::NotFound => ApiError::job_not_found(),
        ForceError::Terminal(status) => ApiError::new(
            ErrorCode::Conflict,
            format!("The job is already {status}; terminal jobs never change"),
        ),
    })?;
    Ok(json_response(
        StatusCode::OK,
        &render_job(&snap, &image_base(state, headers)),
    ))
}

/// `POST /__admin/jobs/{id}/complete`.
pub(super) async fn complete(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let result = state.queue.force(job_id(&raw)?, Outcome::Complete, None);
    forced(&state, &headers, result)
}

/// `POST /__admin/jobs/{id}/cancel`: cancels a pending or processing job
/// of any token now.
pub(super) async fn cancel(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let result = state.queue.admin_cancel(job_id(&raw)?);
    forced(&state, &headers, result)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FailBody {
    error: Option<String>,
}

/// `POST /__admin/jobs/{id}/fail` with an optional `{"error": "..."}`.
pub(super) async fn fail(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    raw_body: Result<Bytes, BytesRejection>,
) -> Result<Response<Body>, ApiError> {
    let body: FailBody = super::body(raw_body, "{\"error\": \"...\"}")?;
    let result = state.queue.force(job_id(&raw)?, Outcome::Fail, body.error);
    forced(&state, &headers, result)
}
