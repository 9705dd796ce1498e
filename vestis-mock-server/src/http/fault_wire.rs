//! The transport faults on the wire: what a faulted answer becomes on its
//! connection.
//!
//! The front marks a faulted answer with an [`Armed`] extension; the
//! connection's [`Transport`] service reads it and, for the faults that
//! replace the answer's bytes (`reset`, `close`, `truncate`, `garbage`,
//! and `stall` once it gives up), arms the connection's [`Slot`]. The
//! connection's [`FaultIo`] then writes the fault's own bytes instead of
//! hyper's, and ends the connection: with an RST (`SO_LINGER` 0, then
//! close) or a FIN. `slow-body` keeps hyper's bytes and slows the body.
//!
//! Unarmed, the cost is a load of one flag per write and a look at the
//! answer's (empty) extensions.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Request, Response, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::Service;

use crate::config::transport::{Fault, STALL_LIMIT};

/// Bytes that are not HTTP: what `garbage` sends. Not text a parser
/// could mistake for a status line, and not valid UTF-8.
pub(crate) const GARBAGE: &[u8] =
    b"\x00\xff\xfe\x16\x03\x01 vestis-mock-server garbage fault: this is not HTTP \xc3\x28\x00\r\n";

/// The mark the front puts on a faulted answer.
#[derive(Debug, Clone)]
pub(crate) struct Armed {
    pub(crate) fault: Fault,
    /// Set at shutdown: ends a `stall` or a `slow-body` at once.
    pub(crate) closing: watch::Receiver<bool>,
}

/// How the connection ends after the fault's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// FIN.
    Close,
    /// RST: `SO_LINGER` 0, then close.
    Reset,
}

/// What the connection does instead of writing hyper's bytes.
#[derive(Debug)]
struct Action {
    bytes: Bytes,
    written: usize,
    end: End,
}

/// One connection's switch between its service and its socket.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    armed: AtomicBool,
    action: Mutex<Option<Action>>,
}

impl Slot {
    fn arm(&self, bytes: Bytes, end: End) {
        *self.action.lock().unwrap_or_else(PoisonError::into_inner) = Some(Action {
            bytes,
            written: 0,
            end,
        });
        self.armed.store(true, Ordering::Release);
    }
}

/// A connection's socket, which a [`Slot`] can take over.
#[derive(Debug)]
pub(crate) struct FaultIo {
    /// `None` once the fault has ended the connection: reads then see
    /// the end, writes vanish.
    stream: Option<TcpStream>,
    slot: Arc<Slot>,
}

impl FaultIo {
    /// `stream` and the slot its connection's [`Transport`] arms.
    pub(crate) fn new(stream: TcpStream) -> (FaultIo, Arc<Slot>) {
        let slot = Arc::new(Slot::default());
        (
            FaultIo {
                stream: Some(stream),
                slot: slot.clone(),
            },
            slot,
        )
    }

    /// Writes the armed action's bytes, then ends the connection.
    /// `Ready(Ok)` once done (the stream is gone).
    fn poll_fault(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut guard = self
            .slot
            .action
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(action) = guard.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let Some(stream) = self.stream.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        while action.written < action.bytes.len() {
            match ready!(Pin::new(&mut *stream).poll_write(cx, &action.bytes[action.written..])) {
                Ok(0) | Err(_) => break, // the peer is gone: nothing left to fault
                Ok(n) => action.written += n,
            }
        }
        match action.end {
            End::Reset => {
                // An RST on close, in place of the FIN.
                let _ = stream.set_zero_linger();
            }
            End::Close => {
                let _ = ready!(Pin::new(&mut *stream).poll_shutdown(cx));
            }
        }
        self.stream = None;
        Poll::Ready(Ok(()))
    }

    fn is_armed(&self) -> bool {
        self.slot.armed.load(Ordering::Acquire)
    }
}

impl AsyncRead for FaultIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.stream.as_mut() {
            Some(stream) => Pin::new(stream).poll_read(cx, buf),
            None => Poll::Ready(Ok(())), // the end
        }
    }
}

