//! `--proxy-to`: an `/api/v1` request forwarded to the real backend and
//! its answer passed back, as the front's answer (so latency, transport
//! faults, CORS and the request journal apply on top as on any answer).
//!
//! Forwarded: the method, path, query, body, `Authorization`,
//! `Idempotency-Key` and `Content-Type` (`recording::upstream::FORWARDED`);
//! `X-Mock-*` headers are the proxying mock's own and stay here. Passed
//! back: the status, the body and the headers that matter
//! (`recording::upstream::passed_back`), unchanged but for
//! `result.image_url`, which points at this mock's `/images/{id}.png`
//! (served from the kept copy). No answer, a redirect, or an answer over
//! the cap: 502 in the contract's JSON error shape, naming the backend
//! and the cause.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Method, Response, StatusCode, header};
use serde_json::Value;
use vestis_client::ErrorCode;
use vestis_client::wire::ErrorBody;

use crate::api::render::image_base;
use crate::errors::json_response;
use crate::recording::Recorder;
use crate::recording::upstream::{UpstreamError, passed_back};
use crate::request::{RequestBytes, bearer};
use crate::state::AppState;

/// Forwards `req` (an `/api/v1` request) to the real backend and answers
/// with what came back; takes in every job the answer shows.
pub(crate) async fn forward(
    state: AppState,
    recorder: Arc<Recorder>,
    req: Request,
) -> Response<Body> {
    let (parts, _) = req.into_parts();
    let body = parts
        .extensions
        .get::<RequestBytes>()
        .map(|b| b.0.clone())
        .unwrap_or_default();
    let target = parts.uri.path_and_query().map_or("", |pq| pq.as_str());
    let rest = target.strip_prefix("/api/v1").unwrap_or(target);
    if let Err(why) = stays_under_base(parts.uri.path(), rest) {
        return json_response(
            StatusCode::BAD_REQUEST,
            &ErrorBody::new(ErrorCode::InvalidRequest, why),
        );
    }
    let answer = match recorder
        .upstream()
        .send(parts.method.clone(), rest, &parts.headers, body.clone())
        .await
    {
        Ok(answer) => answer,
        Err(e) => return bad_gateway(&e),
    };
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    // The backend rate-limited this token: the follower waits too (the
    // client's own requests still go through as they come).
    if let Some(token) = token
        && let Some(pause) = crate::recording::recorder::backoff(answer.status, &answer.headers)
    {
        recorder.pause(token, pause);
    }
    let mut out = answer.body;
    if (200..300).contains(&answer.status)
        && let Some(token) = token
        && let Ok(value) = serde_json::from_slice::<Value>(&out)
    {
        let is_create = parts.method == Method::POST && parts.uri.path() == "/api/v1/generate";
        let payload = is_create
            .then(|| serde_json::from_slice::<Value>(&body).ok())
            .flatten();
        // A job refused as another one on a recorded id keeps the
        // backend's URL: this mock's `/images/{id}.png` is the recorded job's.
        let refused = recorder.seen(token, &value, payload);
        let base = image_base(&state, &parts.headers);
        if let Some(rewritten) = rewrite_image_urls(&out, value, &base, &refused) {
            out = rewritten;
        }
    }
    let mut response = Response::new(Body::from(out));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    for (name, value) in &answer.headers {
        if passed_back(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    // An absolute `Location` on the backend points the client there: made
    // relative to this mock, as the contract writes it.
    if let Some(location) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok())
        && let Some(rest) = location.strip_prefix(recorder.upstream().base())
        && let Ok(local) = HeaderValue::from_str(&format!("/api/v1{rest}"))
    {
        headers.insert(header::LOCATION, local);
    }
    response
}

/// Refuses a path that the URL parser would move out of the backend's
/// base: a `.` or `..` segment, percent-encoded or not (`%2e%2e`), or a
/// backslash (a separator in `http(s)` URLs). `/api/v1/../../internal/x`
/// would otherwise reach `https://staging/internal/x` with the caller's
/// `Authorization`. `rest` is what follows `/api/v1` (with the query); it
/// must start a new segment.
fn stays_under_base(path: &str, rest: &str) -> Result<(), String> {
    let dot_segment = path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    });
    if dot_segment || path.contains('\\') || path.to_ascii_lowercase().contains("%5c") {
        return Err(format!(
            "The path {path:?} has a '.' or '..' segment or a backslash; the proxy forwards only plain paths under /api/v1"
        ));
    }
    if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')) {
        return Err(format!("The path {path:?} is not under /api/v1"));
    }
    Ok(())
}

