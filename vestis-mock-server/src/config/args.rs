//! The binary's flags (each also read from a `VESTIS_MOCK_*` variable) and
//! the config they describe.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;

use super::proxy::{MAX_PROXY_DURATION, Proxy};
use super::{
    ClockMode, Config, ConfigError, FaultList, FaultOn, Faults, Fixtures, MAX_CONNECTION_TIMEOUT,
    MAX_POLLS, ProcessingTime, REALISTIC_PROCESSING_TIME, Replay, parse_duration,
};

/// `--head-timeout` and `--body-timeout`: a duration up to an hour (0 is
/// refused by [`Config::validate`]).
fn parse_connection_timeout(s: &str) -> Result<Duration, ConfigError> {
    super::parse_bounded(s, MAX_CONNECTION_TIMEOUT)
}

/// `--proxy-timeout` and `--follow-every`: up to ten minutes (0 is
/// refused by [`Proxy::validate`]).
fn parse_proxy_duration(s: &str) -> Result<Duration, ConfigError> {
    super::parse_bounded(s, MAX_PROXY_DURATION)
}

fn parse_rate(s: &str) -> Result<f64, ConfigError> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(ConfigError::setting(
            "rate",
            format!("must be a probability between 0 and 1, got {s:?}"),
        )),
    }
}

/// A byte size in bytesize's syntax: `10MiB`, `512KiB`, `1048576`
/// (`MB` and `KB` are decimal, `MiB` and `KiB` binary).
fn parse_size(s: &str) -> Result<usize, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidSize {
        input: s.to_owned(),
        reason,
    };
    let size: ByteSize = s.trim().parse().map_err(invalid)?;
    usize::try_from(size.as_u64())
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| invalid("must be more than 0 bytes".to_owned()))
}

