//! The server's settings: what [`Config`] holds, the fault settings the
//! admin API can change at run time, and the errors of reading them.
//!
//! Flags live in `args`, the duration syntax in `duration`.

mod args;
mod duration;
pub mod proxy;
pub(crate) mod transport;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::fixtures::{FixtureError, Fixtures};
pub(crate) use crate::queue::QueueFaults;
pub use crate::queue::{ClockMode, DurationRange, TypeTimes};
pub use crate::recording::Replay;
pub use args::Args;
pub use duration::{
    MAX_ADVANCE, MAX_DURATION, ProcessingTime, format_duration, parse_bounded, parse_duration,
};
pub use proxy::Proxy;
pub use transport::{
    DEFAULT_SLOW_BODY, Fault, FaultList, FaultOn, MAX_SCHEDULE_ENTRIES, MAX_SLOW_BODY,
    MIN_SLOW_BODY, STALL_LIMIT,
};

/// The most polls `X-Mock-Polls` and `--polls` accept.
pub const MAX_POLLS: u32 = 10_000;

/// Why a setting, flag or fixtures file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Text that is not a duration.
    #[error("invalid duration {input:?}: {reason} (write e.g. 500ms, 90s, 2m30s)")]
    InvalidDuration {
        /// What was given.
        input: String,
        /// humantime's reason.
        reason: String,
    },
    /// A duration past its bound.
    #[error("duration {input:?} is too long (at most {max})")]
    DurationTooLong {
        /// What was given.
        input: String,
        /// The bound, formatted.
        max: String,
    },
    /// A range whose end is shorter than its start.
    #[error("invalid range {input:?}: the end is shorter than the start")]
    InvalidRange {
        /// What was given.
        input: String,
    },
    /// Text that is not a byte size.
    #[error("invalid size {input:?}: {reason} (write e.g. 10MiB, 512KiB or 1048576)")]
    InvalidSize {
        /// What was given.
        input: String,
        /// Why.
        reason: String,
    },
    /// A setting out of its range.
    #[error("{name} {reason}")]
    InvalidSetting {
        /// The setting's name, as in `/__admin/config`.
        name: &'static str,
        /// What is wrong, e.g. "must be between 0 and 1, got 2".
        reason: String,
    },
    /// A bad `--fixtures` file.
    #[error(transparent)]
    Fixtures(#[from] FixtureError),
    /// A `--replay` file that cannot be read, is not a recording, or is
    /// of a newer format version; the message names the file and the
    /// problem.
    #[error("{0}")]
    Recording(String),
    /// Settings that cannot go together, e.g. `--replay` with
    /// `--fixtures`.
    #[error("{0}")]
    Conflict(String),
    /// `--record FILE` cannot be written (or is a file that is not a
    /// recording, which it would overwrite): checked at start.
    #[error("--record: {0}")]
    Record(String),
}

impl ConfigError {
    pub(crate) fn setting(name: &'static str, reason: impl Into<String>) -> ConfigError {
        ConfigError::InvalidSetting {
            name,
            reason: reason.into(),
        }
    }
}

/// The default processing time: long enough to watch a progress bar, short
/// enough for a pleasant demo.
pub const DEFAULT_PROCESSING_TIME: DurationRange = DurationRange {
    min: Duration::from_secs(3),
    max: Duration::from_secs(6),
};

/// `--realistic`: the guide's "2-3 minutes".
pub const REALISTIC_PROCESSING_TIME: DurationRange = DurationRange {
    min: Duration::from_secs(120),
    max: Duration::from_secs(180),
};

