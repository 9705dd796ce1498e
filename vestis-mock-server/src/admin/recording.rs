//! `/__admin/recording`: what the recording proxy holds, or what the
//! replayed recording holds (`GET`, the summary of `recording::summary`),
//! and a save now (`POST`, proxying only).

use axum::body::Body;
use axum::extract::State;
use axum::http::{Response, StatusCode};
use serde_json::json;
use vestis_client::ErrorCode;

use crate::errors::{ApiError, json_response};
use crate::recording::summary::summary;
use crate::state::AppState;

fn not_recording() -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        "Not recording: start the server with --proxy-to URL --record FILE (or --replay FILE to summarise a recording)",
    )
}

/// `GET /__admin/recording`: jobs per type and status, the measures'
/// medians and 90th percentiles, failure rates and error messages, of
/// what the proxy recorded so far or of the `--replay` file (with
/// `"replay": true`, and the entries the replay left out); 409 when the
/// server does neither.
pub(super) async fn show(State(state): State<AppState>) -> Result<Response<Body>, ApiError> {
    if let Some(replay) = &state.config.replay {
        let mut body = serde_json::to_value(summary(replay.recording()))
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        body["file"] = json!(replay.path().display().to_string());
        body["replay"] = json!(true);
        body["skipped"] = json!(replay.skipped());
        return Ok(json_response(StatusCode::OK, &body));
    }
    let recorder = state.recorder.as_ref().ok_or_else(not_recording)?;
    let mut body = serde_json::to_value(summary(&recorder.recording()))
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    body["file"] = json!(recorder.path().map(|p| p.display().to_string()));
    Ok(json_response(StatusCode::OK, &body))
}

/// `POST /__admin/recording`: writes the recording now; says where and
/// how many jobs. 409 when not recording to a file.
pub(super) async fn save(State(state): State<AppState>) -> Result<Response<Body>, ApiError> {
    let recorder = state.recorder.clone().ok_or_else(not_recording)?;
    if recorder.path().is_none() {
        return Err(not_recording());
    }
    let saved = tokio::task::spawn_blocking(move || recorder.save())
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
        .ok_or_else(not_recording)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"success": true, "file": saved.path.display().to_string(), "jobs": saved.jobs}),
    ))
}