impl AsyncWrite for FaultIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if !self.is_armed()
            && let Some(stream) = self.stream.as_mut()
        {
            return Pin::new(stream).poll_write(cx, buf);
        }
        ready!(self.poll_fault(cx))?;
        // hyper's bytes are swallowed: the fault's went in their place.
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if !self.is_armed()
            && let Some(stream) = self.stream.as_mut()
        {
            return Pin::new(stream).poll_write_vectored(cx, bufs);
        }
        ready!(self.poll_fault(cx))?;
        Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_armed() {
            return self.poll_fault(cx);
        }
        match self.stream.as_mut() {
            Some(stream) => Pin::new(stream).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_armed() {
            return self.poll_fault(cx);
        }
        match self.stream.as_mut() {
            Some(stream) => Pin::new(stream).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

/// A connection's service, as hyper calls it: the app (`inner`), whose
/// faulted answers it turns into their fault (arming the connection's
/// [`Slot`], or slowing the body).
///
/// It stands in for hyper-util's `TowerToHyperService` (a clone of the
/// app and a `Oneshot` per request): the clone stays, the `Oneshot`'s
/// state machine goes, since the app is always ready; so the faults cost
/// the unfaulted request nothing it did not pay before.
#[derive(Debug, Clone)]
pub(crate) struct Transport<S> {
    inner: S,
    slot: Arc<Slot>,
}

impl<S> Transport<S> {
    /// `inner` on the connection whose [`FaultIo`] holds `slot`.
    pub(crate) fn new(inner: S, slot: Arc<Slot>) -> Transport<S> {
        Transport { inner, slot }
    }
}

/// A faulted answer being prepared, or an answer from a service that was
/// not ready at once.
type Faulted = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

pin_project! {
    /// [`Transport`]'s answer: the inner one, then its fault if it has one.
    #[project = TransportProj]
    pub(crate) enum TransportFuture<F> {
        Inner { #[pin] answer: F, slot: Option<Arc<Slot>> },
        Fault { faulted: Faulted },
    }
}

impl<S> hyper::service::Service<Request<Incoming>> for Transport<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = TransportFuture<S::Future>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let mut inner = self.inner.clone();
        let request = request.map(Body::new);
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        match inner.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => TransportFuture::Inner {
                answer: inner.call(request),
                slot: Some(self.slot.clone()),
            },
            // Never for this app (its layers are ready when its router is,
            // and a router always is); kept correct for any service.
            Poll::Pending => {
                let slot = self.slot.clone();
                TransportFuture::Fault {
                    faulted: Box::pin(async move {
                        use tower::ServiceExt;
                        let Ok(response) = inner.oneshot(request).await;
                        let mut response = response;
                        match response.extensions_mut().remove::<Armed>() {
                            Some(armed) => fault(response, armed, slot).await,
                            None => Ok(response),
                        }
                    }),
                }
            }
            Poll::Ready(Err(never)) => match never {},
        }
    }
}

impl<F> Future for TransportFuture<F>
where
    F: Future<Output = Result<Response<Body>, Infallible>>,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project() {
                TransportProj::Inner { answer, slot } => {
                    let Ok(mut response) = ready!(answer.poll(cx));
                    let Some(armed) = response.extensions_mut().remove::<Armed>() else {
                        return Poll::Ready(Ok(response));
                    };
                    let slot = slot.take().unwrap_or_default();
                    let faulted = Box::pin(fault(response, armed, slot));
                    self.set(TransportFuture::Fault { faulted });
                }
                TransportProj::Fault { faulted } => return faulted.as_mut().poll(cx),
            }
        }
    }
}

/// `response` as `armed` says, on the connection of `slot`.
async fn fault(
    response: Response<Body>,
    armed: Armed,
    slot: Arc<Slot>,
) -> Result<Response<Body>, Infallible> {
    let Armed { fault, mut closing } = armed;
    match fault {
        Fault::Reset => slot.arm(Bytes::new(), End::Reset),
        Fault::Close => slot.arm(Bytes::new(), End::Close),
        Fault::Garbage => slot.arm(Bytes::from_static(GARBAGE), End::Close),
        Fault::Truncate => {
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            slot.arm(truncated(&parts, &body), End::Close);
            return Ok(Response::new(Body::empty()));
        }
        Fault::Stall => {
            tokio::select! {
                () = tokio::time::sleep(STALL_LIMIT) => {}
                _ = closing.wait_for(|closing| *closing) => {}
            }
            slot.arm(Bytes::new(), End::Close);
        }
        Fault::SlowBody(over) => return Ok(slow_body(response, over, closing).await),
    }
    // Swallowed by the armed connection.
    Ok(Response::new(Body::empty()))
}

