//! Wire timestamps written with integer arithmetic.
//!
//! Every job the server renders carries up to four timestamps; printing
//! them through jiff's general-purpose printer cost about 9 000
//! instructions per GET. The contract fixes one form,
//! `2026-11-28T10:00:00.123Z` (UTC, milliseconds truncated), so
//! [`WireTime`] writes exactly that into a 24-byte buffer from the days
//! and milliseconds since the epoch, reusing the text of a second it
//! printed recently (each thread keeps 16). Instants it does not cover
//! (before 1970 or past jiff's range, which ends late in 9999) go through
//! the SDK's [`Timestamp`], which prints every instant the same way as
//! before.

use std::cell::RefCell;
use std::time::SystemTime;

use serde::{Serialize, Serializer};
use vestis_client::Timestamp;

/// The first millisecond past the SDK's range (jiff's `Timestamp::MAX`,
/// 9999-12-30T22:00:00.999Z), in milliseconds since the epoch: later
/// instants print as that maximum, as the SDK prints them.
const END_MS: u64 = 253_402_207_201_000;

/// An instant of the mock's clock as the wire shows it.
///
/// Serialises as an RFC 3339 string in the contract's form, the same
/// bytes as the SDK's [`Timestamp`].
///
/// # Examples
///
/// ```ignore
/// let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_860_000_123);
/// assert_eq!(serde_json::to_string(&WireTime(t))?, "\"2026-11-28T10:00:00.123Z\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WireTime(pub(crate) SystemTime);

impl WireTime {
    /// The contract's 24 bytes for this instant, when it lies from 1970 to the SDK's maximum.
    // Inline across modules: a page of jobs writes three times per job
    // through it, from `api::render` (BENCHMARKS.md's list figure).
    #[inline]
    pub(crate) fn fixed(self) -> Option<[u8; 24]> {
        let since = self.0.duration_since(SystemTime::UNIX_EPOCH).ok()?;
        let secs = since.as_secs();
        let millis = since.subsec_millis();
        // `END_MS` is a whole second: every millisecond of the seconds below it is in range.
        if secs >= END_MS / 1_000 {
            return None;
        }
        let mut out = *b"0000-00-00T00:00:00.000Z";
        out[..19].copy_from_slice(&second_text(secs));
        out[20] = b'0' + (millis / 100) as u8;
        put2(&mut out[21..23], millis % 100);
        Some(out)
    }
}

/// Seconds whose text a thread keeps (a power of two: slot = seconds mod it).
const SECONDS_KEPT: usize = 16;

thread_local! {
    /// The text of recently printed seconds, by second modulo
    /// [`SECONDS_KEPT`]: a job's timestamps are printed again on every
    /// poll, and a page's jobs were mostly made within a few seconds of
    /// each other, so most prints reuse a second's 19 bytes and only
    /// write the milliseconds. (The calendar arithmetic was four fifths
    /// of a listed page's printing.) The way hyper caches its `Date`.
    static SECONDS: RefCell<[(u64, [u8; 19]); SECONDS_KEPT]> =
        const { RefCell::new([(u64::MAX, [0; 19]); SECONDS_KEPT]) };
}

/// `YYYY-MM-DDTHH:MM:SS` of `secs` since the epoch (below `END_MS / 1000`).
fn second_text(secs: u64) -> [u8; 19] {
    SECONDS.with(|kept| {
        let mut kept = kept.borrow_mut();
        let slot = &mut kept[(secs as usize) % SECONDS_KEPT];
        if slot.0 != secs {
            *slot = (secs, calendar_text(secs));
        }
        slot.1
    })
}

/// [`second_text`] worked out.
fn calendar_text(secs: u64) -> [u8; 19] {
    let (year, month, day) = civil_from_days(secs / 86_400);
    // Below a day's 86 400 s, and the year below 10 000: both fit a u32.
    let in_day = (secs % 86_400) as u32;
    let year = year as u32;
    let mut out = *b"0000-00-00T00:00:00";
    put2(&mut out[0..2], year / 100);
    put2(&mut out[2..4], year % 100);
    put2(&mut out[5..7], month as u32);
    put2(&mut out[8..10], day as u32);
    put2(&mut out[11..13], in_day / 3_600);
    put2(&mut out[14..16], in_day / 60 % 60);
    put2(&mut out[17..19], in_day % 60);
    out
}