/// Behaviour that the admin API can change while the server runs
/// (`GET`/`PATCH /__admin/config`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    /// How long one processing attempt takes (of a type without its own
    /// range in `processing_time_by_type`).
    pub processing_time: DurationRange,
    /// Types whose attempts take their own range, e.g.
    /// `"chat=300ms..600ms,flatlay=1s..2s"` in JSON; empty by default.
    #[serde(default)]
    pub processing_time_by_type: TypeTimes,
    /// The probability (0..=1) that an attempt fails.
    pub failure_rate: f64,
    /// Attempts before a job ends `failed` (at least 1).
    pub max_attempts: u32,
    /// Requests per second per token on `/api/v1`; `None` for no limit.
    pub rate_limit: Option<u32>,
    /// The probability (0..=1) that an `/api/v1` request is answered 503.
    pub http_error_rate: f64,
    /// Added to every `/api/v1` response (at most [`MAX_DURATION`]).
    #[serde(with = "duration::text")]
    pub latency: Duration,
    /// The probability (0..=1) that an `/api/v1` request gets a transport
    /// fault drawn from [`Faults::fault_kinds`] (see `docs/faults.md`).
    #[serde(default)]
    pub fault_rate: f64,
    /// The faults `fault_rate` draws from; `faults` in JSON, e.g.
    /// `"reset,truncate,slow-body=2s"`.
    #[serde(default, rename = "faults")]
    pub fault_kinds: FaultList,
    /// Which requests `fault_rate` may fault: `all`, `polls` or `creates`.
    #[serde(default)]
    pub fault_on: FaultOn,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            processing_time: DEFAULT_PROCESSING_TIME,
            processing_time_by_type: TypeTimes::default(),
            failure_rate: 0.0,
            max_attempts: 3,
            rate_limit: None,
            http_error_rate: 0.0,
            latency: Duration::ZERO,
            fault_rate: 0.0,
            fault_kinds: FaultList::default(),
            fault_on: FaultOn::All,
        }
    }
}

impl Faults {
    /// Checks the ranges a person could get wrong.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidSetting`] naming the first setting out of range.
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_mock_server::Faults;
    ///
    /// let bad = Faults { failure_rate: 2.0, ..Faults::default() };
    /// assert_eq!(
    ///     bad.validate().unwrap_err().to_string(),
    ///     "failure_rate must be between 0 and 1, got 2"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, rate) in [
            ("failure_rate", self.failure_rate),
            ("http_error_rate", self.http_error_rate),
            ("fault_rate", self.fault_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(ConfigError::setting(
                    name,
                    format!("must be between 0 and 1, got {rate}"),
                ));
            }
        }
        if self.max_attempts == 0 {
            return Err(ConfigError::setting("max_attempts", "must be at least 1"));
        }
        if self.rate_limit == Some(0) {
            return Err(ConfigError::setting(
                "rate_limit",
                "must be at least 1 request per second",
            ));
        }
        let slowest_type = self
            .processing_time_by_type
            .iter()
            .map(|(_, r)| r.max)
            .max();
        for (name, d) in [
            ("processing_time", self.processing_time.max),
            ("processing_time_by_type", slowest_type.unwrap_or_default()),
            ("latency", self.latency),
        ] {
            if d > MAX_DURATION {
                return Err(ConfigError::setting(
                    name,
                    format!("must be at most {}", format_duration(MAX_DURATION)),
                ));
            }
        }
        Ok(())
    }
}

/// The HTTP share of [`Faults`]: what stands in front of `/api/v1`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct HttpFaults {
    pub(crate) rate_limit: Option<u32>,
    pub(crate) http_error_rate: f64,
    pub(crate) latency: Duration,
    /// A copy of the queue's `max_attempts`, sent as `X-Mock-Max-Attempts`
    /// on every answer without taking the queue's lock.
    pub(crate) advertised_max_attempts: u32,
    pub(crate) fault_rate: f64,
    pub(crate) fault_kinds: FaultList,
    pub(crate) fault_on: FaultOn,
}

impl Faults {
    /// The settings split between the queue and the HTTP layer.
    pub(crate) fn split(&self) -> (QueueFaults, HttpFaults) {
        (
            QueueFaults {
                processing_time: self.processing_time,
                by_type: self.processing_time_by_type,
                failure_rate: self.failure_rate,
                max_attempts: self.max_attempts,
            },
            HttpFaults {
                rate_limit: self.rate_limit,
                http_error_rate: self.http_error_rate,
                latency: self.latency,
                advertised_max_attempts: self.max_attempts,
                fault_rate: self.fault_rate,
                fault_kinds: self.fault_kinds,
                fault_on: self.fault_on,
            },
        )
    }

