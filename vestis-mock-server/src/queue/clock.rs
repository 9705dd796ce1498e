//! The mock's clock: what `created_at`, `started_at` and `completed_at` read.
//!
//! In `real` mode it follows tokio's clock (so paused-time tests see
//! timestamps that agree with the time they advance) plus whatever the
//! admin API advanced; in `manual` mode it stands still until advanced.
//! It lives inside the queue's store, under the store's lock, so a jump
//! and the job transitions it causes are one atomic step.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// How the mock's clock moves (`--clock real|manual`).
///
/// # Examples
///
/// ```
/// use clap::ValueEnum;
/// use vestis_mock_server::ClockMode;
///
/// assert_eq!(ClockMode::from_str("manual", false), Ok(ClockMode::Manual));
/// assert_eq!(ClockMode::default().as_str(), "real");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ClockMode {
    /// Follows real (tokio) time, plus any admin advance.
    #[default]
    Real,
    /// Stands still until `POST /__admin/clock/advance`.
    Manual,
}

impl ClockMode {
    /// `real` or `manual`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClockMode::Real => "real",
            ClockMode::Manual => "manual",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    mode: ClockMode,
    wall: SystemTime,
    mono: Instant,
    /// Everything `advance` added since the start (or the last reset).
    advanced: Duration,
}

impl Clock {
    pub(crate) fn new(mode: ClockMode) -> Clock {
        Clock {
            mode,
            wall: SystemTime::now(),
            mono: Instant::now(),
            advanced: Duration::ZERO,
        }
    }

    pub(crate) fn mode(&self) -> ClockMode {
        self.mode
    }

    pub(crate) fn now(&self) -> SystemTime {
        let elapsed = match self.mode {
            ClockMode::Real => self.mono.elapsed(),
            ClockMode::Manual => Duration::ZERO,
        };
        self.wall + elapsed + self.advanced
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        self.advanced += by;
    }

    /// How much real time remains until the mock's clock reads `at`, or
    /// `None` when only an advance can get there (a manual clock).
    pub(crate) fn real_wait_until(&self, at: SystemTime) -> Option<Duration> {
        match self.mode {
            ClockMode::Real => Some(at.duration_since(self.now()).unwrap_or(Duration::ZERO)),
            ClockMode::Manual => None,
        }
    }
}
