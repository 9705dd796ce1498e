//! The gate of every matched `/api/v1` route: the [`Caller`] extractor
//! checks the bearer token, the rate limit and the injected errors.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use vestis_client::ErrorCode;

use crate::errors::ApiError;
use crate::request::bearer;
use crate::state::AppState;

/// The caller's identity: the bearer token (see the extractor below).
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub(crate) Arc<str>);

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
        Caller::check(&parts.headers, state)
    }
}

impl Caller {
    /// The extractor's checks on a request's headers, in its order: the
    /// bearer token (401), the rate limit (429), the injected errors (503).
    ///
    /// # Errors
    ///
    /// The contract's error for the first check that fails.
    pub(crate) fn check(headers: &HeaderMap, state: &AppState) -> Result<Caller, ApiError> {
        Caller::authorize(headers, state).map(|token| Caller(Arc::from(token)))
    }

    /// [`Caller::check`]'s checks, answering the token borrowed from
    /// `headers` (a poll needs no owned copy).
    ///
    /// # Errors
    ///
    /// As [`Caller::check`].
    pub(crate) fn authorize<'h>(
        headers: &'h HeaderMap,
        state: &AppState,
    ) -> Result<&'h str, ApiError> {
        let token = headers
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
        Ok(token)
    }
}
