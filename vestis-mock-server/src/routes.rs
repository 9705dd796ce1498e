//! The `/api/v1` routes and their middleware: HTTP in, queue calls, HTTP out.
//!
//! Handlers parse and validate the request, call one [`Queue`] method and
//! render its answer; the job logic itself lives in `queue.rs`. Request
//! parts are taken raw (`Bytes`, `RawQuery`, path `String`) so that every
//! bad value is answered with the contract's JSON error, never axum's text.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::time::Instant;
use vestis_client::{
    CancelJobResponse, CreateJobResponse, ErrorCode, Job, JobId, JobKind, JobPage, JobResult,
    JobStatus, PageMetadata, Timestamp, validate_payload,
};

use crate::AppState;
use crate::config::parse_duration;
use crate::errors::{ApiError, json_response};
use crate::queue::{CancelError, CreateError, JobSnapshot, NewJob, Outcome};

/// The caller's identity: the bearer token, checked by [`auth`].
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub(crate) Arc<str>);

/// The `/api/v1` routes, with authentication, rate limiting, injected
/// errors and latency in front of them.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/generate", post(create_job))
        .route("/jobs", get(list_jobs))
        .route("/jobs/{id}", get(get_job).delete(cancel_job))
        // Order: the last layer added runs first.
        .route_layer(middleware::from_fn_with_state(state.clone(), inject_errors))
        .route_layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth))
        .layer(middleware::from_fn_with_state(state.clone(), latency))
        .with_state(state)
}

/// The job as the contract shows it; `image_base` prefixes a completed job's image URL.
pub(crate) fn render_job(snap: &JobSnapshot, image_base: &str) -> Job {
    let result = (snap.status == JobStatus::Completed).then(|| JobResult {
        image_url: format!("{image_base}/images/{}.png", snap.id),
        generated_at: Timestamp(snap.completed_at.unwrap_or(snap.created_at)),
        message: "Image generated successfully".to_owned(),
    });
    Job {
        job_id: JobId(snap.id),
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

/// Checks `Authorization: Bearer <token>` and records the caller.
async fn auth(State(state): State<AppState>, mut req: Request, next: Next) -> Response<Body> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            let token = token.trim();
            (scheme.eq_ignore_ascii_case("bearer")
                && !token.is_empty()
                && !token.contains(char::is_whitespace))
            .then_some(token)
        });
    let Some(token) = token else {
        return ApiError::new(
            ErrorCode::Unauthorized,
            "Missing or malformed Authorization header: expected `Bearer <token>`",
        )
        .into_response();
    };
    if !state.config.tokens.is_empty() && !state.config.tokens.iter().any(|t| t == token) {
        return ApiError::new(ErrorCode::Unauthorized, "Invalid token").into_response();
    }
    let caller = Caller(Arc::from(token));
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Fixed one-second windows per token.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    windows: Mutex<HashMap<Arc<str>, (Instant, u32)>>,
}

