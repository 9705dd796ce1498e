//! What stands in front of the `/api/v1` handlers: authentication, the
//! rate limit, injected 503s, added latency, and the `X-Mock-Max-Attempts`
//! header.
//!
//! Auth, rate limit and injected errors run only on a matched route and
//! method (they are the [`Caller`] extractor, and [`Caller::check`] on the
//! fast routes), so a wrong method on a known route is 405 even without a
//! token, as the README promises. The latency, the request count and the
//! journal are one service ([`Front`]), which also answers the requests
//! clients repeat most itself, without the router ([`FastRoute`]).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use std::convert::Infallible;
use std::future::{Future, Ready};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Response, header};
use axum::response::IntoResponse;
use axum::routing::future::RouteFuture;
use futures::future::Either;
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower::Service;
use vestis_client::ErrorCode;

use crate::AppState;
use crate::errors::ApiError;

/// The caller's identity: the bearer token (see the extractor below).
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub(crate) Arc<str>);

/// The token of `Authorization: Bearer <token>`, if the header is well formed.
pub(crate) fn bearer(value: &str) -> Option<&str> {
    if value.is_ascii() {
        bearer_ascii(value)
    } else {
        bearer_text(value)
    }
}

/// [`bearer`] on ASCII (every header `HeaderValue::to_str` lets through):
/// the same answer as [`bearer_text`], on bytes, for the per-request path.
fn bearer_ascii(value: &str) -> Option<&str> {
    // ASCII's `char::is_whitespace`, which `str::trim` uses.
    let space = |b: &u8| matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ');
    // What clients send: `Bearer ` and a token without whitespace, in one scan.
    if let Some(token) = value.strip_prefix("Bearer ")
        && !token.is_empty()
        && !token.as_bytes().iter().any(space)
    {
        return Some(token);
    }
    let bytes = value.as_bytes();
    let start = bytes.iter().position(|b| !space(b))?;
    let end = bytes.iter().rposition(|b| !space(b))? + 1;
    let trimmed = &bytes[start..end];
    let gap = trimmed.iter().position(|&b| b == b' ')?;
    let (scheme, rest) = (&trimmed[..gap], &trimmed[gap + 1..]);
    let first = rest.iter().position(|b| !space(b))?;
    let token = &rest[first..];
    (scheme.eq_ignore_ascii_case(b"bearer") && !token.iter().any(space)).then(|| {
        let offset = start + gap + 1 + first;
        &value[offset..offset + token.len()]
    })
}

/// [`bearer`] on any text.
fn bearer_text(value: &str) -> Option<&str> {
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

/// What stands in front of the whole `/api/v1` router (matched or not):
/// counts the request, records it in the journal when that is on, adds
/// the configured latency, and says how many attempts a job gets
/// ([`MAX_ATTEMPTS_HEADER`]).
///
/// A hand-written service rather than a `from_fn` layer: with no latency
/// configured (the usual case) it answers a [`FastRoute`] itself and
/// calls the router for the rest, and finishes the answer in
/// [`FrontFuture`], with no boxed future, no cloned inner service and no
/// async state machine moved per request. With `--latency`, every request
/// goes through the router.
#[derive(Debug, Clone)]
pub(crate) struct Front {
    pub(crate) state: AppState,
    /// The `/api/v1` routes, with their fallback.
    pub(crate) api: Router,
}

impl Service<Request> for Front {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = FrontFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // A `Router` is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> FrontFuture {
        let state = &self.state;
        state.requests.fetch_add(1, Ordering::Relaxed);
        let faults = state.http_faults();
        let entry = state.journal.is_on().then(|| crate::journal::begin(&req));
        let mut fault = None;
        if crate::faults::may_fault(state, &req, &faults) {
            match crate::faults::choose(state, &req, &faults) {
                crate::faults::Choice::None => {}
                crate::faults::Choice::Fault(pending) => fault = Some(pending),
                crate::faults::Choice::Invalid(error) => {
                    return FrontFuture {
                        answer: Either::Left(Either::Right(std::future::ready(Ok(
                            error.into_response()
                        )))),
                        entry,
                        fault,
                        state: state.clone(),
                        max_attempts: faults.advertised_max_attempts,
                    };
                }
            }
        }
        let answer = if faults.latency.is_zero() {
            match fast_route(&req) {
                Some(route) => Either::Left(Either::Right(std::future::ready(Ok(
                    route.answer(state, &req)
                )))),
                None => Either::Left(Either::Left(self.api.call(req))),
            }
        } else {
            let mut api = self.api.clone();
            let latency = faults.latency;
            let mut closing = state.closing.subscribe();
            Either::Right(Box::pin(async move {
                // A stop cuts the wait short: the graceful shutdown waits
                // for answers in flight, and `--latency` may be a day.
                tokio::select! {
                    () = tokio::time::sleep(latency) => {}
                    _ = closing.wait_for(|closing| *closing) => {}
                }
                api.call(req).await
            }) as Later)
        };
        FrontFuture {
            answer,
            entry,
            fault,
            state: state.clone(),
            max_attempts: faults.advertised_max_attempts,
        }
    }
}

