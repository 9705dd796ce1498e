//! The contract's JSON error bodies, for every error from every route.
//!
//! Handlers return [`ApiError`]; [`json_errors`] is the safety net behind
//! them that rewrites any other error response (axum's own rejections, a
//! layer's 413, a caught panic) into the same JSON shape, so no client ever
//! sees an HTML or plain-text error.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use axum::response::IntoResponse;
use vestis_client::{ErrorBody, ErrorCode};

/// An error answer: a status, the contract's code, a message for the user,
/// and for 429/503 the `Retry-After` seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidRequest, message)
    }

    pub(crate) fn job_not_found() -> ApiError {
        ApiError::new(ErrorCode::NotFound, "Job not found")
    }

    pub(crate) fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds.max(1));
        self
    }

    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// The contract's JSON content type.
pub(crate) const JSON: HeaderValue = HeaderValue::from_static("application/json; charset=utf-8");

/// Serialises `value` as a JSON response with `status`.
pub(crate) fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    // Serialising the crate's own plain structs cannot fail; should it ever,
    // the answer is still JSON.
    // Sized for a job or an error in one allocation (a page grows it).
    let mut body = Vec::with_capacity(512);
    if serde_json::to_writer(&mut body, value).is_err() {
        body = br#"{"success":false,"error":"Internal server error","code":"internal"}"#.to_vec();
    }
    json_bytes(status, body)
}

/// A response with `status` and `body`, JSON already written.
pub(crate) fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    json_bytes_with(status, body, HeaderMap::new())
}

/// [`json_bytes`] into `headers`, a map sized by the caller: a create's
/// answer carries more headers than a fresh map's first allocation holds
/// (the type, `Location`, CORS's three, `X-Mock-Max-Attempts`), and
/// growing it on the way out rehashed every header already in it.
pub(crate) fn json_bytes_with(
    status: StatusCode,
    body: Vec<u8>,
    headers: HeaderMap,
) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response.headers_mut().insert(header::CONTENT_TYPE, JSON);
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response<Body> {
        let status = self.status();
        let mut response = json_response(
            status,
            &ErrorBody {
                success: false,
                error: self.message,
                code: self.code,
            },
        );
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.code == ErrorCode::Unauthorized {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"vestis\""),
            );
        }
        response
    }
}

/// The message used when an error response arrives here without JSON.
fn default_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "Invalid request",
        401 => "Unauthorized",
        404 => "Route not found",
        405 => "Method not allowed",
        409 => "Conflict",
        413 => "Request body is too large",
        415 => "Content-Type must be application/json",
        429 => "Too many requests",
        503 => "Service unavailable",
        _ => "Internal server error",
    }
}

/// Rewrites any non-JSON error response into the contract's JSON body,
/// keeping its status and headers (`Retry-After`, CORS, `Allow`).
pub(crate) fn json_errors(response: Response<Body>) -> Response<Body> {
    let status = response.status();
    // The status first: most answers are not errors, and need no header lookup.
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let code = ErrorCode::for_http_status(status.as_u16());
    if status.is_server_error() && code == ErrorCode::Internal {
        tracing::error!(%status, "internal error answered as JSON");
    }
    let (mut parts, _) = response.into_parts();
    let rewritten = json_response(
        status,
        &ErrorBody {
            success: false,
            error: default_message(status).to_owned(),
            code,
        },
    );
    let (new_parts, body) = rewritten.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(new_parts.headers);
    Response::from_parts(parts, body)
}
/// The answer for a path no route matches.
pub(crate) async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "Route not found")
}
