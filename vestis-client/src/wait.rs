//! Waiting for jobs: poll schedules, the deadline, `Retry-After`, the
//! transient-error budget, event streams and many-job waits.
//!
//! One loop ([`run_wait`]) does all of it; the public entry points only
//! choose how its events reach the caller (a callback, a [`WaitStream`], or a
//! merged stream for many jobs).
//!
//! The schedules come from `backon` (the `backoff` crate is unmaintained,
//! RUSTSEC-2025-0012, and its elapsed-time limit is skipped whenever a
//! `Retry-After` is honoured). The loop drives the schedule itself so that
//! the deadline bounds every sleep, including one a server asked for.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use backon::{BackoffBuilder, ConstantBuilder, ExponentialBuilder};
use futures::Stream;
use futures::stream::SelectAll;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::model::{Job, JobId, JobStatus};

/// When to poll: a fixed interval or an exponential back-off, a maximum
/// number of polls, and optional jitter.
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
/// let delays: Vec<_> = PollStrategy::backoff().delays().take(3).collect();
/// assert_eq!(delays[0], Duration::from_secs(1));
/// assert_eq!(delays[1].as_millis(), 1200);
/// assert_eq!(delays[2].as_millis(), 1440);
/// # let _ = fast;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PollStrategy {
    shape: Shape,
    max_polls: u32,
    jitter: Option<Option<u64>>,
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

impl PollStrategy {
    /// The guide's `pollJobStatus`: every 2 s, at most 150 polls.
    pub fn fixed() -> PollStrategy {
        PollStrategy {
            shape: Shape::Fixed {
                interval: Duration::from_secs(2),
            },
            max_polls: 150,
            jitter: None,
        }
    }

    /// The guide's `pollJobStatusWithBackoff`: 1 s, ×1.2, capped at 5 s, at most 150 polls.
    pub fn backoff() -> PollStrategy {
        PollStrategy {
            shape: Shape::Backoff {
                initial: Duration::from_secs(1),
                factor: 1.2,
                max: Duration::from_secs(5),
            },
            max_polls: 150,
            jitter: None,
        }
    }

    /// Sets the fixed interval (turns a back-off into a fixed schedule).
    pub fn interval(mut self, interval: Duration) -> PollStrategy {
        self.shape = Shape::Fixed { interval };
        self
    }

    /// Sets the back-off's first delay, factor and cap (turns a fixed schedule into a back-off).
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
        self.max_polls = polls.max(1);
        self
    }

    /// Adds a random jitter to each delay, between 0 and the delay itself, so
    /// that many clients do not poll in lock-step.
    pub fn jitter(mut self) -> PollStrategy {
        self.jitter = Some(None);
        self
    }

    /// Jitter from a seeded generator: reproducible delays, for tests.
    pub fn jitter_seeded(mut self, seed: u64) -> PollStrategy {
        self.jitter = Some(Some(seed));
        self
    }

    /// The maximum number of polls.
    pub fn polls(&self) -> u32 {
        self.max_polls
    }

    /// The delays between polls: `max_polls - 1` of them.
    pub fn delays(&self) -> Box<dyn Iterator<Item = Duration> + Send> {
        let sleeps = (self.max_polls as usize).saturating_sub(1);
        match self.shape {
            Shape::Fixed { interval } => {
                let mut b = ConstantBuilder::new()
                    .with_delay(interval)
                    .with_max_times(sleeps);
                if let Some(seed) = self.jitter {
                    b = b.with_jitter();
                    if let Some(seed) = seed {
                        b = b.with_jitter_seed(seed);
                    }
                }
                Box::new(b.build())
            }
            Shape::Backoff {
                initial,
                factor,
                max,
            } => {
                let mut b = ExponentialBuilder::new()
                    .with_min_delay(initial)
                    .with_factor(factor)
                    .with_max_delay(max)
                    .with_max_times(sleeps);
                if let Some(seed) = self.jitter {
                    b = b.with_jitter();
                    if let Some(seed) = seed {
                        b = b.with_jitter_seed(seed);
                    }
                }
                Box::new(b.build())
            }
        }
    }
}

impl Default for PollStrategy {
    fn default() -> Self {
        PollStrategy::fixed()
    }
}

/// How to wait for a job: the schedule, an overall deadline, how many
/// transient errors in a row to tolerate, and what to do at the deadline.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use vestis_client::{PollStrategy, WaitOptions};
///
/// let opts = WaitOptions::new(PollStrategy::backoff())
///     .deadline(Duration::from_secs(120))
///     .max_transient_errors(5)
///     .cancel_on_timeout(true);
/// # let _ = opts;
/// ```
#[derive(Debug, Clone)]
pub struct WaitOptions {
    strategy: PollStrategy,
    deadline: Option<Duration>,
    max_transient_errors: u32,
    cancel_on_timeout: bool,
    max_in_flight: usize,
}

