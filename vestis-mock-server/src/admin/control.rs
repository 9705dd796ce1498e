//! `/__admin/queue`, `/__admin/clock` and `/__admin/requests`: pausing the
//! queue, moving the mock's clock, and reading the request journal.

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::api::jobs::job_id;
use crate::config::Fault;
use crate::config::{MAX_ADVANCE, format_duration, parse_bounded};
use crate::errors::{ApiError, json_response};
use crate::journal::{FaultFilter, Filter};
use crate::state::AppState;
use crate::wire_time::wire_time;

fn queue_state(state: &AppState) -> Response<Body> {
    json_response(StatusCode::OK, &json!({"paused": state.queue.is_paused()}))
}

/// `GET /__admin/queue`: `{"paused": bool}`.
pub(super) async fn queue(State(state): State<AppState>) -> Response<Body> {
    queue_state(&state)
}

/// `POST /__admin/queue/pause`: no job starts until resumed.
pub(super) async fn pause(State(state): State<AppState>) -> Response<Body> {
    state.queue.pause();
    queue_state(&state)
}

/// `POST /__admin/queue/resume`: free workers start pending jobs at once.
pub(super) async fn resume(State(state): State<AppState>) -> Response<Body> {
    state.queue.resume();
    queue_state(&state)
}

fn clock_state(state: &AppState) -> Response<Body> {
    let (mode, now) = state.queue.clock();
    json_response(
        StatusCode::OK,
        &json!({"mode": mode.as_str(), "now": wire_time(now)}),
    )
}

/// `GET /__admin/clock`: `{"mode": "real"|"manual", "now": RFC 3339}`.
pub(super) async fn clock(State(state): State<AppState>) -> Response<Body> {
    clock_state(&state)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    by: String,
}

/// `POST /__admin/clock/advance` with `{"by": "2m30s"}` (at most 366 days).
pub(super) async fn advance(
    State(state): State<AppState>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response<Body>, ApiError> {
    let body: Advance = super::body(raw, "{\"by\": \"2m30s\"}")?;
    let by =
        parse_bounded(&body.by, MAX_ADVANCE).map_err(|e| ApiError::invalid(format!("by: {e}")))?;
    state.queue.advance(by);
    let (mode, now) = state.queue.clock();
    Ok(json_response(
        StatusCode::OK,
        &json!({"mode": mode.as_str(), "now": wire_time(now), "advanced": format_duration(by)}),
    ))
}

/// The journal filter from `?method=&path=&job_id=&fault=`.
fn filter(query: Option<&str>) -> Result<Filter, ApiError> {
    let mut filter = Filter::default();
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*key {
            "method" => {
                let method = Method::from_bytes(value.to_ascii_uppercase().as_bytes())
                    .map_err(|_| ApiError::invalid(format!("method: not a method: {value:?}")))?;
                filter.method = Some(method);
            }
            "path" => filter.path = Some(value.into_owned()),
            "job_id" => filter.job_id = Some(job_id(&value)?),
            "fault" => filter.fault = Some(fault_filter(&value)?),
            other => {
                return Err(ApiError::invalid(format!(
                    "Unknown filter {other:?} (known: method, path, job_id, fault)"
                )));
            }
        }
    }
    Ok(filter)
}

/// `?fault=`'s value: `any`, `none`, or a fault's name (a `slow-body`
/// duration, if given, is not compared).
fn fault_filter(value: &str) -> Result<FaultFilter, ApiError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "any" => Ok(FaultFilter::Any),
        "none" => Ok(FaultFilter::Unfaulted),
        _ => value
            .parse::<Fault>()
            .map(|fault| FaultFilter::Named(fault.name()))
            .map_err(|_| {
                ApiError::invalid(format!(
                    "fault: must be any, none or one of {}, got {value:?}",
                    Fault::NAMES.join(", ")
                ))
            }),
    }
}

/// `GET /__admin/requests`: the journal, newest first, filtered.
pub(super) async fn requests(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response<Body>, ApiError> {
    let entries = state.journal.list(&filter(query.as_deref())?);
    Ok(json_response(
        StatusCode::OK,
        &json!({"total": entries.len(), "requests": entries}),
    ))
}

/// `GET /__admin/requests.har`: the whole journal as a HAR 1.2 document,
/// served as a download (`requests.har`) for browser developer tools.
pub(super) async fn requests_har(State(state): State<AppState>) -> Response<Body> {
    let mut response = json_response(StatusCode::OK, &state.journal.har());
    response.headers_mut().insert(
        axum::http::header::CONTENT_DISPOSITION,
        axum::http::HeaderValue::from_static("attachment; filename=\"requests.har\""),
    );
    response
}

/// `DELETE /__admin/requests`: empties the journal.
pub(super) async fn clear_requests(State(state): State<AppState>) -> Response<Body> {
    state.journal.clear();
    json_response(
        StatusCode::OK,
        &json!({"success": true, "message": "Journal cleared"}),
    )
}
