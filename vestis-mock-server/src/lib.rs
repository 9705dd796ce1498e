//! An in-memory mock of the Vestis job API, for contract testing.
//!
//! A real HTTP server (axum) over a real job queue with workers: it behaves
//! like the production API contract, is deterministic when seeded, and
//! injects the faults a real backend produces. Its defaults, the per-job
//! `X-Mock-*` headers and the `/__admin` controls are listed on [`Config`].
//!
//! Start it in-process on a free port:
//!
//! ```no_run
//! # async fn demo() -> Result<(), vestis_mock_server::ServeError> {
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
//! Each room imports only rooms listed below it; none imports this file.
//!
//! - `http`: the layers every request passes and the service they make:
//!   `conn` (accept loop, header-read timeout, body reader), `deadlines`
//!   (a connection's deadline before and outside HTTP/1: a silent client,
//!   an HTTP/2 preface, an idle HTTP/2 connection), `cors`, and
//!   `front` (request count, journal, latency, the fast routes that answer
//!   the commonest `/api/v1` requests without the router), the
//!   transport faults: `fault` (which request gets which) and
//!   `fault_wire` (the fault done on the connection), and `proxy`
//!   (`--proxy-to`: an `/api/v1` request forwarded to the real backend
//!   through `recording`, its answer passed back). [`listen`]:
//!   both loopbacks for `localhost`.
//! - `api`: the `/api/v1` contract: its router, `jobs` (the handlers),
//!   `auth` (the bearer token, rate limit and injected errors, the first
//!   step of every handler), `query` (query strings and page numbers, for
//!   the admin API too), `render` (a job's wire shape, written by hand). `admin`: `/__admin` control routes, the
//!   dashboard (`/__admin/ui`, from `ui/`) and its event stream.
//!   `public`: images, health and the OpenAPI document, outside auth.
//! - `state`: what every handler shares (queue, config, live fault
//!   settings, journal, rate limiter, counters, the recorder); `fault_state`: the
//!   transport faults' schedules and counts.
//! - `recording`'s upper half (issue 22): `recorder` (what the proxy saw,
//!   the follower, kept images, saves), `upstream` (the real backend's
//!   client), `summary` (`GET /__admin/recording`); they read the
//!   proxy's settings from the config.
//! - [`config`]: flags, durations, byte sizes, fault settings (the
//!   transport faults' names and syntax in `config::transport`, the
//!   proxy's in `config::proxy`); `fixtures`: jobs loaded from a file or
//!   the admin API.
//! - `recording`'s lower half: the recording file's `format`, and
//!   `replay`, a recording turned into loaded jobs, the queue's per-type
//!   draws and kept images (the config holds a read [`Replay`]).
//! - `queue`: the job store, its state machine, workers, the mock's clock
//!   and its own settings; no HTTP, nothing of the config.
//! - `journal`: the request journal; `request`: the body as read and the
//!   bearer parser; `wire_time`: the wire's timestamps; `errors`: the
//!   contract's JSON error bodies; `hash`: the fixed hash behind seeded
//!   determinism.
//! - [`probe`]: `--healthcheck`, the container image's health probe;
//!   `serve_error`: [`ServeError`], why [`serve`] could not run.

#![deny(missing_docs)]
// Links in the docs must resolve on docs.rs: none to private items.
#![deny(rustdoc::broken_intra_doc_links, rustdoc::private_intra_doc_links)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Tests may unwrap: a failed unwrap is a failed test.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod listen;
pub mod probe;

mod admin;
mod api;
mod errors;
mod fault_state;
mod fixtures;
mod hash;
mod http;
mod journal;
mod public;
mod queue;
mod recording;
mod request;
mod serve_error;
mod state;
mod wire_time;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

pub use config::{
    Args, ClockMode, Config, ConfigError, DEFAULT_SLOW_BODY, DurationRange, Fault, FaultList,
    FaultOn, Faults, Fixtures, MAX_SCHEDULE_ENTRIES, MAX_SLOW_BODY, MIN_SLOW_BODY, Replay,
    STALL_LIMIT,
};
#[doc(hidden)]
pub use queue::queue_engine_run;
pub use serve_error::ServeError;

