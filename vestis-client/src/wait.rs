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

    /// The delays between polls: `max_polls - 1` of them, to the millisecond.
    pub fn delays(&self) -> Box<dyn Iterator<Item = Duration> + Send> {
        let sleeps = (self.max_polls as usize).saturating_sub(1);
        let base: Box<dyn Iterator<Item = Duration> + Send> = match self.shape {
            Shape::Fixed { interval } => Box::new(
                ConstantBuilder::new()
                    .with_delay(interval)
                    .with_max_times(sleeps)
                    .build(),
            ),
            Shape::Backoff {
                initial,
                factor,
                max,
            } => Box::new(
                ExponentialBuilder::new()
                    .with_min_delay(initial)
                    .with_factor(factor)
                    .with_max_delay(max)
                    .with_max_times(sleeps)
                    .build(),
            ),
        };
        // Jitter as backon applies it (a random extra in [0, delay)), but
        // from one generator for both shapes, seedable for tests.
        let mut rng = self.jitter.map(|seed| match seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        });
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

/// What the wait loop needs from the API: [`Client`] in production, a
/// scripted fake in this module's paused-time tests (a real socket would let
/// tokio's paused clock jump ahead while a response is in flight).
pub(crate) trait JobSource: Sync {
    fn fetch(&self, id: JobId) -> impl Future<Output = Result<Job>> + Send;
    fn cancel_job(&self, id: JobId) -> impl Future<Output = Result<()>> + Send;
}

impl JobSource for Client {
    fn fetch(&self, id: JobId) -> impl Future<Output = Result<Job>> + Send {
        self.get(id)
    }

    async fn cancel_job(&self, id: JobId) -> Result<()> {
        self.cancel(id).await.map(|_| ())
    }
}