/// The bytes `truncate` sends: the answer's status line and headers as
/// hyper would write them, with the whole body's `Content-Length`, and
/// the first half of the body.
fn truncated(parts: &axum::http::response::Parts, body: &Bytes) -> Bytes {
    let mut out = Vec::with_capacity(256 + body.len() / 2);
    let reason = parts.status.canonical_reason().unwrap_or("");
    out.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", parts.status.as_u16()).as_bytes());
    for (name, value) in &parts.headers {
        if *name == header::CONTENT_LENGTH {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(&body[..body.len() / 2]);
    out.into()
}

/// How many pieces `slow-body` cuts a body into: one per 100 ms of its
/// duration, from 2 to 50, and never more than the body has bytes.
fn pieces(len: usize, over: Duration) -> usize {
    let by_time = (over.as_millis() / 100).clamp(2, 50) as usize;
    by_time.min(len).max(1)
}

/// The answer with its body sent in even pieces, one every `over /
/// pieces` (the last at `over`); the headers go at once, with the real
/// `Content-Length`. A shutdown sends the rest at once.
async fn slow_body(
    response: Response<Body>,
    over: Duration,
    closing: watch::Receiver<bool>,
) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_LENGTH,
        header::HeaderValue::from(body.len()),
    );
    let n = pieces(body.len(), over);
    let gap = over / n as u32;
    let size = body.len().div_ceil(n.max(1)).max(1);
    let chunks: Vec<Bytes> = (0..body.len())
        .step_by(size)
        .map(|at| body.slice(at..(at + size).min(body.len())))
        .collect();
    let stream = futures::stream::unfold(
        (chunks.into_iter(), closing),
        move |(mut chunks, mut closing)| async move {
            let chunk = chunks.next()?;
            if !*closing.borrow() {
                tokio::select! {
                    () = tokio::time::sleep(gap) => {}
                    _ = closing.wait_for(|closing| *closing) => {}
                }
            }
            Some((Ok::<_, Infallible>(chunk), (chunks, closing)))
        },
    );
    Response::from_parts(parts, Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_body_pieces_are_even_and_bounded() {
        assert_eq!(pieces(1000, Duration::from_secs(2)), 20);
        assert_eq!(pieces(1000, Duration::from_millis(10)), 2);
        assert_eq!(pieces(1000, Duration::from_secs(300)), 50);
        assert_eq!(pieces(3, Duration::from_secs(2)), 3);
        assert_eq!(pieces(0, Duration::from_secs(2)), 1);
    }

    /// A stall nobody gives up on ends at [`STALL_LIMIT`], with a clean
    /// close and no byte; a stop ends it at once.
    #[tokio::test(start_paused = true)]
    async fn a_stall_is_bounded_and_ended_by_a_stop() {
        let (_stop, closing) = watch::channel(false);
        let slot = Arc::new(Slot::default());
        let start = tokio::time::Instant::now();
        let armed = Armed {
            fault: Fault::Stall,
            closing,
        };
        let _ = fault(Response::new(Body::from("x")), armed, slot.clone()).await;
        assert_eq!(start.elapsed(), STALL_LIMIT);
        assert!(slot.armed.load(Ordering::Acquire));
        {
            let action = slot.action.lock().unwrap();
            let action = action.as_ref().unwrap();
            assert_eq!((action.bytes.len(), action.end), (0, End::Close));
        }

        let (stop, closing) = watch::channel(false);
        let start = tokio::time::Instant::now();
        let armed = Armed {
            fault: Fault::Stall,
            closing,
        };
        let stalled = tokio::spawn(fault(Response::new(Body::empty()), armed, Arc::default()));
        tokio::time::sleep(Duration::from_secs(3)).await;
        stop.send_replace(true);
        let _ = stalled.await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[test]
    fn garbage_is_not_http() {
        assert!(!GARBAGE.starts_with(b"HTTP/"));
    }
}
