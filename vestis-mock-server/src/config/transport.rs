//! The transport faults' names and settings (`docs/faults.md`): what a
//! fault is ([`Fault`]), the list `--fault-rate` draws from
//! ([`FaultList`]), which requests it may fault ([`FaultOn`]), and a job's
//! schedule as `X-Mock-Fault-Schedule` writes it. Data and parsing only:
//! the front chooses (`http::fault`), the connection does
//! (`http::fault_wire`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, MAX_POLLS, format_duration, parse_bounded};

/// How long `stall` holds a request before it closes the connection
/// with no answer (unless the client gives up first, or the server stops).
pub const STALL_LIMIT: Duration = Duration::from_secs(300);
/// The longest `slow-body` duration accepted.
pub const MAX_SLOW_BODY: Duration = Duration::from_secs(300);
/// The shortest `slow-body` duration accepted: a body spread over no time
/// is an ordinary answer, so `slow-body=0s` is a mistake, not a fault.
pub const MIN_SLOW_BODY: Duration = Duration::from_millis(1);
/// `slow-body`'s duration when none is given.
pub const DEFAULT_SLOW_BODY: Duration = Duration::from_secs(2);
/// The most entries one job's schedule may hold.
pub const MAX_SCHEDULE_ENTRIES: usize = 64;

/// One way for a connection to fail. Written `reset`, `close`,
/// `truncate`, `garbage`, `stall`, `slow-body` or `slow-body=2s`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use vestis_mock_server::Fault;
///
/// let fault: Fault = "slow-body=1500ms".parse().unwrap();
/// assert_eq!(fault, Fault::SlowBody(Duration::from_millis(1500)));
/// assert_eq!(fault.to_string(), "slow-body=1s500ms");
/// assert!("explode".parse::<Fault>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// TCP RST once the request is read; no answer.
    Reset,
    /// A clean close (FIN) with no answer bytes: an "empty reply".
    Close,
    /// The real status line and headers (real `Content-Length`), half the
    /// body, then a clean close.
    Truncate,
    /// Bytes that are not HTTP, then a clean close.
    Garbage,
    /// Nothing, until the client gives up, [`STALL_LIMIT`] passes (then a
    /// clean close) or the server stops.
    Stall,
    /// The real answer, its body sent in even chunks over this long.
    SlowBody(Duration),
}

impl Fault {
    /// Every fault's name, in a fixed order (the order [`FaultList`] shows them in).
    pub const NAMES: [&'static str; 6] = [
        "reset",
        "close",
        "truncate",
        "garbage",
        "stall",
        "slow-body",
    ];

    /// The fault's name, without a duration.
    pub fn name(self) -> &'static str {
        Fault::NAMES[self.index()]
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Fault::Reset => 0,
            Fault::Close => 1,
            Fault::Truncate => 2,
            Fault::Garbage => 3,
            Fault::Stall => 4,
            Fault::SlowBody(_) => 5,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::SlowBody(d) => {
                write!(f, "slow-body={}", format_duration(*d))
            }
            other => f.write_str(other.name()),
        }
    }
}

impl FromStr for Fault {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Fault, ConfigError> {
        let s = s.trim();
        let (name, arg) = match s.split_once('=') {
            Some((name, arg)) => (name.trim(), Some(arg.trim())),
            None => (s, None),
        };
        let fault = match name.to_ascii_lowercase().as_str() {
            "reset" => Fault::Reset,
            "close" => Fault::Close,
            "truncate" => Fault::Truncate,
            "garbage" => Fault::Garbage,
            "stall" => Fault::Stall,
            "slow-body" => {
                let d = match arg {
                    None => DEFAULT_SLOW_BODY,
                    Some(arg) => parse_bounded(arg, MAX_SLOW_BODY)?,
                };
                if d < MIN_SLOW_BODY {
                    return Err(ConfigError::setting(
                        "fault",
                        format!(
                            "slow-body's duration runs from {} to {}, got {s:?}",
                            format_duration(MIN_SLOW_BODY),
                            format_duration(MAX_SLOW_BODY)
                        ),
                    ));
                }
                return Ok(Fault::SlowBody(d));
            }
            _ => {
                return Err(ConfigError::setting(
                    "fault",
                    format!(
                        "must be one of {} (slow-body=DURATION), got {s:?}",
                        Fault::NAMES.join(", ")
                    ),
                ));
            }
        };
        match arg {
            None => Ok(fault),
            Some(_) => Err(ConfigError::setting(
                "fault",
                format!("only slow-body takes a value, got {s:?}"),
            )),
        }
    }
}

