//! The queue's own settings types: the processing-time range, its
//! per-type overrides, and the fault settings it draws attempts from. The
//! config builds them; the queue imports nothing of the config.

use std::time::Duration;

use vestis_client::JobKind;

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

/// Processing times per job type, overriding the range every other type
/// uses: written `chat=300ms..600ms,flatlay=1s..2s` (the config's
/// `--processing-time` and `processing_time_by_type` read and print it).
///
/// Kept as whole milliseconds in a fixed array, `Copy` and 52 bytes: the
/// queue copies its settings on every request, and an empty table costs
/// one byte compare per attempt.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use vestis_client::JobKind;
/// use vestis_mock_server::config::{DurationRange, TypeTimes};
///
/// let times: TypeTimes = "chat=300ms..600ms,flatlay=1s..2s".parse().unwrap();
/// assert_eq!(times.get(JobKind::Chat).unwrap().max, Duration::from_millis(600));
/// assert_eq!(times.get(JobKind::Mdoli), None);
/// assert_eq!(times.to_string(), "chat=300ms..600ms,flatlay=1s..2s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TypeTimes {
    /// `[min, max]` in milliseconds, by [`JobKind::ALL`]'s order.
    ms: [[u32; 2]; 6],
    /// Bit `i` set: [`JobKind::ALL`]`[i]` has its own range.
    set: u8,
}

impl TypeTimes {
    /// `kind`'s slot: its place in [`JobKind::ALL`].
    fn index(kind: JobKind) -> Option<usize> {
        JobKind::ALL.iter().position(|k| *k == kind)
    }

    /// `kind`'s own range, if it has one.
    pub fn get(&self, kind: JobKind) -> Option<DurationRange> {
        let i = TypeTimes::index(kind)?;
        (self.set & (1 << i) != 0).then(|| DurationRange {
            min: Duration::from_millis(u64::from(self.ms[i][0])),
            max: Duration::from_millis(u64::from(self.ms[i][1])),
        })
    }

    /// Gives `kind` its own range (at millisecond resolution, as the draw
    /// is; past `u32::MAX` ms it is clamped), or takes it away with `None`.
    pub fn set(&mut self, kind: JobKind, range: Option<DurationRange>) {
        let Some(i) = TypeTimes::index(kind) else {
            return;
        };
        let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        match range {
            Some(r) => {
                self.ms[i] = [ms(r.min), ms(r.max)];
                self.set |= 1 << i;
            }
            None => {
                self.ms[i] = [0, 0];
                self.set &= !(1 << i);
            }
        }
    }

    /// Whether no type has its own range.
    pub fn is_empty(&self) -> bool {
        self.set == 0
    }

    /// Each type with its own range, in [`JobKind::ALL`]'s order.
    pub fn iter(&self) -> impl Iterator<Item = (JobKind, DurationRange)> + '_ {
        JobKind::ALL
            .iter()
            .filter_map(|&k| self.get(k).map(|r| (k, r)))
    }
}

/// How attempts go: the queue's share of the fault settings (the config's
/// `Faults` joins it with the HTTP share). Nothing of HTTP.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct QueueFaults {
    pub(crate) processing_time: DurationRange,
    /// Types whose attempts take their own range instead.
    pub(crate) by_type: TypeTimes,
    pub(crate) failure_rate: f64,
    pub(crate) max_attempts: u32,
}
