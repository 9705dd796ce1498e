//! The server's settings: command-line flags (and `VESTIS_MOCK_*` variables),
//! the duration syntax, and the fault settings the admin API can change at
//! run time.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A duration or a range of durations, written `500ms`, `2m`, `200ms..400ms`
/// or `2m..3m`. Values are drawn uniformly from the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationRange {
    /// The shortest duration.
    pub min: Duration,
    /// The longest duration (equal to `min` for a single duration).
    pub max: Duration,
}

impl DurationRange {
    /// A range holding one duration.
    pub fn fixed(d: Duration) -> DurationRange {
        DurationRange { min: d, max: d }
    }

    /// A uniformly drawn duration, at millisecond resolution.
    pub(crate) fn sample(&self, rng: &mut fastrand::Rng) -> Duration {
        let (lo, hi) = (self.min.as_millis(), self.max.as_millis());
        if hi <= lo {
            return self.min;
        }
        let lo = u64::try_from(lo).unwrap_or(u64::MAX);
        let hi = u64::try_from(hi).unwrap_or(u64::MAX);
        Duration::from_millis(rng.u64(lo..=hi))
    }
}

/// Parses a duration such as `500ms`, `90s`, `2m` or `1h 30m`.
///
/// A bare number is rejected: the unit is what makes `--latency 50` unambiguous.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration {s:?}: {e} (write e.g. 500ms, 90s, 2m)"))
}

/// Formats a duration the way [`parse_duration`] reads it.
pub fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_owned();
    }
    humantime::format_duration(d).to_string().replace(' ', "")
}

impl FromStr for DurationRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (min, max) = match s.split_once("..") {
            Some((a, b)) => (parse_duration(a)?, parse_duration(b)?),
            None => {
                let d = parse_duration(s)?;
                (d, d)
            }
        };
        if max < min {
            return Err(format!(
                "invalid range {s:?}: the end is shorter than the start"
            ));
        }
        Ok(DurationRange { min, max })
    }
}

impl fmt::Display for DurationRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            f.write_str(&format_duration(self.min))
        } else {
            write!(
                f,
                "{}..{}",
                format_duration(self.min),
                format_duration(self.max)
            )
        }
    }
}

impl Serialize for DurationRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DurationRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
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
    /// How long one processing attempt takes.
    pub processing_time: DurationRange,
    /// The probability (0..=1) that an attempt fails.
    pub failure_rate: f64,
    /// Attempts before a job ends `failed` (at least 1).
    pub max_attempts: u32,
    /// Requests per second per token on `/api/v1`; `None` for no limit.
    pub rate_limit: Option<u32>,
    /// The probability (0..=1) that an `/api/v1` request is answered 503.
    pub http_error_rate: f64,
    /// Added to every `/api/v1` response.
    #[serde(with = "duration_text")]
    pub latency: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            processing_time: DEFAULT_PROCESSING_TIME,
            failure_rate: 0.0,
            max_attempts: 3,
            rate_limit: None,
            http_error_rate: 0.0,
            latency: Duration::ZERO,
        }
    }
}

impl Faults {
    /// Checks the ranges a person could get wrong.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("failure_rate", self.failure_rate),
            ("http_error_rate", self.http_error_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1, got {rate}"));
            }
        }
        if self.max_attempts == 0 {
            return Err("max_attempts must be at least 1".to_owned());
        }
        if self.rate_limit == Some(0) {
            return Err("rate_limit must be at least 1 request per second".to_owned());
        }
        Ok(())
    }
}

mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        super::parse_duration(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Everything the server needs to run.
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
}

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
        }
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a probability between 0 and 1")),
    }
}

fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("invalid size {s:?} (write e.g. 10MiB, 512KiB or 1048576)"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        _ => {
            return Err(format!(
                "invalid size unit in {s:?} (use B, KiB, MiB or GiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("invalid size {s:?}"))
}

/// The binary's flags. Each also reads a `VESTIS_MOCK_*` variable.
#[derive(Debug, Clone, clap::Parser)]
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
    /// Workers processing jobs concurrently.
    #[arg(long, env = "VESTIS_MOCK_WORKERS", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: u16,
    /// How long one attempt takes: a duration or a range, e.g. `2s`, `200ms..400ms`, `2m..3m`.
    #[arg(long, env = "VESTIS_MOCK_PROCESSING_TIME", default_value_t = DEFAULT_PROCESSING_TIME)]
    pub processing_time: DurationRange,
    /// The guide's realistic 2-3 minutes per attempt (overrides --processing-time).
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
    /// Added to every /api/v1 response, e.g. `150ms`.
    #[arg(long, env = "VESTIS_MOCK_LATENCY", default_value = "0s", value_parser = parse_duration)]
    pub latency: Duration,
    /// Jobs kept in memory; the oldest finished ones are evicted past it.
    #[arg(long, env = "VESTIS_MOCK_MAX_JOBS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_jobs: u64,
    /// Largest request body, e.g. `10MiB`.
    #[arg(long, env = "VESTIS_MOCK_MAX_BODY", default_value = "10MiB", value_parser = parse_size)]
    pub max_body: usize,
    /// Accept only this bearer token (repeatable); by default any non-empty token.
    #[arg(long = "token", env = "VESTIS_MOCK_TOKENS", value_delimiter = ',')]
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
}

impl Args {
    /// The server configuration these flags describe.
    pub fn config(&self) -> Config {
        Config {
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
                    self.processing_time
                },
                failure_rate: self.failure_rate,
                max_attempts: self.max_attempts,
                rate_limit: self.rate_limit,
                http_error_rate: self.http_error_rate,
                latency: self.latency,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn duration_ranges_parse_and_print() {
        let r: DurationRange = "200ms..400ms".parse().unwrap();
        assert_eq!(r.min, Duration::from_millis(200));
        assert_eq!(r.max, Duration::from_millis(400));
        assert_eq!(r.to_string(), "200ms..400ms");
        let r: DurationRange = "2m..3m".parse().unwrap();
        assert_eq!(r, REALISTIC_PROCESSING_TIME);
        assert_eq!("2s".parse::<DurationRange>().unwrap().to_string(), "2s");
        assert!("3s..1s".parse::<DurationRange>().is_err());
        assert!("fast".parse::<DurationRange>().is_err());
        assert!("50".parse::<DurationRange>().is_err());
    }

    #[test]
    fn samples_stay_in_range_and_follow_the_seed() {
        let r: DurationRange = "100ms..200ms".parse().unwrap();
        let mut a = fastrand::Rng::with_seed(7);
        let mut b = fastrand::Rng::with_seed(7);
        for _ in 0..1000 {
            let d = r.sample(&mut a);
            assert!(d >= r.min && d <= r.max);
            assert_eq!(d, r.sample(&mut b));
        }
    }

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
        let c = args.config();
        assert_eq!(c.tokens, ["a", "b"]);
        assert_eq!(c.max_body, 1024);
        assert!(!c.admin);
        assert_eq!(c.faults.failure_rate, 0.5);
        assert_eq!(c.faults.latency, Duration::from_millis(20));
        let realistic = Args::try_parse_from(["x", "--realistic"]).unwrap().config();
        assert_eq!(realistic.faults.processing_time, REALISTIC_PROCESSING_TIME);
        assert!(Args::try_parse_from(["x", "--failure-rate", "2"]).is_err());
        assert!(Args::try_parse_from(["x", "--workers", "0"]).is_err());
        assert!(Args::try_parse_from(["x", "--max-body", "ten"]).is_err());
    }

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
