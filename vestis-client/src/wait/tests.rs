//! Paused-time tests of the wait loop against a scripted API: schedules,
//! deadlines, `Retry-After`, the transient-error budget, cancel on timeout,
//! events, and the pause a batch shares.
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::many::Batch;
use super::run::{JobSource, run_wait};
use super::*;
use crate::error::ApiError;
use crate::error::{Error, Result};
use crate::model::{Job, JobId, JobStatus};
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
        proxy: None,
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
    let shared = Batch::new(8);
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