    /// The two shares back together, as `/__admin/config` shows them.
    pub(crate) fn join(queue: QueueFaults, http: HttpFaults) -> Faults {
        Faults {
            processing_time: queue.processing_time,
            processing_time_by_type: queue.by_type,
            failure_rate: queue.failure_rate,
            max_attempts: queue.max_attempts,
            rate_limit: http.rate_limit,
            http_error_rate: http.http_error_rate,
            latency: http.latency,
            fault_rate: http.fault_rate,
            fault_kinds: http.fault_kinds,
            fault_on: http.fault_on,
        }
    }
}

impl Default for QueueFaults {
    fn default() -> Self {
        Faults::default().split().0
    }
}

/// Everything the server needs to run.
///
/// # Defaults
///
/// [`Config::default`] is what `vestis-mock-server` with no flags runs:
///
/// | Setting | Default | Flag |
/// |---------|---------|------|
/// | `workers` (jobs processed at once) | 4 | `--workers` |
/// | `faults.processing_time` (one attempt) | 3 to 6 s ([`DEFAULT_PROCESSING_TIME`]) | `--processing-time`, `--realistic` (2 to 3 min) |
/// | `faults.failure_rate` (chance an attempt fails) | 0 | `--failure-rate` |
/// | `faults.max_attempts` (attempts before `failed`) | 3 | `--max-attempts` |
/// | `faults.rate_limit` (requests/s per token) | none | `--rate-limit` |
/// | `faults.http_error_rate` (chance of a 503) | 0 | `--http-error-rate` |
/// | `faults.latency` (added to each answer) | 0 | `--latency` |
/// | `tokens` | empty: any non-empty bearer token | `--token` |
/// | `clock` | [`ClockMode::Real`] | `--clock manual` |
/// | `paused` | `false` | `--paused` |
/// | `admin` (`/__admin` routes) | `true` | `--no-admin` |
/// | `max_jobs`, `max_body`, `journal_size` | 100 000 jobs, 10 MiB, 1 000 requests | |
/// | `proxy` (forward to a real API, record it) | `None`: the local queue | `--proxy-to`, `--record`, `--proxy-timeout`, `--follow-every`, `--proxy-ca-cert` ([`Proxy`]) |
///
/// The table, checked:
///
/// ```
/// use std::time::Duration;
/// use vestis_mock_server::{ClockMode, Config};
///
/// let c = Config::default();
/// assert_eq!(c.workers, 4);
/// assert_eq!(c.faults.processing_time.min, Duration::from_secs(3));
/// assert_eq!(c.faults.processing_time.max, Duration::from_secs(6));
/// assert_eq!((c.faults.failure_rate, c.faults.max_attempts), (0.0, 3));
/// assert_eq!((c.faults.rate_limit, c.faults.http_error_rate), (None, 0.0));
/// assert_eq!(c.faults.latency, Duration::ZERO);
/// assert!(c.tokens.is_empty() && c.admin && !c.paused && c.proxy.is_none());
/// assert_eq!(c.clock, ClockMode::Real);
/// assert_eq!((c.max_jobs, c.max_body, c.journal_size), (100_000, 10 * 1024 * 1024, 1000));
/// ```
///
/// Fields are public: start from `Config::default()` and assign, or use
/// `Config { workers: 8, ..Config::default() }`. A new setting always
/// comes with a default, so code written that way keeps compiling.
///
/// # Per-job headers
///
/// A create (`POST /api/v1/generate`) may carry these, to script one job
/// without changing the server's settings (a value out of range is a 400):
///
/// - `X-Mock-Outcome: complete` or `fail`: every attempt of the job
///   completes, or fails (so the job ends `failed` after `max_attempts`),
///   whatever `failure_rate` says.
/// - `X-Mock-Duration: 500ms` (also `2s`, `1m`, `2m30s`; at most a day):
///   every attempt takes exactly this, instead of `processing_time`.
/// - `X-Mock-Polls: N` (1 to [`MAX_POLLS`]): the job advances by its
///   `GET`s instead of by time and is terminal at the Nth (`polls` sets it
///   for every job).
///
/// Every `/api/v1` answer carries `X-Mock-Max-Attempts` (the current
/// `max_attempts`). From the SDK: `vestis_client::RequestOptions::header`
/// sends the headers, `Client::mock_max_attempts` reads that one.
///
/// # Controls
///
/// With `admin` on, `POST /__admin/queue/pause` and `/__admin/queue/resume`
/// stop and restart the queue (`paused` starts it stopped),
/// `POST /__admin/clock/advance` with `{"by": "2m30s"}` moves a manual
/// clock, `POST /__admin/jobs/{id}/complete|fail|cancel` end one job,
/// `PATCH /__admin/config` changes [`Faults`], `POST /__admin/reset`
/// forgets every job. Bodies and answers are JSON.
///
/// # Examples
///
/// A server for a UI test: a manual clock, the guide's 2–3 minute jobs,
/// and a job history loaded at start.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use vestis_mock_server::{ClockMode, Config, Fixtures, MockServer};
/// use vestis_mock_server::config::REALISTIC_PROCESSING_TIME;
///
/// let mut config = Config::default();
/// config.clock = ClockMode::Manual;
/// config.faults.processing_time = REALISTIC_PROCESSING_TIME;
/// config.fixtures = Fixtures::parse(r#"[{"token": "dev", "status": "completed"}]"#)?;
/// config.validate()?;
/// let server = MockServer::start(config).await?;
/// # drop(server); Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// Workers processing jobs concurrently.
    pub workers: usize,
    /// Seed for durations, failures and injected errors; `None` for a random one.
    pub seed: Option<u64>,
    /// Accepted bearer tokens; empty accepts any non-empty token.
    pub tokens: Vec<String>,
    /// Origins allowed by CORS; empty allows any origin.
    pub cors_origins: Vec<String>,
    /// Jobs kept in memory; past it the oldest terminal jobs are evicted.
    pub max_jobs: usize,
    /// Largest request body in bytes.
    pub max_body: usize,
    /// Whether `/__admin` routes are served.
    pub admin: bool,
    /// The base URL written into `image_url`; `None` uses the request's `Host`.
    pub public_url: Option<String>,
    /// The initial fault settings.
    pub faults: Faults,
    /// Whether the mock's clock follows real time or only admin advances.
    pub clock: ClockMode,
    /// Start with the queue paused: no job starts until `/__admin/queue/resume`.
    pub paused: bool,
    /// Requests kept in the request journal; 0 turns it off.
    pub journal_size: usize,
    /// Every job advances by its polls (`X-Mock-Polls` for all jobs).
    pub polls: Option<u32>,
    /// Jobs loaded at start and on every reset.
    pub fixtures: Fixtures,
    /// A recording to replay (`--replay`): its jobs loaded at start and on
    /// every reset, new jobs drawn from its per-type distributions (see
    /// `docs/record-replay.md`). Not together with `fixtures`.
    pub replay: Option<Replay>,
    /// How long a connection may go without a complete request head: from
    /// its accept (through protocol detection) or from the end of its last
    /// answer, until the next head has fully arrived. Past it the
    /// connection is closed. At most [`MAX_CONNECTION_TIMEOUT`].
    pub head_timeout: Duration,
    /// How long a request body may take to arrive, in all; past it the
    /// request is answered 400 and the connection closed. At most
    /// [`MAX_CONNECTION_TIMEOUT`].
    pub body_timeout: Duration,
    /// `--proxy-to`: forward every `/api/v1` request to a real backend and
    /// record its jobs ([`Proxy`]); `None` (the default) serves the local queue.
    pub proxy: Option<Proxy>,
}

