//! An in-memory mock of the Vestis job API, for contract testing.
//!
//! A real HTTP server (axum) over a real job queue with workers: it behaves
//! like the production contract (`docs/contract.md`), is deterministic when
//! seeded, and injects the faults a real backend produces.
//!
//! Start it in-process on a free port:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use vestis_mock_server::{Config, MockServer};
//!
//! let server = MockServer::start(Config::default()).await?;
//! println!("API at {}", server.api_url()); // http://127.0.0.1:PORT/api/v1
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Modules
//!
//! - [`config`]: flags, durations, byte sizes, fault settings, fixtures.
//! - `queue`: the job store, its state machine, workers and the mock's
//!   clock; no HTTP.
//! - `routes`: the `/api/v1` handlers; `middleware`: auth, rate limit,
//!   injected errors, latency and the journal in front of them; `render`:
//!   a job's wire shape, written by hand.
//! - `admin`: `/__admin` control routes, the dashboard (`/__admin/ui`,
//!   its HTML, CSS and script from `ui/`) and its event stream;
//!   `journal`: the request journal;
//!   `fixtures`: jobs loaded from a file or the admin API.
//! - `public`: images, health and the OpenAPI document, outside auth.
//! - `conn`: the accept loop with its header-read timeout, and the
//!   request body's reader (limit, drain, deadline); `cors`: CORS headers
//!   built once.
//! - `faults`: transport faults (reset, close, truncate, garbage, stall,
//!   slow-body), chosen per request, per job or at random, and done on
//!   the connection (`faults::wire`).
//! - `errors`: the contract's JSON error bodies.
//! - `openapi`, `image`, `hash`: the OpenAPI document, the PNG renderer,
//!   and the fixed hash behind seeded determinism.
//! - [`probe`]: `--healthcheck`, the container image's health probe.

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Tests may unwrap: a failed unwrap is a failed test.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod probe;

mod admin;
mod conn;
mod cors;
mod errors;
mod faults;
mod fixtures;
mod hash;
mod image;
mod journal;
mod middleware;
mod openapi;
mod public;
mod queue;
mod render;
mod routes;
mod wire_time;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use arc_swap::ArcSwap;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::http::Response;
use axum::response::IntoResponse;
use axum::routing::future::RouteFuture;
use axum::routing::get;
use middleware::{Front, FrontFuture};
use std::task::{Context, Poll};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceBuilder;
use tower::util::{BoxCloneSyncService, MapResponseLayer};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;
use vestis_client::ErrorCode;

pub use config::{Args, ClockMode, Config, ConfigError, DurationRange, Faults, Fixtures};
pub use faults::{
    DEFAULT_SLOW_BODY, Fault, FaultList, FaultOn, MAX_SCHEDULE_ENTRIES, MAX_SLOW_BODY, STALL_LIMIT,
};
#[doc(hidden)]
pub use queue::queue_engine_run;

use config::HttpFaults;
use errors::ApiError;
use journal::Journal;
use middleware::RateLimiter;
use queue::{LoadError, Queue, Settings};

/// What every handler shares: one `Arc`, so each middleware layer clones
/// a single pointer per request.
pub(crate) type AppState = Arc<Shared>;

/// The app with its outer layers, as `serve` runs it.
type AppService = BoxCloneSyncService<Request, Response<Body>, Infallible>;

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) queue: Queue,
    pub(crate) config: Config,
    pub(crate) limiter: RateLimiter,
    /// `/api/v1` requests answered since start (or the last reset).
    pub(crate) requests: AtomicU64,
    pub(crate) journal: Journal,
    rng: Mutex<fastrand::Rng>,
    pub(crate) local_addr: OnceLock<SocketAddr>,
    /// Set once the server shuts down (or the `App` is dropped): ends every
    /// `/__admin/events` stream, so graceful shutdown never waits on one.
    pub(crate) closing: tokio::sync::watch::Sender<bool>,
    /// The last requests-per-second sample, for the dashboard.
    pub(crate) rate: Mutex<admin::RateSample>,
    /// Rate limit, error rate and latency: read on every request without
    /// a lock (the queue holds its own share of the settings).
    http_faults: ArcSwap<HttpFaults>,
    /// Serialises changes to the settings, both shares at once.
    faults_writer: Mutex<()>,
    /// Transport faults: the jobs' schedules and the counts.
    pub(crate) transport: faults::FaultState,
}

impl Shared {
    /// `true` with probability `p`, from the server's (seedable) generator.
    pub(crate) fn chance(&self, p: f64) -> bool {
        self.rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .f64()
            < p
    }

