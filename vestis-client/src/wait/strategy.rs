//! [`PollStrategy`]: when to poll. The frontend guide's two schedules (a
//! fixed 2 s interval, a 1 s ×1.2 back-off capped at 5 s) live here and only
//! here; callers change a value (the interval, the first delay, the poll
//! limit) without restating the others.
//!
//! The delays come from `backon` (the `backoff` crate is unmaintained,
//! RUSTSEC-2025-0012); jitter is applied here so that both shapes share one
//! seedable generator.

use std::time::Duration;

use backon::{BackoffBuilder, ConstantBuilder, ExponentialBuilder};

/// The guide's fixed interval.
const FIXED_INTERVAL: Duration = Duration::from_secs(2);
/// The guide's back-off: first delay, factor, cap.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_FACTOR: f32 = 1.2;
const BACKOFF_CAP: Duration = Duration::from_secs(5);
/// The guide's `maxAttempts`.
const GUIDE_MAX_POLLS: u32 = 150;

/// When to poll: a fixed interval or an exponential back-off, a poll limit
/// (or none, leaving the deadline to decide), and optional jitter.
///
/// The defaults are the frontend guide's: [`PollStrategy::fixed`] polls every
/// 2 s, [`PollStrategy::backoff`] waits 1 s, ×1.2 each time, at most 5 s;
/// both send at most 150 polls.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use vestis_client::PollStrategy;
///
/// let fast = PollStrategy::fixed().interval(Duration::from_millis(500)).max_polls(20);
/// assert_eq!(fast.polls(), Some(20));
/// let delays: Vec<_> = PollStrategy::backoff().delays().take(3).collect();
/// assert_eq!(delays[0], Duration::from_secs(1));
/// assert_eq!(delays[1].as_millis(), 1200);
/// assert_eq!(delays[2].as_millis(), 1440);
///
/// // The guide's ×1.2 and 5 s cap, from a first delay of 2 s, until the deadline.
/// let cli = PollStrategy::backoff().first_delay(Duration::from_secs(2)).until_deadline();
/// assert_eq!(cli.polls(), None);
/// assert_eq!(cli.delays().nth(1), Some(Duration::from_millis(2400)));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PollStrategy {
    shape: Shape,
    limit: PollLimit,
    jitter: Jitter,
}

#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Fixed {
        interval: Duration,
    },
    Backoff {
        initial: Duration,
        factor: f32,
        max: Duration,
    },
}

/// What ends a wait that never sees a terminal status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PollLimit {
    /// At most this many polls (at least 1).
    Polls(u32),
    /// No count: the wait's deadline (or nothing) ends it.
    Deadline,
}

/// Whether and how each delay is stretched by a random extra.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Jitter {
    /// The schedule's delays exactly.
    Off,
    /// A fresh random extra in `[0, delay)` per delay.
    Random,
    /// Like `Random`, from a generator seeded with this value (reproducible).
    Seeded(u64),
}

impl PollStrategy {
    /// The guide's `pollJobStatus`: every 2 s, at most 150 polls.
    pub fn fixed() -> PollStrategy {
        PollStrategy {
            shape: Shape::Fixed {
                interval: FIXED_INTERVAL,
            },
            limit: PollLimit::Polls(GUIDE_MAX_POLLS),
            jitter: Jitter::Off,
        }
    }

    /// The guide's `pollJobStatusWithBackoff`: 1 s, ×1.2, capped at 5 s, at most 150 polls.
    pub fn backoff() -> PollStrategy {
        PollStrategy {
            shape: Shape::Backoff {
                initial: BACKOFF_FIRST,
                factor: BACKOFF_FACTOR,
                max: BACKOFF_CAP,
            },
            limit: PollLimit::Polls(GUIDE_MAX_POLLS),
            jitter: Jitter::Off,
        }
    }

    /// Sets the fixed interval (turns a back-off into a fixed schedule).
    pub fn interval(mut self, interval: Duration) -> PollStrategy {
        self.shape = Shape::Fixed { interval };
        self
    }

    /// Sets the back-off's first delay, keeping its factor and its cap (the
    /// guide's ×1.2 and 5 s unless [`PollStrategy::exponential`] changed
    /// them); a first delay above the cap raises the cap to it. Turns a fixed
    /// schedule into the guide's back-off from `first`.
    pub fn first_delay(mut self, first: Duration) -> PollStrategy {
        let (factor, max) = match self.shape {
            Shape::Backoff { factor, max, .. } => (factor, max),
            Shape::Fixed { .. } => (BACKOFF_FACTOR, BACKOFF_CAP),
        };
        self.shape = Shape::Backoff {
            initial: first,
            factor,
            max: max.max(first),
        };
        self
    }

    /// Sets the back-off's first delay, factor and cap (turns a fixed schedule
    /// into a back-off). A factor below 1 (or not finite) becomes 1; a cap
    /// below `initial` becomes `initial`.
    pub fn exponential(mut self, initial: Duration, factor: f32, max: Duration) -> PollStrategy {
        self.shape = Shape::Backoff {
            initial,
            factor: if factor.is_finite() && factor >= 1.0 {
                factor
            } else {
                1.0
            },
            max: max.max(initial),
        };
        self
    }

    /// At most this many polls (at least 1).
    pub fn max_polls(mut self, polls: u32) -> PollStrategy {
        self.limit = PollLimit::Polls(polls.max(1));
        self
    }

    /// No poll limit: the wait's deadline alone ends a wait for a job that
    /// never finishes (with [`WaitOptions::no_deadline`](super::WaitOptions::no_deadline)
    /// too, the wait has no end).
    pub fn until_deadline(mut self) -> PollStrategy {
        self.limit = PollLimit::Deadline;
        self
    }

