//! Connections: the accept loop (hyper's HTTP/1 with a header-read
//! timeout, which `axum::serve` does not set) and the request-body
//! deadline. Together they bound what a slow or hostile client can hold:
//! a request head must arrive within [`HEADER_READ_TIMEOUT`] (an idle
//! keep-alive connection is closed after as long), and a body within
//! [`BODY_READ_TIMEOUT`], else the request is answered 400 and the
//! connection closed.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::future::Either;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{Service, ServiceExt};
use vestis_client::ErrorCode;

use crate::errors::ApiError;
use crate::request::RequestBytes;

/// How long a request head (line and headers) may take to arrive, from
/// its first byte or from the end of the previous answer.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request body may take to arrive, in all.
pub(crate) const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `service` (the whole app) on `listener` until `shutdown`
/// resolves, then stops accepting and waits for in-flight requests to finish.
pub(crate) async fn serve<S>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let graceful = GracefulShutdown::new();
    // As `axum::serve` builds it, plus the timer the timeout needs.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(
            service
                .clone()
                .map_request(|request: Request<Incoming>| request.map(Body::new)),
        );
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// How many bytes past the body limit are read and dropped before a 413
/// is sent, so that a client that writes its whole body before it reads
/// (most do) sees the 413 rather than a reset connection. A body declared
/// larger than the limit plus this is refused at once, unread.
pub(crate) const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

/// Reads the whole request body, at most `max` bytes, within
/// [`BODY_READ_TIMEOUT`], before the handlers run (they read it whole
/// anyway): the body is read once, here, and handed on as one buffer.
///
/// Over the limit: 413 `payload_too_large`, once the rest of the body
/// (up to [`DRAIN_LIMIT`] more bytes) has been read and dropped, so the
/// answer is not lost to a reset. When the declared length is more than
/// that over, or the client waits for `100 Continue` before sending the
/// body, the 413 goes at once, unread; a chunked body is read up to
/// [`DRAIN_LIMIT`] past the limit. Either way the 413 then carries
/// `Connection: close`, as it does when the deadline passes while the
/// rest is drained. Past the deadline within the limit, or a body that
/// breaks off: 400 and `Connection: close`. The bytes read are also left in the
/// request's extensions as [`RequestBytes`], for the journal.
#[derive(Debug, Clone)]
pub(crate) struct ReadBody<S> {
    inner: S,
    max: usize,
}

impl<S> ReadBody<S> {
    /// `inner` behind a body limit of `max` bytes.
    pub(crate) fn new(inner: S, max: usize) -> ReadBody<S> {
        ReadBody { inner, max }
    }
}

/// An answer that waited for its body.
type Read = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> Service<Request> for ReadBody<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, Read>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        use axum::body::HttpBody;
        // No body (every GET): straight through, nothing boxed.
        if request.body().size_hint().exact() == Some(0) {
            return Either::Left(self.inner.call(request));
        }
        // The clone is the one made ready; it goes with the future.
        let ready = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, ready);
        Either::Right(Box::pin(read_body(inner, self.max, request)))
    }
}

/// [`ReadBody`]'s work for a request with a body.
async fn read_body<S>(mut inner: S, max: usize, request: Request) -> Result<Response, Infallible>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let limit = max as u64;
    let declared = {
        use axum::body::HttpBody;
        request.body().size_hint().lower()
    };
    if declared > limit {
        let waits = request
            .headers()
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if waits || declared > limit.saturating_add(DRAIN_LIMIT) {
            return Ok(closing(too_large()));
        }
    }
    let (mut parts, body) = request.into_parts();
    // A small body has usually arrived with the head: read it without
    // arming the deadline's timer, which only a body still on its way needs.
    // Set once the body is known to be over the limit: a deadline passed
    // while the rest is drained is still a 413, not a slow body's 400.
    let over = AtomicBool::new(declared > limit);
    let mut read = std::pin::pin!(collect(body, limit, &over));
    let collected = match futures::poll!(read.as_mut()) {
        Poll::Ready(collected) => Ok(collected),
        Poll::Pending => tokio::time::timeout(BODY_READ_TIMEOUT, read).await,
    };
    Ok(match collected {
        Ok(Ok(Collected::Whole(bytes))) => {
            parts.extensions.insert(RequestBytes(bytes.clone()));
            return inner
                .call(Request::from_parts(parts, Body::from(bytes)))
                .await;
        }
        Ok(Ok(Collected::TooLarge { drained: true })) => too_large(),
        Ok(Ok(Collected::TooLarge { drained: false })) => closing(too_large()),
        Ok(Err(e)) => closing(ApiError::invalid(format!(
            "Request body could not be read: {e}"
        ))),
        Err(_) if over.load(Ordering::Relaxed) => closing(too_large()),
        Err(_) => closing(ApiError::invalid(format!(
            "Request body not received within {}s",
            BODY_READ_TIMEOUT.as_secs()
        ))),
    })
}

/// What [`collect`] read.
enum Collected {
    /// The body, whole, within the limit.
    Whole(Bytes),
    /// Over the limit; `drained` when the rest was read to its end.
    TooLarge { drained: bool },
}

/// Reads `body` to its end: into one buffer while it is within `limit`
/// bytes (a body that comes in one frame, as small ones do, is not
/// copied), then, past it, dropping up to [`DRAIN_LIMIT`] more.
async fn collect(mut body: Body, limit: u64, over: &AtomicBool) -> Result<Collected, axum::Error> {
    use http_body_util::BodyExt;
    let mut first: Option<Bytes> = None;
    let mut joined: Vec<u8> = Vec::new();
    let mut seen: u64 = 0;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers
        };
        seen += data.len() as u64;
        if seen > limit {
            over.store(true, Ordering::Relaxed);
            if seen > limit.saturating_add(DRAIN_LIMIT) {
                return Ok(Collected::TooLarge { drained: false });
            }
            first = None;
            joined = Vec::new();
            continue;
        }
        match first.take() {
            None if joined.is_empty() => first = Some(data),
            None => joined.extend_from_slice(&data),
            Some(previous) => {
                joined.reserve(previous.len() + data.len());
                joined.extend_from_slice(&previous);
                joined.extend_from_slice(&data);
            }
        }
    }
    if seen > limit {
        return Ok(Collected::TooLarge { drained: true });
    }
    Ok(Collected::Whole(first.unwrap_or_else(|| joined.into())))
}

fn too_large() -> Response {
    ApiError::new(ErrorCode::PayloadTooLarge, "Request body is too large").into_response()
}

fn closing(error: impl IntoResponse) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