/// `value` (below 100) as two decimal digits into `digits`.
fn put2(digits: &mut [u8], value: u32) {
    // Below 100: both casts keep the digit whole.
    digits[0] = b'0' + (value / 10) as u8;
    digits[1] = b'0' + (value % 10) as u8;
}

/// The proleptic Gregorian (year, month, day) of a day counted from
/// 1970-01-01 (Howard Hinnant's `civil_from_days`, for days ≥ 0).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // March = 0
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

impl Serialize for WireTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.fixed() {
            // The buffer holds ASCII digits and punctuation only.
            Some(bytes) => match std::str::from_utf8(&bytes) {
                Ok(text) => serializer.serialize_str(text),
                Err(_) => Timestamp(self.0).serialize(serializer),
            },
            None => Timestamp(self.0).serialize(serializer),
        }
    }
}

/// A time of the mock's clock as the wire shows it (RFC 3339, `Z`,
/// milliseconds), written without jiff's printer.
pub(crate) fn wire_time(t: SystemTime) -> WireTime {
    WireTime(t)
}

/// A wire timestamp read back (fixtures), leniently as the SDK reads it.
pub(crate) fn parse_time(s: &str) -> Option<SystemTime> {
    s.parse::<Timestamp>().ok().map(|t| t.0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Milliseconds in a day.
    const DAY_MS: u64 = 86_400_000;

    fn both(t: SystemTime) -> (String, String) {
        let ours = serde_json::to_string(&WireTime(t)).unwrap();
        let sdk = serde_json::to_string(&Timestamp(t)).unwrap();
        (ours, sdk)
    }

    #[test]
    fn the_contract_example_is_written_exactly() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_860_000_123);
        assert_eq!(
            serde_json::to_string(&WireTime(t)).unwrap(),
            "\"2026-11-28T10:00:00.123Z\""
        );
    }

    /// Day boundaries, leap days, century rules, sub-millisecond truncation
    /// and the ends of the covered range match the SDK's jiff printer.
    #[test]
    fn edges_match_the_sdk_printer() {
        let mut instants = vec![
            SystemTime::UNIX_EPOCH,
            SystemTime::UNIX_EPOCH - Duration::from_millis(1),
            SystemTime::UNIX_EPOCH + Duration::from_millis(END_MS - 1),
            SystemTime::UNIX_EPOCH + Duration::from_millis(END_MS),
            SystemTime::UNIX_EPOCH + Duration::from_nanos(1_795_860_000_123_999_999),
        ];
        // Around 1 March and 1 January of leap, century and 400-year years.
        for days in [
            10_956, 11_016, 11_017, 11_047, 47_541, 47_540, 47_482, 47_483, 2_932_895,
        ] {
            for ms in [0, 1, DAY_MS - 1, DAY_MS, DAY_MS + 999] {
                instants.push(SystemTime::UNIX_EPOCH + Duration::from_millis(days * DAY_MS + ms));
            }
        }
        for t in instants {
            let (ours, sdk) = both(t);
            assert_eq!(ours, sdk, "{t:?}");
        }
    }

    /// Every 13th day from 1970 to 9999 (so every day of the month and
    /// every month come round), at a time of day that moves through the
    /// whole day, matches the SDK's jiff printer.
    #[test]
    fn days_through_the_range_match_the_sdk_printer() {
        let days = END_MS / DAY_MS;
        for day in (0..days).step_by(13).chain([days - 1]) {
            let ms = day * DAY_MS + (day * 7_919_993) % DAY_MS;
            let t = SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
            let (ours, sdk) = both(t);
            assert_eq!(ours, sdk, "day {day}");
        }
    }

    /// The kept seconds give what working them out gives: the same second
    /// at other milliseconds, seconds that share a slot (16 apart) in
    /// turn, and the ones around them, in both orders, on a fresh thread.
    #[test]
    fn kept_seconds_print_as_worked_out() {
        std::thread::spawn(|| {
            let base = 1_795_860_000_000u64;
            let mut offsets = Vec::new();
            for second in [0u64, 1, 15, 16, 17, 32, 86_400, 86_416] {
                for ms in [0u64, 1, 499, 999] {
                    offsets.push(second * 1_000 + ms);
                }
            }
            let reversed: Vec<u64> = offsets.iter().rev().copied().collect();
            for offset in offsets.iter().chain(&reversed).chain(&offsets) {
                let t = SystemTime::UNIX_EPOCH + Duration::from_millis(base + offset);
                let (ours, sdk) = both(t);
                assert_eq!(ours, sdk, "{offset}");
            }
        })
        .join()
        .unwrap();
    }
}