    /// Adds a random jitter to each delay, between 0 and the delay itself, so
    /// that many clients do not poll in lock-step.
    pub fn jitter(mut self) -> PollStrategy {
        self.jitter = Jitter::Random;
        self
    }

    /// Jitter from a seeded generator: reproducible delays, for tests.
    pub fn jitter_seeded(mut self, seed: u64) -> PollStrategy {
        self.jitter = Jitter::Seeded(seed);
        self
    }

    /// The maximum number of polls, `None` when only the deadline limits them.
    pub fn polls(&self) -> Option<u32> {
        match self.limit {
            PollLimit::Polls(polls) => Some(polls),
            PollLimit::Deadline => None,
        }
    }

    /// The delays between polls, to the millisecond: `max_polls - 1` of
    /// them, or endless with [`PollStrategy::until_deadline`].
    pub fn delays(&self) -> Box<dyn Iterator<Item = Duration> + Send> {
        let base = self.base_delays();
        // Jitter as backon applies it (a random extra in [0, delay)), but
        // from one generator for both shapes, seedable for tests.
        let mut rng = match self.jitter {
            Jitter::Off => None,
            Jitter::Random => Some(fastrand::Rng::new()),
            Jitter::Seeded(seed) => Some(fastrand::Rng::with_seed(seed)),
        };
        Box::new(base.map(move |d| {
            // backon computes in f32 seconds (1.2 s comes out as
            // 1.2000000477 s); whole milliseconds give the guide's exact sequence.
            let ms = (d.as_secs_f64() * 1000.0).round() as u64;
            let extra = match rng.as_mut() {
                Some(rng) if ms > 0 => rng.u64(0..ms),
                _ => 0,
            };
            Duration::from_millis(ms + extra)
        }))
    }

    /// The schedule's delays before rounding and jitter.
    fn base_delays(&self) -> Box<dyn Iterator<Item = Duration> + Send> {
        let sleeps = self.polls().map(|polls| (polls as usize).saturating_sub(1));
        match self.shape {
            Shape::Fixed { interval } => {
                let builder = ConstantBuilder::new().with_delay(interval);
                Box::new(match sleeps {
                    Some(sleeps) => builder.with_max_times(sleeps).build(),
                    None => builder.without_max_times().build(),
                })
            }
            Shape::Backoff {
                initial,
                factor,
                max,
            } => {
                let builder = ExponentialBuilder::new()
                    .with_min_delay(initial)
                    .with_factor(factor)
                    .with_max_delay(max);
                Box::new(match sleeps {
                    Some(sleeps) => builder.with_max_times(sleeps).build(),
                    None => builder.without_max_times().build(),
                })
            }
        }
    }
}

impl Default for PollStrategy {
    fn default() -> Self {
        PollStrategy::fixed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_between_the_delay_and_twice_the_delay() {
        let fixed: Vec<Duration> = PollStrategy::fixed().jitter_seeded(3).delays().collect();
        assert_eq!(fixed.len(), 149);
        assert!(
            fixed
                .iter()
                .all(|d| *d >= Duration::from_secs(2) && *d < Duration::from_secs(4))
        );
        assert!(fixed.windows(2).any(|w| w[0] != w[1]), "jitter varies");
        let base: Vec<Duration> = PollStrategy::backoff().delays().collect();
        let jittered: Vec<Duration> = PollStrategy::backoff().jitter_seeded(9).delays().collect();
        assert_eq!(base.len(), jittered.len());
        assert!(
            base.iter().zip(&jittered).any(|(b, j)| b != j),
            "jitter applies"
        );
        for (b, j) in base.iter().zip(&jittered) {
            assert!(j >= b && *j < *b * 2, "{j:?} vs {b:?}");
        }
        assert_eq!(
            jittered,
            PollStrategy::backoff()
                .jitter_seeded(9)
                .delays()
                .collect::<Vec<_>>(),
            "a seed reproduces the delays"
        );
        let random: Vec<Duration> = PollStrategy::fixed().jitter().delays().take(20).collect();
        assert!(
            random.windows(2).any(|w| w[0] != w[1]),
            "unseeded jitter varies"
        );
    }

    #[test]
    fn first_delay_keeps_the_guide_factor_and_cap() {
        let ms =
            |s: PollStrategy| -> Vec<u128> { s.delays().take(12).map(|d| d.as_millis()).collect() };
        assert_eq!(
            ms(PollStrategy::backoff().first_delay(Duration::from_millis(500))),
            [
                500, 600, 720, 864, 1037, 1244, 1493, 1792, 2150, 2580, 3096, 3715
            ]
        );
        // From a fixed schedule too; a first delay above the cap raises it.
        assert_eq!(
            ms(PollStrategy::fixed().first_delay(Duration::from_secs(4)))[..4],
            [4000, 4800, 5000, 5000]
        );
        assert_eq!(
            ms(PollStrategy::backoff().first_delay(Duration::from_secs(8)))[..3],
            [8000, 8000, 8000]
        );
    }

    #[test]
    fn until_deadline_never_runs_out_of_delays() {
        for strategy in [PollStrategy::fixed(), PollStrategy::backoff()] {
            let limited = strategy.clone().max_polls(3);
            assert_eq!(limited.delays().count(), 2);
            assert_eq!(limited.polls(), Some(3));
            let endless = limited.until_deadline();
            assert_eq!(endless.polls(), None);
            assert_eq!(endless.delays().take(10_000).count(), 10_000);
        }
        let last = PollStrategy::backoff().until_deadline().delays().nth(9_999);
        assert_eq!(last, Some(Duration::from_secs(5)));
    }
}
