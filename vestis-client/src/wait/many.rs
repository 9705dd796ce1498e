//! Many-job waits: one wait per job, merged into one stream, sharing a
//! [`Batch`] so that together they behave like one polite client.

use std::sync::{Arc, Mutex, PoisonError};

use futures::Stream;
use futures::stream::SelectAll;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::stream::WaitStream;
use super::{WaitEvent, WaitOptions};
use crate::client::Client;
use crate::error::Result;
use crate::model::{Job, JobId};

/// Shared by the waits of one many-job wait: a cap on requests in flight and
/// a pause that every waiter honours after any of them is rate limited.
#[derive(Debug)]
pub(super) struct Batch {
    pub(super) in_flight: Semaphore,
    /// A blocking mutex: it guards one `Option<Instant>` for a few
    /// instructions and is never held across an `.await`.
    paused_until: Mutex<Option<Instant>>,
}

impl Batch {
    pub(super) fn new(max_in_flight: usize) -> Batch {
        Batch {
            in_flight: Semaphore::new(max_in_flight),
            paused_until: Mutex::new(None),
        }
    }

    /// When the batch's current pause ends, if one was ever set.
    pub(super) fn paused_until(&self) -> Option<Instant> {
        // A poisoned lock only means another waiter panicked mid-update of an
        // `Option<Instant>`: the value is still usable.
        *self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Pauses every waiter until `until` (a later pause wins).
    pub(super) fn pause_until(&self, until: Instant) {
        let mut guard = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if guard.is_none_or(|current| current < until) {
            *guard = Some(until);
        }
    }
}

impl Client {
    /// Waits for many jobs at once: the events of every wait, tagged with
    /// the job id, merged in the order they happen. Each job's events end
    /// with its [`WaitEvent::Finished`] (whose `Err` holds the same errors
    /// as [`Client::wait`]).
    ///
    /// At most `options.max_in_flight` polls are in flight at a time, and a
    /// 429 to any of them pauses all of them for the server's `Retry-After`,
    /// so a batch never hammers a rate-limited server. Each wait costs a
    /// small, fixed amount of memory and sends only the polls its schedule implies.
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
    /// finishes; each `Err` is one of those of [`Client::wait`].
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