impl RateLimiter {
    /// `Ok` if the request fits, else the seconds until the window ends.
    fn check(&self, token: &Arc<str>, per_second: u32) -> Result<(), u64> {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if windows.len() > 10_000 {
            // Bounded memory: forget windows that have ended.
            windows.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(1));
        }
        let (start, count) = windows.entry(Arc::clone(token)).or_insert((now, 0));
        if now.duration_since(*start) >= Duration::from_secs(1) {
            *start = now;
            *count = 0;
        }
        if *count >= per_second {
            let left = Duration::from_secs(1).saturating_sub(now.duration_since(*start));
            return Err(left.as_secs_f64().ceil().max(1.0) as u64);
        }
        *count += 1;
        Ok(())
    }

    pub(crate) fn clear(&self) {
        self.windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response<Body> {
    if let (Some(limit), Some(caller)) = (
        state.queue.faults().rate_limit,
        req.extensions().get::<Caller>(),
    ) && let Err(wait) = state.limiter.check(&caller.0, limit)
    {
        return ApiError::new(
            ErrorCode::RateLimited,
            format!("Rate limit exceeded: at most {limit} requests per second"),
        )
        .retry_after(wait)
        .into_response();
    }
    next.run(req).await
}

async fn inject_errors(State(state): State<AppState>, req: Request, next: Next) -> Response<Body> {
    let rate = state.queue.faults().http_error_rate;
    if rate > 0.0 && state.chance(rate) {
        return ApiError::new(
            ErrorCode::Unavailable,
            "Service temporarily unavailable (injected by --http-error-rate)",
        )
        .retry_after(1)
        .into_response();
    }
    next.run(req).await
}

async fn latency(State(state): State<AppState>, req: Request, next: Next) -> Response<Body> {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let delay = state.queue.faults().latency;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    next.run(req).await
}

/// The query string's pairs, percent-decoded (malformed escapes are kept as text).
fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// Which job kind the query selects: `TYPE=true|1` selects, `TYPE=false|0` does not.
fn selected_kind(pairs: &[(String, String)]) -> Result<JobKind, ApiError> {
    let mut selected = Vec::new();
    for (key, value) in pairs {
        let Some(kind) = JobKind::ALL
            .into_iter()
            .find(|k| k.query_flag() == Some(key.as_str()))
        else {
            continue; // unknown query parameters are ignored
        };
        // Case-insensitive, and a bare `?chat` selects too: forgiving of
        // hand-written URLs without changing what the guide sends.
        match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "" => {
                if !selected.contains(&kind) {
                    selected.push(kind);
                }
            }
            "false" | "0" => selected.retain(|k| *k != kind),
            other => {
                return Err(ApiError::invalid(format!(
                    "{key} must be true, false, 1 or 0, got {other:?}"
                )));
            }
        }
    }
    match selected.as_slice() {
        [] => Ok(JobKind::Legacy),
        [one] => Ok(*one),
        _ => Err(ApiError::invalid(
            "Select at most one job type (chat, flatlay, mdoli, onmodel or background)",
        )),
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("{name} must be printable ASCII"))),
    }
}

/// Decodes a JSON request body after checking its content type.
fn json_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<serde_json::Value, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ErrorCode::PayloadTooLarge, "Request body is too large")
        } else {
            ApiError::invalid(format!("Could not read the request body: {rejection}"))
        }
    })?;
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

async fn create_job(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response<Body>, ApiError> {
    let kind = selected_kind(&query_pairs(query.as_deref()))?;
    let payload = json_body(&headers, body)?;
    validate_payload(kind, &payload).map_err(|e| ApiError::invalid(e.to_string()))?;

    let idempotency_key = match header_str(&headers, "idempotency-key")? {
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
    let outcome = match header_str(&headers, "x-mock-outcome")? {
        None => None,
        Some("complete") => Some(Outcome::Complete),
        Some("fail") => Some(Outcome::Fail),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "X-Mock-Outcome must be complete or fail, got {other:?}"
            )));
        }
    };
    let duration = header_str(&headers, "x-mock-duration")?
        .map(|d| parse_duration(d).map_err(|e| ApiError::invalid(format!("X-Mock-Duration: {e}"))))
        .transpose()?;

    let created = state
        .queue
        .create(NewJob {
            owner: caller.0.to_string(),
            kind,
            payload,
            idempotency_key,
            outcome,
            duration,
        })
        .map_err(|e| match e {
            CreateError::IdempotencyMismatch => ApiError::new(
                ErrorCode::Conflict,
                "Idempotency-Key was already used for a different request",
            ),
            CreateError::Full => ApiError::new(
                ErrorCode::Unavailable,
                "Job queue is full: every stored job is still pending or processing",
            )
            .retry_after(5),
        })?;

    let id = created.job.id;
    let mut response = json_response(
        StatusCode::ACCEPTED,
        &CreateJobResponse {
            success: true,
            job_id: JobId(id),
            status: created.job.status,
            message: "Job queued for processing".to_owned(),
        },
    );
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/jobs/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

fn job_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<JobId>()
        .map(|id| id.0)
        .map_err(|_| ApiError::invalid(format!("Job id must be a positive integer, got {raw:?}")))
}

async fn get_job(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let id = job_id(&raw)?;
    let snap = state
        .queue
        .get(&caller.0, id)
        .ok_or_else(ApiError::job_not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &render_job(&snap, &image_base(&state, &headers)),
    ))
}