use queue::{Queue, Settings};
use recording::Recorder;
use state::{AppState, Shared, load_fixtures};

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
        // A recording file that cannot be written is logged here and the
        // proxy runs without it; `serve` and `MockServer` refuse it instead.
        let recorder = match open_recorder(&config) {
            Ok(recorder) => recorder,
            Err(e) => {
                tracing::error!(error = %e, "recording proxy not started");
                None
            }
        };
        let (state, workers) = App::start_state(config, recorder);
        App {
            router: Router::new().fallback_service(http::build_service(&state)),
            state,
            _workers: workers,
        }
    }

    /// The shared state of a new app, its fixtures loaded and its queue's
    /// driver spawned (the set that stops it when dropped): what
    /// [`App::new`] and [`serve`] start from, before their services.
    fn start_state(config: Config, recorder: Option<Arc<Recorder>>) -> (AppState, JoinSet<()>) {
        let seed = config.seed.unwrap_or_else(|| fastrand::u64(..));
        let (queue_faults, http_faults) = config.faults.split();
        let queue = Queue::new(Settings {
            faults: queue_faults,
            seed,
            max_jobs: config.max_jobs,
            workers: config.workers,
            clock: config.clock,
            paused: config.paused,
            profile: config.replay.as_ref().map(Replay::profile),
        });
        if let Some(replay) = &config.replay {
            for line in replay.skipped() {
                tracing::warn!(recording = %replay.path().display(), "left out of the replay: {line}");
            }
        }
        let mut workers = queue.spawn_driver();
        let state = Arc::new(Shared::new(
            queue,
            config,
            seed,
            http_faults,
            recorder.clone(),
        ));
        if let Some(recorder) = recorder {
            // The follower and the saver stop when the server closes or
            // the set is dropped; the probe's one warning is not fatal.
            workers.spawn(recorder.clone().follow(state.closing.subscribe()));
            workers.spawn(
                recorder
                    .clone()
                    .save_periodically(state.closing.subscribe()),
            );
            workers.spawn(async move {
                match recorder.upstream().probe().await {
                    Ok(None) => {}
                    Ok(Some(hint)) => tracing::warn!("--proxy-to: {hint}"),
                    Err(e) => tracing::warn!(
                        "--proxy-to: {e}; every /api/v1 request is answered 502 until it answers"
                    ),
                }
            });
        }
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

/// Serves the mock API on `listener` until `shutdown` resolves, then stops
/// accepting, lets in-flight requests finish, and returns.
///
/// # Errors
///
/// [`ServeError::Config`] when [`Config::validate`] refuses the config;
/// [`ServeError::Accept`] when the connection layer gives up serving.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:4000").await?;
/// let shutdown = async {
///     let _ = tokio::signal::ctrl_c().await;
/// };
/// vestis_mock_server::serve(listener, vestis_mock_server::Config::default(), shutdown).await?;
/// # Ok(()) }
/// ```
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    serve_on(vec![listener], config, shutdown).await
}

/// [`serve`] on several listeners at once (as [`listen::bind`] returns
/// them: a loopback address and its other family's); the first is the
/// server's own address (its `/__admin` links, its announced URL).
///
/// # Errors
///
/// As [`serve`].
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::net::Ipv4Addr;
///
/// let listeners = vestis_mock_server::listen::bind(Ipv4Addr::LOCALHOST.into(), 4000).await?;
/// let shutdown = async {
///     let _ = tokio::signal::ctrl_c().await;
/// };
/// vestis_mock_server::serve_on(listeners, vestis_mock_server::Config::default(), shutdown).await?;
/// # Ok(())
/// # }
/// ```
pub async fn serve_on(
    listeners: Vec<TcpListener>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    config.validate()?;
    let recorder = open_recorder(&config)?;
    serve_prepared(listeners, config, recorder, shutdown).await
}

