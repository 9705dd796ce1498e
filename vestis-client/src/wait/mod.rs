//! Waiting for jobs: poll schedules, the deadline, `Retry-After`, the
//! transient-error budget, event streams and many-job waits.
//!
//! - `strategy`: [`PollStrategy`], when to poll (the guide's schedules).
//! - `run`: the one wait loop; every entry point below drives it.
//! - `stream`: [`WaitStream`], one wait's events as a `Stream`.
//! - `many`: many-job waits sharing an in-flight cap and rate-limit pauses
//!   (`batch`: what they share, also taken by `run` and `stream`).
//!
//! This file holds what a caller configures and observes ([`WaitOptions`],
//! [`WaitEvent`]) and the plain `wait` entry points.

use std::time::Duration;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::model::{Job, JobId, JobStatus};

mod batch;
mod many;
mod run;
mod strategy;
mod stream;
#[cfg(test)]
mod tests;

use run::run_wait;
pub use strategy::PollStrategy;
pub use stream::WaitStream;

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
    pub(super) strategy: PollStrategy,
    pub(super) deadline: Option<Duration>,
    pub(super) max_transient_errors: u32,
    pub(super) cancel_on_timeout: bool,
    pub(super) max_in_flight: usize,
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

    /// Transient failures (connection errors, timeouts, 500, 502, 503, 504,
    /// a 429 without `Retry-After`) tolerated in a row before the wait gives
    /// up with that error (default 10). A 429 with `Retry-After` is the
    /// server pacing the client: it is honoured and never counted.
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
    /// The job's status or its `attempts` differs from the previous poll's
    /// (or this is the first poll): a retry shows even when every poll saw
    /// `processing`.
    StatusChanged {
        /// The job as the server reported it.
        job: Job,
        /// The status before, `None` on the first poll.
        previous: Option<JobStatus>,
    },
    /// A poll failed transiently, or the server asked to slow down (429);
    /// the next poll comes after `delay`.
    RetryScheduled {
        /// How long until the next poll, never past the wait's deadline (a
        /// longer `Retry-After` is announced as the time left).
        delay: Duration,
        /// What went wrong.
        cause: String,
        /// The HTTP status, if the server answered.
        status: Option<u16>,
        /// Transient failures in a row so far (a 429 with `Retry-After` is
        /// pacing, not a failure, and leaves it unchanged).
        errors_in_a_row: u32,
    },
    /// The wait timed out and the job was cancelled on the server (`Ok`), or
    /// the cancel failed (`Err` with the reason).
    CancelledOnTimeout(std::result::Result<(), CancelOnTimeoutError>),
    /// The wait is over: the completed job, or why not.
    Finished(Result<Job>),
}

/// Why the cancel that [`WaitOptions::cancel_on_timeout`] asked for did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CancelOnTimeoutError {
    /// The server refused the cancel (e.g. [`Error::Conflict`]: the job
    /// started processing) or the request failed.
    #[error(transparent)]
    Request(Box<Error>),
    /// The cancel request got no answer within this time.
    #[error("the cancel request got no answer within {}", humantime::format_duration(*.0))]
    NoAnswer(Duration),
}

impl Client {
    /// Polls a job until it completes, per `options`.
    ///
    /// `Ok` holds the completed job (with its `result`).
    ///
    /// # Errors
    ///
    /// - [`Error::JobFailed`] / [`Error::JobCancelled`]: the job ended
    ///   `failed` / `cancelled` (the error holds the job).
    /// - [`Error::TimedOut`]: the deadline passed, or the strategy's polls ran
    ///   out, first (with the last job seen).
    /// - [`Error::NotFound`], [`Error::Unauthorized`], [`Error::InvalidRequest`]
    ///   and other non-transient errors: at once, from the poll that got them.
    /// - A transient error ([`Error::is_transient`]) when more than
    ///   [`WaitOptions::max_transient_errors`] came in a row.
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
    /// # Errors
    ///
    /// Those of [`Client::create`] (no job was made, or its id is unknown),
    /// then those of [`Client::wait`].
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
        kind: crate::model::JobKind,
        payload: &P,
        options: &WaitOptions,
    ) -> Result<Job> {
        let created = self.create(kind, payload).await?;
        self.wait(created.job_id, options).await
    }

    /// Like [`Client::wait`], calling `on_event` for each event (the guide's `onProgress`).
    ///
    /// # Errors
    ///
    /// Those of [`Client::wait`].
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
}
