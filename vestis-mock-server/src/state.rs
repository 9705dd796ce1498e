//! What every handler shares ([`AppState`]): the queue, the config, the
//! live fault settings, the journal, the rate limiter and the counters.
//! Below every room that serves requests, above the queue and the config.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::time::Instant;

use crate::config::{Config, Faults, HttpFaults};
use crate::fault_state::FaultState;
use crate::journal::Journal;
use crate::queue::{LoadError, Queue};
use crate::recording::Recorder;

/// How often the dashboard's requests-per-second sample is refreshed, at most.
const RATE_SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// What every handler shares: one `Arc`, so each middleware layer clones
/// a single pointer per request.
pub(crate) type AppState = Arc<Shared>;

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
    pub(crate) rate: Mutex<RateSample>,
    /// Rate limit, error rate and latency: read on every request without
    /// a lock (the queue holds its own share of the settings).
    http_faults: ArcSwap<HttpFaults>,
    /// Serialises changes to the settings, both shares at once.
    faults_writer: Mutex<()>,
    /// Transport faults: the jobs' schedules and the counts.
    pub(crate) transport: FaultState,
    /// `--proxy-to`: the recording proxy; `None` serves the local queue.
    pub(crate) recorder: Option<Arc<Recorder>>,
}

impl Shared {
    /// The shared state around `queue`, with the HTTP share of the fault
    /// settings, its random draws fixed by `seed`.
    pub(crate) fn new(
        queue: Queue,
        config: Config,
        seed: u64,
        http_faults: HttpFaults,
        recorder: Option<Arc<Recorder>>,
    ) -> Shared {
        Shared {
            queue,
            journal: Journal::new(config.journal_size),
            config,
            limiter: RateLimiter::default(),
            requests: AtomicU64::new(0),
            // A different stream from the jobs' draws, but fixed by the same seed.
            rng: Mutex::new(fastrand::Rng::with_seed(seed ^ 0x5eed_e770)),
            local_addr: OnceLock::new(),
            closing: tokio::sync::watch::Sender::new(false),
            rate: Mutex::new(RateSample::default()),
            http_faults: ArcSwap::from_pointee(http_faults),
            faults_writer: Mutex::new(()),
            transport: FaultState::default(),
            recorder,
        }
    }

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

/// Loads the config's fixtures, or its replay's recorded jobs, into the
/// queue (at start and on reset); returns how many.
pub(crate) fn load_fixtures(state: &AppState) -> Result<usize, LoadError> {
    if let Some(replay) = &state.config.replay {
        let jobs = replay.jobs_at(&state.config.tokens, state.queue.now());
        return state.queue.load(jobs).map(|jobs| jobs.len());
    }
    let fixtures = &state.config.fixtures;
    if fixtures.is_empty() {
        return Ok(0);
    }
    state.queue.load(fixtures.0.clone()).map(|jobs| jobs.len())
}

/// Fixed one-second windows per token.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    windows: Mutex<HashMap<Arc<str>, (Instant, u32)>>,
}

impl RateLimiter {
    /// `Ok` if the request fits, else the seconds until the window ends.
    pub(crate) fn check(&self, token: &str, per_second: u32) -> Result<(), u64> {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if windows.len() > 10_000 {
            // Bounded memory: forget windows that have ended.
            windows.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(1));
        }
        // A new token's key is allocated once, not on every request.
        if !windows.contains_key(token) {
            windows.insert(Arc::from(token), (now, 0));
        }
        let Some((start, count)) = windows.get_mut(token) else {
            return Ok(());
        };
        if now.duration_since(*start) >= Duration::from_secs(1) {
            *start = now;
            *count = 0;
        }
        if *count >= per_second {
            let left = Duration::from_secs(1).saturating_sub(now.duration_since(*start));
            return Err(left.as_secs_f64().ceil().max(1.0) as u64);
        }
        *count += 1;
        Ok(())
    }

    pub(crate) fn clear(&self) {
        self.windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// The last requests-per-second sample: `/api/v1` requests counted since
/// the previous sample, over the time since it (refreshed at most once a
/// second, by whoever reads the overview).
#[derive(Debug, Default)]
pub(crate) struct RateSample {
    at: Option<Instant>,
    count: u64,
    per_second: f64,
}

impl RateSample {
    /// Takes `count` (the requests counted so far) at `now`: a new rate
    /// once a second or more has passed since the last sample, else the
    /// last rate; rounded to a tenth. A counter that went back (a reset)
    /// counts from zero.
    pub(crate) fn update(&mut self, now: Instant, count: u64) -> f64 {
        match self.at {
            Some(at) if now.duration_since(at) < RATE_SAMPLE_EVERY => {}
            Some(at) => {
                let elapsed = now.duration_since(at).as_secs_f64();
                self.per_second = count.saturating_sub(self.count) as f64 / elapsed;
                (self.at, self.count) = (Some(now), count);
            }
            None => (self.at, self.count) = (Some(now), count),
        }
        (self.per_second * 10.0).round() / 10.0
    }
}