impl Default for WaitOptions {
    /// The guide's fixed 2 s schedule within its 5-minute deadline.
    fn default() -> Self {
        WaitOptions::new(PollStrategy::fixed())
    }
}

impl WaitOptions {
    /// `strategy` within the guide's 5-minute deadline, tolerating 10
    /// transient errors in a row.
    pub fn new(strategy: PollStrategy) -> WaitOptions {
        WaitOptions {
            strategy,
            deadline: Some(Duration::from_secs(300)),
            max_transient_errors: 10,
            cancel_on_timeout: false,
            max_in_flight: 32,
        }
    }

    /// The wall-clock bound of the whole wait (default 5 minutes). No sleep
    /// crosses it, not even one a server's `Retry-After` asked for.
    pub fn deadline(mut self, deadline: Duration) -> WaitOptions {
        self.deadline = Some(deadline);
        self
    }

    /// No overall deadline: only the strategy's poll count bounds the wait.
    pub fn no_deadline(mut self) -> WaitOptions {
        self.deadline = None;
        self
    }

    /// Transient failures (connection errors, timeouts, 429, 500, 502, 503,
    /// 504) tolerated in a row before the wait gives up with that error (default 10).
    pub fn max_transient_errors(mut self, errors: u32) -> WaitOptions {
        self.max_transient_errors = errors;
        self
    }

    /// Cancel the job on the server when the wait times out (default off).
    pub fn cancel_on_timeout(mut self, cancel: bool) -> WaitOptions {
        self.cancel_on_timeout = cancel;
        self
    }

    /// For many-job waits: at most this many requests in flight at once (default 32).
    pub fn max_in_flight(mut self, requests: usize) -> WaitOptions {
        self.max_in_flight = requests.max(1);
        self
    }

    /// The poll schedule.
    pub fn strategy(&self) -> &PollStrategy {
        &self.strategy
    }
}

/// What happens during a wait, in order. A [`WaitStream`] ends with
/// [`WaitEvent::Finished`].
#[derive(Debug)]
#[non_exhaustive]
pub enum WaitEvent {
    /// A poll answered; `poll` counts from 1.
    Polled {
        /// The job as the server reported it.
        job: Job,
        /// Which poll this was.
        poll: u32,
        /// Time since the wait started.
        elapsed: Duration,
    },
    /// The job's status differs from the previous poll's (or this is the first poll).
    StatusChanged {
        /// The job as the server reported it.
        job: Job,
        /// The status before, `None` on the first poll.
        previous: Option<JobStatus>,
    },
    /// A poll failed transiently; the next one comes after `delay`.
    RetryScheduled {
        /// How long until the next poll.
        delay: Duration,
        /// What went wrong.
        cause: String,
        /// The HTTP status, if the server answered.
        status: Option<u16>,
        /// Transient failures in a row so far.
        errors_in_a_row: u32,
    },
    /// The wait timed out and the job was cancelled on the server (`Ok`), or
    /// the cancel failed (`Err` with the reason).
    CancelledOnTimeout(std::result::Result<(), String>),
    /// The wait is over: the completed job, or why not.
    Finished(Result<Job>),
}

/// Shared by the waits of one many-job wait: a cap on requests in flight and
/// a pause that every waiter honours after any of them is rate limited.
#[derive(Debug)]
struct Shared {
    in_flight: Semaphore,
    paused_until: Mutex<Option<Instant>>,
}

impl Shared {
    fn new(max_in_flight: usize) -> Shared {
        Shared {
            in_flight: Semaphore::new(max_in_flight),
            paused_until: Mutex::new(None),
        }
    }

