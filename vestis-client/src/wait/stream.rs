//! [`WaitStream`]: one wait's events as a `Stream`.
//!
//! The wait loop emits events through a callback; this adapter buffers what
//! one poll of the loop emitted and hands it out in order, then the outcome
//! as [`WaitEvent::Finished`].

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures::Stream;

use super::batch::Batch;
use super::run::run_wait;
use super::{WaitEvent, WaitOptions};
use crate::client::Client;
use crate::error::Result;
use crate::model::{Job, JobId};

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
    pub(super) fn new(
        client: Client,
        id: JobId,
        options: WaitOptions,
        batch: Option<Arc<Batch>>,
    ) -> Self {
        let events: Arc<Mutex<VecDeque<WaitEvent>>> = Arc::default();
        let sink = Arc::clone(&events);
        let future = Box::pin(async move {
            let mut emit = move |event: WaitEvent| {
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_back(event);
            };
            run_wait(&client, id, &options, batch.as_deref(), &mut emit).await
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
    /// The events of a wait as a `Stream`, ending with [`WaitEvent::Finished`]
    /// (whose `Err` holds the same errors as [`Client::wait`]).
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
}
