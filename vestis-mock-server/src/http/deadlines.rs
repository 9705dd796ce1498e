//! The connection deadline hyper does not keep by itself.
//!
//! hyper's HTTP/1 header-read timeout bounds a request head and the idle
//! wait between requests, but only once a connection is known to speak
//! HTTP/1. Before that, protocol detection (reading up to the 24 bytes of
//! an HTTP/2 preface) waited forever for a client that sent nothing or a
//! partial preface, and an HTTP/2 connection had no deadline at all: not
//! for its handshake's settings, not between its requests. Each such
//! client held a file descriptor for good, and 64 of them stopped a
//! server under a descriptor limit of 64.
//!
//! [`Tracked`], the service every connection runs, keeps its
//! connection's [`Activity`]; [`idle_deadline`] resolves once the
//! connection has gone [`Config::head_timeout`](crate::Config::head_timeout)
//! without a request in flight, counted from its accept or from the end
//! of its last answer (an answer's body, an event stream included, is in
//! flight until it ends), and the connection is then dropped. Once a
//! connection has shown an HTTP/1 request, hyper's own header-read timer,
//! set to the same deadline, rules instead: HTTP/1's hot path pays one
//! atomic store per request here, and no allocation.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Request, Response, Version};
use futures::future::Either;
use hyper::body::{Frame, SizeHint};
use tokio::time::Instant;
use tower::Service;

/// What one connection is doing, shared by its service and its deadline.
#[derive(Debug, Clone)]
pub(crate) struct Activity(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    /// When the connection was accepted.
    opened: Instant,
    /// Set by the first HTTP/1 request: hyper's timer rules from then on.
    http1: AtomicBool,
    /// HTTP/2 requests whose answer has not been sent whole yet.
    in_flight: AtomicUsize,
    /// Milliseconds from `opened` to the end of the last answer.
    idle_since_ms: AtomicU64,
}

impl Activity {
    /// A connection accepted now.
    pub(crate) fn new() -> Activity {
        Activity(Arc::new(Shared {
            opened: Instant::now(),
            http1: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        }))
    }

    /// Counts a request in flight until the returned guard is dropped.
    fn begin(&self) -> InFlight {
        self.0.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }
}

/// One HTTP/2 request in flight; dropped with its answer's body (or with
/// the answer, when the client gave up first).
#[derive(Debug)]
struct InFlight(Activity);

impl Drop for InFlight {
    fn drop(&mut self) {
        let shared = &(self.0).0;
        let since = u64::try_from(shared.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        // The time first: a deadline that sees no request in flight also
        // sees when the last one ended.
        shared.idle_since_ms.store(since, Ordering::SeqCst);
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Resolves when the connection of `activity` has been `limit` without a
/// request in flight (from its accept or its last answer's end); never,
/// once it has shown an HTTP/1 request (hyper's header-read timeout,
/// set to the same limit, takes over).
pub(crate) async fn idle_deadline(activity: Activity, limit: Duration) {
    let shared = &activity.0;
    let mut due = shared.opened + limit;
    loop {
        tokio::time::sleep_until(due).await;
        if shared.http1.load(Ordering::Relaxed) {
            return std::future::pending().await;
        }
        if shared.in_flight.load(Ordering::SeqCst) > 0 {
            // Looked at again a whole limit later: an answer streaming for
            // long (an event stream) costs one wake-up per limit.
            due = Instant::now() + limit;
            continue;
        }
        let idle_since =
            shared.opened + Duration::from_millis(shared.idle_since_ms.load(Ordering::SeqCst));
        due = idle_since + limit;
        if Instant::now() >= due {
            return;
        }
    }
}

/// The service a connection runs: `inner`, with the connection's
/// [`Activity`] kept up to date.
#[derive(Debug, Clone)]
pub(crate) struct Tracked<S> {
    inner: S,
    activity: Activity,
}

impl<S> Tracked<S> {
    /// `inner`, reporting to `activity`.
    pub(crate) fn new(inner: S, activity: Activity) -> Tracked<S> {
        Tracked { inner, activity }
    }
}

/// An HTTP/2 answer, its body wrapped to report its end.
type Guarded = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

impl<S, B> Service<Request<B>> for Tracked<S>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Either<S::Future, Guarded>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if request.version() != Version::HTTP_2 {
            self.activity.0.http1.store(true, Ordering::Relaxed);
            return Either::Left(self.inner.call(request));
        }
        let in_flight = self.activity.begin();
        let answer = self.inner.call(request);
        Either::Right(Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| {
                Body::new(GuardedBody {
                    body,
                    _in_flight: in_flight,
                })
            }))
        }))
    }
}

pin_project_lite::pin_project! {
    /// An answer's body that holds its request's [`InFlight`] until it
    /// has been sent (or dropped).
    struct GuardedBody {
        #[pin]
        body: Body,
        _in_flight: InFlight,
    }
}

impl hyper::body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_deadline_counts_from_the_accept_and_from_each_answers_end() {
        let limit = Duration::from_secs(10);
        let activity = Activity::new();
        let start = Instant::now();
        idle_deadline(activity.clone(), limit).await;
        assert_eq!(start.elapsed(), limit);

        // A request in flight holds it off; its end starts the count again.
        let activity = Activity::new();
        let guard = activity.begin();
        let deadline = tokio::spawn(idle_deadline(activity.clone(), limit));
        tokio::time::sleep(Duration::from_secs(25)).await;
        assert!(!deadline.is_finished());
        drop(guard);
        let ended = Instant::now();
        deadline.await.unwrap();
        assert!(ended.elapsed() >= limit, "{:?}", ended.elapsed());
        assert!(ended.elapsed() <= limit * 2, "{:?}", ended.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn an_http1_request_hands_the_deadline_to_hyper() {
        let activity = Activity::new();
        activity.0.http1.store(true, Ordering::Relaxed);
        let deadline = tokio::spawn(idle_deadline(activity, Duration::from_secs(1)));
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!deadline.is_finished());
    }
}
