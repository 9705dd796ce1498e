//! The queue's own settings types: the processing-time range and the fault
//! settings it draws attempts from. The config builds them; the queue
//! imports nothing of the config.

use std::time::Duration;

/// A duration or a range of durations, written `500ms`, `2m`, `200ms..400ms`
/// or `2m..3m`. Values are drawn uniformly from the range.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use vestis_mock_server::DurationRange;
///
/// let r: DurationRange = "2m..3m".parse().unwrap();
/// assert_eq!(r.min, Duration::from_secs(120));
/// assert_eq!(r.to_string(), "2m..3m");
/// ```
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

/// How attempts go: the queue's share of the fault settings (the config's
/// `Faults` joins it with the HTTP share). Nothing of HTTP.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct QueueFaults {
    pub(crate) processing_time: DurationRange,
    pub(crate) failure_rate: f64,
    pub(crate) max_attempts: u32,
}
