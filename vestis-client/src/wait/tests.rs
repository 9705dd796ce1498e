//! Paused-time tests of the wait loop against a scripted API: schedules,
//! deadlines, `Retry-After`, the transient-error budget, cancel on timeout,
//! events, and the pause a batch shares.
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::batch::Batch;
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
    /// A status at a given attempt count.
    Attempt(&'static str, u32),
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
            Answer::Attempt(s, attempts) => Ok(Job { attempts, ..job(s) }),
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
    // The notice promises no wait past the deadline: 8.5 s were left, not 60.
    let announced: Vec<Duration> = events
        .iter()
        .filter_map(|e| match e {
            WaitEvent::RetryScheduled { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect();
    assert_eq!(announced, [Duration::from_millis(8_500)]);
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
        Answer::Http(503, Some(Duration::from_secs(1))),
        Answer::Status("completed"),
    ]);
    let (result, _) = wait(&fake, &WaitOptions::default()).await;
    assert!(result.is_ok());
    // 7 s (longer than 2 s), then 2 s (the schedule beats a 1 s Retry-After).
    assert_eq!(fake.poll_millis(), [0, 7000, 9000]);
}

#[tokio::test(start_paused = true)]
async fn a_429_with_retry_after_paces_the_wait_and_spends_no_error_budget() {
    let mut script = vec![Answer::Http(429, Some(Duration::from_secs(3))); 12];
    script.push(Answer::Status("completed"));
    let fake = Fake::new(script);
    // Not one transient error tolerated, and only 5 polls scheduled: neither
    // may be spent by the server pacing the client.
    let options = WaitOptions::new(PollStrategy::fixed().max_polls(5)).max_transient_errors(0);
    let (result, events) = wait(&fake, &options).await;
    assert_eq!(result.unwrap().status, JobStatus::Completed);
    assert_eq!(
        fake.poll_millis(),
        (0..13).map(|i| i * 3000).collect::<Vec<u128>>()
    );
    assert!(events.iter().all(|e| !matches!(
        e,
        WaitEvent::RetryScheduled { errors_in_a_row, .. } if *errors_in_a_row > 0
    )));
    // Without Retry-After a 429 is an ordinary transient error.
    let fake = Fake::new(vec![Answer::Http(429, None)]);
    let (result, _) = wait(&fake, &options).await;
    assert!(
        matches!(result, Err(Error::RateLimited { .. })),
        "{result:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_zero_retry_after_cannot_make_a_busy_loop() {
    let fake = Fake::new(vec![Answer::Http(429, Some(Duration::ZERO))]);
    let options = WaitOptions::default().deadline(Duration::from_secs(1));
    let _ = wait(&fake, &options).await;
    assert_eq!(fake.poll_times().len(), 10, "one poll per 100 ms");
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
async fn a_retry_no_poll_saw_pending_is_still_a_change() {
    // Attempt 1 failed and attempt 2 started between two polls: every
    // poll says `processing`, only `attempts` tells.
    let fake = Fake::new(vec![
        Answer::Attempt("processing", 1),
        Answer::Attempt("processing", 1),
        Answer::Attempt("processing", 2),
        Answer::Attempt("completed", 2),
    ]);
    let (_, events) = wait(&fake, &WaitOptions::default()).await;
    let changes: Vec<(String, u32)> = events
        .iter()
        .filter_map(|e| match e {
            WaitEvent::StatusChanged { job, .. } => Some((job.status.to_string(), job.attempts)),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("processing".into(), 1),
            ("processing".into(), 2),
            ("completed".into(), 2)
        ]
    );
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
async fn a_rate_limited_batch_pauses_every_waiter_then_takes_turns() {
    let batch = Batch::new(8);
    let limited = Fake::new(vec![
        Answer::Http(429, Some(Duration::from_secs(10))),
        Answer::Status("completed"),
    ]);
    let others: Vec<Fake> = (0..3)
        .map(|_| Fake::new(vec![Answer::Status("pending"), Answer::Status("completed")]))
        .collect();
    let options = WaitOptions::default();
    let mut noop = |_: WaitEvent| {};
    let first = run_wait(&limited, JobId(1), &options, Some(&batch), &mut noop);
    let rest = others.iter().map(|f| {
        let (options, batch) = (&options, &batch);
        async move {
            let mut noop = |_: WaitEvent| {};
            run_wait(f, JobId(2), options, Some(batch), &mut noop).await
        }
    });
    let (first, rest) = futures::future::join(first, futures::future::join_all(rest)).await;
    assert!(first.is_ok());
    assert!(rest.iter().all(Result::is_ok));
    let mut all: Vec<u128> = others.iter().flat_map(Fake::poll_millis).collect();
    all.extend(limited.poll_millis());
    all.sort_unstable();
    // The 429 came before anyone else's first poll: nobody polled during
    // the pause, and after it the batch took turns a quarter second apart.
    assert_eq!(all[0], 0);
    assert_eq!(all[1], 10_000);
    assert!(
        all.windows(2).skip(1).all(|w| w[1] - w[0] >= 200),
        "polls after the pause bunched up: {all:?}"
    );
}

/// A server that allows one request per second (fixed windows, like the
/// mock server's `--rate-limit 1`) and whose jobs take 2 s.
struct Limited {
    start: Instant,
    window: Mutex<(u64, u32)>,
    answered: AtomicU32,
    refused: AtomicU32,
}

impl JobSource for Limited {
    async fn fetch(&self, id: JobId) -> Result<Job> {
        let elapsed = self.start.elapsed();
        {
            let mut window = self.window.lock().unwrap();
            let second = elapsed.as_secs();
            if window.0 != second {
                *window = (second, 0);
            }
            if window.1 >= 1 {
                self.refused.fetch_add(1, Ordering::SeqCst);
                return Err(http_error(429, Some(Duration::from_secs(1))));
            }
            window.1 += 1;
        }
        self.answered.fetch_add(1, Ordering::SeqCst);
        let status = if elapsed >= Duration::from_secs(2) {
            "completed"
        } else {
            "processing"
        };
        Ok(Job {
            job_id: id,
            ..job(status)
        })
    }

    async fn cancel_job(&self, _id: JobId) -> Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_batch_against_one_request_a_second_finishes_every_job_in_time() {
    let server = Limited {
        start: Instant::now(),
        window: Mutex::new((0, 0)),
        answered: AtomicU32::new(0),
        refused: AtomicU32::new(0),
    };
    let batch = Batch::new(32);
    // No error budget at all: a single 429 counted as a failure ends a wait.
    let options = WaitOptions::default()
        .deadline(Duration::from_secs(120))
        .max_transient_errors(0);
    let waits = (1..=20).map(|n| {
        let (server, options, batch) = (&server, &options, &batch);
        async move {
            let mut noop = |_: WaitEvent| {};
            let result = run_wait(server, JobId(n), options, Some(batch), &mut noop).await;
            (result, server.start.elapsed())
        }
    });
    let outcomes = futures::future::join_all(waits).await;
    for (result, elapsed) in &outcomes {
        assert_eq!(result.as_ref().unwrap().status, JobStatus::Completed);
        assert!(*elapsed < Duration::from_secs(120));
    }
    let (answered, refused) = (
        server.answered.load(Ordering::SeqCst),
        server.refused.load(Ordering::SeqCst),
    );
    // Paced, the batch earns few 429s (5 to 22 answers when written; 90
    // when turns reserved before a 429 were still taken).
    assert!(
        refused < answered / 2,
        "answered {answered}, refused {refused}"
    );
}
