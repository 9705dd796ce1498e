//! `/__admin`: control routes for tests, outside `/api/v1` auth.
//!
//! They let a frontend team put the UI into any state on demand: reset the
//! server, see every job of every token, read and change the fault settings
//! at run time, and finish a job now. Disabled with `--no-admin`.

use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Response, StatusCode};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use vestis_client::ErrorCode;

use crate::AppState;
use crate::config::Faults;
use crate::errors::{ApiError, json_response};
use crate::queue::{CancelError, Outcome};
use crate::routes::{image_base, render_job};

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/reset", post(reset))
        .route("/jobs", get(all_jobs))
        .route("/stats", get(stats))
        .route("/jobs/{id}/complete", post(complete))
        .route("/jobs/{id}/fail", post(fail))
        .route(
            "/config",
            get(get_config).patch(patch_config).put(patch_config),
        )
        .with_state(state)
}

async fn reset(State(state): State<AppState>) -> Response<Body> {
    state.queue.reset();
    state.limiter.clear();
    state.requests.store(0, Ordering::Relaxed);
    json_response(
        StatusCode::OK,
        &json!({"success": true, "message": "Server reset"}),
    )
}

async fn all_jobs(State(state): State<AppState>, headers: HeaderMap) -> Response<Body> {
    let base = image_base(&state, &headers);
    let jobs: Vec<Value> = state
        .queue
        .all_jobs()
        .into_iter()
        .map(|a| {
            let mut job = serde_json::to_value(render_job(&a.job, &base)).unwrap_or_default();
            if let Value::Object(map) = &mut job {
                map.insert("owner".into(), Value::String(a.owner.to_string()));
                map.insert("payload".into(), a.payload);
            }
            job
        })
        .collect();
    json_response(StatusCode::OK, &json!({"total": jobs.len(), "jobs": jobs}))
}

/// Counters for tests and benchmarks: how many `/api/v1` requests were
/// answered (every poll counts), and how many jobs are stored.
async fn stats(State(state): State<AppState>) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({
            "api_requests": state.requests.load(Ordering::Relaxed),
            "jobs_stored": state.queue.len(),
        }),
    )
}

fn parse_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<vestis_client::JobId>()
        .map(|id| id.0)
        .map_err(|_| ApiError::invalid(format!("Job id must be a positive integer, got {raw:?}")))
}

async fn force(
    state: &AppState,
    headers: &HeaderMap,
    raw: &str,
    outcome: Outcome,
    error: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let id = parse_id(raw)?;
    let snap = state.queue.force(id, outcome, error).map_err(|e| match e {
        CancelError::NotFound => ApiError::job_not_found(),
        CancelError::NotPending(status) => ApiError::new(
            ErrorCode::Conflict,
            format!("The job is already {status}; terminal jobs never change"),
        ),
    })?;
    Ok(json_response(
        StatusCode::OK,
        &render_job(&snap, &image_base(state, headers)),
    ))
}

async fn complete(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response<Body>, ApiError> {
    force(&state, &headers, &raw, Outcome::Complete, None).await
}

#[derive(Deserialize)]
struct FailBody {
    error: Option<String>,
}

async fn fail(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response<Body>, ApiError> {
    let body = body.map_err(|e| ApiError::invalid(e.to_string()))?;
    let error = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<FailBody>(&body)
            .map_err(|e| ApiError::invalid(format!("Expected {{\"error\": \"...\"}}: {e}")))?
            .error
    };
    force(&state, &headers, &raw, Outcome::Fail, error).await
}

async fn get_config(State(state): State<AppState>) -> Response<Body> {
    json_response(StatusCode::OK, &state.queue.faults())
}

/// Merges the given fields into the current settings; unknown fields are
/// refused here (unlike `/api/v1`), so a typo never silently does nothing.
async fn patch_config(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response<Body>, ApiError> {
    let body = body.map_err(|e| ApiError::invalid(e.to_string()))?;
    let patch: serde_json::Map<String, Value> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("Expected a JSON object of settings: {e}")))?;
    let mut current = serde_json::to_value(state.queue.faults())
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    let Value::Object(fields) = &mut current else {
        return Err(ApiError::new(
            ErrorCode::Internal,
            "settings are not an object",
        ));
    };
    for (key, value) in patch {
        if !fields.contains_key(&key) {
            let known: Vec<&str> = fields.keys().map(String::as_str).collect();
            return Err(ApiError::invalid(format!(
                "Unknown setting {key:?} (known: {})",
                known.join(", ")
            )));
        }
        fields.insert(key, value);
    }
    let faults: Faults =
        serde_json::from_value(current).map_err(|e| ApiError::invalid(e.to_string()))?;
    faults.validate().map_err(ApiError::invalid)?;
    state.queue.set_faults(faults.clone());
    Ok(json_response(StatusCode::OK, &faults))
}