/// The default [`Config::head_timeout`] and [`Config::body_timeout`].
pub const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest [`Config::head_timeout`] and [`Config::body_timeout`]: a
/// deadline is there to free what a silent client holds, so one that
/// never passes is refused.
pub const MAX_CONNECTION_TIMEOUT: Duration = Duration::from_secs(3600);

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 4,
            seed: None,
            tokens: Vec::new(),
            cors_origins: Vec::new(),
            max_jobs: 100_000,
            max_body: 10 * 1024 * 1024,
            admin: true,
            public_url: None,
            faults: Faults::default(),
            clock: ClockMode::Real,
            paused: false,
            journal_size: 1000,
            polls: None,
            fixtures: Fixtures::default(),
            replay: None,
            head_timeout: DEFAULT_CONNECTION_TIMEOUT,
            body_timeout: DEFAULT_CONNECTION_TIMEOUT,
            proxy: None,
        }
    }
}

impl Config {
    /// A config for tests: the defaults, seeded (the same draws on every
    /// run: outcomes, images, injected faults) and with every attempt
    /// taking exactly [`Config::FAST_PROCESSING`], so a test's jobs finish
    /// almost at once but still pass through `processing`.
    ///
    /// The one constructor the crate's own tests, the SDK's and the
    /// workspace's end-to-end tests start from.
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_mock_server::Config;
    ///
    /// let mut config = Config::fast();
    /// config.workers = 1; // then change what the test is about
    /// assert_eq!(config.seed, Some(7));
    /// assert!(config.validate().is_ok());
    /// ```
    pub fn fast() -> Config {
        let mut config = Config {
            seed: Some(7),
            ..Config::default()
        };
        config.faults.processing_time = DurationRange::fixed(Config::FAST_PROCESSING);
        config
    }