/// The faults `--fault-rate` draws from, each at most once (written
/// `reset,truncate,slow-body=2s`; shown in the order of [`Fault::NAMES`]).
///
/// # Examples
///
/// ```
/// use vestis_mock_server::FaultList;
///
/// let list: FaultList = "truncate, reset".parse().unwrap();
/// assert_eq!(list.to_string(), "reset,truncate");
/// assert_eq!(FaultList::default().to_string(), "reset,close,truncate,garbage");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FaultList {
    /// Bit `i` set: [`Fault::NAMES`]`[i]` is drawn. A bit set rather than
    /// a list: the front copies these settings on every request.
    names: u8,
    /// `slow-body`'s duration, when it is drawn.
    slow_body: Duration,
}

impl FaultList {
    /// The faults, in the order of [`Fault::NAMES`].
    pub fn faults(&self) -> Vec<Fault> {
        (0..Fault::NAMES.len())
            .filter_map(|i| self.get(i))
            .collect()
    }

    /// How many faults.
    pub fn len(&self) -> usize {
        self.names.count_ones() as usize
    }

    /// Whether none (never: a parsed list names at least one).
    pub fn is_empty(&self) -> bool {
        self.names == 0
    }

    /// The fault of index `i` in [`Fault::NAMES`], if listed.
    fn get(&self, i: usize) -> Option<Fault> {
        if self.names & (1 << i) == 0 {
            return None;
        }
        Some(match i {
            0 => Fault::Reset,
            1 => Fault::Close,
            2 => Fault::Truncate,
            3 => Fault::Garbage,
            4 => Fault::Stall,
            _ => Fault::SlowBody(self.slow_body),
        })
    }

    /// The `n`th listed fault (counted from 0, modulo the count).
    pub(crate) fn nth(&self, n: usize) -> Fault {
        let n = n % self.len().max(1);
        (0..Fault::NAMES.len())
            .filter_map(|i| self.get(i))
            .nth(n)
            .unwrap_or(Fault::Reset)
    }
}

impl Default for FaultList {
    /// The faults that end at once: `reset,close,truncate,garbage`
    /// (`stall` and `slow-body` hold a client up, so they are asked for
    /// by name).
    fn default() -> Self {
        FaultList {
            names: 0b1111,
            slow_body: DEFAULT_SLOW_BODY,
        }
    }
}

impl fmt::Debug for FaultList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.faults()).finish()
    }
}

impl fmt::Display for FaultList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, fault) in self.faults().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{fault}")?;
        }
        Ok(())
    }
}

impl FromStr for FaultList {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<FaultList, ConfigError> {
        let mut list = FaultList {
            names: 0,
            slow_body: DEFAULT_SLOW_BODY,
        };
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let fault: Fault = part.parse()?;
            let bit = 1 << fault.index();
            if list.names & bit != 0 {
                return Err(ConfigError::setting(
                    "faults",
                    format!("name {} twice", fault.name()),
                ));
            }
            list.names |= bit;
            if let Fault::SlowBody(d) = fault {
                list.slow_body = d;
            }
        }
        if list.names == 0 {
            return Err(ConfigError::setting(
                "faults",
                "must name at least one fault",
            ));
        }
        Ok(list)
    }
}

impl Serialize for FaultList {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FaultList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Which `/api/v1` requests `--fault-rate` may fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FaultOn {
    /// Every `/api/v1` request.
    #[default]
    All,
    /// Only polls: `GET /api/v1/jobs/{id}`.
    Polls,
    /// Only creates: `POST /api/v1/generate`.
    Creates,
}

/// A job's schedule: which of its polls (counted from 1, from its
/// create) fail how. Written `3:reset, 5:truncate, 7-8:close,
/// 9:slow-body=2s` in `X-Mock-Fault-Schedule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// `(first poll, last poll, fault)`, as given.
    entries: Vec<(u32, u32, Fault)>,
    /// Polls seen so far.
    polls: u32,
}