/// The 502 for a backend that gave no usable answer.
fn bad_gateway(e: &UpstreamError) -> Response<Body> {
    json_response(
        StatusCode::BAD_GATEWAY,
        &ErrorBody::new(ErrorCode::Internal, format!("Bad gateway: {e}")),
    )
}

/// `body` with each job's `result.image_url` pointing at this mock
/// (`{base}/images/{job_id}.png`), but for the jobs in `keep` (their URL
/// stays the backend's); `None` when there is none to change.
///
/// The URLs are replaced in the bytes as they came, so everything else in
/// the answer stays byte for byte; only when a URL is not found there as
/// plain JSON text is the whole answer written again from `value`.
fn rewrite_image_urls(body: &Bytes, mut value: Value, base: &str, keep: &[u64]) -> Option<Bytes> {
    let mut changes: Vec<(String, String)> = Vec::new();
    let mut rewrite = |job: &mut Value| {
        let id = job
            .get("job_id")
            .and_then(Value::as_u64)
            .filter(|id| !keep.contains(id));
        if let (Some(id), Some(url)) = (
            id,
            job.get_mut("result")
                .and_then(|r| r.get_mut("image_url"))
                .filter(|u| u.is_string()),
        ) {
            let local = format!("{base}/images/{id}.png");
            if let Some(old) = url.as_str()
                && old != local
            {
                changes.push((old.to_owned(), local.clone()));
                *url = Value::String(local);
            }
        }
    };
    match value.get_mut("jobs").and_then(Value::as_array_mut) {
        Some(jobs) => jobs.iter_mut().for_each(&mut rewrite),
        None => rewrite(&mut value),
    }
    if changes.is_empty() {
        return None;
    }
    let mut text = body.to_vec();
    for (old, new) in &changes {
        let (Ok(old), Ok(new)) = (serde_json::to_vec(old), serde_json::to_vec(new)) else {
            return serde_json::to_vec(&value).ok().map(Bytes::from);
        };
        match replace_once(&text, &old, &new) {
            Some(replaced) => text = replaced,
            None => return serde_json::to_vec(&value).ok().map(Bytes::from),
        }
    }
    Some(Bytes::from(text))
}

/// `text` with the first `old` replaced by `new`; `None` when absent.
fn replace_once(text: &[u8], old: &[u8], new: &[u8]) -> Option<Vec<u8>> {
    let at = text.windows(old.len()).position(|w| w == old)?;
    let mut out = Vec::with_capacity(text.len() + new.len());
    out.extend_from_slice(&text[..at]);
    out.extend_from_slice(new);
    out.extend_from_slice(&text[at + old.len()..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_plain_paths_under_the_base_are_forwarded() {
        for ok in ["/api/v1/jobs/7", "/api/v1/jobs", "/api/v1/a.b/..c"] {
            let rest = ok.strip_prefix("/api/v1").unwrap();
            assert!(stays_under_base(ok, rest).is_ok(), "{ok}");
        }
        for bad in [
            "/api/v1/../../internal/x",
            "/api/v1/%2e%2e/internal",
            "/api/v1/%2E./x",
            "/api/v1/./jobs",
            "/api/v1/..%5cinternal",
            "/api/v1/..\\internal",
        ] {
            let rest = bad.strip_prefix("/api/v1").unwrap();
            assert!(stays_under_base(bad, rest).is_err(), "{bad}");
        }
        assert!(stays_under_base("/api/v1x", "x").is_err());
    }

    #[test]
    fn image_urls_are_rewritten_in_place() {
        let body = br#"{"job_id":7,"status":"completed","result":{"image_url":"https://s.example/i/7.png","message":"ok"}}"#;
        let value: Value = serde_json::from_slice(body).unwrap();
        let out = rewrite_image_urls(&Bytes::from_static(body), value, "http://m:1", &[]).unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"job_id":7,"status":"completed","result":{"image_url":"http://m:1/images/7.png","message":"ok"}}"#
        );
        // Escaped slashes: not found as text, so written again, still right.
        let escaped = br#"{"jobs":[{"job_id":8,"result":{"image_url":"https:\/\/s\/8.png"}}]}"#;
        let value: Value = serde_json::from_slice(escaped).unwrap();
        let out = rewrite_image_urls(&Bytes::from_static(escaped), value, "http://m", &[]).unwrap();
        let back: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            back,
            json!({"jobs":[{"job_id":8,"result":{"image_url":"http://m/images/8.png"}}]})
        );
        let pending = br#"{"job_id":9,"status":"pending"}"#;
        let value: Value = serde_json::from_slice(pending).unwrap();
        assert!(rewrite_image_urls(&Bytes::from_static(pending), value, "http://m", &[]).is_none());
    }
}