    /// How long each attempt takes under [`Config::fast`]: 20 ms.
    pub const FAST_PROCESSING: Duration = Duration::from_millis(20);

    /// Checks what a programmatic config could get wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// use vestis_mock_server::Config;
    ///
    /// let mut config = Config::default();
    /// assert!(config.validate().is_ok());
    /// config.polls = Some(0);
    /// assert_eq!(config.validate().unwrap_err().to_string(), "polls must be from 1 to 10000");
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidSetting`] for faults out of range, more
    /// fixtures (or replayed jobs) than `max_jobs`, `polls` outside
    /// `1..=MAX_POLLS`, a connection timeout of 0 or over
    /// [`MAX_CONNECTION_TIMEOUT`], or a [`Proxy`] that [`Proxy::validate`]
    /// refuses; [`ConfigError::Conflict`] for a replay with fixtures or a
    /// proxy.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.faults.validate()?;
        if let Some(replay) = &self.replay {
            if self.proxy.is_some() {
                return Err(ConfigError::Conflict(
                    "--replay and --proxy-to cannot be used together: a replay serves its recording, a proxy the real API".into(),
                ));
            }
            if !self.fixtures.is_empty() {
                return Err(ConfigError::Conflict(
                    "--replay and --fixtures cannot be used together: a replay loads the recording's jobs".into(),
                ));
            }
            if replay.len() > self.max_jobs {
                return Err(ConfigError::setting(
                    "replay",
                    format!(
                        "holds {} jobs, more than max_jobs ({})",
                        replay.len(),
                        self.max_jobs
                    ),
                ));
            }
        }
        if self.fixtures.len() > self.max_jobs {
            return Err(ConfigError::setting(
                "fixtures",
                format!(
                    "hold {} jobs, more than max_jobs ({})",
                    self.fixtures.len(),
                    self.max_jobs
                ),
            ));
        }
        for (name, value) in [
            ("head_timeout", self.head_timeout),
            ("body_timeout", self.body_timeout),
        ] {
            if value.is_zero() || value > MAX_CONNECTION_TIMEOUT {
                return Err(ConfigError::setting(
                    name,
                    format!(
                        "must be more than 0 and at most {}s",
                        MAX_CONNECTION_TIMEOUT.as_secs()
                    ),
                ));
            }
        }
        if let Some(proxy) = &self.proxy {
            proxy.validate()?;
        }
        if self.polls.is_some_and(|n| !(1..=MAX_POLLS).contains(&n)) {
            return Err(ConfigError::setting(
                "polls",
                format!("must be from 1 to {MAX_POLLS}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_round_trip_as_json() {
        let f = Faults {
            latency: Duration::from_millis(150),
            ..Faults::default()
        };
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["latency"], "150ms");
        assert_eq!(json["processing_time"], "3s..6s");
        let back: Faults = serde_json::from_value(json).unwrap();
        assert_eq!(back, f);
        assert!(
            Faults {
                failure_rate: 1.5,
                ..Faults::default()
            }
            .validate()
            .is_err()
        );
    }
}