    /// A number below `n` (at least 1), from the same generator as [`Shared::chance`].
    pub(crate) fn below(&self, n: usize) -> usize {
        self.rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .usize(..n.max(1))
    }

    /// The HTTP fault settings now: one lock-free read.
    pub(crate) fn http_faults(&self) -> HttpFaults {
        **self.http_faults.load()
    }

    /// Every fault setting, as `/__admin/config` shows them.
    pub(crate) fn faults(&self) -> Faults {
        let _writer = self
            .faults_writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Faults::join(self.queue.faults(), self.http_faults())
    }

    /// Changes the fault settings in one step: `change` sees the current
    /// settings and returns the new ones (or an error, changing nothing),
    /// under one lock, so concurrent changes never lose each other.
    pub(crate) fn update_faults<E>(
        &self,
        change: impl FnOnce(&Faults) -> Result<Faults, E>,
    ) -> Result<Faults, E> {
        let _writer = self
            .faults_writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let new = change(&Faults::join(self.queue.faults(), self.http_faults()))?;
        let (queue, http) = new.split();
        let _ = self.queue.update_faults(|_| Ok::<_, Infallible>(queue));
        self.http_faults.store(Arc::new(http));
        Ok(new)
    }

    /// Forgets every job and restores the start's settings, clock and pause.
    pub(crate) fn reset(&self) {
        let _writer = self
            .faults_writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.queue.reset();
        self.http_faults
            .store(Arc::new(self.config.faults.split().1));
    }
}

/// The application: its router, its queue, and the workers running jobs.
///
/// Tests can drive [`App::router`] with `tower::ServiceExt::oneshot`,
/// without a socket. The workers stop when the `App` is dropped.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::body::Body;
/// use axum::http::{Request, StatusCode};
/// use tower::ServiceExt;
/// use vestis_mock_server::{App, Config};
///
/// let app = App::new(Config::default());
/// let request = Request::get("/api/v1/jobs").body(Body::empty()).unwrap();
/// let response = app.router().oneshot(request).await.unwrap();
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED); // no token
/// # }
/// ```
#[derive(Debug)]
pub struct App {
    router: Router,
    state: AppState,
    _workers: JoinSet<()>,
}

impl App {
    /// Builds the app, loads its fixtures and spawns its workers; must run
    /// inside a tokio runtime.
    ///
    /// A config that [`Config::validate`] refuses still builds (as tests
    /// may want), with fixtures that do not fit logged and left out;
    /// [`serve`] and [`MockServer::start`] refuse it instead.
    pub fn new(config: Config) -> App {
        let (state, workers) = App::start_state(config);
        App {
            router: Router::new().fallback_service(build_service(&state)),
            state,
            _workers: workers,
        }
    }

    /// The shared state of a new app, its fixtures loaded and its queue's
    /// driver spawned (the set that stops it when dropped): what
    /// [`App::new`] and [`serve`] start from, before their services.
    fn start_state(config: Config) -> (AppState, JoinSet<()>) {
        let seed = config.seed.unwrap_or_else(|| fastrand::u64(..));
        let (queue_faults, http_faults) = config.faults.split();
        let queue = Queue::new(Settings {
            faults: queue_faults,
            seed,
            max_jobs: config.max_jobs,
            workers: config.workers,
            clock: config.clock,
            paused: config.paused,
        });
        let workers = queue.spawn_driver();
        let state = Arc::new(Shared {
            queue,
            journal: Journal::new(config.journal_size),
            config,
            limiter: RateLimiter::default(),
            requests: AtomicU64::new(0),
            // A different stream from the jobs' draws, but fixed by the same seed.
            rng: Mutex::new(fastrand::Rng::with_seed(seed ^ 0x5eed_e770)),
            local_addr: OnceLock::new(),
            closing: tokio::sync::watch::Sender::new(false),
            rate: Mutex::new(admin::RateSample::default()),
            http_faults: ArcSwap::from_pointee(http_faults),
            faults_writer: Mutex::new(()),
            transport: faults::FaultState::default(),
        });
        if let Err(e) = load_fixtures(&state) {
            tracing::error!(error = %e, "fixtures not loaded");
        }
        (state, workers)
    }