fn positive(
    pairs: &[(String, String)],
    name: &str,
    default: u64,
    max: u64,
) -> Result<u64, ApiError> {
    match pairs.iter().rev().find(|(k, _)| k == name) {
        None => Ok(default),
        Some((_, v)) => match v.parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) && !v.starts_with('+') => Ok(n),
            _ => Err(ApiError::invalid(if max > 100 {
                format!("{name} must be a positive integer, got {v:?}")
            } else {
                format!("{name} must be an integer from 1 to {max}, got {v:?}")
            })),
        },
    }
}

async fn list_jobs(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let pairs = query_pairs(query.as_deref());
    // The OpenAPI document's int64 bound.
    let page = positive(&pairs, "page", 1, i64::MAX as u64)?;
    // At most 100, so it fits a u32.
    let page_size = positive(&pairs, "page_size", 20, 100)? as u32;
    let status = match pairs.iter().rev().find(|(k, _)| k == "status") {
        None => None,
        Some((_, v)) => Some(
            v.parse::<JobStatus>()
                .map_err(|e| ApiError::invalid(e.to_string()))?,
        ),
    };
    let (snaps, total) = state
        .queue
        .list(&caller.0, page, page_size, status.as_ref());
    let base = image_base(&state, &headers);
    Ok(json_response(
        StatusCode::OK,
        &JobPage {
            jobs: snaps.iter().map(|s| render_job(s, &base)).collect(),
            metadata: PageMetadata {
                page,
                page_size,
                total,
                total_pages: total.div_ceil(u64::from(page_size)),
            },
        },
    ))
}

async fn cancel_job(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Response<Body>, ApiError> {
    let id = job_id(&raw)?;
    let snap = state.queue.cancel(&caller.0, id).map_err(|e| match e {
        CancelError::NotFound => ApiError::job_not_found(),
        CancelError::NotPending(status) => ApiError::new(
            ErrorCode::Conflict,
            format!("Only pending jobs can be cancelled; this job is {status}"),
        ),
    })?;
    Ok(json_response(
        StatusCode::OK,
        &CancelJobResponse {
            success: true,
            job_id: JobId(snap.id),
            status: snap.status,
            message: "Job cancelled".to_owned(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        query_pairs(Some(q))
    }

    #[test]
    fn kind_selection_follows_the_contract() {
        assert_eq!(selected_kind(&pairs("")).unwrap(), JobKind::Legacy);
        assert_eq!(selected_kind(&pairs("chat=true")).unwrap(), JobKind::Chat);
        assert_eq!(
            selected_kind(&pairs("flatlay=1")).unwrap(),
            JobKind::Flatlay
        );
        assert_eq!(
            selected_kind(&pairs("chat=false")).unwrap(),
            JobKind::Legacy
        );
        assert_eq!(
            selected_kind(&pairs("chat=false&mdoli=true")).unwrap(),
            JobKind::Mdoli
        );
        assert_eq!(
            selected_kind(&pairs("other=x&onmodel=true")).unwrap(),
            JobKind::Onmodel
        );
        assert!(selected_kind(&pairs("chat=true&flatlay=true")).is_err());
        assert!(selected_kind(&pairs("chat=yes")).is_err());
        assert_eq!(selected_kind(&pairs("chat=TRUE")).unwrap(), JobKind::Chat);
        assert_eq!(
            selected_kind(&pairs("background")).unwrap(),
            JobKind::Background
        );
        assert_eq!(
            selected_kind(&pairs("chat=False")).unwrap(),
            JobKind::Legacy
        );
        assert!(selected_kind(&pairs("legacy=true")).is_ok());
    }

    #[test]
    fn query_decoding_handles_escapes() {
        assert_eq!(
            pairs("a=b%20c&d=e+f&g&h=%zz&i=%4"),
            vec![
                ("a".into(), "b c".into()),
                ("d".into(), "e f".into()),
                ("g".into(), "".into()),
                ("h".into(), "%zz".into()),
                ("i".into(), "%4".into()),
            ]
        );
    }
}
