//! One duration syntax for flags, headers, admin bodies and messages:
//! humantime's (`500ms`, `90s`, `2m30s`, `1h 30m`), bounded so that a typo
//! like `99999999999999d` is refused instead of overflowing a timer.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vestis_client::JobKind;

use super::{ConfigError, DEFAULT_PROCESSING_TIME};
use crate::queue::{DurationRange, TypeTimes};

/// The longest duration a setting accepts (processing time, latency,
/// `X-Mock-Duration`): one day.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest single clock advance: 366 days.
pub const MAX_ADVANCE: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// Parses a duration such as `500ms`, `90s`, `2m30s` or `1h 30m`, at most
/// [`MAX_DURATION`].
///
/// A bare number is refused: the unit is what makes `--latency 50` unambiguous.
///
/// # Errors
///
/// [`ConfigError::InvalidDuration`] for text humantime cannot read, and
/// [`ConfigError::DurationTooLong`] past [`MAX_DURATION`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use vestis_mock_server::config::parse_duration;
///
/// assert_eq!(parse_duration("2m30s").unwrap(), Duration::from_secs(150));
/// assert!(parse_duration("50").is_err());
/// assert!(parse_duration("99999999999999d").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, ConfigError> {
    parse_bounded(s, MAX_DURATION)
}

/// Like [`parse_duration`], with another upper bound.
///
/// # Errors
///
/// As [`parse_duration`], with `max` as the bound.
pub fn parse_bounded(s: &str, max: Duration) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| ConfigError::InvalidDuration {
        input: s.to_owned(),
        reason: e.to_string(),
    })?;
    if d > max {
        return Err(ConfigError::DurationTooLong {
            input: s.to_owned(),
            max: format_duration(max),
        });
    }
    Ok(d)
}

/// Formats a duration the way [`parse_duration`] reads it, e.g. `2m30s`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use vestis_mock_server::config::format_duration;
///
/// assert_eq!(format_duration(Duration::from_millis(150_500)), "2m30s500ms");
/// assert_eq!(format_duration(Duration::ZERO), "0s");
/// ```
pub fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_owned();
    }
    humantime::format_duration(d).to_string().replace(' ', "")
}

impl FromStr for DurationRange {
    type Err = ConfigError;

    /// # Errors
    ///
    /// As [`parse_duration`] for either end, and
    /// [`ConfigError::InvalidRange`] when the end is shorter than the start.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (min, max) = match s.split_once("..") {
            Some((a, b)) => (parse_duration(a)?, parse_duration(b)?),
            None => {
                let d = parse_duration(s)?;
                (d, d)
            }
        };
        if max < min {
            return Err(ConfigError::InvalidRange {
                input: s.to_owned(),
            });
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

impl FromStr for TypeTimes {
    type Err = ConfigError;

    /// `TYPE=RANGE` entries separated by commas, e.g.
    /// `chat=300ms..600ms,flatlay=1s..2s`; the empty text is no entry.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidSetting`] for an entry without `=`, a type
    /// the API does not have, or one named twice; a range's own errors.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut times = TypeTimes::default();
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = |reason: String| ConfigError::setting("processing_time_by_type", reason);
            let (kind, range) = entry.split_once('=').ok_or_else(|| {
                bad(format!(
                    "{entry:?} is not TYPE=RANGE (e.g. chat=300ms..600ms)"
                ))
            })?;
            let kind: JobKind = kind.trim().parse().map_err(|_| {
                let known: Vec<&str> = JobKind::ALL.iter().map(|k| k.as_str()).collect();
                bad(format!(
                    "unknown job type {:?} (known: {})",
                    kind.trim(),
                    known.join(", ")
                ))
            })?;
            if times.get(kind).is_some() {
                return Err(bad(format!("{kind} is given twice")));
            }
            times.set(kind, Some(range.trim().parse()?));
        }
        Ok(times)
    }
}

impl fmt::Display for TypeTimes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (kind, range)) in self.iter().enumerate() {
            let comma = if i == 0 { "" } else { "," };
            write!(f, "{comma}{kind}={range}")?;
        }
        Ok(())
    }
}

