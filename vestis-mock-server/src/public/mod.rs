//! The routes outside `/api/v1` auth: images (so `<img>` tags work without
//! credentials), the health check, and the OpenAPI document.

mod image;
mod openapi;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use axum::response::IntoResponse;
use vestis_client::{ErrorCode, JobId};

use crate::errors::{ApiError, json_response};
use crate::state::AppState;

/// `GET /health`: 200 `{"status":"ok"}`.
pub(crate) async fn health() -> Response<Body> {
    json_response(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

/// `GET /openapi.json`: the contract's `/api/v1` routes.
pub(crate) async fn openapi_json() -> Response<Body> {
    json_response(StatusCode::OK, &openapi::document())
}

/// `GET /images/{id}.png`: the PNG of a completed job, no auth; 404 otherwise.
/// A job replayed from a recording that kept its image serves that file
/// instead (whatever its format), read when asked.
///
/// Cached by content, not by URL: ids start again at 1 after a reset or a
/// restart, so `/images/1.png` can become another picture. The `ETag` is
/// the image's seed (equal seeds draw equal bytes) with `Cache-Control:
/// no-cache`, so a browser asks again each time and an unchanged image is
/// a `304` with no drawing and no body.
///
/// Drawn on tokio's blocking pool: a PNG takes milliseconds to encode, and
/// on the default single event loop (`--threads 1`) every other request
/// would wait for it.
pub(crate) async fn image(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    if let Some(recorder) = &state.recorder {
        return recorded_image(recorder, &file, &headers).await;
    }
    let id = file
        .strip_suffix(".png")
        .and_then(|id| id.parse::<JobId>().ok());
    let seed = id.and_then(|id| state.queue.image_seed(id));
    if let (Some(id), Some(_)) = (id, seed)
        && let Some(replay) = state.config.replay.as_ref()
        && let Some(kept) = replay.image(id.0)
    {
        return kept_image(replay, id.0, kept, &headers).await;
    }
    let Some(seed) = seed else {
        return ApiError::new(ErrorCode::NotFound, "Image not found").into_response();
    };
    let etag = format!("\"{seed:016x}\"");
    let mut response = if is_fresh(&headers, &etag) {
        not_modified()
    } else {
        match tokio::task::spawn_blocking(move || image::render(seed)).await {
            Ok(Ok(png)) => {
                let mut response = Response::new(Body::from(png));
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
                response
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "PNG encoding failed");
                return ApiError::new(ErrorCode::Internal, "Could not render the image")
                    .into_response();
            }
            Err(e) => {
                tracing::error!(error = %e, "PNG rendering stopped");
                return ApiError::new(ErrorCode::Internal, "Could not render the image")
                    .into_response();
            }
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    response
}

/// Whether the client's `If-None-Match` names `etag` (or `*`): then a
/// `304` with no body will do.
fn is_fresh(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

fn not_modified() -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    response
}

/// A kept image's `ETag` (a proxied or a replayed one): a hash of its
/// bytes, since a kept file can be replaced between runs, and ids start
/// again. Up to 32 MiB to hash: each kept image's is computed once, off
/// the async workers, and kept with it.
pub(crate) fn kept_etag(bytes: &[u8]) -> Arc<str> {
    format!(
        "\"k{:016x}\"",
        crate::hash::stable_hash(&[b"kept image", bytes])
    )
    .into()
}

/// A kept image's answer, with its `etag` ([`kept_etag`]) and
/// `Cache-Control: no-cache` as the mock's own images, and a `304` with no
/// body when the client has it already (then `bytes` may be `None`).
fn kept_answer(
    bytes: Option<Bytes>,
    etag: &str,
    kind: &'static str,
    headers: &HeaderMap,
) -> Response<Body> {
    let mut response = if is_fresh(headers, etag) {
        not_modified()
    } else if let Some(bytes) = bytes {
        let mut response = Response::new(Body::from(bytes));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
        response
    } else {
        // Not reached: callers pass the bytes unless the client has them.
        return ApiError::new(ErrorCode::Internal, "Could not read the image").into_response();
    };
    let out = response.headers_mut();
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(etag) {
        out.insert(header::ETAG, etag);
    }
    response
}

/// A replayed job's kept image (a path checked at start to lie inside the
/// recording's directory), with the type its extension names.
///
/// Read on tokio's blocking pool, as images are drawn: a file read blocks.
/// Its `ETag` is computed there on the first read and kept while the
/// file's length and modification time stay; a request that has the image
/// already is then a `304` after a `stat`, without a read.
async fn kept_image(
    replay: &crate::recording::Replay,
    id: u64,
    path: &std::path::Path,
    headers: &HeaderMap,
) -> Response<Body> {
    let kind = kind_of(path);
    let known = replay.image_etag(id);
    let file = path.to_owned();
    let asked = headers.clone();
    let read = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        let meta = std::fs::metadata(&file)?;
        let stamp = (meta.len(), meta.modified().ok());
        let known = known.filter(|(at, _)| *at == stamp).map(|(_, etag)| etag);
        if let Some(etag) = &known
            && is_fresh(&asked, etag)
        {
            return Ok((None, stamp, etag.clone()));
        }
        let bytes = std::fs::read(&file)?;
        let etag = known.unwrap_or_else(|| kept_etag(&bytes));
        Ok((Some(Bytes::from(bytes)), stamp, etag))
    })
    .await;
    let (bytes, stamp, etag) = match read.map_err(std::io::Error::other).and_then(|r| r) {
        Ok(read) => read,
        Err(e) => {
            tracing::error!(error = %e, path = %path.display(), "kept image unreadable");
            return ApiError::new(ErrorCode::NotFound, "Image not found").into_response();
        }
    };
    replay.keep_etag(id, stamp, etag.clone());
    kept_answer(bytes, &etag, kind, headers)
}

/// The type a kept image's extension names.
fn kind_of(path: &std::path::Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        _ => "application/octet-stream",
    }
}

/// `GET /images/{id}.png` behind `--proxy-to`: the real backend's image of
/// job `id`, fetched once and kept (beside the recording, or in memory);
/// 404 for a job not seen completed, 502 when the fetch failed.
async fn recorded_image(
    recorder: &crate::recording::Recorder,
    file: &str,
    headers: &HeaderMap,
) -> Response<Body> {
    let id = file
        .strip_suffix(".png")
        .and_then(|id| id.parse::<JobId>().ok());
    let kept = match id {
        Some(id) => recorder.image(id.0).await,
        None => None,
    };
    match kept {
        None => ApiError::new(ErrorCode::NotFound, "Image not found").into_response(),
        Some(Err(e)) => json_response(
            StatusCode::BAD_GATEWAY,
            &vestis_client::wire::ErrorBody::new(
                ErrorCode::Internal,
                format!("Bad gateway: the image could not be fetched: {e}"),
            ),
        ),
        Some(Ok(kept)) => kept_answer(Some(kept.bytes), &kept.etag, "image/png", headers),
    }
}
