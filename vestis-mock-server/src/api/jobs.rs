//! The `/api/v1` handlers: HTTP in, one queue call, HTTP out.
//!
//! Handlers check the caller, parse and validate the request, call one
//! [`Queue`] method and render its answer; the routes are in `api`, the
//! job logic in `queue`, the HTTP layers in `http`, the caller's checks
//! in `auth` and the query strings in `query`. Request parts are taken
//! raw (the body's bytes as `http::conn::read_body` kept them, the query
//! string, the path's `String`) so that every bad value is answered with
//! the contract's JSON error, never axum's text.
//!
//! [`Queue`]: crate::queue::Queue

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};
use axum::response::IntoResponse;
use vestis_client::{
    CancelJobResponse, ErrorCode, JobId, JobKind, JobStatus, PageMetadata, validate_payload,
};

use crate::api::auth::Caller;
use crate::api::query::{MAX_PAGE, last, page_number, query_pairs, selected_kind};
use crate::api::render::{ImageBase, JobJson, write_page};
use crate::config::{MAX_POLLS, parse_duration};
use crate::errors::{ApiError, json_bytes, json_bytes_with, json_response};
use crate::queue::{CancelError, CreateError, MAX_JOB_ID, NewJob, Outcome};
use crate::request::RequestBytes;
use crate::state::AppState;

/// The create request's optional headers, named once (a `&str` name is
/// parsed and lower-cased on every lookup).
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const X_MOCK_OUTCOME: HeaderName = HeaderName::from_static("x-mock-outcome");
const X_MOCK_DURATION: HeaderName = HeaderName::from_static("x-mock-duration");
const X_MOCK_POLLS: HeaderName = HeaderName::from_static("x-mock-polls");

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("{name} must be printable ASCII"))),
    }
}

/// Decodes a JSON request body after checking its content type.
fn json_body(headers: &HeaderMap, body: Bytes) -> Result<serde_json::Value, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    match content_type.as_deref() {
        Some("application/json") => {}
        None if body.is_empty() => {
            return Err(ApiError::invalid("Request body must be a JSON object"));
        }
        _ => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "Content-Type must be application/json",
            ));
        }
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid("Request body must be a JSON object"));
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::invalid(format!("Malformed JSON: {e}")))
}

/// The create's headers read into a [`NewJob`]: `Idempotency-Key` and the
/// mock's per-job overrides (`X-Mock-Outcome`, `-Duration`, `-Polls`).
fn new_job(
    caller: Caller,
    kind: JobKind,
    payload: Box<str>,
    headers: &HeaderMap,
    default_polls: Option<u32>,
) -> Result<NewJob, ApiError> {
    let idempotency_key = match header_str(headers, &IDEMPOTENCY_KEY)? {
        None => None,
        Some(key)
            if (1..=255).contains(&key.len()) && key.bytes().all(|b| (0x20..0x7f).contains(&b)) =>
        {
            Some(key.to_owned())
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "Idempotency-Key must be 1 to 255 printable ASCII characters",
            ));
        }
    };
    let outcome = match header_str(headers, &X_MOCK_OUTCOME)? {
        None => None,
        Some("complete") => Some(Outcome::Complete),
        Some("fail") => Some(Outcome::Fail),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "X-Mock-Outcome must be complete or fail, got {other:?}"
            )));
        }
    };
    let duration = header_str(headers, &X_MOCK_DURATION)?
        .map(|d| parse_duration(d).map_err(|e| ApiError::invalid(format!("X-Mock-Duration: {e}"))))
        .transpose()?;
    let polls = match header_str(headers, &X_MOCK_POLLS)? {
        None => default_polls,
        Some(raw) => Some(
            raw.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_POLLS).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "X-Mock-Polls must be an integer from 1 to {MAX_POLLS}, got {raw:?}"
                    ))
                })?,
        ),
    };

    Ok(NewJob {
        owner: caller.0,
        kind,
        payload,
        idempotency_key,
        outcome,
        duration,
        polls,
    })
}

