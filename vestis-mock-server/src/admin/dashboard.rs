//! `/__admin/ui`: the dashboard, one page whose HTML, CSS and script are
//! compiled into the binary (`ui/`), so it works offline; and `GET /`,
//! which links to it when a browser asks.
//!
//! The page is locked down by its `Content-Security-Policy`: scripts and
//! styles from this server only, no inline script, network access to this
//! server only. With the script's `textContent`-only rendering, a job's
//! payload or error containing HTML stays text.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Response, header};

use crate::errors::ApiError;
use crate::state::AppState;

const HTML: &str = include_str!("../../ui/dashboard.html");
const CSS: &str = include_str!("../../ui/dashboard.css");
const JS: &str = include_str!("../../ui/dashboard.js");
const HOME: &str = include_str!("../../ui/home.html");

fn asset(body: &'static str, content_type: &'static str, csp: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(csp) = HeaderValue::from_str(csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// The page's policy; `--public-url` may serve the images from elsewhere.
fn policy(state: &AppState) -> String {
    let images = state
        .config
        .public_url
        .as_deref()
        .filter(|url| {
            url.bytes()
                .all(|b| b.is_ascii_graphic() && !b";,'\"".contains(&b))
        })
        .unwrap_or("");
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: {images}; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// `GET /__admin/ui`: the page.
pub(super) async fn page(State(state): State<AppState>) -> Response<Body> {
    asset(HTML, "text/html; charset=utf-8", &policy(&state))
}

/// `GET /__admin/ui/dashboard.css`.
pub(super) async fn style() -> Response<Body> {
    asset(CSS, "text/css; charset=utf-8", "default-src 'none'")
}

/// `GET /__admin/ui/dashboard.js`.
pub(super) async fn script() -> Response<Body> {
    asset(JS, "text/javascript; charset=utf-8", "default-src 'none'")
}

/// `GET /`: for a browser (`Accept: text/html`) with the admin routes on,
/// a page linking to the dashboard; otherwise the usual 404.
pub(crate) async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response<Body> {
    let html = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"));
    if !(html && state.config.admin) {
        return axum::response::IntoResponse::into_response(ApiError::new(
            vestis_client::ErrorCode::NotFound,
            "Route not found",
        ));
    }
    asset(HOME, "text/html; charset=utf-8", &policy(&state))
}