/// The recording proxy `config` asks for, its file checked (and written
/// once) now.
fn open_recorder(config: &Config) -> Result<Option<Arc<Recorder>>, ConfigError> {
    config
        .proxy
        .as_ref()
        .map(|proxy| Recorder::open(proxy).map(Arc::new))
        .transpose()
        .map_err(ConfigError::Record)
}

/// How long a stop waits for the images of jobs completed just before it.
const STOP_IMAGE_FETCHES: std::time::Duration = std::time::Duration::from_secs(5);

/// [`serve_on`] with the config validated and the recorder open.
async fn serve_prepared(
    listeners: Vec<TcpListener>,
    config: Config,
    recorder: Option<Arc<Recorder>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    // The state alone: each branch below builds the one service it runs.
    let (state, workers) = App::start_state(config, recorder);
    if let Some(Ok(addr)) = listeners.first().map(TcpListener::local_addr) {
        let _ = state.local_addr.set(addr);
    }
    let head_timeout = state.config.head_timeout;
    let closing = state.closing.clone();
    let shutdown = async move {
        shutdown.await;
        // Open event streams never end by themselves: end them, or the
        // graceful shutdown would wait for them forever.
        closing.send_replace(true);
    };
    let served = if http::request_tracing_enabled() {
        http::conn::serve(
            listeners,
            http::build_service(&state),
            head_timeout,
            shutdown,
        )
        .await
    } else {
        // The same stack, unboxed: no boxed future per request.
        http::conn::serve(
            listeners,
            http::plain_service(&state),
            head_timeout,
            shutdown,
        )
        .await
    };
    // The follower and the saver end; then the last save, whatever the
    // serving's outcome.
    drop(workers);
    if let Some(recorder) = &state.recorder {
        recorder.fetch_due_images(STOP_IMAGE_FETCHES).await;
        match recorder.save() {
            Ok(Some(saved)) => tracing::info!(
                "recording saved to {} ({} jobs)",
                saved.path.display(),
                saved.jobs
            ),
            Ok(None) => {}
            Err(e) => tracing::error!("recording not saved at stop: {e}"),
        }
    }
    served.map_err(ServeError::Accept)
}

/// A mock server running in-process, for tests and the CLI's `--mock`.
///
/// Dropping it stops it too; [`MockServer::shutdown`] also waits for the stop.
/// What a test can script (per-job headers, the queue, the clock) is on
/// [`Config`].
///
/// # Examples
///
/// A test's server whose jobs take 50 ms (one job can still be told to
/// take longer, or to fail, with the `X-Mock-*` headers on its create).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), vestis_mock_server::ServeError> {
/// use std::time::Duration;
/// use vestis_mock_server::config::DurationRange;
/// use vestis_mock_server::{Config, MockServer};
///
/// let mut config = Config::default();
/// config.faults.processing_time = DurationRange { min: Duration::from_millis(50), max: Duration::from_millis(50) };
/// let server = MockServer::start(config).await?;
/// assert!(server.api_url().starts_with("http://127.0.0.1:"));
/// server.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl MockServer {
    /// Starts a server on `127.0.0.1` and a free port.
    ///
    /// # Errors
    ///
    /// [`ServeError::Bind`] when no port can be bound, or as
    /// [`MockServer::start_on`].
    pub async fn start(config: Config) -> Result<MockServer, ServeError> {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        MockServer::start_on(listener, config)
    }

    /// Starts a server on an already bound listener.
    ///
    /// # Errors
    ///
    /// [`ServeError::Config`] when [`Config::validate`] refuses the
    /// config; [`ServeError::LocalAddr`] when the listener's address cannot
    /// be read.
    pub fn start_on(listener: TcpListener, config: Config) -> Result<MockServer, ServeError> {
        config.validate()?;
        let recorder = open_recorder(&config)?;
        let addr = listener.local_addr().map_err(ServeError::LocalAddr)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_prepared(
            vec![listener],
            config,
            recorder,
            async move {
                // A dropped sender stops the server as well.
                let _ = stopped.await;
            },
        ));
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
