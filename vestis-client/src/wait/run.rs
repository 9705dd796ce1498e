//! The wait loop behind every public entry point: poll, read the answer,
//! sleep, until the job is terminal, an error is final, or time runs out.
//!
//! The loop drives the schedule itself (rather than handing it to a retry
//! crate) so that the deadline bounds every sleep, including one a server's
//! `Retry-After` asked for, and so that a many-job wait can share its
//! in-flight cap and rate-limit pause between waiters ([`Batch`]).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::batch::Batch;
use super::{CancelOnTimeoutError, WaitEvent, WaitOptions};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::model::{Job, JobId, JobStatus};

/// Where a wait's events go.
pub(super) type Emit<'a> = &'a mut (dyn FnMut(WaitEvent) + Send);

/// How long a cancel-on-timeout may take: the wait is already over, the
/// cancel must not hang it.
const CANCEL_BUDGET: Duration = Duration::from_secs(10);

/// The shortest pause after a 429, whatever its `Retry-After` says.
const MIN_RATE_LIMIT_PAUSE: Duration = Duration::from_millis(100);

/// What the wait loop needs from the API: [`Client`] in production, a
/// scripted fake in the paused-time tests (a real socket would let tokio's
/// paused clock jump ahead while a response is in flight).
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

/// Waits for job `id` per `options`, sending each event to `emit`; `batch`
/// is set when the wait is one of a many-job wait.
pub(super) async fn run_wait<S: JobSource>(
    client: &S,
    id: JobId,
    options: &WaitOptions,
    batch: Option<&Batch>,
    emit: Emit<'_>,
) -> Result<Job> {
    let start = Instant::now();
    let mut waiter = Waiter {
        client,
        id,
        options,
        batch,
        emit,
        start,
        deadline: options.deadline.map(|d| start + d),
        delays: options.strategy.delays(),
        polls: 0,
        errors_in_a_row: 0,
        last: None,
    };
    match waiter.run().await {
        Ending::Done(result) => result,
        Ending::OutOfTime => waiter.time_out().await,
    }
}

/// One wait's state between polls.
struct Waiter<'a, S> {
    client: &'a S,
    id: JobId,
    options: &'a WaitOptions,
    batch: Option<&'a Batch>,
    emit: Emit<'a>,
    start: Instant,
    deadline: Option<Instant>,
    delays: Box<dyn Iterator<Item = Duration> + Send>,
    polls: u32,
    errors_in_a_row: u32,
    last: Option<Job>,
}

/// How the loop ends.
enum Ending {
    /// With this outcome: a terminal job or a final error.
    Done(Result<Job>),
    /// The deadline passed or the schedule ran out of polls.
    OutOfTime,
}

/// What to do after an answer.
enum Next {
    End(Ending),
    Sleep(Duration),
}