    /// The router, for `oneshot` tests or a custom server.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Ends every open `/__admin/events` stream (and any opened later), so
    /// a graceful shutdown does not wait on them; [`serve`] calls it when
    /// its shutdown signal fires, and dropping the `App` does too.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// use vestis_mock_server::{App, Config};
    ///
    /// let app = App::new(Config::default());
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let server = axum::serve(listener, app.router()).with_graceful_shutdown(async move {
    ///     let _ = stopped.await;
    ///     app.close_streams(); // or the shutdown would wait on open dashboards
    /// });
    /// # drop(stop);
    /// server.await
    /// # }
    /// ```
    pub fn close_streams(&self) {
        self.state.closing.send_replace(true);
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.close_streams();
    }
}

/// Loads the config's fixtures into the queue (at start and on reset);
/// returns how many.
pub(crate) fn load_fixtures(state: &AppState) -> Result<usize, LoadError> {
    let fixtures = &state.config.fixtures;
    if fixtures.is_empty() {
        return Ok(0);
    }
    state.queue.load(fixtures.0.clone()).map(|jobs| jobs.len())
}

/// Everything but `/api/v1`: images, health, the OpenAPI document, the
/// home page and (with `--admin`) `/__admin`.
fn build_rest(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/images/{file}", get(public::image))
        .route("/health", get(public::health))
        .route("/openapi.json", get(public::openapi_json))
        .route("/", get(admin::home))
        .fallback(not_found)
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
                api: routes::router(state.clone()),
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
/// `tower_http=debug`, or a subscriber set before [`App::new`]): when
/// they are off, its per-request work is saved.
fn build_service(state: &AppState) -> AppService {
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
/// [`serve`] runs when tracing is off, so no request's future is boxed.
fn plain_service(
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
    ServiceBuilder::new()
        .layer(cors::CorsLayer::new(&state.config.cors_origins))
        .layer(MapResponseLayer::new(|response| {
            errors::json_errors(into_body(response))
        }))
        .layer_fn(move |inner| conn::ReadBody::new(inner, max_body))
        .map_response(into_body)
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(ErrorCode::Internal, "Internal server error").into_response()
        }))
        .service(Dispatch::new(state.clone()))
}

/// Whether the current subscriber takes the trace layer's debug spans or
/// events (its targets are `tower_http::trace::*`).
fn request_tracing_enabled() -> bool {
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

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "Route not found")
}

/// Serves the mock API on `listener` until `shutdown` resolves, then stops
/// accepting, lets in-flight requests finish, and returns.
///
/// # Errors
///
/// An [`io::ErrorKind::InvalidInput`] error when [`Config::validate`]
/// refuses the config; otherwise the listener's I/O errors.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:4000").await?;
/// let shutdown = async {
///     let _ = tokio::signal::ctrl_c().await;
/// };
/// vestis_mock_server::serve(listener, vestis_mock_server::Config::default(), shutdown).await
/// # }
/// ```
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    config
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // The state alone: each branch below builds the one service it runs.
    let (state, _workers) = App::start_state(config);
    if let Ok(addr) = listener.local_addr() {
        let _ = state.local_addr.set(addr);
    }
    let closing = state.closing.clone();
    let shutdown = async move {
        shutdown.await;
        // Open event streams never end by themselves: end them, or the
        // graceful shutdown would wait for them forever.
        closing.send_replace(true);
    };
    if request_tracing_enabled() {
        conn::serve(listener, build_service(&state), shutdown).await
    } else {
        // The same stack, unboxed: no boxed future per request.
        conn::serve(listener, plain_service(&state), shutdown).await
    }
}

/// A mock server running in-process, for tests and the CLI's `--mock`.
///
/// Dropping it stops it too; [`MockServer::shutdown`] also waits for the stop.
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl MockServer {
    /// Starts a server on `127.0.0.1` and a free port.
    ///
    /// # Errors
    ///
    /// When no port can be bound, or as [`MockServer::start_on`].
    pub async fn start(config: Config) -> io::Result<MockServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        MockServer::start_on(listener, config)
    }

    /// Starts a server on an already bound listener.
    ///
    /// # Errors
    ///
    /// An [`io::ErrorKind::InvalidInput`] error when [`Config::validate`]
    /// refuses the config, or the listener's address cannot be read.
    pub fn start_on(listener: TcpListener, config: Config) -> io::Result<MockServer> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, config, async move {
            // A dropped sender stops the server as well.
            let _ = stopped.await;
        }));
        Ok(MockServer {
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/api/v1`: the base URL for clients.
    pub fn api_url(&self) -> String {
        format!("{}/api/v1", self.url())
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the stop.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// This crate's README (its crates.io page), compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadme;
