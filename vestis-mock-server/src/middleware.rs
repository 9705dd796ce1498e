//! What stands in front of the `/api/v1` handlers: authentication, the
//! rate limit, injected 503s, added latency, and the `X-Mock-Max-Attempts`
//! header.
//!
//! Auth, rate limit and injected errors run only on a matched route and
//! method (they are the [`Caller`] extractor), so a wrong method on a
//! known route is 405 even without a token, as the README promises. The
//! latency, the request count and the journal are one layer ([`front`]).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Response, header};
use axum::middleware::Next;
use tokio::time::Instant;
use vestis_client::ErrorCode;

use crate::AppState;
use crate::errors::ApiError;

/// The caller's identity: the bearer token (see the extractor below).
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

/// The caller's identity, and the gate of every matched `/api/v1` route:
/// extracting it checks `Authorization: Bearer <token>` (401), then the
/// rate limit (429 with `Retry-After`), then the injected errors (503).
///
/// An extractor rather than a layer: it runs only once the route and the
/// method matched (so a wrong method is 405 even without a token), costs
/// no boxed service per request, and reads the HTTP fault settings once,
/// without a lock.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthorized,
                    "Missing or malformed Authorization header: expected `Bearer <token>`",
                )
            })?;
        let tokens = &state.config.tokens;
        if !tokens.is_empty() && !tokens.iter().any(|t| t == token) {
            return Err(ApiError::new(ErrorCode::Unauthorized, "Invalid token"));
        }
        let faults = state.http_faults();
        if let Some(limit) = faults.rate_limit
            && let Err(wait) = state.limiter.check(token, limit)
        {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!("Rate limit exceeded: at most {limit} requests per second"),
            )
            .retry_after(wait));
        }
        let rate = faults.http_error_rate;
        if rate > 0.0 && state.chance(rate) {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "Service temporarily unavailable (injected by --http-error-rate)",
            )
            .retry_after(1));
        }
        Ok(Caller(Arc::from(token)))
    }
}

/// Fixed one-second windows per token.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    windows: Mutex<HashMap<Arc<str>, (Instant, u32)>>,
}

impl RateLimiter {
    /// `Ok` if the request fits, else the seconds until the window ends.
    fn check(&self, token: &str, per_second: u32) -> Result<(), u64> {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if windows.len() > 10_000 {
            // Bounded memory: forget windows that have ended.
            windows.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(1));
        }
        // A new token's key is allocated once, not on every request.
        if !windows.contains_key(token) {
            windows.insert(Arc::from(token), (now, 0));
        }
        let Some((start, count)) = windows.get_mut(token) else {
            return Ok(());
        };
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

/// The one layer on the whole `/api/v1` router (matched or not): records
/// the request in the journal when it is on, counts it, and adds the
/// configured latency.
pub(crate) async fn front(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response<Body> {
    if state.journal.is_on() {
        crate::journal::record(&state, req, |req| counted(&state, req, next)).await
    } else {
        counted(&state, req, next).await
    }
}

/// Counts the request, adds the configured latency before answering, and
/// says how many attempts a job gets ([`MAX_ATTEMPTS_HEADER`]).
async fn counted(state: &AppState, req: Request, next: Next) -> Response<Body> {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let faults = state.http_faults();
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    let mut response = next.run(req).await;
    response.headers_mut().insert(
        MAX_ATTEMPTS_HEADER,
        header::HeaderValue::from(faults.advertised_max_attempts),
    );
    response
}

/// The mock's `X-Mock-Max-Attempts`, on every `/api/v1` answer: the
/// contract has no field for it, and a client that shows `attempt 2/3`
/// needs the 3.
pub(crate) const MAX_ATTEMPTS_HEADER: &str = "x-mock-max-attempts";
