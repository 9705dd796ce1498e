//! What stands in front of the `/api/v1` handlers: the request count, the
//! journal, added latency, the `X-Mock-Max-Attempts` header, and the fast
//! routes.
//!
//! Auth, rate limit and injected errors are the API's own (`api::auth`):
//! every handler calls [`Caller::authorize`] first, on the router and the
//! fast routes alike, so they run only on a matched route and method and
//! a wrong method on a known route is 405 even without a token, as the
//! README promises. The latency,
//! the request count and the journal are one service ([`Front`]), which
//! also answers the requests clients repeat most itself, without the
//! router ([`FastRoute`]).
//!
//! [`Caller::authorize`]: crate::api::auth::Caller::authorize

use std::sync::atomic::Ordering;

use std::convert::Infallible;
use std::future::{Future, Ready};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, Response, header};
use axum::response::IntoResponse;
use axum::routing::future::RouteFuture;
use futures::future::Either;
use pin_project_lite::pin_project;
use tower::Service;

use crate::state::AppState;

/// What stands in front of the whole `/api/v1` router (matched or not):
/// counts the request, records it in the journal when that is on, adds
/// the configured latency, and says how many attempts a job gets
/// ([`MAX_ATTEMPTS_HEADER`](crate::api::MAX_ATTEMPTS_HEADER)).
///
/// A hand-written service rather than a `from_fn` layer: with no latency
/// configured (the usual case) it answers a [`FastRoute`] itself and
/// calls the router for the rest, and finishes the answer in
/// [`FrontFuture`], with no boxed future, no cloned inner service and no
/// async state machine moved per request. With `--latency`, every request
/// goes through the router; with `--proxy-to`, to the real backend
/// (`super::proxy`), behind the same latency, faults and journal. Without
/// either, the cost of both is one test of an `Option` per request.
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
        if super::fault::may_fault(state, &req, &faults) {
            match super::fault::choose(state, &req, &faults) {
                super::fault::Choice::None => {}
                super::fault::Choice::Fault(pending) => fault = Some(pending),
                super::fault::Choice::Invalid(error) => {
                    return FrontFuture {
                        answer: Either::Left(Either::Right(std::future::ready(Ok(
                            error.into_response()
                        )))),
                        entry,
                        fault,
                        state: state.clone(),
                        max_attempts: advertised(state, &faults),
                    };
                }
            }
        }
        // One test of an `Option` when not proxying: the local queue's
        // path is otherwise as it was.
        let answer = if faults.latency.is_zero() && state.recorder.is_none() {
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
            let proxy = state
                .recorder
                .clone()
                .map(|recorder| (state.clone(), recorder));
            Either::Right(Box::pin(async move {
                // A stop cuts the wait short: the graceful shutdown waits
                // for answers in flight, and `--latency` may be a day.
                if !latency.is_zero() {
                    tokio::select! {
                        () = tokio::time::sleep(latency) => {}
                        _ = closing.wait_for(|closing| *closing) => {}
                    }
                }
                match proxy {
                    Some((state, recorder)) => {
                        Ok(super::proxy::forward(state, recorder, req).await)
                    }
                    None => api.call(req).await,
                }
            }) as Later)
        };
        FrontFuture {
            answer,
            entry,
            fault,
            state: state.clone(),
            max_attempts: advertised(state, &faults),
        }
    }
}

/// The `X-Mock-Max-Attempts` this answer carries: none when proxying (the
/// local queue's setting says nothing of the real backend's jobs; a mock
/// backend's own header is passed back instead).
fn advertised(state: &AppState, faults: &crate::config::HttpFaults) -> Option<u32> {
    match state.recorder {
        None => Some(faults.advertised_max_attempts),
        Some(_) => None,
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
            FastRoute::Poll(raw) => crate::api::jobs::poll_job(state, req.headers(), raw),
            FastRoute::Create => crate::api::jobs::create(state, req),
            FastRoute::List => crate::api::jobs::list(state, req),
        }
    }
}

/// Whether `req` is one of the [`FastRoute`]s.
///
/// The router's match (its parameter map, the matched path, the
/// handlers' extractors, its content-length pass) costs more than a
/// poll's answer itself (BENCHMARKS.md). The fast routes call the same
/// functions as the router's handlers, checks
/// ([`Caller::authorize`](crate::api::auth::Caller::authorize)) and
/// answers alike, so nothing but the cost differs:
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
        // A transport fault for this answer (see `super::fault`).
        fault: Option<Box<super::fault::Pending>>,
        state: AppState,
        max_attempts: Option<u32>,
    }
}

impl Future for FrontFuture {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = ready!(this.answer.poll(cx));
        if let Some(pending) = this.fault.take() {
            super::fault::apply(this.state, *pending, &mut response, this.entry.as_mut());
        }
        if let Some(entry) = this.entry.take() {
            crate::journal::finish(
                &this.state.journal,
                this.state.queue.now(),
                entry,
                &response,
            );
        }
        // `entry`, not `insert`: the same one lookup, and a replayed job's
        // answer keeps the value its handler set (its type's recorded
        // attempts).
        if let Some(max_attempts) = *this.max_attempts {
            response
                .headers_mut()
                .entry(crate::api::MAX_ATTEMPTS_HEADER)
                .or_insert_with(|| attempts_value(max_attempts));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_values_are_the_numbers() {
        for n in (0..=1_000).chain([u32::MAX]) {
            assert_eq!(attempts_value(n), header::HeaderValue::from(n), "{n}");
        }
    }
}