/// The router's `POST /api/v1/generate` (under `--latency`): [`create`].
pub(super) async fn create_job(State(state): State<AppState>, request: Request) -> Response<Body> {
    create(&state, &request)
}

/// `POST /api/v1/generate`, for the router's handler and the front's fast
/// route alike (see `http::front::fast_route`): the caller's checks
/// ([`Caller::check`]), then the job stored (or replayed).
pub(crate) fn create(state: &AppState, request: &Request) -> Response<Body> {
    Caller::check(request.headers(), state)
        .and_then(|caller| create_answer(state, caller, request))
        .unwrap_or_else(IntoResponse::into_response)
}

/// A create's answer: the job stored (or replayed), as a `202`.
fn create_answer(
    state: &AppState,
    caller: Caller,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let kind = selected_kind(&query_pairs(request.uri().query()))?;
    let headers = request.headers();
    // Read whole, within --max-body, before the router (`http::conn::read_body`).
    let body = request
        .extensions()
        .get::<RequestBytes>()
        .map(|b| b.0.clone())
        .unwrap_or_default();
    let payload = json_body(headers, body.clone())?;
    validate_payload(kind, &payload).map_err(|e| ApiError::invalid(e.to_string()))?;
    // The queue keeps the body's text as it came when it is compact (it
    // parsed, so it is JSON): printing the payload again cost more than
    // the rest of the create. Spaced-out JSON is kept compact, so padding
    // a body never costs the store more than its payload.
    let text = match std::str::from_utf8(&body) {
        Ok(text) if is_compact(text) => text.into(),
        _ => payload.to_string().into_boxed_str(),
    };
    drop(payload);

    let new = new_job(caller, kind, text, headers, state.config.polls)?;
    let created = state.queue.create(new).map_err(|e| match e {
        CreateError::IdempotencyMismatch => ApiError::new(
            ErrorCode::Conflict,
            "Idempotency-Key was already used for a different request",
        ),
        CreateError::Full => ApiError::new(
            ErrorCode::Unavailable,
            "Job queue is full: every stored job is still pending or processing",
        )
        .retry_after(5),
        CreateError::NoIdLeft => ApiError::new(
            ErrorCode::Unavailable,
            format!(
                "No job id left: ids stop at {MAX_JOB_ID} (2^53 - 1, the largest integer JavaScript holds exactly); POST /__admin/reset starts again at 1"
            ),
        ),
    })?;

    let id = created.job.id;
    let mut response = json_bytes_with(
        StatusCode::ACCEPTED,
        created_json(id, &created.job.status),
        HeaderMap::with_capacity(CREATED_HEADERS),
    );
    let mut location = itoa::Buffer::new();
    let location = [
        b"/api/v1/jobs/".as_slice(),
        location.format(id.0).as_bytes(),
    ]
    .concat();
    if let Ok(location) = HeaderValue::from_maybe_shared(Bytes::from(location)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    replayed_max_attempts(state, created.job.kind, &mut response);
    Ok(response)
}

/// Under `--replay`, an answer about one job of `kind` says the most
/// attempts the recording shows for that type as `X-Mock-Max-Attempts`
/// (the front adds the mock's own setting to every other answer and
/// leaves this one). One test of an `Option` otherwise.
fn replayed_max_attempts(state: &AppState, kind: JobKind, response: &mut Response<Body>) {
    if let Some(replay) = &state.config.replay
        && let Some(n) = replay.max_attempts(kind)
    {
        response
            .headers_mut()
            .insert(crate::api::MAX_ATTEMPTS_HEADER, HeaderValue::from(n));
    }
}

/// Whether JSON `text` has no whitespace outside its strings (a client's
/// `JSON.stringify` output, say), so that keeping it costs no more than
/// keeping its compact print.
fn is_compact(text: &str) -> bool {
    let (mut in_string, mut escaped) = (false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b' ' | b'\t' | b'\n' | b'\r' => return false,
                _ => {}
            }
        }
    }
    true
}

/// The headers a `202` ends up with: the type, `Location`, CORS's
/// `Access-Control-Allow-Origin`, `-Expose-Headers` and `Vary`, and
/// `X-Mock-Max-Attempts`, plus one spare (`Retry-After` never comes with a 202).
const CREATED_HEADERS: usize = 7;