/// The binary's flags. Each also reads a `VESTIS_MOCK_*` variable.
///
/// `#[non_exhaustive]`: every new flag is a new field, so other crates get
/// one from `clap::Parser` (`Args::parse`, `Args::try_parse_from`), not
/// from a struct literal.
#[derive(Debug, Clone, clap::Parser)]
#[non_exhaustive]
#[command(
    name = "vestis-mock-server",
    version,
    about = "An in-memory mock of the Vestis job API for contract testing.",
    long_about = "An in-memory mock of the Vestis job API for contract testing: the real HTTP \
contract, a real job queue with workers, seeded determinism, and injectable faults. \
Prints one line, `vestis-mock-server listening on http://HOST:PORT`, when ready."
)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "VESTIS_MOCK_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, env = "VESTIS_MOCK_PORT", default_value_t = 4000)]
    pub port: u16,
    /// Threads answering HTTP: 1 (one event loop) is the fastest on a small machine shared with the clients; more spread the work over more cores.
    #[arg(long, env = "VESTIS_MOCK_THREADS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,
    /// Workers processing jobs concurrently.
    #[arg(long, env = "VESTIS_MOCK_WORKERS", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: u16,
    /// How long one attempt takes: a duration or a range, e.g. `2s`, `200ms..400ms`, `2m..3m`, for every job type; and per type, comma-separated: `chat=300ms..600ms,flatlay=1s..2s` (other types: 3s..6s) or `2s,chat=300ms..600ms`.
    #[arg(long, env = "VESTIS_MOCK_PROCESSING_TIME", default_value_t = ProcessingTime::default())]
    pub processing_time: ProcessingTime,
    /// The guide's realistic 2-3 minutes per attempt (overrides --processing-time's range for all types; per-type ranges stay).
    #[arg(long, env = "VESTIS_MOCK_REALISTIC")]
    pub realistic: bool,
    /// Probability (0..1) that an attempt fails.
    #[arg(long, env = "VESTIS_MOCK_FAILURE_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub failure_rate: f64,
    /// Attempts before a job ends failed.
    #[arg(long, env = "VESTIS_MOCK_MAX_ATTEMPTS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: u32,
    /// Seed for reproducible durations, failures and injected errors.
    #[arg(long, env = "VESTIS_MOCK_SEED")]
    pub seed: Option<u64>,
    /// Requests per second per token on /api/v1; over it: 429 with Retry-After.
    #[arg(long, env = "VESTIS_MOCK_RATE_LIMIT", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit: Option<u32>,
    /// Probability (0..1) of a random 503 with Retry-After on /api/v1.
    #[arg(long, env = "VESTIS_MOCK_HTTP_ERROR_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub http_error_rate: f64,
    /// Added to every /api/v1 response, e.g. `150ms` (at most 1 day).
    #[arg(long, env = "VESTIS_MOCK_LATENCY", default_value = "0s", value_parser = parse_duration)]
    pub latency: Duration,
    /// Probability (0..1) that an /api/v1 request gets a transport fault from --faults (see docs/faults.md).
    #[arg(long, env = "VESTIS_MOCK_FAULT_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub fault_rate: f64,
    /// The transport faults --fault-rate draws from: reset, close, truncate, garbage, stall, slow-body[=DURATION].
    #[arg(long, env = "VESTIS_MOCK_FAULTS", default_value_t = FaultList::default())]
    pub faults: FaultList,
    /// Which /api/v1 requests --fault-rate may fault.
    #[arg(long, env = "VESTIS_MOCK_FAULT_ON", value_enum, default_value_t = FaultOn::All)]
    pub fault_on: FaultOn,
    /// Jobs kept in memory; the oldest finished ones are evicted past it.
    #[arg(long, env = "VESTIS_MOCK_MAX_JOBS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_jobs: u64,
    /// Largest request body, e.g. `10MiB`.
    #[arg(long, env = "VESTIS_MOCK_MAX_BODY", default_value = "10MiB", value_parser = parse_size)]
    pub max_body: usize,
    /// Accept only this bearer token (repeatable); by default any non-empty token.
    /// Never shown by `--help`, even when set in the environment: it is a secret.
    #[arg(
        long = "token",
        env = "VESTIS_MOCK_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub tokens: Vec<String>,
    /// Allow only this CORS origin (repeatable); by default any origin.
    #[arg(
        long = "cors-origin",
        env = "VESTIS_MOCK_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// Base URL written into image_url (default: from the request's Host header).
    #[arg(long, env = "VESTIS_MOCK_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Do not serve the /__admin routes.
    #[arg(long, env = "VESTIS_MOCK_NO_ADMIN")]
    pub no_admin: bool,
    /// The mock's clock: `real` time, or `manual` (moves only on POST /__admin/clock/advance).
    #[arg(long, env = "VESTIS_MOCK_CLOCK", value_enum, default_value_t = ClockMode::Real)]
    pub clock: ClockMode,
    /// Start with the queue paused: jobs stay pending until POST /__admin/queue/resume.
    #[arg(long, env = "VESTIS_MOCK_PAUSED")]
    pub paused: bool,
    /// Requests kept by the request journal (GET /__admin/requests); 0 turns it off.
    #[arg(long, env = "VESTIS_MOCK_JOURNAL_SIZE", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub journal_size: u32,
    /// Every job advances by its GETs instead of time: terminal at the Nth (as X-Mock-Polls: N).
    #[arg(long, env = "VESTIS_MOCK_POLLS", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_POLLS)))]
    pub polls: Option<u32>,
    /// Close a connection that has not sent a complete request head within this long of opening or of its last answer, e.g. `30s` (at most 1h).
    #[arg(long, env = "VESTIS_MOCK_HEAD_TIMEOUT", default_value = "30s", value_parser = parse_connection_timeout)]
    pub head_timeout: Duration,
    /// Answer 400 and close when a request body has not fully arrived within this long, e.g. `30s` (at most 1h).
    #[arg(long, env = "VESTIS_MOCK_BODY_TIMEOUT", default_value = "30s", value_parser = parse_connection_timeout)]
    pub body_timeout: Duration,
    /// A JSON file of jobs to load at start and on every reset (see the README).
    #[arg(long, env = "VESTIS_MOCK_FIXTURES")]
    pub fixtures: Option<PathBuf>,
    /// Replay a recording (see docs/record-replay.md): its jobs loaded as last seen, owned by the --token whose fingerprint recorded them; new jobs drawn per type from its waits, processing times, attempts and failures (--seed fixes the draws).
    #[arg(long, env = "VESTIS_MOCK_REPLAY", conflicts_with_all = ["fixtures", "proxy_to"])]
    pub replay: Option<PathBuf>,
    /// Forward every /api/v1 request to this real API (e.g. https://staging.example/api/v1) instead of the local queue, and follow the jobs seen (docs/record-replay.md). X-Mock-* headers are not forwarded.
    #[arg(long, env = "VESTIS_MOCK_PROXY_TO", value_name = "URL")]
    pub proxy_to: Option<String>,
    /// With --proxy-to: write what was seen to this recording file (on stop, on POST /__admin/recording, and every 5s when it changed); images go to FILE.images/.
    #[arg(
        long,
        env = "VESTIS_MOCK_RECORD",
        value_name = "FILE",
        requires = "proxy_to",
        conflicts_with = "replay"
    )]
    pub record: Option<PathBuf>,
    /// With --proxy-to: how long one forwarded request may take in all before the client gets a 502 (connecting: at most 5s), e.g. `30s` (at most 10m).
    #[arg(long, env = "VESTIS_MOCK_PROXY_TIMEOUT", requires = "proxy_to", conflicts_with = "replay", default_value = "30s", value_parser = parse_proxy_duration)]
    pub proxy_timeout: Duration,
    /// With --proxy-to: how often each unfinished job seen is polled on the real API, e.g. `200ms` (at most 10m).
    #[arg(long, env = "VESTIS_MOCK_FOLLOW_EVERY", requires = "proxy_to", conflicts_with = "replay", default_value = "200ms", value_parser = parse_proxy_duration)]
    pub follow_every: Duration,
    /// With --proxy-to: also trust the certificate authorities in this PEM file (one or more certificates) for an https:// backend behind a private CA; the system's roots stay trusted.
    #[arg(
        long,
        env = "VESTIS_MOCK_PROXY_CA_CERT",
        value_name = "FILE",
        requires = "proxy_to",
        conflicts_with = "replay"
    )]
    pub proxy_ca_cert: Option<PathBuf>,
    /// Do not serve: probe the server at --host/--port (GET /health) and exit 0 if it answers 200, else 1.
    /// For a container's HEALTHCHECK (the image has no curl). No variable: the environment never turns the server into a probe.
    #[arg(long)]
    pub healthcheck: bool,
    /// Stop gracefully once stdin reaches its end: for a parent that holds the other end of a pipe (the npm package does), so the server never outlives it, even one killed with SIGKILL.
    /// No variable: a container started without stdin would stop at once.
    #[arg(long)]
    pub stop_on_stdin_close: bool,
}