/// The requests a client repeats most, answered by the front without the
/// router ([`fast_route`]).
enum FastRoute<'a> {
    /// `GET /api/v1/jobs/{id}` with a plain-digit id.
    Poll(&'a str),
    /// `POST /api/v1/generate`.
    Create,
    /// `GET /api/v1/jobs`.
    List,
}

impl FastRoute<'_> {
    /// The answer, from the same function as the router's handler.
    fn answer(self, state: &AppState, req: &Request) -> Response<Body> {
        match self {
            FastRoute::Poll(raw) => crate::routes::poll_job(state, req.headers(), raw),
            FastRoute::Create => crate::routes::create(state, req),
            FastRoute::List => crate::routes::list(state, req),
        }
    }
}

/// Whether `req` is one of the [`FastRoute`]s.
///
/// The router's match costs about 2 000 instructions a request (its
/// parameter map, the matched path, the handlers' extractors, its
/// content-length pass), more than a poll's answer itself. The fast
/// routes call the same checks ([`Caller::check`], or
/// [`Caller::authorize`] where no owned token is needed) and the same answer
/// functions as the router's handlers, so nothing but the cost differs:
/// a test runs the same requests with and without `--latency` (which
/// takes the router) and compares the answers. Only plain-digit ids are
/// polled this way, since for them the router's percent-decoding changes
/// nothing; `HEAD`, other methods, other paths and any other id go
/// through the router as before.
fn fast_route(req: &Request) -> Option<FastRoute<'_>> {
    let path = req.uri().path();
    if req.method() == Method::GET {
        if path == "/api/v1/jobs" {
            return Some(FastRoute::List);
        }
        let id = path.strip_prefix("/api/v1/jobs/")?;
        let digits = !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit());
        digits.then_some(FastRoute::Poll(id))
    } else if req.method() == Method::POST && path == "/api/v1/generate" {
        Some(FastRoute::Create)
    } else {
        None
    }
}

/// An answer held back by `--latency`.
type Later = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

pin_project! {
    /// The answer of [`Front`] (a fast route's, the router's, or one held
    /// back by `--latency`), then recorded and marked.
    pub(crate) struct FrontFuture {
        #[pin]
        answer: Either<Either<RouteFuture<Infallible>, Ready<Result<Response<Body>, Infallible>>>, Later>,
        entry: Option<crate::journal::Entry>,
        // A transport fault for this answer (see `crate::faults`).
        fault: Option<Box<crate::faults::Pending>>,
        state: AppState,
        max_attempts: u32,
    }
}

impl Future for FrontFuture {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = ready!(this.answer.poll(cx));
        if let Some(pending) = this.fault.take() {
            crate::faults::apply(this.state, *pending, &mut response, this.entry.as_mut());
        }
        if let Some(entry) = this.entry.take() {
            crate::journal::finish(this.state, entry, &response);
        }
        response
            .headers_mut()
            .insert(MAX_ATTEMPTS_HEADER, attempts_value(*this.max_attempts));
        Poll::Ready(Ok(response))
    }
}

/// `X-Mock-Max-Attempts`'s value: a static one for the usual counts (a
/// number's `HeaderValue` is a heap copy of its digits, made and freed on
/// every answer), else the number written out.
fn attempts_value(max_attempts: u32) -> header::HeaderValue {
    const STATIC: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    match STATIC.get(max_attempts as usize) {
        Some(digits) => header::HeaderValue::from_static(digits),
        None => header::HeaderValue::from(max_attempts),
    }
}

/// The mock's `X-Mock-Max-Attempts`, on every `/api/v1` answer: the
/// contract has no field for it, and a client that shows `attempt 2/3`
/// needs the 3. A `HeaderName` constant: inserting by `&str` parsed the
/// name on every answer (about 600 instructions).
pub(crate) const MAX_ATTEMPTS_HEADER: header::HeaderName =
    header::HeaderName::from_static("x-mock-max-attempts");

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte path gives the text path's answer on every ASCII header.
    #[test]
    fn bearer_on_bytes_matches_bearer_on_text() {
        let fixed = [
            "Bearer t",
            "bearer t",
            "BEARER t",
            "Bearer  t",
            " Bearer t ",
            "Bearer",
            "Bearer ",
            "Bearer t u",
            "Basic t",
            "Bearer\tt",
            "\tBearer t\r\n",
            "Bearer t\x0b",
            "",
            " ",
            "Bearerx t",
            "Bearer \x0ct",
        ];
        for value in fixed {
            assert_eq!(bearer_ascii(value), bearer_text(value), "{value:?}");
        }
        let alphabet = b" \t\n\x0b\x0c\rBbEeAaRrt-x.";
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..50_000 {
            let value: String = (0..rng.usize(0..14))
                .map(|_| char::from(alphabet[rng.usize(..alphabet.len())]))
                .collect();
            let value = if rng.bool() {
                format!("Bearer {value}")
            } else {
                value
            };
            assert_eq!(bearer_ascii(&value), bearer_text(&value), "{value:?}");
        }
    }

    #[test]
    fn attempts_values_are_the_numbers() {
        for n in (0..=1_000).chain([u32::MAX]) {
            assert_eq!(attempts_value(n), header::HeaderValue::from(n), "{n}");
        }
    }
}
