//! `/__admin`: control routes for tests, outside `/api/v1` auth.
//!
//! They let a frontend team put the UI into any state on demand: reset the
//! server, see and load jobs of every token, finish a job now, pause the
//! queue, move the mock's clock, read the request journal, see and save
//! what the recording proxy holds (`/__admin/recording`), and read and
//! change the fault settings at run time; and watch it all live in the
//! dashboard (`/__admin/ui`, fed by `/__admin/events`). Disabled with
//! `--no-admin`.
//! Every input is validated like API input: JSON errors, 400 naming the field.

mod control;
mod dashboard;
mod events;
mod jobs;
mod openapi;
mod recording;

pub(crate) use dashboard::home;

use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{Response, StatusCode};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::config::Faults;
use crate::errors::{ApiError, json_response};
use crate::state::AppState;

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/reset", post(reset))
        .route("/stats", get(stats))
        .route(
            "/config",
            get(get_config).patch(patch_config).put(patch_config),
        )
        .route("/jobs", get(jobs::all).post(jobs::load))
        .route("/jobs/{id}", get(jobs::one))
        .route("/jobs/{id}/complete", post(jobs::complete))
        .route("/jobs/{id}/fail", post(jobs::fail))
        .route("/jobs/{id}/cancel", post(jobs::cancel))
        .route("/overview", get(events::get_overview))
        .route("/events", get(events::events))
        .route("/ui", get(dashboard::page))
        .route("/ui/dashboard.css", get(dashboard::style))
        .route("/ui/dashboard.js", get(dashboard::script))
        .route("/queue", get(control::queue))
        .route("/queue/pause", post(control::pause))
        .route("/queue/resume", post(control::resume))
        .route("/clock", get(control::clock))
        .route("/clock/advance", post(control::advance))
        .route(
            "/requests",
            get(control::requests).delete(control::clear_requests),
        )
        .route("/requests.har", get(control::requests_har))
        .route("/recording", get(recording::show).post(recording::save))
        .route("/openapi.json", get(openapi_json))
        .with_state(state)
}

async fn openapi_json() -> Response<Body> {
    json_response(StatusCode::OK, &openapi::document())
}

/// An admin body: JSON of type `T`, whatever the content type (so a bare
/// `curl -d` works); an empty body reads as `{}` when `T` allows it.
pub(super) fn body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    expected: &str,
) -> Result<T, ApiError> {
    let body = body.map_err(|e| ApiError::invalid(e.to_string()))?;
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &body
    };
    serde_json::from_slice(text).map_err(|e| ApiError::invalid(format!("Expected {expected}: {e}")))
}

/// Forgets every job, key and journal entry, and returns the settings,
/// clock and pause to how the server started; then reloads `--fixtures`.
async fn reset(State(state): State<AppState>) -> Result<Response<Body>, ApiError> {
    state.reset();
    state.limiter.clear();
    state.requests.store(0, Ordering::Relaxed);
    state.journal.clear();
    state.transport.clear();
    let loaded =
        crate::state::load_fixtures(&state).map_err(|e| ApiError::invalid(e.to_string()))?;
    // Says what was restored: under `--replay` the recording's jobs as
    // loaded at start (the file is not read again; no fixtures there),
    // under `--proxy-to` that the recording is kept.
    let jobs = |n: usize| {
        if n == 1 {
            "1 job".to_owned()
        } else {
            format!("{n} jobs")
        }
    };
    let body = if let Some(replay) = &state.config.replay {
        let file = replay.path().display().to_string();
        json!({
            "success": true,
            "message": format!("Server reset: {} restored from the recording {file} loaded at start", jobs(loaded)),
            "fixtures_loaded": 0,
            "recording": {"file": file, "jobs_loaded": loaded},
        })
    } else if let Some(recorder) = &state.recorder {
        let kept = recorder.len();
        json!({
            "success": true,
            "message": format!("Server reset; the recording ({}) is kept and recording goes on, and nothing was sent to the real backend", jobs(kept)),
            "fixtures_loaded": loaded,
            "recording": {
                "file": recorder.path().map(|p| p.display().to_string()),
                "jobs_kept": kept,
            },
        })
    } else {
        json!({"success": true, "message": "Server reset", "fixtures_loaded": loaded})
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// Counters for tests and benchmarks: how many `/api/v1` requests were
/// answered (every poll counts), jobs stored, journal entries kept, and
/// transport faults done, by name.
async fn stats(State(state): State<AppState>) -> Response<Body> {
    let (faults, faults_total) = state.transport.counts();
    json_response(
        StatusCode::OK,
        &json!({
            "api_requests": state.requests.load(Ordering::Relaxed),
            "jobs_stored": state.queue.len(),
            "journal_entries": state.journal.len(),
            "faults_injected": faults,
            "faults_injected_total": faults_total,
        }),
    )
}

async fn get_config(State(state): State<AppState>) -> Response<Body> {
    json_response(StatusCode::OK, &state.faults())
}

/// Merges the given fields into the current settings in one write under
/// one lock (a read, then a separate write, would lose a concurrent
/// change). Unknown fields are refused here, unlike `/api/v1`, so a typo
/// never silently does nothing.
async fn patch_config(
    State(state): State<AppState>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response<Body>, ApiError> {
    let patch: serde_json::Map<String, Value> = body(raw, "a JSON object of settings")?;
    let faults = state.update_faults(|current| merge(current, patch))?;
    Ok(json_response(StatusCode::OK, &faults))
}

/// The current settings with `patch`'s fields replaced, validated; an
/// error names the offending field.
fn merge(current: &Faults, patch: serde_json::Map<String, Value>) -> Result<Faults, ApiError> {
    let Ok(Value::Object(mut fields)) = serde_json::to_value(current) else {
        return Err(ApiError::new(
            vestis_client::ErrorCode::Internal,
            "settings are not an object",
        ));
    };
    for (key, v) in patch {
        if !fields.contains_key(&key) {
            let known: Vec<&str> = fields.keys().map(String::as_str).collect();
            return Err(ApiError::invalid(format!(
                "Unknown setting {key:?} (known: {})",
                known.join(", ")
            )));
        }
        // Checked one field at a time, so the error can name it.
        let mut alone = fields.clone();
        alone.insert(key.clone(), v.clone());
        serde_json::from_value::<Faults>(Value::Object(alone))
            .map_err(|e| ApiError::invalid(format!("{key}: {e}")))?;
        fields.insert(key, v);
    }
    let faults: Faults = serde_json::from_value(Value::Object(fields))
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    faults
        .validate()
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(faults)
}
