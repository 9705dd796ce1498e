//! `vestis-mock-server`: flags -> config -> bind -> serve (or, with
//! `--healthcheck`, probe a running one). Nothing else.

use std::process::ExitCode;

use clap::Parser;
use vestis_mock_server::probe::{PROBE_TIMEOUT, probe_address, probe_health};
use vestis_mock_server::{Args, ConfigError, ServeError, listen, serve_on};

/// mimalloc: the system allocator was a large part of every request's cost
/// (BENCHMARKS.md has the measure).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    match start(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("vestis-mock-server: {failure}");
            failure.exit_code()
        }
    }
}

/// Why the binary stops with an error: printed once, in [`main`], and
/// mapped to an exit code once, in [`Failure::exit_code`].
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// The async runtime could not be built.
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// `--healthcheck` found no healthy server.
    #[error("unhealthy: http://{addr}/health: {source}")]
    Unhealthy {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// A flag's value or the fixtures file was refused, before binding.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The signal handlers could not be installed.
    #[error("cannot handle signals: {0}")]
    Signals(#[source] std::io::Error),
    /// Binding or serving failed.
    #[error(transparent)]
    Serve(#[from] ServeError),
}

impl Failure {
    /// 2 for a usage error (as clap's own, for a bad flag: the settings
    /// were refused before anything started), 1 for everything else.
    fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Config(_) | Failure::Serve(ServeError::Config(_)) => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        }
    }
}

/// Builds the runtime the flags ask for and runs the server (or the probe) on it.
fn start(args: Args) -> Result<(), Failure> {
    // One event loop unless asked: with the clients on the same cores (a
    // test run, a load generator), a multi-thread runtime's wake-ups of
    // its idle worker cost more than the second core gave (BENCHMARKS.md).
    let mut builder = match args.threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(usize::from(n));
            builder
        }
    };
    // Images are drawn on the blocking pool: as many at once as there are
    // cores, the rest wait their turn (tokio's default allows 512 threads).
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let runtime = builder
        .max_blocking_threads(cores)
        .enable_all()
        .build()
        .map_err(Failure::Runtime)?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<(), Failure> {
    if args.healthcheck {
        let addr = probe_address(args.host, args.port);
        return probe_health(addr, PROBE_TIMEOUT)
            .map_err(|source| Failure::Unhealthy { addr, source });
    }
    // Before binding: a bad fixtures file means the server does not start.
    let config = args.config()?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    // 127.0.0.1 (the default) or ::1: the other loopback too, for `localhost`.
    let addr = std::net::SocketAddr::new(args.host, args.port);
    let listeners = listen::bind(args.host, args.port)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let first = listeners.first().map(tokio::net::TcpListener::local_addr);
    let addr = first
        .unwrap_or_else(|| Err(std::io::Error::other("no address bound")))
        .map_err(ServeError::LocalAddr)?;
    let shutdown = shutdown_signal(args.stop_on_stdin_close).map_err(Failure::Signals)?;
    println!("vestis-mock-server listening on http://{addr}");
    Ok(serve_on(listeners, config, shutdown).await?)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM, or (with `stdin_close`) once
/// stdin ends. The handlers are registered here, before the "listening"
/// line is printed, so a signal sent as soon as that line appears is
/// never missed (nor fatal).
#[cfg(unix)]
fn shutdown_signal(stdin_close: bool) -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let stdin_closed = stdin_closed(stdin_close)?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
            () = stdin_closed => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal(stdin_close: bool) -> std::io::Result<impl std::future::Future<Output = ()>> {
    let stdin_closed = stdin_closed(stdin_close)?;
    Ok(async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = stdin_closed => {}
        }
    })
}

/// Resolves once stdin reaches its end (or fails), when `watch`; never
/// otherwise. A parent's end of a pipe is closed by the kernel however
/// the parent ends, SIGKILL included, where no signal reaches the child.
///
/// A plain thread rather than tokio's stdin: that reads on the blocking
/// pool, whose threads the runtime would wait for at exit, and a read
/// from an idle pipe never returns.
fn stdin_closed(watch: bool) -> std::io::Result<impl std::future::Future<Output = ()>> {
    let on_close = if watch {
        let (closed, on_close) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("stdin-watch".into())
            .spawn(move || {
                use std::io::Read;
                let mut stdin = std::io::stdin().lock();
                let mut buf = [0u8; 512];
                // Whatever the parent writes is ignored; only the end counts.
                while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
                let _ = closed.send(());
            })?;
        Some(on_close)
    } else {
        None
    };
    Ok(async move {
        match on_close {
            // A dropped sender (the thread gone) counts as the end too.
            Some(on_close) => {
                let _ = on_close.await;
            }
            None => std::future::pending().await,
        }
    })
}