impl Args {
    /// The server configuration these flags describe, with `--fixtures`
    /// read and `--record`'s file checked ([`Proxy::check_record`]).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Fixtures`] when the fixtures file cannot be read or
    /// holds a bad entry; [`ConfigError::Recording`] when the `--replay`
    /// file cannot be read or is not a recording this build reads;
    /// [`ConfigError::Record`] for a `--record` file that cannot be
    /// written or is not a recording; [`ConfigError::InvalidSetting`] as
    /// [`Config::validate`].
    ///
    /// # Examples
    ///
    /// ```
    /// use clap::Parser;
    /// use vestis_mock_server::{Args, ClockMode};
    ///
    /// let args = Args::try_parse_from(["vestis-mock-server", "--clock", "manual", "--paused"]).unwrap();
    /// let config = args.config().unwrap();
    /// assert_eq!(config.clock, ClockMode::Manual);
    /// assert!(config.paused);
    /// ```
    pub fn config(&self) -> Result<Config, ConfigError> {
        let fixtures = match &self.fixtures {
            Some(path) => Fixtures::from_file(path)?,
            None => Fixtures::default(),
        };
        let replay = self.replay.as_deref().map(Replay::from_file).transpose()?;
        let config = Config {
            workers: usize::from(self.workers),
            seed: self.seed,
            tokens: self
                .tokens
                .iter()
                .filter(|t| !t.is_empty())
                .cloned()
                .collect(),
            cors_origins: self.cors_origins.clone(),
            max_jobs: usize::try_from(self.max_jobs).unwrap_or(usize::MAX),
            max_body: self.max_body,
            admin: !self.no_admin,
            public_url: self
                .public_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_owned()),
            faults: Faults {
                processing_time: if self.realistic {
                    REALISTIC_PROCESSING_TIME
                } else {
                    self.processing_time.all
                },
                processing_time_by_type: self.processing_time.by_type,
                failure_rate: self.failure_rate,
                max_attempts: self.max_attempts,
                rate_limit: self.rate_limit,
                http_error_rate: self.http_error_rate,
                latency: self.latency,
                fault_rate: self.fault_rate,
                fault_kinds: self.faults,
                fault_on: self.fault_on,
            },
            clock: self.clock,
            paused: self.paused,
            journal_size: self.journal_size as usize,
            polls: self.polls,
            fixtures,
            replay,
            head_timeout: self.head_timeout,
            body_timeout: self.body_timeout,
            proxy: self.proxy_to.as_ref().map(|to| {
                let mut proxy = Proxy::new(to);
                proxy.record = self.record.clone();
                proxy.timeout = self.proxy_timeout;
                proxy.follow_every = self.follow_every;
                proxy.ca_cert = self.proxy_ca_cert.clone();
                proxy
            }),
        };
        config.validate()?;
        if let Some(proxy) = &config.proxy {
            proxy.check_ca_cert()?;
            proxy.check_record()?;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn flags_build_the_config() {
        let args = Args::try_parse_from([
            "x",
            "--port",
            "0",
            "--processing-time",
            "1s..2s",
            "--failure-rate",
            "0.5",
            "--token",
            "a",
            "--token",
            "b",
            "--max-body",
            "1KiB",
            "--latency",
            "20ms",
            "--no-admin",
        ])
        .unwrap();
        let c = args.config().unwrap();
        assert_eq!(c.tokens, ["a", "b"]);
        assert_eq!(c.max_body, 1024);
        assert!(!c.admin);
        assert_eq!(c.faults.failure_rate, 0.5);
        assert_eq!(c.faults.latency, Duration::from_millis(20));
        let realistic = Args::try_parse_from(["x", "--realistic"])
            .unwrap()
            .config()
            .unwrap();
        assert_eq!(realistic.faults.processing_time, REALISTIC_PROCESSING_TIME);
        assert!(Args::try_parse_from(["x", "--failure-rate", "2"]).is_err());
        assert!(Args::try_parse_from(["x", "--workers", "0"]).is_err());
        assert!(Args::try_parse_from(["x", "--max-body", "ten"]).is_err());
        assert!(Args::try_parse_from(["x", "--latency", "99999999999999d"]).is_err());
        let sized = |s: &str| Args::try_parse_from(["x", "--max-body", s]).map(|a| a.max_body);
        assert_eq!(sized("512KiB").unwrap(), 512 * 1024);
        assert_eq!(sized("1 MB").unwrap(), 1_000_000);
        assert_eq!(sized("1048576").unwrap(), 1_048_576);
        assert!(sized("0").is_err());
    }

    #[test]
    fn proxy_flags_build_the_proxy() {
        let c = Args::try_parse_from([
            "x",
            "--proxy-to",
            "http://127.0.0.1:9/api/v1/",
            "--record",
            "r.json",
            "--follow-every",
            "100ms",
        ])
        .unwrap()
        .config()
        .unwrap();
        let proxy = c.proxy.unwrap();
        assert_eq!(proxy.to, "http://127.0.0.1:9/api/v1");
        assert_eq!(proxy.record, Some(PathBuf::from("r.json")));
        assert_eq!(proxy.follow_every, Duration::from_millis(100));
        assert_eq!(proxy.timeout, super::super::proxy::DEFAULT_PROXY_TIMEOUT);
        let defaults = Args::try_parse_from(["x", "--proxy-to", "http://h"]).unwrap();
        assert_eq!(
            defaults.follow_every,
            super::super::proxy::DEFAULT_FOLLOW_EVERY
        );
        let alone = Args::try_parse_from(["x", "--record", "r.json"]).unwrap_err();
        assert!(alone.to_string().contains("--proxy-to"), "{alone}");
        assert!(Args::try_parse_from(["x", "--proxy-to", "h", "--follow-every", "1h"]).is_err());
    }

    #[test]
    fn connection_timeouts_are_flags_with_bounds() {
        let c = Args::try_parse_from(["x", "--head-timeout", "500ms", "--body-timeout", "2s"])
            .unwrap()
            .config()
            .unwrap();
        assert_eq!(c.head_timeout, Duration::from_millis(500));
        assert_eq!(c.body_timeout, Duration::from_secs(2));
        let defaults = Args::try_parse_from(["x"]).unwrap().config().unwrap();
        assert_eq!(defaults.head_timeout, Duration::from_secs(30));
        assert_eq!(defaults.body_timeout, Duration::from_secs(30));
        assert!(Args::try_parse_from(["x", "--head-timeout", "2h"]).is_err());
        let zero = Args::try_parse_from(["x", "--body-timeout", "0s"]).unwrap();
        assert_eq!(
            zero.config().unwrap_err().to_string(),
            "body_timeout must be more than 0 and at most 3600s"
        );
    }
}
