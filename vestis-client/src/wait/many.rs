//! Many-job waits: one wait per job, merged into one stream, sharing a
//! [`Batch`] so that together they behave like one polite client.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::Stream;
use futures::stream::SelectAll;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::stream::WaitStream;
use super::{WaitEvent, WaitOptions};
use crate::client::Client;
use crate::error::Result;
use crate::model::{Job, JobId};

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

impl Client {
    /// Waits for many jobs at once: the events of every wait, tagged with
    /// the job id, merged in the order they happen. Each job's events end
    /// with its [`WaitEvent::Finished`] (whose `Err` holds the same errors
    /// as [`Client::wait`]).
    ///
    /// At most `options.max_in_flight` polls are in flight at a time. A 429
    /// to any of them pauses all of them for the server's `Retry-After`;
    /// then they take turns at the pace the server allows (learnt from its
    /// 429s) rather than all at once. A 429 with `Retry-After` never counts
    /// against [`WaitOptions::max_transient_errors`]: only the deadline ends
    /// a wait that the server keeps pacing. Each wait costs a small, fixed
    /// amount of memory and sends only the polls its schedule implies.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: vestis_client::Client) {
    /// use futures::StreamExt;
    /// use vestis_client::{JobId, WaitEvent, WaitOptions};
    /// let mut events = client.wait_many_stream([JobId(1), JobId(2)], &WaitOptions::default());
    /// while let Some((id, event)) = events.next().await {
    ///     if let WaitEvent::StatusChanged { job, .. } = event {
    ///         println!("job {id} is {}", job.status);
    ///     }
    /// }
    /// # }
    /// ```
    pub fn wait_many_stream<I: IntoIterator<Item = JobId>>(
        &self,
        ids: I,
        options: &WaitOptions,
    ) -> impl Stream<Item = (JobId, WaitEvent)> + Send + use<I> {
        let batch = Arc::new(Batch::new(options.max_in_flight));
        let mut all = SelectAll::new();
        for id in ids {
            let stream =
                WaitStream::new(self.clone(), id, options.clone(), Some(Arc::clone(&batch)));
            all.push(futures::StreamExt::map(stream, move |event| (id, event)));
        }
        all
    }

    /// Waits for many jobs at once and yields each job's outcome as it
    /// finishes.
    ///
    /// # Errors
    ///
    /// The stream itself never fails; each job's `Err` is one of those of
    /// [`Client::wait`] for that job (it did not complete, the deadline
    /// passed, or the server or network failed past the error budget), and
    /// the other jobs go on.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: vestis_client::Client) {
    /// use futures::StreamExt;
    /// use vestis_client::{JobId, WaitOptions};
    /// let ids = [JobId(1), JobId(2), JobId(3)];
    /// let mut done = client.wait_many(ids, &WaitOptions::default().max_in_flight(8));
    /// while let Some((id, result)) = done.next().await {
    ///     println!("{id}: {}", if result.is_ok() { "completed" } else { "not completed" });
    /// }
    /// # }
    /// ```
    pub fn wait_many<I: IntoIterator<Item = JobId>>(
        &self,
        ids: I,
        options: &WaitOptions,
    ) -> impl Stream<Item = (JobId, Result<Job>)> + Send + use<I> {
        futures::StreamExt::filter_map(self.wait_many_stream(ids, options), |(id, event)| {
            futures::future::ready(match event {
                WaitEvent::Finished(result) => Some((id, result)),
                _ => None,
            })
        })
    }
}
