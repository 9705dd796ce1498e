//! Many-job waits: one wait per job, merged into one stream, sharing a
//! [`Batch`] so that together they behave like one polite client.

use std::sync::Arc;

use futures::Stream;
use futures::stream::SelectAll;

use super::batch::Batch;
use super::stream::WaitStream;
use super::{WaitEvent, WaitOptions};
use crate::client::Client;
use crate::error::Result;
use crate::model::{Job, JobId};

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