/// The wait loop behind every public entry point.
async fn run_wait<S: JobSource>(
    client: &S,
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
            // Boxed: a request's state (over a kilobyte) exists only while it
            // is in flight, so an idle wait stays small; a many-job wait
            // holds thousands of idle waits.
            Box::pin(client.fetch(id)).await
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
async fn finish_timeout<S: JobSource>(
    client: &S,
    id: JobId,
    options: &WaitOptions,
    emit: Emit<'_>,
    error: Error,
) -> Result<Job> {
    if options.cancel_on_timeout {
        // Bounded: the wait is already over, the cancel must not hang it.
        let outcome =
            match tokio::time::timeout(Duration::from_secs(10), Box::pin(client.cancel_job(id)))
                .await
            {
                Ok(Ok(())) => Ok(()),
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
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        let event = events.pop_front();
        if events.is_empty() && events.capacity() > 0 {
            // Between polls a wait holds no buffer: with thousands of waits
            // in a many-job wait, idle buffers would dominate their memory.
            *events = VecDeque::new();
        }
        event
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

    /// Creates a job and waits for it: [`Client::create`] then [`Client::wait`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
    /// use vestis_client::{ChatRequest, JobKind, WaitOptions};
    /// let job = client
    ///     .generate(JobKind::Chat, &ChatRequest::new("a red dress"), &WaitOptions::default())
    ///     .await?;
    /// println!("{}", job.image_url().unwrap_or_default());
    /// # Ok(()) }
    /// ```
    pub async fn generate<P: serde::Serialize + ?Sized>(
        &self,
        kind: crate::JobKind,
        payload: &P,
        options: &WaitOptions,
    ) -> Result<Job> {
        let created = self.create(kind, payload).await?;
        self.wait(created.job_id, options).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use crate::model::{JobKind, Timestamp};
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A scripted API: answers each poll from `script` (the last entry
    /// repeats) and records the virtual time of every poll and cancel.
    struct Fake {
        script: Mutex<VecDeque<Answer>>,
        last: Mutex<Option<Answer>>,
        polls: Mutex<Vec<Duration>>,
        cancels: AtomicU32,
        start: Instant,
    }

    #[derive(Clone)]
    enum Answer {
        Status(&'static str),
        Http(u16, Option<Duration>),
    }

    impl Fake {
        fn new(script: Vec<Answer>) -> Fake {
            Fake {
                script: Mutex::new(script.into()),
                last: Mutex::new(None),
                polls: Mutex::new(Vec::new()),
                cancels: AtomicU32::new(0),
                start: Instant::now(),
            }
        }

        fn poll_times(&self) -> Vec<Duration> {
            self.polls.lock().unwrap().clone()
        }

        fn poll_millis(&self) -> Vec<u128> {
            self.poll_times().iter().map(Duration::as_millis).collect()
        }
    }

    fn job(status: &str) -> Job {
        Job {
            job_id: JobId(1),
            status: JobStatus::from_wire(status),
            job_type: JobKind::Chat,
            created_at: Timestamp::now(),
            started_at: None,
            completed_at: None,
            attempts: 1,
            result: None,
            error: (status == "failed").then(|| "boom".to_owned()),
        }
    }

    fn http_error(status: u16, retry_after: Option<Duration>) -> Error {
        Error::from_api(ApiError {
            status,
            code: None,
            message: "scripted".into(),
            body: None,
            retry_after,
        })
    }

    impl JobSource for Fake {
        async fn fetch(&self, _id: JobId) -> Result<Job> {
            self.polls.lock().unwrap().push(self.start.elapsed());
            let next = {
                let mut script = self.script.lock().unwrap();
                let mut last = self.last.lock().unwrap();
                if let Some(a) = script.pop_front() {
                    *last = Some(a);
                }
                last.clone().expect("a script")
            };
            match next {
                Answer::Status(s) => Ok(job(s)),
                Answer::Http(code, retry) => Err(http_error(code, retry)),
            }
        }

        async fn cancel_job(&self, _id: JobId) -> Result<()> {
            self.cancels.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    async fn wait(fake: &Fake, options: &WaitOptions) -> (Result<Job>, Vec<WaitEvent>) {
        let mut events = Vec::new();
        let result = run_wait(fake, JobId(1), options, None, &mut |e| events.push(e)).await;
        (result, events)
    }

    fn secs(s: &[f64]) -> Vec<u128> {
        s.iter().map(|s| (s * 1000.0).round() as u128).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn fixed_polls_every_two_seconds_150_times() {
        let fake = Fake::new(vec![Answer::Status("pending")]);
        let (result, _) = wait(&fake, &WaitOptions::default().no_deadline()).await;
        let times = fake.poll_millis();
        assert_eq!(times.len(), 150);
        assert_eq!(times, (0..150).map(|i| i * 2000).collect::<Vec<u128>>());
        match result {
            Err(Error::TimedOut {
                polls,
                last,
                elapsed,
            }) => {
                assert_eq!(polls, 150);
                assert_eq!(last.unwrap().status, JobStatus::Pending);
                assert_eq!(elapsed, Duration::from_secs(298));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_follows_the_guide_sequence_capped_at_five_seconds() {
        let fake = Fake::new(vec![Answer::Status("processing")]);
        let options = WaitOptions::new(PollStrategy::backoff().max_polls(14)).no_deadline();
        let _ = wait(&fake, &options).await;
        let gaps: Vec<u128> = fake.poll_millis().windows(2).map(|w| w[1] - w[0]).collect();
        // 1, 1.2, 1.44, 1.728, 2.0736, 2.48832, 2.985984, 3.5831808, 4.29981696, then 5 s.
        assert_eq!(
            gaps,
            secs(&[
                1.0, 1.2, 1.44, 1.728, 2.074, 2.488, 2.986, 3.583, 4.3, 5.0, 5.0, 5.0, 5.0
            ])
        );
    }

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
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_is_honoured_to_the_millisecond_even_against_retry_after() {
        let fake = Fake::new(vec![
            Answer::Status("pending"),
            Answer::Http(429, Some(Duration::from_secs(60))),
        ]);
        let options = WaitOptions::default().deadline(Duration::from_millis(10_500));
        let start = Instant::now();
        let (result, events) = wait(&fake, &options).await;
        assert_eq!(start.elapsed(), Duration::from_millis(10_500));
        assert_eq!(fake.poll_millis(), [0, 2000]);
        assert!(
            matches!(result, Err(Error::TimedOut { polls: 2, .. })),
            "{result:?}"
        );
        assert!(events.iter().any(|e| matches!(e,
            WaitEvent::RetryScheduled { delay, status: Some(429), .. } if *delay == Duration::from_secs(60))));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_also_bounds_a_slow_request() {
        struct Hang;
        impl JobSource for Hang {
            async fn fetch(&self, _id: JobId) -> Result<Job> {
                std::future::pending().await
            }
            async fn cancel_job(&self, _id: JobId) -> Result<()> {
                Ok(())
            }
        }
        let start = Instant::now();
        let options = WaitOptions::default().deadline(Duration::from_secs(7));
        let result = run_wait(&Hang, JobId(1), &options, None, &mut |_| {}).await;
        assert_eq!(start.elapsed(), Duration::from_secs(7));
        assert!(matches!(
            result,
            Err(Error::TimedOut {
                polls: 1,
                last: None,
                ..
            })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_longer_than_the_schedule_delays_the_next_poll() {
        let fake = Fake::new(vec![
            Answer::Http(503, Some(Duration::from_secs(7))),
            Answer::Http(429, Some(Duration::from_secs(1))),
            Answer::Status("completed"),
        ]);
        let (result, _) = wait(&fake, &WaitOptions::default()).await;
        assert!(result.is_ok());
        // 7 s (longer than 2 s), then 2 s (the schedule beats a 1 s Retry-After).
        assert_eq!(fake.poll_millis(), [0, 7000, 9000]);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_tolerated_within_their_budget() {
        let fake = Fake::new(vec![
            Answer::Http(502, None),
            Answer::Http(504, None),
            Answer::Http(500, None),
            Answer::Status("processing"),
            Answer::Http(503, None),
            Answer::Status("completed"),
        ]);
        let options = WaitOptions::default().max_transient_errors(3);
        let (result, events) = wait(&fake, &options).await;
        assert_eq!(result.unwrap().status, JobStatus::Completed);
        let retries = events
            .iter()
            .filter(|e| matches!(e, WaitEvent::RetryScheduled { .. }))
            .count();
        assert_eq!(retries, 4);

        let fake = Fake::new(vec![Answer::Http(503, None)]);
        let (result, _) = wait(&fake, &WaitOptions::default().max_transient_errors(3)).await;
        assert!(
            matches!(result, Err(Error::Server(ref e)) if e.status == 503),
            "{result:?}"
        );
        assert_eq!(
            fake.poll_times().len(),
            4,
            "3 tolerated, the 4th ends the wait"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn final_errors_end_the_wait_at_once() {
        for code in [400, 401, 403, 404] {
            let fake = Fake::new(vec![Answer::Status("pending"), Answer::Http(code, None)]);
            let (result, _) = wait(&fake, &WaitOptions::default()).await;
            assert_eq!(result.unwrap_err().status(), Some(code));
            assert_eq!(fake.poll_times().len(), 2);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn failed_and_cancelled_jobs_are_typed_errors() {
        let fake = Fake::new(vec![Answer::Status("failed")]);
        match wait(&fake, &WaitOptions::default()).await.0 {
            Err(Error::JobFailed(job)) => assert_eq!(job.error.as_deref(), Some("boom")),
            other => panic!("{other:?}"),
        }
        let fake = Fake::new(vec![Answer::Status("pending"), Answer::Status("cancelled")]);
        assert!(matches!(
            wait(&fake, &WaitOptions::default()).await.0,
            Err(Error::JobCancelled(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_status_keeps_polling_until_the_deadline() {
        let fake = Fake::new(vec![Answer::Status("aborted")]);
        let start = Instant::now();
        let options = WaitOptions::default().deadline(Duration::from_secs(30));
        let (result, _) = wait(&fake, &options).await;
        assert_eq!(start.elapsed(), Duration::from_secs(30));
        match result {
            Err(Error::TimedOut {
                last: Some(job),
                polls,
                ..
            }) => {
                assert_eq!(job.status, JobStatus::Unknown("aborted".into()));
                assert_eq!(polls, 15);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_on_timeout_cancels_the_job() {
        let fake = Fake::new(vec![Answer::Status("pending")]);
        let options = WaitOptions::default()
            .deadline(Duration::from_secs(5))
            .cancel_on_timeout(true);
        let (result, events) = wait(&fake, &options).await;
        assert!(matches!(result, Err(Error::TimedOut { .. })));
        assert_eq!(fake.cancels.load(Ordering::SeqCst), 1);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, WaitEvent::CancelledOnTimeout(Ok(()))))
        );
        let fake = Fake::new(vec![Answer::Status("pending")]);
        let _ = wait(
            &fake,
            &WaitOptions::default().deadline(Duration::from_secs(5)),
        )
        .await;
        assert_eq!(fake.cancels.load(Ordering::SeqCst), 0, "off by default");
    }

    #[tokio::test(start_paused = true)]
    async fn events_report_polls_and_status_changes_in_order() {
        let fake = Fake::new(vec![
            Answer::Status("pending"),
            Answer::Status("pending"),
            Answer::Status("processing"),
            Answer::Status("completed"),
        ]);
        let (_, events) = wait(&fake, &WaitOptions::default()).await;
        let changes: Vec<(Option<String>, String)> = events
            .iter()
            .filter_map(|e| match e {
                WaitEvent::StatusChanged { job, previous } => Some((
                    previous.as_ref().map(|p| p.to_string()),
                    job.status.to_string(),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            changes,
            [
                (None, "pending".into()),
                (Some("pending".into()), "processing".into()),
                (Some("processing".into()), "completed".into())
            ]
        );
        let polls: Vec<u32> = events
            .iter()
            .filter_map(|e| match e {
                WaitEvent::Polled { poll, .. } => Some(*poll),
                _ => None,
            })
            .collect();
        assert_eq!(polls, [1, 2, 3, 4]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_limited_batch_pauses_every_waiter() {
        let shared = Shared::new(8);
        let limited = Fake::new(vec![
            Answer::Http(429, Some(Duration::from_secs(10))),
            Answer::Status("completed"),
        ]);
        let others: Vec<Fake> = (0..3)
            .map(|_| {
                Fake::new(vec![
                    Answer::Status("pending"),
                    Answer::Status("pending"),
                    Answer::Status("completed"),
                ])
            })
            .collect();
        let options = WaitOptions::default();
        let mut noop = |_: WaitEvent| {};
        let first = run_wait(&limited, JobId(1), &options, Some(&shared), &mut noop);
        let rest = others.iter().map(|f| {
            let (options, shared) = (&options, &shared);
            async move {
                let mut noop = |_: WaitEvent| {};
                run_wait(f, JobId(2), options, Some(shared), &mut noop).await
            }
        });
        let (first, rest) = futures::future::join(first, futures::future::join_all(rest)).await;
        assert!(first.is_ok());
        assert!(rest.iter().all(Result::is_ok));
        for f in &others {
            // The first 429 came before their first poll: each waited for
            // the pause to end at 10 s, then kept its own 2 s schedule.
            assert_eq!(f.poll_millis(), [10_000, 12_000, 14_000]);
        }
    }
}
