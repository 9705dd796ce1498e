//! `/__admin/overview` and `/__admin/events`: the queue at a glance, as
//! one JSON answer or as a stream of server-sent events.
//!
//! The stream costs nothing while nobody listens: it is a timer owned by
//! each open connection, and jobs mark their changes with a counter the
//! store bumps under the lock it already holds (`Store::version`). Each
//! tick takes that lock for one read, never across an `.await`. Every
//! stream ends when the server shuts down (`Shared::closing`).

use std::convert::Infallible;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Response, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response as AxumResponse};
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::errors::json_response;
use crate::state::AppState;
use crate::wire_time::wire_time;

/// How often an open stream looks for changed jobs.
const CHECK_EVERY: Duration = Duration::from_millis(200);
/// The longest an open stream stays silent (the counts' heartbeat).
const HEARTBEAT: Duration = Duration::from_secs(1);

fn requests_per_second(state: &AppState) -> f64 {
    let count = state.requests.load(Ordering::Relaxed);
    let mut sample = state.rate.lock().unwrap_or_else(PoisonError::into_inner);
    sample.update(Instant::now(), count)
}

/// The overview's JSON (the README documents its shape).
pub(crate) fn overview(state: &AppState) -> Value {
    let o = state.queue.overview();
    let [pending, processing, completed, failed, cancelled] = o.counts;
    let tokens: Vec<Value> = o
        .tokens
        .iter()
        .map(|(fingerprint, jobs)| json!({"fingerprint": fingerprint, "jobs": jobs}))
        .collect();
    json!({
        "version": o.version,
        "counts": {
            "pending": pending,
            "processing": processing,
            "completed": completed,
            "failed": failed,
            "cancelled": cancelled,
        },
        "total": o.counts.iter().sum::<usize>(),
        "queue_depth": pending,
        "workers": {"total": o.workers, "busy": o.busy, "idle": o.workers.saturating_sub(o.busy)},
        "paused": o.paused,
        "clock": {"mode": o.clock.as_str(), "now": wire_time(o.now)},
        "api_requests": state.requests.load(Ordering::Relaxed),
        "requests_per_second": requests_per_second(state),
        "tokens": tokens,
        "recording": state.recorder.as_ref().map(|r| json!({
            "source": r.upstream().base(),
            "jobs": r.len(),
            "file": r.path().map(|p| p.display().to_string()),
        })),
    })
}

/// `GET /__admin/overview`: what each `overview` event carries.
pub(super) async fn get_overview(State(state): State<AppState>) -> Response<Body> {
    json_response(StatusCode::OK, &overview(&state))
}

/// One open stream's state.
struct Feed {
    state: AppState,
    closing: watch::Receiver<bool>,
    tick: Interval,
    /// The jobs' version last sent, and when.
    sent: Option<(u64, Instant)>,
}

impl Feed {
    /// The next event, or `None` once the server shuts down.
    async fn next(&mut self) -> Option<Event> {
        loop {
            tokio::select! {
                biased;
                // An error means the sender is gone: the server is gone too.
                _ = self.closing.wait_for(|closing| *closing) => return None,
                _ = self.tick.tick() => {}
            }
            let version = self.state.queue.version();
            let due = match self.sent {
                None => true,
                Some((sent, at)) => sent != version || at.elapsed() >= HEARTBEAT,
            };
            if due {
                let data = overview(&self.state);
                let version = data["version"].as_u64().unwrap_or(version);
                self.sent = Some((version, Instant::now()));
                return Some(Event::default().event("overview").data(data.to_string()));
            }
        }
    }
}

fn feed(state: AppState) -> impl Stream<Item = Result<Event, Infallible>> {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let feed = Feed {
        closing: state.closing.subscribe(),
        state,
        tick,
        sent: None,
    };
    futures::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok(event), feed))
    })
}

/// `GET /__admin/events`: `overview` events (the JSON of
/// `/__admin/overview`) at once, whenever a job changes (checked five
/// times a second) and at least once a second.
pub(super) async fn events(State(state): State<AppState>) -> AxumResponse {
    let retry = Event::default().retry(Duration::from_secs(2));
    let first = futures::stream::once(async move { Ok::<_, Infallible>(retry) });
    let stream = futures::StreamExt::chain(first, feed(state));
    Sse::new(stream).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::RateSample;

    #[test]
    fn the_rate_is_requests_over_the_time_since_the_last_sample() {
        let start = Instant::now();
        let mut sample = RateSample::default();
        assert_eq!(
            sample.update(start, 10),
            0.0,
            "no rate before a second sample"
        );
        let half = start + Duration::from_millis(500);
        assert_eq!(
            sample.update(half, 40),
            0.0,
            "under a second: the last rate"
        );
        assert_eq!(sample.update(start + Duration::from_secs(2), 35), 12.5);
        let later = start + Duration::from_secs(5);
        assert_eq!(sample.update(later, 35), 0.0, "nothing since");
        let reset = later + Duration::from_secs(1);
        assert_eq!(
            sample.update(reset, 3),
            0.0,
            "a counter reset is not negative"
        );
    }
}
