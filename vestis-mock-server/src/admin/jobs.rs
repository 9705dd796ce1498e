//! `/__admin/jobs`: every job of every token, one job, loading jobs
//! (the `--fixtures` shape), and finishing a job now.

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use vestis_client::ErrorCode;

use crate::AppState;
use crate::config::Fixtures;
use crate::errors::{ApiError, json_response};
use crate::queue::{AdminJob, ForceError, Outcome};
use crate::render::{image_base, render_job};
use crate::routes::job_id;

/// The API's job shape plus `owner` and `payload`.
fn admin_view(job: AdminJob, base: &str) -> Value {
    let mut view = serde_json::to_value(render_job(&job.job, base)).unwrap_or_default();
    if let Value::Object(map) = &mut view {
        map.insert("owner".into(), Value::String(job.owner.to_string()));
        map.insert("payload".into(), job.payload);
    }
    view
}

/// `GET /__admin/jobs`: every job of every token, newest first.
pub(super) async fn all(State(state): State<AppState>, headers: HeaderMap) -> Response<Body> {
    let base = image_base(&state, &headers);
    let jobs: Vec<Value> = state
        .queue
        .all_jobs()
        .into_iter()
        .map(|job| admin_view(job, &base))
        .collect();
    json_response(StatusCode::OK, &json!({"total": jobs.len(), "jobs": jobs}))
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

async fn force(
    state: &AppState,
    headers: &HeaderMap,
    raw: &str,
    outcome: Outcome,
    error: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let snap = state
        .queue
        .force(job_id(raw)?, outcome, error)
        .map_err(|e| match e {
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
    force(&state, &headers, &raw, Outcome::Complete, None).await
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
    force(&state, &headers, &raw, Outcome::Fail, body.error).await
}