/// The `202`'s body: the SDK's `CreateJobResponse`, written by hand (no
/// owned message, no serde for four fixed fields).
fn created_json(id: JobId, status: &JobStatus) -> Vec<u8> {
    let mut body = Vec::with_capacity(96);
    body.extend_from_slice(b"{\"success\":true,\"job_id\":");
    body.extend_from_slice(itoa::Buffer::new().format(id.0).as_bytes());
    body.extend_from_slice(b",\"status\":");
    // A status's name, or (never stored, but not assumed) escaped text.
    let _ = serde_json::to_writer(&mut body, status);
    body.extend_from_slice(b",\"message\":\"Job queued for processing\"}");
    body
}

/// A path's (or a `job_id` filter's) job id: a positive integer up to
/// [`MAX_JOB_ID`], else 400. A larger one could never have been handed
/// out, and is most likely a real id rounded by JavaScript.
pub(crate) fn job_id(raw: &str) -> Result<JobId, ApiError> {
    match raw.parse::<JobId>() {
        Ok(id) if id.0 <= MAX_JOB_ID => Ok(id),
        Ok(_) => Err(ApiError::invalid(format!(
            "Job id must be at most {MAX_JOB_ID} (2^53 - 1, the largest integer JavaScript holds exactly), got {raw:?}"
        ))),
        Err(_) => Err(ApiError::invalid(format!(
            "Job id must be a positive integer, got {raw:?}"
        ))),
    }
}

