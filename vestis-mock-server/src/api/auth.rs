//! The gate of every matched `/api/v1` route: [`Caller::authorize`]
//! checks the bearer token, the rate limit and the injected errors. Every
//! handler calls it first, on the router and on the front's fast routes
//! alike: one path, so the two cannot drift apart.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use vestis_client::ErrorCode;

use crate::errors::ApiError;
use crate::request::bearer;
use crate::state::AppState;

/// The caller's identity: the bearer token, owned (a created job keeps
/// it as its owner).
///
/// Checked in the handlers rather than in a layer or an extractor: the
/// checks run only once the route and the method matched (so a wrong
/// method is 405 even without a token), cost no boxed service per
/// request, read the HTTP fault settings once, without a lock, and are
/// the very same call on the router and the fast routes.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub(crate) Arc<str>);

impl Caller {
    /// [`Caller::authorize`], keeping the token as an owned [`Caller`]
    /// (a create stores it with the job).
    ///
    /// # Errors
    ///
    /// As [`Caller::authorize`].
    pub(crate) fn check(headers: &HeaderMap, state: &AppState) -> Result<Caller, ApiError> {
        Caller::authorize(headers, state).map(|token| Caller(Arc::from(token)))
    }

    /// The caller's checks on a request's headers, in this order: the
    /// bearer token (401), the rate limit (429), the injected errors
    /// (503). Answers the token borrowed from `headers` (a poll needs no
    /// owned copy).
    ///
    /// # Errors
    ///
    /// The contract's error for the first check that fails.
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
