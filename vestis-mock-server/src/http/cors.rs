//! CORS for every route, with its headers built once at start-up.
//!
//! The mock server's policy is fixed when it starts (any origin, or the
//! `--cors-origin` list; the methods, exposed headers and max age below),
//! so every header value but the echoed origin and the mirrored request
//! headers is made once, not per request. tower-http's general
//! `CorsLayer` builds them on every response (a `Vary` value, a header
//! map, its merge), which showed in every request's profile; this layer
//! gives the same headers. A test below checks that on every
//! kind of request, with tower-http's layer as the reference.
//!
//! What it sends, as tower-http's `CorsLayer` configured the same way:
//! every `OPTIONS` request is a preflight, answered 200 with an empty body
//! and `Access-Control-Allow-Methods`, `Access-Control-Allow-Headers` (the
//! request's `Access-Control-Request-Headers`, mirrored), and
//! `Access-Control-Max-Age`; every other response gets
//! `Access-Control-Expose-Headers`; both get `Vary` (appended to any the
//! handler set) and `Access-Control-Allow-Origin` (`*`, or the request's
//! `Origin` when it is on the list).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, header};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// The methods a preflight allows.
const ALLOW_METHODS: &str = "GET,POST,DELETE,PUT,PATCH,OPTIONS";
/// The response headers a page's script may read: the contract's two,
/// and every `X-Mock-*` header the mock answers with (a test in
/// `tests/http/edges.rs` checks each one it sends is listed).
const EXPOSE_HEADERS: &str = "location,retry-after,x-mock-max-attempts";
/// How long a browser may cache a preflight's answer, in seconds.
const MAX_AGE: &str = "600";
/// The request headers an answer depends on.
const VARY: &str = "origin, access-control-request-method, access-control-request-headers";

/// Which origins may read the answers.
#[derive(Debug, Clone)]
enum Origins {
    /// Any (`Access-Control-Allow-Origin: *`).
    Any,
    /// Only these, compared byte for byte with the request's `Origin`.
    List(Arc<[HeaderValue]>),
}

/// The CORS layer: [`CorsLayer::new`] with the `--cors-origin` list (empty:
/// any origin).
#[derive(Debug, Clone)]
pub(crate) struct CorsLayer {
    origins: Origins,
}

impl CorsLayer {
    /// Any origin when `origins` is empty, else only those (a trailing `/`
    /// is dropped, as browsers never send one; values that cannot be a
    /// header are skipped).
    pub(crate) fn new(origins: &[String]) -> CorsLayer {
        let origins = if origins.is_empty() {
            Origins::Any
        } else {
            Origins::List(
                origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
                    .collect(),
            )
        };
        CorsLayer { origins }
    }
}

impl<S> Layer<S> for CorsLayer {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Cors<S> {
        Cors {
            inner,
            origins: self.origins.clone(),
        }
    }
}

/// The service [`CorsLayer`] wraps around the app.
#[derive(Debug, Clone)]
pub(crate) struct Cors<S> {
    inner: S,
    origins: Origins,
}

impl<S> Cors<S> {
    /// The `Access-Control-Allow-Origin` value for a request, if any.
    fn allow_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        match &self.origins {
            Origins::Any => Some(HeaderValue::from_static("*")),
            Origins::List(list) => headers
                .get(header::ORIGIN)
                .filter(|origin| list.contains(origin))
                .cloned(),
        }
    }
}

impl<S> Service<Request<Body>> for Cors<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = CorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let allow_origin = self.allow_origin(request.headers());
        if request.method() == Method::OPTIONS {
            let mut response = Response::new(Body::empty());
            let headers = response.headers_mut();
            headers.insert(header::VARY, HeaderValue::from_static(VARY));
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            );
            if let Some(asked) = request
                .headers()
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            {
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
            }
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(MAX_AGE),
            );
            if let Some(origin) = allow_origin {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            }
            return CorsFuture::Preflight {
                response: Some(response),
            };
        }
        CorsFuture::Call {
            inner: self.inner.call(request),
            allow_origin,
        }
    }
}

pin_project! {
    /// The answer of [`Cors`]: a preflight's, ready at once, or the app's
    /// with the CORS headers added.
    #[project = CorsFutureProj]
    pub(crate) enum CorsFuture<F> {
        Preflight { response: Option<Response<Body>> },
        Call {
            #[pin]
            inner: F,
            allow_origin: Option<HeaderValue>,
        },
    }
}

