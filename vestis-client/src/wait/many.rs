//! Many-job waits: one wait per job, merged into one stream, sharing a
//! [`Batch`] so that together they behave like one polite client.

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use futures::stream::SelectAll;
use tokio::time::Instant;

use super::batch::Batch;

/// The longest wait between two tries of a paced create.
const MAX_CREATE_BACKOFF: Duration = Duration::from_secs(10);
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

/// A many-job wait that jobs join while it runs: for a caller that creates
/// jobs as it goes (a batch of thousands, a few in flight at a time) and
/// cannot name them all up front as [`Client::wait_many_stream`] needs.
///
/// Its waits and its [`WaitSet::create`] calls share one in-flight cap
/// and one rate-limit pace: a 429 to any request pauses every other, and
/// they resume at the pace the server allows. Each wait is tagged with a
/// caller's value `T` (a row number, say), since job ids alone can repeat
/// when a server restarts. As a `Stream` it yields `(tag, event)` and ends
/// (`None`) whenever no wait is running; [`WaitSet::push`] starts it again.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
/// use futures::StreamExt;
/// use vestis_client::{CreateOptions, JobKind, WaitEvent, WaitOptions};
/// let mut set = client.wait_set(&WaitOptions::default().max_in_flight(16));
/// for (row, prompt) in ["a red dress", "a blue coat"].into_iter().enumerate() {
///     let payload = serde_json::json!({"prompt": prompt, "images": []});
///     let key = format!("my-batch-row-{row}");
///     let created = set.create(JobKind::Chat, &payload, &CreateOptions::default().idempotency_key(key)).await?;
///     set.push(row, created.job_id);
/// }
/// while let Some((row, event)) = set.next().await {
///     if let WaitEvent::Finished(result) = event {
///         println!("row {row}: {}", if result.is_ok() { "completed" } else { "not completed" });
///     }
/// }
/// # Ok(()) }
/// ```
pub struct WaitSet<T> {
    client: Client,
    options: WaitOptions,
    batch: Arc<Batch>,
    waits: SelectAll<TaggedWait<T>>,
}

/// One wait of a [`WaitSet`], its events tagged, stoppable by its handle.
type TaggedWait<T> = futures::stream::Map<
    futures::stream::Abortable<WaitStream>,
    Box<dyn FnMut(WaitEvent) -> (T, WaitEvent) + Send>,
>;

/// Stops one wait of a [`WaitSet`] (its job keeps running): for a wait
/// that no longer means anything, such as one whose job the server lost.
#[derive(Debug, Clone)]
pub struct StopWait(futures::stream::AbortHandle);

impl StopWait {
    /// Stops the wait: it sends no more polls and yields no more events,
    /// not even [`WaitEvent::Finished`].
    pub fn stop(&self) {
        self.0.abort();
    }
}

impl<T> std::fmt::Debug for WaitSet<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitSet")
            .field("waits", &self.waits.len())
            .finish_non_exhaustive()
    }
}

impl<T: Clone + Send + 'static> WaitSet<T> {
    /// Starts waiting for job `id`, its events tagged with `tag`. The
    /// handle stops this wait alone.
    pub fn push(&mut self, tag: T, id: JobId) -> StopWait {
        let (handle, registration) = futures::stream::AbortHandle::new_pair();
        let stream = WaitStream::new(
            self.client.clone(),
            id,
            self.options.clone(),
            Some(Arc::clone(&self.batch)),
        );
        let tagged: Box<dyn FnMut(WaitEvent) -> (T, WaitEvent) + Send> =
            Box::new(move |event| (tag.clone(), event));
        self.waits.push(futures::StreamExt::map(
            futures::stream::Abortable::new(stream, registration),
            tagged,
        ));
        StopWait(handle)
    }

    /// How many waits are running (stopped ones count until the set is next polled).
    pub fn len(&self) -> usize {
        self.waits.len()
    }

    /// Whether no wait is running.
    pub fn is_empty(&self) -> bool {
        self.waits.is_empty()
    }

    /// Creates a job as [`Client::create_with`] does, in turn with the
    /// set's other requests: it waits out the set's rate-limit pause and
    /// counts against its in-flight cap, and a 429 it gets pauses them all.
    /// A 429 with `Retry-After` is retried as often as the server asks;
    /// other transient failures up to [`WaitOptions::max_transient_errors`]
    /// in a row (the idempotency key makes every retry safe), a back-off
    /// of 0.5 s doubling to 10 s apart. `options.retries` is not used. The
    /// future owns what it needs, so many can run at once.
    ///
    /// # Errors
    ///
    /// As [`Client::create_with`]; a transient error once the budget is spent.
    pub fn create<P: serde::Serialize + ?Sized>(
        &self,
        kind: crate::JobKind,
        payload: &P,
        options: &crate::CreateOptions,
    ) -> impl std::future::Future<Output = Result<crate::CreateJobResponse>> + Send + 'static {
        let client = self.client.clone();
        let batch = Arc::clone(&self.batch);
        let budget = self.options.max_transient_errors;
        let body = serde_json::to_value(payload)
            .map_err(|e| crate::Error::Config(format!("the payload cannot be serialised: {e}")));
        // A fixed key for every retry: a fresh one each time could make two jobs.
        let options = options.clone().retries(0).with_key();
        async move {
            let body = body?;
            let mut errors_in_a_row = 0u32;
            let mut backoff = Duration::from_millis(500);
            loop {
                batch.wait_turn().await;
                let answer = {
                    let _permit = batch.in_flight.acquire().await;
                    client.create_with(kind, &body, &options).await
                };
                let err = match answer {
                    Ok(created) => {
                        batch.answered();
                        return Ok(created);
                    }
                    Err(err) if !err.is_transient() => return Err(err),
                    // No key: only a 429 (never processed) is safe to send again.
                    Err(err)
                        if !options.send_idempotency_key
                            && !matches!(err, crate::Error::RateLimited { .. }) =>
                    {
                        return Err(err);
                    }
                    Err(err) => err,
                };
                let delay = match (&err, err.retry_after()) {
                    (crate::Error::RateLimited { .. }, Some(after)) => {
                        let after = after.max(super::run::MIN_RATE_LIMIT_PAUSE);
                        // The pause itself holds back this create's next turn.
                        batch.rate_limited(Instant::now(), after);
                        continue;
                    }
                    _ => {
                        errors_in_a_row += 1;
                        if errors_in_a_row > budget {
                            return Err(err);
                        }
                        let delay = backoff.max(err.retry_after().unwrap_or_default());
                        backoff = (backoff * 2).min(MAX_CREATE_BACKOFF);
                        delay
                    }
                };
                tracing::debug!(%err, ?delay, errors_in_a_row, "retrying create");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

impl<T> Stream for WaitSet<T> {
    type Item = (T, WaitEvent);

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        futures::Stream::poll_next(std::pin::Pin::new(&mut self.waits), cx)
    }
}

impl Client {
    /// An empty [`WaitSet`]: waits sharing `options` (its in-flight cap
    /// included) that jobs join as they are created.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(client: vestis_client::Client) {
    /// use vestis_client::{JobId, WaitOptions};
    /// let mut set = client.wait_set(&WaitOptions::default());
    /// set.push("first", JobId(1));
    /// # }
    /// ```
    pub fn wait_set<T>(&self, options: &WaitOptions) -> WaitSet<T> {
        WaitSet {
            client: self.clone(),
            options: options.clone(),
            batch: Arc::new(Batch::new(options.max_in_flight)),
            waits: SelectAll::new(),
        }
    }
}
