//! What stands in front of the `/api/v1` handlers: authentication, the
//! rate limit, injected 503s, added latency, and the `X-Mock-Max-Attempts`
//! header.
//!
//! Auth, rate limit and injected errors run only on a matched route and
//! method (they are method-router `route_layer`s), so a wrong method on a
//! known route is 405 even without a token, as the README promises.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Response, header};
use axum::middleware::Next;
use axum::response::IntoResponse;
use tokio::time::Instant;
use vestis_client::ErrorCode;

use crate::AppState;
use crate::errors::ApiError;

/// The caller's identity: the bearer token, checked by [`auth`].
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub(crate) Arc<str>);

/// The token of `Authorization: Bearer <token>`, if the header is well formed.
pub(crate) fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && !token.contains(char::is_whitespace))
    .then_some(token)
}

/// Checks `Authorization: Bearer <token>` and records the caller.
pub(crate) async fn auth(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response<Body> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
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

/// 429 with `Retry-After` past `rate_limit` requests per second per token.
pub(crate) async fn rate_limit(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response<Body> {
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

/// A random 503 with `Retry-After`, with probability `http_error_rate`.
pub(crate) async fn inject_errors(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response<Body> {
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

/// Counts the request and adds the configured latency before answering.
pub(crate) async fn latency(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response<Body> {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let delay = state.queue.faults().latency;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    next.run(req).await
}

/// The mock's `X-Mock-Max-Attempts`, on every `/api/v1` answer.
pub(crate) const MAX_ATTEMPTS_HEADER: &str = "x-mock-max-attempts";

/// Says how many processing attempts a job gets (`--max-attempts`) in
/// [`MAX_ATTEMPTS_HEADER`]: the contract has no field for it, and a client
/// that shows `attempt 2/3` needs the 3.
pub(crate) async fn advertise_max_attempts(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response<Body> {
    let max = state.queue.faults().max_attempts;
    let mut response = next.run(req).await;
    response
        .headers_mut()
        .insert(MAX_ATTEMPTS_HEADER, header::HeaderValue::from(max));
    response
}
