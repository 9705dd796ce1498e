//! Connections: the accept loop (hyper's HTTP/1 with a header-read
//! timeout, which `axum::serve` does not set) and the request-body
//! deadline. Together they bound what a slow or hostile client can hold:
//! a request head must arrive within [`HEADER_READ_TIMEOUT`] (an idle
//! keep-alive connection is closed after as long), and a body within
//! [`BODY_READ_TIMEOUT`], else the request is answered 400 and the
//! connection closed.

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::LengthLimitError;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;
use vestis_client::ErrorCode;

use crate::AppService;
use crate::errors::ApiError;

/// How long a request head (line and headers) may take to arrive, from
/// its first byte or from the end of the previous answer.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request body may take to arrive, in all.
pub(crate) const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `service` (the whole app) on `listener` until `shutdown`
/// resolves, then stops accepting and waits for in-flight requests to finish.
pub(crate) async fn serve(
    listener: TcpListener,
    service: AppService,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
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

/// Reads the whole request body within [`BODY_READ_TIMEOUT`] before the
/// handlers run (they read it whole anyway). Past the deadline: 400 and
/// `Connection: close`; over the body limit: 413.
pub(crate) async fn body_deadline(request: Request, next: Next) -> Response {
    use axum::body::HttpBody;
    if request.body().size_hint().exact() == Some(0) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, usize::MAX));
    match read.await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) if too_large(&e) => {
            ApiError::new(ErrorCode::PayloadTooLarge, "Request body is too large").into_response()
        }
        Ok(Err(e)) => closing(ApiError::invalid(format!(
            "Request body could not be read: {e}"
        ))),
        Err(_) => closing(ApiError::invalid(format!(
            "Request body not received within {}s",
            BODY_READ_TIMEOUT.as_secs()
        ))),
    }
}

fn too_large(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

fn closing(error: ApiError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
