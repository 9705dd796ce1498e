//! The HTTP layers around the routers, and the one service they make:
//! the accept loop and body reader (`conn`), CORS (`cors`), the `/api/v1`
//! front with its fast routes (`front`), the connection deadline before
//! and outside HTTP/1 (`deadlines`), the recording proxy's forwarding
//! (`proxy`, `--proxy-to`), and here the stack that puts
//! them around the `/api/v1` router (`api`) and the rest (`public`,
//! `admin`).

pub(crate) mod conn;
pub(crate) mod cors;
pub(crate) mod deadlines;
pub(crate) mod fault;
pub(crate) mod fault_wire;
pub(crate) mod front;
pub(crate) mod proxy;

use std::convert::Infallible;
use std::future::Future;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::Response;
use axum::response::IntoResponse;
use axum::routing::future::RouteFuture;
use axum::routing::get;
use tower::ServiceBuilder;
use tower::util::{BoxCloneSyncService, MapResponseLayer};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;
use vestis_client::ErrorCode;

use crate::errors::ApiError;
use crate::state::AppState;
use crate::{admin, api, errors, public};
use front::{Front, FrontFuture};

/// The app with its outer layers, as `serve` runs it.
pub(crate) type AppService = BoxCloneSyncService<Request, Response<Body>, Infallible>;

/// Everything but `/api/v1`: images, health, the OpenAPI document, the
/// home page and (with `--admin`) `/__admin`.
fn build_rest(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/images/{file}", get(public::image))
        .route("/health", get(public::health))
        .route("/openapi.json", get(public::openapi_json))
        .route("/", get(admin::home))
        .fallback(crate::errors::not_found)
        .with_state(state.clone());
    if state.config.admin {
        router = router.nest("/__admin", admin::router(state.clone()));
    }
    // The body is read whole, within --max-body, before the router.
    router.layer(DefaultBodyLimit::disable())
}

/// The routes: `/api/v1` (and anything under it) to its own router behind
/// [`Front`], the rest to [`build_rest`]'s.
///
/// A prefix test rather than `Router::nest`, which rewrites every nested
/// request's URI (a `format!` and a parse) and adds a routing level and
/// a boxed service per request.
#[derive(Debug, Clone)]
struct Dispatch {
    api: Front,
    rest: Router,
}

impl Dispatch {
    fn new(state: AppState) -> Dispatch {
        Dispatch {
            api: Front {
                state: state.clone(),
                api: api::router(state.clone()),
            },
            rest: build_rest(state),
        }
    }
}

impl tower::Service<Request> for Dispatch {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = futures::future::Either<FrontFuture, RouteFuture<Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Both are always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let path = request.uri().path();
        if path
            .strip_prefix("/api/v1")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        {
            futures::future::Either::Left(self.api.call(request))
        } else {
            futures::future::Either::Right(self.rest.call(request))
        }
    }
}

/// The whole app as one service: the routes inside the layers every
/// request passes, outermost first: trace, CORS (so even rewritten errors
/// carry its headers), the JSON safety net, the body reader (limit and
/// deadline), the panic net, then [`Dispatch`].
///
/// Wrapped around the routes once rather than with `Router::layer`, which
/// wraps every route in its own boxed copy of the stack, cloned (one
/// allocation per layer) on every request. (Only the routes outside
/// `/api/v1` get one `Router::layer`, axum's body-limit switch, off the
/// hot path.) The trace layer is there only
/// when its events are enabled when the app is built (`RUST_LOG` with
/// `tower_http=debug`, or a subscriber set before [`App::new`](crate::App::new)): when
/// they are off, its per-request work is saved.
pub(crate) fn build_service(state: &AppState) -> AppService {
    let inner = plain_service(state);
    if !request_tracing_enabled() {
        return BoxCloneSyncService::new(inner);
    }
    let traced = ServiceBuilder::new()
        .layer(MapResponseLayer::new(into_body))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::DEBUG))
                .on_response(DefaultOnResponse::new().level(Level::DEBUG))
                .on_failure(DefaultOnFailure::new().level(Level::DEBUG)),
        )
        .service(inner);
    BoxCloneSyncService::new(traced)
}

/// [`build_service`]'s stack without the trace layer and unboxed: what
/// [`serve`](crate::serve) runs when tracing is off, so no request's future is boxed.
pub(crate) fn plain_service(
    state: &AppState,
) -> impl tower::Service<
    Request,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    let max_body = state.config.max_body;
    let body_timeout = state.config.body_timeout;
    ServiceBuilder::new()
        .layer(cors::CorsLayer::new(&state.config.cors_origins))
        .layer(MapResponseLayer::new(|response| {
            errors::json_errors(into_body(response))
        }))
        .layer_fn(move |inner| conn::ReadBody::new(inner, max_body, body_timeout))
        .map_response(into_body)
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(ErrorCode::Internal, "Internal server error").into_response()
        }))
        .service(Dispatch::new(state.clone()))
}

/// Whether the current subscriber takes the trace layer's debug spans or
/// events (its targets are `tower_http::trace::*`).
pub(crate) fn request_tracing_enabled() -> bool {
    tracing::enabled!(target: "tower_http::trace::make_span", Level::DEBUG)
        || tracing::enabled!(target: "tower_http::trace::on_response", Level::DEBUG)
        || tracing::enabled!(target: "tower_http::trace::on_failure", Level::DEBUG)
}

/// A response with any body, as axum's `Body`.
fn into_body<B>(response: Response<B>) -> Response<Body>
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    response.map(Body::new)
}
