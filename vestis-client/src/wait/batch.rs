//! What the waits of one many-job wait share ([`Batch`]): the cap on
//! requests in flight and the pace a rate-limiting server allows. Its own
//! file because the single wait (`run`), the stream (`stream`) and the
//! many-job wait (`many`) all take one.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The first gap between a batch's requests after a 429: four a second.
const FIRST_GAP: Duration = Duration::from_millis(250);
/// The widest gap: even a strict server sees a request every 10 s.
const MAX_GAP: Duration = Duration::from_secs(10);
/// Below this, pacing stops: the server has shown it keeps up.
const MIN_GAP: Duration = Duration::from_millis(10);

/// Shared by the waits of one many-job wait: a cap on requests in flight,
/// and the pace a rate-limiting server allows.
///
/// A 429 pauses every waiter until its `Retry-After`; then the batch sends
/// its requests one at a time, `gap` apart, instead of all at once (which
/// would only earn the next 429). The gap doubles on each new 429 and
/// shrinks by 1/16 on each answer, so the batch settles near the rate the
/// server allows (the additive-increase, multiplicative-decrease of TCP,
/// turned around for a delay).
#[derive(Debug)]
pub(super) struct Batch {
    pub(super) in_flight: Semaphore,
    /// A blocking mutex: it guards a few instants for a few instructions
    /// and is never held across an `.await`.
    pace: Mutex<Pace>,
}

#[derive(Debug, Default)]
struct Pace {
    /// No request before this instant (the latest `Retry-After`).
    paused_until: Option<Instant>,
    /// The time between two requests of the batch, while pacing.
    gap: Option<Duration>,
    /// The next free slot, while pacing.
    next_slot: Option<Instant>,
    /// Counts 429s: a slot reserved before the latest one is void.
    epoch: u64,
}

impl Batch {
    pub(super) fn new(max_in_flight: usize) -> Batch {
        Batch {
            in_flight: Semaphore::new(max_in_flight),
            pace: Mutex::new(Pace::default()),
        }
    }

    fn pace(&self) -> std::sync::MutexGuard<'_, Pace> {
        // A poisoned lock only means another waiter panicked mid-update of
        // a few instants: the values are still usable.
        self.pace.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until this waiter may send its next request: at once unless
    /// the batch is paused or paced. A turn taken before a 429 that came
    /// while it waited is void: the waiter queues again behind the pause.
    pub(super) async fn wait_turn(&self) {
        loop {
            let now = Instant::now();
            let (slot, epoch) = self.reserve(now);
            if slot <= now {
                // Neither paused nor behind others: no timer for the common case.
                return;
            }
            tokio::time::sleep_until(slot).await;
            let current = self.pace().epoch;
            if current == epoch {
                return;
            }
        }
    }

    /// The next slot from `now` and the epoch it belongs to.
    fn reserve(&self, now: Instant) -> (Instant, u64) {
        let mut pace = self.pace();
        let earliest = pace.paused_until.map_or(now, |until| until.max(now));
        let Some(gap) = pace.gap else {
            return (earliest, pace.epoch);
        };
        let slot = pace.next_slot.map_or(earliest, |next| next.max(earliest));
        pace.next_slot = Some(slot + gap);
        (slot, pace.epoch)
    }

    /// A 429 asked the batch to wait `retry_after`: pause everyone, and pace
    /// requests further apart (once per pause, however many waiters hit it).
    pub(super) fn rate_limited(&self, now: Instant, retry_after: Duration) {
        let mut pace = self.pace();
        let new_pause = pace.paused_until.is_none_or(|until| until <= now);
        let until = now + retry_after;
        if pace.paused_until.is_none_or(|current| current < until) {
            pace.paused_until = Some(until);
        }
        if new_pause {
            pace.gap = Some(pace.gap.map_or(FIRST_GAP, |gap| (gap * 2).min(MAX_GAP)));
        }
        // Slots handed out before this answer were too close: void them and
        // restart from the end of the pause.
        pace.next_slot = pace.paused_until;
        pace.epoch += 1;
    }

    /// A request was answered without a 429: pace a little faster.
    pub(super) fn answered(&self) {
        let mut pace = self.pace();
        if let Some(gap) = pace.gap {
            let gap = gap - gap / 16;
            pace.gap = (gap >= MIN_GAP).then_some(gap);
        }
    }
}