    fn paused_until(&self) -> Option<Instant> {
        // A poisoned lock only means another waiter panicked mid-update of an
        // `Option<Instant>`: the value is still usable.
        *self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn pause_until(&self, until: Instant) {
        let mut guard = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if guard.is_none_or(|current| current < until) {
            *guard = Some(until);
        }
    }
}

type Emit<'a> = &'a mut (dyn FnMut(WaitEvent) + Send);

/// The wait loop behind every public entry point.
async fn run_wait(
    client: &Client,
    id: JobId,
    options: &WaitOptions,
    shared: Option<&Shared>,
    emit: Emit<'_>,
) -> Result<Job> {
    let start = Instant::now();
    let deadline = options.deadline.map(|d| start + d);
    let mut delays = options.strategy.delays();
    let mut polls = 0u32;
    let mut errors_in_a_row = 0u32;
    let mut last: Option<Job> = None;

    let timed_out = |polls: u32, last: Option<Job>| Error::TimedOut {
        elapsed: start.elapsed(),
        polls,
        last: last.map(Box::new),
    };

    loop {
        // A many-job wait pauses every waiter while the server rate-limits.
        if let Some(until) = shared.and_then(Shared::paused_until)
            && until > Instant::now()
        {
            if deadline.is_some_and(|d| until >= d) {
                return finish_timeout(client, id, options, emit, timed_out(polls, last)).await;
            }
            tokio::time::sleep_until(until).await;
        }

        polls += 1;
        let poll = async {
            let _permit = match shared {
                Some(s) => Some(s.in_flight.acquire().await),
                None => None,
            };
            client.get(id).await
        };
        let answer = match deadline {
            Some(d) => match tokio::time::timeout_at(d, poll).await {
                Ok(answer) => answer,
                Err(_) => {
                    return finish_timeout(client, id, options, emit, timed_out(polls, last)).await;
                }
            },
            None => poll.await,
        };

        let delay = match answer {
            Ok(job) => {
                errors_in_a_row = 0;
                tracing::debug!(job = %id, status = %job.status, poll = polls, "polled");
                let previous = last.as_ref().map(|j| j.status.clone());
                emit(WaitEvent::Polled {
                    job: job.clone(),
                    poll: polls,
                    elapsed: start.elapsed(),
                });
                if previous.as_ref() != Some(&job.status) {
                    emit(WaitEvent::StatusChanged {
                        job: job.clone(),
                        previous,
                    });
                }
                match job.status {
                    JobStatus::Completed => return Ok(job),
                    JobStatus::Failed => return Err(Error::JobFailed(Box::new(job))),
                    JobStatus::Cancelled => return Err(Error::JobCancelled(Box::new(job))),
                    // Pending, processing, and statuses this SDK does not
                    // know: keep polling, bounded by the schedule and deadline.
                    _ => {}
                }
                last = Some(job);
                match delays.next() {
                    Some(delay) => delay,
                    None => {
                        return finish_timeout(client, id, options, emit, timed_out(polls, last))
                            .await;
                    }
                }
            }
            Err(err) if err.is_transient() => {
                errors_in_a_row += 1;
                tracing::debug!(job = %id, %err, errors_in_a_row, "transient poll failure");
                if errors_in_a_row > options.max_transient_errors {
                    return Err(err);
                }
                let Some(scheduled) = delays.next() else {
                    return finish_timeout(client, id, options, emit, timed_out(polls, last)).await;
                };
                let delay = scheduled.max(err.retry_after().unwrap_or_default());
                if let (Some(shared), Error::RateLimited { .. }) = (shared, &err) {
                    shared.pause_until(Instant::now() + delay);
                }
                emit(WaitEvent::RetryScheduled {
                    delay,
                    cause: err.to_string(),
                    status: err.status(),
                    errors_in_a_row,
                });
                delay
            }
            Err(err) => return Err(err),
        };

        let wake = Instant::now() + delay;
        if let Some(d) = deadline
            && wake >= d
        {
            tokio::time::sleep_until(d).await;
            return finish_timeout(client, id, options, emit, timed_out(polls, last)).await;
        }
        tokio::time::sleep_until(wake).await;
    }
}

/// Ends a wait that ran out of time or polls, cancelling the job first when asked.
async fn finish_timeout(
    client: &Client,
    id: JobId,
    options: &WaitOptions,
    emit: Emit<'_>,
    error: Error,
) -> Result<Job> {
    if options.cancel_on_timeout {
        // Bounded: the wait is already over, the cancel must not hang it.
        let outcome = match tokio::time::timeout(Duration::from_secs(10), client.cancel(id)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the cancel request timed out".to_owned()),
        };
        tracing::debug!(job = %id, ?outcome, "cancel on timeout");
        emit(WaitEvent::CancelledOnTimeout(outcome));
    }
    Err(error)
}

type BoxWait = Pin<Box<dyn Future<Output = Result<Job>> + Send>>;

/// The events of one wait as a `Stream`, ending with [`WaitEvent::Finished`].
///
/// Made by [`Client::wait_stream`]. Dropping it stops the wait (the job keeps running).
pub struct WaitStream {
    id: JobId,
    future: Option<BoxWait>,
    events: Arc<Mutex<VecDeque<WaitEvent>>>,
    result: Option<Result<Job>>,
}

impl std::fmt::Debug for WaitStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitStream").field("id", &self.id).finish()
    }
}

impl WaitStream {
    fn new(client: Client, id: JobId, options: WaitOptions, shared: Option<Arc<Shared>>) -> Self {
        let events: Arc<Mutex<VecDeque<WaitEvent>>> = Arc::default();
        let sink = Arc::clone(&events);
        let future = Box::pin(async move {
            let mut emit = move |event: WaitEvent| {
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_back(event);
            };
            run_wait(&client, id, &options, shared.as_deref(), &mut emit).await
        });
        WaitStream {
            id,
            future: Some(future),
            events,
            result: None,
        }
    }

