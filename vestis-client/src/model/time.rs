//! [`Timestamp`]: the contract's instants, RFC 3339 in UTC with a `Z` and
//! milliseconds on output, read with `jiff` (a `Z` or any numeric offset).

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant on the wire: RFC 3339 in UTC with a `Z` suffix and milliseconds.
///
/// # Examples
///
/// ```
/// use vestis_client::Timestamp;
/// let t: Timestamp = "2026-11-28T10:00:00.123Z".parse().unwrap();
/// assert_eq!(t.to_string(), "2026-11-28T10:00:00.123Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub SystemTime);

impl Timestamp {
    /// The current wall-clock time.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = vestis_client::Timestamp::now();
    /// assert!(t.to_string().ends_with('Z'));
    /// ```
    pub fn now() -> Timestamp {
        Timestamp(SystemTime::now())
    }

    /// How long after `earlier` this instant is (zero if it is not later).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use vestis_client::Timestamp;
    /// let a: Timestamp = "2026-11-28T10:00:00Z".parse().unwrap();
    /// let b: Timestamp = "2026-11-28T10:00:01.500Z".parse().unwrap();
    /// assert_eq!(b.duration_since(a), Duration::from_millis(1500));
    /// assert_eq!(a.duration_since(b), Duration::ZERO);
    /// ```
    pub fn duration_since(&self, earlier: Timestamp) -> std::time::Duration {
        self.0.duration_since(earlier.0).unwrap_or_default()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // jiff covers the years -9999..=9999; a `SystemTime` outside them
        // (never seen on the wire) prints as the nearest end of that range.
        let instant = jiff::Timestamp::try_from(self.0).unwrap_or_else(|_| {
            if self.0 > SystemTime::UNIX_EPOCH {
                jiff::Timestamp::MAX
            } else {
                jiff::Timestamp::MIN
            }
        });
        // `{:.3}`: always three fractional digits, truncated, and `Z`.
        write!(f, "{instant:.3}")
    }
}

/// Why a string is not an RFC 3339 timestamp with a `Z` or a numeric offset.
///
/// # Examples
///
/// ```
/// use vestis_client::Timestamp;
/// let err = "yesterday".parse::<Timestamp>().unwrap_err();
/// assert!(err.to_string().starts_with("invalid RFC 3339 timestamp \"yesterday\""));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("invalid RFC 3339 timestamp {input:?}: {source}")]
pub struct ParseTimestampError {
    input: String,
    #[source]
    source: jiff::Error,
}

impl FromStr for Timestamp {
    type Err = ParseTimestampError;

    /// Reads the contract's form (`Z`, with or without fractional seconds)
    /// and, leniently, a numeric offset such as `+02:00`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = |source| ParseTimestampError {
            input: s.to_owned(),
            source,
        };
        let instant: jiff::Timestamp = s.trim().parse().map_err(error)?;
        Ok(Timestamp(SystemTime::from(instant)))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_accept_z_and_numeric_offsets() {
        let z: Timestamp = "2026-11-28T10:00:00.123Z".parse().unwrap();
        let plus: Timestamp = "2026-11-28T12:00:00.123+02:00".parse().unwrap();
        let minus: Timestamp = "2026-11-28T05:30:00.123-04:30".parse().unwrap();
        let no_fraction: Timestamp = "2026-11-28T10:00:00Z".parse().unwrap();
        assert_eq!(z, plus);
        assert_eq!(z, minus);
        assert_eq!(no_fraction.to_string(), "2026-11-28T10:00:00.000Z");
        // Output is always UTC with `Z` and exactly three digits, truncated.
        assert_eq!(plus.to_string(), "2026-11-28T10:00:00.123Z");
        let micros: Timestamp = "2026-11-28T10:00:00.123999Z".parse().unwrap();
        assert_eq!(micros.to_string(), "2026-11-28T10:00:00.123Z");
        assert_eq!(
            serde_json::to_value(minus).unwrap(),
            json!("2026-11-28T10:00:00.123Z")
        );
        assert!("yesterday".parse::<Timestamp>().is_err());
        assert!(
            "2026-11-28T10:00:00".parse::<Timestamp>().is_err(),
            "no offset"
        );
        assert!("2026-11-28".parse::<Timestamp>().is_err());
    }
}