/// The router's `GET /api/v1/jobs/{id}`: the path's id percent-decoded
/// by the router, then [`poll_job`]. A path the router cannot decode is
/// refused only after the caller's checks, as every other bad id is.
pub(super) async fn get_job(
    State(state): State<AppState>,
    raw: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response<Body> {
    match raw {
        Ok(Path(raw)) => poll_job(&state, request.headers(), &raw),
        Err(rejection) => Caller::authorize(request.headers(), &state)
            .map_or_else(IntoResponse::into_response, |_| rejection.into_response()),
    }
}

/// `GET /api/v1/jobs/{id}` with `raw`, the path's id, for the router's
/// handler and the front's fast route alike (see `http::front::fast_route`):
/// the caller's checks ([`Caller::authorize`]), then the job.
pub(crate) fn poll_job(state: &AppState, headers: &HeaderMap, raw: &str) -> Response<Body> {
    Caller::authorize(headers, state)
        .and_then(|owner| job_answer(state, owner, raw, headers.get(header::HOST)))
        .unwrap_or_else(IntoResponse::into_response)
}

/// A poll's answer: the job as JSON, counted as a poll.
fn job_answer(
    state: &AppState,
    owner: &str,
    raw: &str,
    host: Option<&HeaderValue>,
) -> Result<Response<Body>, ApiError> {
    let id = job_id(raw)?;
    let snap = state
        .queue
        .poll(owner, id)
        .ok_or_else(ApiError::job_not_found)?;
    let base = ImageBase::of(state, host);
    // Room for a completed job with a long image URL, in one allocation.
    let mut body = Vec::with_capacity(512);
    JobJson { snap: &snap, base }.write(&mut body);
    let mut response = json_bytes(StatusCode::OK, body);
    replayed_max_attempts(state, snap.kind, &mut response);
    Ok(response)
}

/// The router's `GET /api/v1/jobs` (under `--latency`): [`list`].
pub(super) async fn list_jobs(State(state): State<AppState>, request: Request) -> Response<Body> {
    list(&state, &request)
}

/// `GET /api/v1/jobs`, for the router's handler and the front's fast route
/// alike (see `http::front::fast_route`): the caller's checks
/// ([`Caller::authorize`]), then the page the query asks for.
pub(crate) fn list(state: &AppState, request: &Request) -> Response<Body> {
    let headers = request.headers();
    Caller::authorize(headers, state)
        .and_then(|owner| {
            list_answer(
                state,
                owner,
                request.uri().query(),
                headers.get(header::HOST),
            )
        })
        .unwrap_or_else(IntoResponse::into_response)
}

/// A page of the caller's jobs, as the query asks.
fn list_answer(
    state: &AppState,
    owner: &str,
    query: Option<&str>,
    host: Option<&HeaderValue>,
) -> Result<Response<Body>, ApiError> {
    let pairs = query_pairs(query);
    let page = match last(&pairs, "page") {
        None => 1,
        Some(v) => page_number("page", v, MAX_PAGE)?,
    };
    // At most 100, so it fits a u32.
    let page_size = match last(&pairs, "page_size") {
        None => 20,
        Some(v) => page_number("page_size", v, 100)? as u32,
    };
    let status = match last(&pairs, "status") {
        None => None,
        Some(v) => Some(
            v.parse::<JobStatus>()
                .map_err(|e| ApiError::invalid(e.to_string()))?,
        ),
    };
    let (snaps, total) = state.queue.list(owner, page, page_size, status.as_ref());
    let base = ImageBase::of(state, host);
    let jobs: Vec<JobJson<'_>> = snaps.iter().map(|snap| JobJson { snap, base }).collect();
    let metadata = PageMetadata::new(page, page_size, total);
    let mut body = Vec::with_capacity(128 + 400 * jobs.len());
    write_page(&mut body, &jobs, &metadata);
    Ok(json_bytes(StatusCode::OK, body))
}

/// The router's `DELETE /api/v1/jobs/{id}`: the caller's checks
/// ([`Caller::authorize`]), then the cancel. A path the router cannot
/// decode is refused after the checks, as in [`get_job`].
pub(super) async fn cancel_job(
    State(state): State<AppState>,
    raw: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response<Body> {
    Caller::authorize(request.headers(), &state)
        .and_then(|owner| match raw {
            Ok(Path(raw)) => cancel_answer(&state, owner, &raw),
            Err(rejection) => Ok(rejection.into_response()),
        })
        .unwrap_or_else(IntoResponse::into_response)
}

/// A cancel's answer: the job, now cancelled, or why it cannot be.
fn cancel_answer(state: &AppState, owner: &str, raw: &str) -> Result<Response<Body>, ApiError> {
    let id = job_id(raw)?;
    let snap = state.queue.cancel(owner, id).map_err(|e| match e {
        CancelError::NotFound => ApiError::job_not_found(),
        CancelError::NotPending(status) => ApiError::new(
            ErrorCode::Conflict,
            format!("Only pending jobs can be cancelled; this job is {status}"),
        ),
    })?;
    let mut response = json_response(
        StatusCode::OK,
        &CancelJobResponse::new(snap.id, "Job cancelled"),
    );
    replayed_max_attempts(state, snap.kind, &mut response);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use vestis_client::CreateJobResponse;

    use super::*;

    #[test]
    fn the_created_body_is_the_sdks_create_job_response() {
        let statuses = JobStatus::KNOWN
            .into_iter()
            .chain([JobStatus::Unknown("odd \"one\"".into())]);
        for (status, id) in statuses.zip([1, 10, 999, u64::MAX, 42, 7]) {
            let expected = serde_json::to_string(&CreateJobResponse::new(
                JobId(id),
                status.clone(),
                "Job queued for processing",
            ))
            .unwrap();
            let got = String::from_utf8(created_json(JobId(id), &status)).unwrap();
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn compact_json_is_told_from_spaced_json() {
        for compact in [
            r#"{"prompt":"a red dress"}"#,
            r#"{"a":"\" x","b":[1,2,{"c":null}]}"#,
            r#"{"a":"\\","b":"tab\tnew\nline"}"#,
            "{\"a\":\"\u{a0}\"}",
            "{}",
        ] {
            assert!(is_compact(compact), "{compact}");
        }
        for spaced in [
            r#"{ "prompt":"a"}"#,
            r#"{"a":"\\" }"#,
            "{\"a\":1}\n",
            "{\"a\":\r1}",
            "{\"a\":\t1}",
            r#"{"a":"\"" , "b":1}"#,
        ] {
            assert!(!is_compact(spaced), "{spaced}");
        }
    }
}