    /// The job this stream waits for.
    pub fn job_id(&self) -> JobId {
        self.id
    }

    fn next_buffered(&self) -> Option<WaitEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }
}

impl Stream for WaitStream {
    type Item = WaitEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WaitEvent>> {
        if let Some(event) = self.next_buffered() {
            return Poll::Ready(Some(event));
        }
        if let Some(future) = self.future.as_mut() {
            match future.as_mut().poll(cx) {
                Poll::Ready(result) => {
                    self.future = None;
                    self.result = Some(result);
                }
                // Events emitted during this poll are returned now; the
                // future has registered its waker for whatever it awaits.
                Poll::Pending => {
                    return match self.next_buffered() {
                        Some(event) => Poll::Ready(Some(event)),
                        None => Poll::Pending,
                    };
                }
            }
        }
        if let Some(event) = self.next_buffered() {
            return Poll::Ready(Some(event));
        }
        Poll::Ready(self.result.take().map(WaitEvent::Finished))
    }
}

impl Client {
    /// Polls a job until it completes, per `options`.
    ///
    /// `Ok` holds the completed job (with its `result`). A failed or
    /// cancelled job is [`Error::JobFailed`] / [`Error::JobCancelled`]; a
    /// wait past its deadline or polls is [`Error::TimedOut`]; 400/401/403/404
    /// end the wait at once.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
    /// use vestis_client::{JobId, PollStrategy, WaitOptions};
    /// let job = client.wait(JobId(123), &WaitOptions::new(PollStrategy::backoff())).await?;
    /// println!("{}", job.result.map(|r| r.image_url).unwrap_or_default());
    /// # Ok(()) }
    /// ```
    pub async fn wait(&self, id: JobId, options: &WaitOptions) -> Result<Job> {
        run_wait(self, id, options, None, &mut |_| {}).await
    }

    /// Like [`Client::wait`], calling `on_event` for each event (the guide's `onProgress`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
    /// use vestis_client::{JobId, WaitEvent, WaitOptions};
    /// let job = client
    ///     .wait_with(JobId(123), &WaitOptions::default(), |event| {
    ///         if let WaitEvent::StatusChanged { job, .. } = event {
    ///             eprintln!("job {} is now {}", job.job_id, job.status);
    ///         }
    ///     })
    ///     .await?;
    /// # let _ = job; Ok(()) }
    /// ```
    pub async fn wait_with(
        &self,
        id: JobId,
        options: &WaitOptions,
        mut on_event: impl FnMut(&WaitEvent) + Send,
    ) -> Result<Job> {
        run_wait(self, id, options, None, &mut |event| on_event(&event)).await
    }

    /// The events of a wait as a `Stream`, ending with [`WaitEvent::Finished`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: vestis_client::Client) {
    /// use futures::StreamExt;
    /// use vestis_client::{JobId, WaitEvent, WaitOptions};
    /// let mut events = client.wait_stream(JobId(123), WaitOptions::default());
    /// while let Some(event) = events.next().await {
    ///     match event {
    ///         WaitEvent::StatusChanged { job, .. } => println!("{}", job.status),
    ///         WaitEvent::Finished(result) => println!("done: {}", result.is_ok()),
    ///         _ => {}
    ///     }
    /// }
    /// # }
    /// ```
    pub fn wait_stream(&self, id: JobId, options: WaitOptions) -> WaitStream {
        WaitStream::new(self.clone(), id, options, None)
    }

    /// Waits for many jobs at once: the events of every wait, tagged with
    /// the job id, merged in the order they happen. Each job's events end
    /// with its [`WaitEvent::Finished`].
    ///
    /// At most `options.max_in_flight` polls are in flight at a time, and a
    /// 429 to any of them pauses all of them for the server's `Retry-After`,
    /// so a batch never hammers a rate-limited server. Each wait costs a
    /// small, fixed amount of memory and sends only the polls its schedule implies.
    pub fn wait_many_stream<I: IntoIterator<Item = JobId>>(
        &self,
        ids: I,
        options: &WaitOptions,
    ) -> impl Stream<Item = (JobId, WaitEvent)> + Send + use<I> {
        let shared = Arc::new(Shared::new(options.max_in_flight));
        let mut all = SelectAll::new();
        for id in ids {
            let stream =
                WaitStream::new(self.clone(), id, options.clone(), Some(Arc::clone(&shared)));
            all.push(futures::StreamExt::map(stream, move |event| (id, event)));
        }
        all
    }

    /// Waits for many jobs at once and yields each job's outcome as it finishes.
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
