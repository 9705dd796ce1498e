//! The routes outside `/api/v1` auth: images (so `<img>` tags work without
//! credentials), the health check, and the OpenAPI document.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::response::IntoResponse;
use vestis_client::{ErrorCode, JobId};

use crate::AppState;
use crate::errors::{ApiError, json_response};
use crate::{image, openapi};

/// `GET /health`: 200 `{"status":"ok"}`.
pub(crate) async fn health() -> Response<Body> {
    json_response(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

/// `GET /openapi.json`: the contract's `/api/v1` routes.
pub(crate) async fn openapi_json() -> Response<Body> {
    json_response(StatusCode::OK, &openapi::document())
}

/// `GET /images/{id}.png`: the PNG of a completed job, no auth; 404 otherwise.
///
/// Drawn on tokio's blocking pool: a PNG takes about 1.5 ms to encode, and
/// on the default single event loop (`--threads 1`) every other request
/// would wait for it.
pub(crate) async fn image(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Response<Body> {
    let seed = file
        .strip_suffix(".png")
        .and_then(|id| id.parse::<JobId>().ok())
        .and_then(|id| state.queue.image_seed(id));
    let Some(seed) = seed else {
        return ApiError::new(ErrorCode::NotFound, "Image not found").into_response();
    };
    match tokio::task::spawn_blocking(move || image::render(seed)).await {
        Ok(Ok(png)) => {
            let mut response = Response::new(Body::from(png));
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
            // A completed job never changes, so neither does its image.
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            response
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "PNG encoding failed");
            ApiError::new(ErrorCode::Internal, "Could not render the image").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "PNG rendering stopped");
            ApiError::new(ErrorCode::Internal, "Could not render the image").into_response()
        }
    }
}