impl<F, E> Future for CorsFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CorsFutureProj::Preflight { response } => Poll::Ready(Ok(response
                .take()
                .expect("a preflight's future is not polled after it is ready"))),
            CorsFutureProj::Call {
                inner,
                allow_origin,
            } => {
                let mut response = ready!(inner.poll(cx))?;
                let headers = response.headers_mut();
                headers.append(header::VARY, HeaderValue::from_static(VARY));
                if let Some(origin) = allow_origin.take() {
                    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                }
                headers.insert(
                    header::ACCESS_CONTROL_EXPOSE_HEADERS,
                    HeaderValue::from_static(EXPOSE_HEADERS),
                );
                Poll::Ready(Ok(response))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The layer against tower-http's `CorsLayer`, configured as the mock
    //! server configured it before this layer replaced it.

    use std::convert::Infallible;

    use tower::ServiceExt;
    use tower_http::cors::{AllowHeaders, AllowOrigin};

    use super::*;

    fn reference(origins: &[String]) -> tower_http::cors::CorsLayer {
        let origin = if origins.is_empty() {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(
                origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()),
            )
        };
        tower_http::cors::CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::DELETE,
                Method::PUT,
                Method::PATCH,
                Method::OPTIONS,
            ])
            .allow_headers(AllowHeaders::mirror_request())
            .expose_headers([
                header::LOCATION,
                header::RETRY_AFTER,
                crate::api::MAX_ATTEMPTS_HEADER,
            ])
            .max_age(std::time::Duration::from_secs(600))
    }

    /// The app behind the layer: 201 with a `Vary` of its own, so the
    /// append is seen.
    async fn app(_: Request<Body>) -> Result<Response<Body>, Infallible> {
        let mut response = Response::new(Body::from("app"));
        *response.status_mut() = axum::http::StatusCode::CREATED;
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        Ok(response)
    }

    fn requests() -> Vec<Request<Body>> {
        let mut all = Vec::new();
        for method in [Method::GET, Method::POST, Method::DELETE, Method::OPTIONS] {
            for origin in [
                None,
                Some("http://app.example"),
                Some("http://other.example"),
            ] {
                for asked in [None, Some("authorization,content-type,idempotency-key")] {
                    let mut builder = Request::builder().method(method.clone()).uri("/api/v1/x");
                    if let Some(origin) = origin {
                        builder = builder.header(header::ORIGIN, origin);
                    }
                    if let Some(asked) = asked {
                        builder = builder
                            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, asked);
                    }
                    all.push(builder.body(Body::empty()).unwrap());
                }
            }
        }
        all
    }

    fn clone_request(request: &Request<Body>) -> Request<Body> {
        let mut copy = Request::builder()
            .method(request.method().clone())
            .uri(request.uri().clone())
            .body(Body::empty())
            .unwrap();
        *copy.headers_mut() = request.headers().clone();
        copy
    }

    /// Status, headers (sorted by name, every value kept in order) and body.
    async fn seen(response: Response<Body>) -> (u16, Vec<(String, Vec<String>)>, Vec<u8>) {
        let status = response.status().as_u16();
        let mut headers: Vec<(String, Vec<String>)> = response
            .headers()
            .keys()
            .map(|name| {
                let values = response
                    .headers()
                    .get_all(name)
                    .iter()
                    .map(|v| v.to_str().unwrap().to_owned())
                    .collect();
                (name.as_str().to_owned(), values)
            })
            .collect();
        headers.sort();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        (status, headers, body)
    }

    #[tokio::test]
    async fn every_request_gets_the_headers_tower_http_gives() {
        let lists: [Vec<String>; 3] = [
            vec![],
            vec!["http://app.example/".into()],
            vec!["http://a.example".into(), "http://app.example".into()],
        ];
        let mut compared = 0;
        for origins in &lists {
            for request in requests() {
                let what = format!("{origins:?} {} {:?}", request.method(), request.headers());
                let ours = CorsLayer::new(origins)
                    .layer(tower::service_fn(app))
                    .oneshot(clone_request(&request))
                    .await
                    .unwrap();
                let theirs = reference(origins)
                    .layer(tower::service_fn(app))
                    .oneshot(request)
                    .await
                    .unwrap();
                let theirs = theirs.map(Body::new);
                assert_eq!(seen(ours).await, seen(theirs).await, "{what}");
                compared += 1;
            }
        }
        assert_eq!(compared, 3 * 4 * 3 * 2);
    }
}