impl Serialize for TypeTimes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TypeTimes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// `--processing-time`'s value: a range for every type, and ranges of
/// their own for some types, in one comma-separated list:
/// `2s..4s,chat=300ms..600ms,flatlay=1s..2s`. Without a plain range, the
/// other types keep [`DEFAULT_PROCESSING_TIME`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use vestis_client::JobKind;
/// use vestis_mock_server::config::ProcessingTime;
///
/// let p: ProcessingTime = "chat=300ms..600ms,flatlay=1s..2s".parse().unwrap();
/// assert_eq!(p.all.to_string(), "3s..6s");
/// assert_eq!(p.by_type.get(JobKind::Flatlay).unwrap().min, Duration::from_secs(1));
/// assert_eq!("2s".parse::<ProcessingTime>().unwrap().to_string(), "2s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessingTime {
    /// Every type without its own range.
    pub all: DurationRange,
    /// The types with their own.
    pub by_type: TypeTimes,
}

impl Default for ProcessingTime {
    fn default() -> Self {
        ProcessingTime {
            all: DEFAULT_PROCESSING_TIME,
            by_type: TypeTimes::default(),
        }
    }
}

impl FromStr for ProcessingTime {
    type Err = ConfigError;

    /// # Errors
    ///
    /// As [`DurationRange`]'s and [`TypeTimes`]' parsers, and
    /// [`ConfigError::InvalidSetting`] for two plain ranges.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (plain, typed): (Vec<&str>, Vec<&str>) = s
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .partition(|e| !e.contains('='));
        let all = match plain.as_slice() {
            [] => DEFAULT_PROCESSING_TIME,
            [one] => one.parse()?,
            _ => {
                return Err(ConfigError::setting(
                    "processing_time",
                    format!("{s:?} has more than one range for all types"),
                ));
            }
        };
        Ok(ProcessingTime {
            all,
            by_type: typed.join(",").parse()?,
        })
    }
}

impl fmt::Display for ProcessingTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.all)?;
        if !self.by_type.is_empty() {
            write!(f, ",{}", self.by_type)?;
        }
        Ok(())
    }
}

/// Serde for a `Duration` field written in [`parse_duration`]'s syntax.
pub(crate) mod text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        super::parse_duration(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_print_and_refuse_nonsense() {
        let r: DurationRange = "200ms..400ms".parse().unwrap();
        assert_eq!(r.min, Duration::from_millis(200));
        assert_eq!(r.max, Duration::from_millis(400));
        assert_eq!(r.to_string(), "200ms..400ms");
        assert_eq!("2s".parse::<DurationRange>().unwrap().to_string(), "2s");
        for bad in ["3s..1s", "fast", "50", "99999999999999d", "2d"] {
            assert!(bad.parse::<DurationRange>().is_err(), "{bad}");
        }
        assert_eq!(parse_duration("1 day").unwrap(), MAX_DURATION);
        assert!(parse_bounded("400days", MAX_ADVANCE).is_err());
        assert!(parse_bounded("365days", MAX_ADVANCE).is_ok());
    }

    #[test]
    fn per_type_times_parse_print_and_refuse_nonsense() {
        let p: ProcessingTime = "1s, chat=300ms..600ms ,flatlay=1s..2s".parse().unwrap();
        assert_eq!(p.all, DurationRange::fixed(Duration::from_secs(1)));
        assert_eq!(
            p.by_type.get(JobKind::Chat),
            Some("300ms..600ms".parse().unwrap())
        );
        assert_eq!(p.by_type.get(JobKind::Legacy), None);
        assert_eq!(p.to_string(), "1s,chat=300ms..600ms,flatlay=1s..2s");
        assert_eq!(p.to_string().parse::<ProcessingTime>().unwrap(), p);
        for (bad, says) in [
            ("chat=1s,chat=2s", "twice"),
            ("dog=1s", "unknown job type \"dog\""),
            ("chat=3s..1s", "end is shorter"),
            ("1s,2s", "more than one range"),
            ("chat=2d", "too long"),
        ] {
            let e = bad.parse::<ProcessingTime>().unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(" ".parse::<TypeTimes>().unwrap().is_empty());
        let json = serde_json::to_value(p.by_type).unwrap();
        assert_eq!(json, "chat=300ms..600ms,flatlay=1s..2s");
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
}