impl<S: JobSource> Waiter<'_, S> {
    async fn run(&mut self) -> Ending {
        loop {
            let Some(answer) = self.poll().await else {
                return Ending::OutOfTime;
            };
            let next = match answer {
                Ok(job) => self.on_job(job),
                Err(err) => self.on_error(err),
            };
            match next {
                Next::End(ending) => return ending,
                Next::Sleep(delay) => {
                    if !sleep_within(self.deadline, Instant::now() + delay).await {
                        return Ending::OutOfTime;
                    }
                }
            }
        }
    }

    /// Sends one poll; `None` when the deadline passed before it answered.
    async fn poll(&mut self) -> Option<Result<Job>> {
        self.polls += 1;
        let (client, id, batch) = (self.client, self.id, self.batch);
        let request = async move {
            if let Some(batch) = batch {
                // A many-job wait waits its turn while the server paces it.
                batch.wait_turn().await;
            }
            let _permit = match batch {
                Some(batch) => Some(batch.in_flight.acquire().await),
                None => None,
            };
            // Boxed: a request's state (over a kilobyte) exists only while it
            // is in flight, so an idle wait stays small; a many-job wait
            // holds thousands of idle waits.
            Box::pin(client.fetch(id)).await
        };
        match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, request).await.ok(),
            None => Some(request.await),
        }
    }

    /// Reports a job the server returned and decides whether to go on.
    fn on_job(&mut self, job: Job) -> Next {
        self.errors_in_a_row = 0;
        if let Some(batch) = self.batch {
            batch.answered();
        }
        tracing::debug!(job = %self.id, status = %job.status, poll = self.polls, "polled");
        let previous = self.last.as_ref().map(|j| j.status.clone());
        // A retried attempt is news even when no poll saw its brief
        // `pending`: the status reads `processing` again, `attempts` grew.
        let retried = self
            .last
            .as_ref()
            .is_some_and(|j| j.attempts != job.attempts);
        (self.emit)(WaitEvent::Polled {
            job: job.clone(),
            poll: self.polls,
            elapsed: self.start.elapsed(),
        });
        if previous.as_ref() != Some(&job.status) || retried {
            (self.emit)(WaitEvent::StatusChanged {
                job: job.clone(),
                previous,
            });
        }
        match job.status {
            JobStatus::Completed => return Next::End(Ending::Done(Ok(job))),
            JobStatus::Failed => {
                return Next::End(Ending::Done(Err(Error::JobFailed(Box::new(job)))));
            }
            JobStatus::Cancelled => {
                return Next::End(Ending::Done(Err(Error::JobCancelled(Box::new(job)))));
            }
            // Pending, processing, and statuses this SDK does not know: keep
            // polling, bounded by the schedule and the deadline.
            _ => {}
        }
        self.last = Some(job);
        match self.delays.next() {
            Some(delay) => Next::Sleep(delay),
            None => Next::End(Ending::OutOfTime),
        }
    }

    /// Ends the wait on a final error; schedules a retry after a transient one.
    fn on_error(&mut self, err: Error) -> Next {
        if !err.is_transient() {
            return Next::End(Ending::Done(Err(err)));
        }
        let delay = match (&err, err.retry_after()) {
            // The server pacing the client, not a failure: wait as asked,
            // spending neither the error budget nor a scheduled poll.
            (Error::RateLimited { .. }, Some(after)) => {
                // A floor, so that `Retry-After: 0` cannot make a busy loop.
                let after = after.max(MIN_RATE_LIMIT_PAUSE);
                if let Some(batch) = self.batch {
                    batch.rate_limited(Instant::now(), after);
                }
                after
            }
            _ => {
                self.errors_in_a_row += 1;
                tracing::debug!(job = %self.id, %err, errors_in_a_row = self.errors_in_a_row, "transient poll failure");
                if self.errors_in_a_row > self.options.max_transient_errors {
                    return Next::End(Ending::Done(Err(err)));
                }
                let Some(scheduled) = self.delays.next() else {
                    return Next::End(Ending::OutOfTime);
                };
                scheduled.max(err.retry_after().unwrap_or_default())
            }
        };
        // The notice never promises a wait past the deadline.
        let left = self
            .deadline
            .map_or(delay, |d| d.saturating_duration_since(Instant::now()));
        (self.emit)(WaitEvent::RetryScheduled {
            delay: delay.min(left),
            cause: err.to_string(),
            status: err.status(),
            errors_in_a_row: self.errors_in_a_row,
        });
        Next::Sleep(delay)
    }

    /// Ends a wait that ran out of time or polls, cancelling the job first when asked.
    async fn time_out(self) -> Result<Job> {
        let error = Error::TimedOut {
            elapsed: self.start.elapsed(),
            polls: self.polls,
            last: self.last.map(Box::new),
        };
        if self.options.cancel_on_timeout {
            let cancel = Box::pin(self.client.cancel_job(self.id));
            let outcome = match tokio::time::timeout(CANCEL_BUDGET, cancel).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(CancelOnTimeoutError::Request(Box::new(e))),
                Err(_) => Err(CancelOnTimeoutError::NoAnswer(CANCEL_BUDGET)),
            };
            tracing::debug!(job = %self.id, ?outcome, "cancel on timeout");
            (self.emit)(WaitEvent::CancelledOnTimeout(outcome));
        }
        Err(error)
    }
}

/// Sleeps until `wake`, or until `deadline` if that comes first: `false`
/// when the deadline cut the sleep short.
async fn sleep_within(deadline: Option<Instant>, wake: Instant) -> bool {
    match deadline {
        Some(deadline) if wake >= deadline => {
            tokio::time::sleep_until(deadline).await;
            false
        }
        _ => {
            tokio::time::sleep_until(wake).await;
            true
        }
    }
}