impl Schedule {
    /// Reads `X-Mock-Fault-Schedule`'s value.
    pub(crate) fn parse(text: &str) -> Result<Schedule, String> {
        let mut entries = Vec::new();
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (polls, fault) = part.split_once(':').ok_or_else(|| {
                format!("expected POLL:FAULT (e.g. 3:reset), got {:?}", part.trim())
            })?;
            let number = |s: &str| {
                s.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_POLLS).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "poll numbers run from 1 to {}, got {:?}",
                            MAX_POLLS,
                            s.trim()
                        )
                    })
            };
            let (first, last) = match polls.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                None => {
                    let n = number(polls)?;
                    (n, n)
                }
            };
            if last < first {
                return Err(format!("range {:?} ends before it starts", polls.trim()));
            }
            let fault: Fault = fault.parse().map_err(|e: ConfigError| e.to_string())?;
            entries.push((first, last, fault));
        }
        if entries.is_empty() {
            return Err("expected at least one POLL:FAULT (e.g. 3:reset)".to_owned());
        }
        if entries.len() > MAX_SCHEDULE_ENTRIES {
            return Err(format!("at most {MAX_SCHEDULE_ENTRIES} entries"));
        }
        Ok(Schedule { entries, polls: 0 })
    }

    /// Counts a poll: its fault, if any, and whether the schedule is done.
    pub(crate) fn poll(&mut self) -> (Option<Fault>, bool) {
        self.polls = self.polls.saturating_add(1);
        let n = self.polls;
        let fault = self
            .entries
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&n))
            .map(|(_, _, f)| *f);
        let done = self.entries.iter().all(|(_, last, _)| *last <= n);
        (fault, done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_read_and_write_back() {
        for text in [
            "reset",
            "close",
            "truncate",
            "garbage",
            "stall",
            "slow-body=1s500ms",
        ] {
            assert_eq!(text.parse::<Fault>().unwrap().to_string(), text);
        }
        assert_eq!(
            " Slow-Body ".parse::<Fault>().unwrap(),
            Fault::SlowBody(DEFAULT_SLOW_BODY)
        );
        for bad in [
            "",
            "  ",
            "explode",
            "reset=1s",
            "slow-body=6m",
            "slow-body=soon",
            "slow-body=0s",
            "slow-body=0",
            "slow-body=999us",
        ] {
            assert!(bad.parse::<Fault>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fault_lists_keep_each_name_once_and_draw_in_order() {
        let list: FaultList = "slow-body=3s, garbage,reset".parse().unwrap();
        assert_eq!(list.to_string(), "reset,garbage,slow-body=3s");
        assert_eq!(list.len(), 3);
        assert_eq!(list.nth(0), Fault::Reset);
        assert_eq!(list.nth(1), Fault::Garbage);
        assert_eq!(list.nth(2), Fault::SlowBody(Duration::from_secs(3)));
        assert_eq!(list.nth(3), Fault::Reset);
        for bad in ["", " , ", "reset,reset", "reset,boom", "reset,slow-body=0s"] {
            assert!(bad.parse::<FaultList>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_schedule_faults_its_polls_and_says_when_it_is_done() {
        let mut schedule = Schedule::parse("2:reset, 4-5:slow-body=1s,7:close").unwrap();
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(schedule.poll());
        }
        let slow = Fault::SlowBody(Duration::from_secs(1));
        assert_eq!(
            seen,
            [
                (None, false),
                (Some(Fault::Reset), false),
                (None, false),
                (Some(slow), false),
                (Some(slow), false),
                (None, false),
                (Some(Fault::Close), true),
                (None, true),
            ]
        );
        for bad in [
            "",
            "reset",
            "0:reset",
            "3-1:reset",
            "x:reset",
            "2:boom",
            "10001:reset",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad:?}");
        }
        let many = vec!["1:reset"; MAX_SCHEDULE_ENTRIES + 1].join(",");
        assert!(Schedule::parse(&many).is_err());
    }
}
