//! The queue's state machine under paused tokio time: order, workers,
//! seeds, retries, cancel races, force, eviction, idempotency, pages,
//! reset, pause, the manual clock and poll-driven jobs.

use super::*;
use super::{DurationRange, QueueFaults};

fn faults(ms: u64) -> QueueFaults {
    QueueFaults {
        processing_time: DurationRange::fixed(Duration::from_millis(ms)),
        ..QueueFaults::default()
    }
}

fn settings(faults: QueueFaults, seed: u64, max_jobs: usize, workers: usize) -> Settings {
    Settings {
        faults,
        seed,
        max_jobs,
        workers,
        clock: ClockMode::Real,
        paused: false,
        profile: None,
    }
}

/// A queue and its driver (stopped when the set is dropped).
fn queue(faults: QueueFaults, seed: u64, max_jobs: usize, workers: usize) -> (Queue, JoinSet<()>) {
    let q = Queue::new(settings(faults, seed, max_jobs, workers));
    let driver = q.spawn_driver();
    (q, driver)
}

fn job(owner: &str) -> NewJob {
    NewJob {
        owner: owner.into(),
        kind: JobKind::Chat,
        payload: r#"{"prompt":"x"}"#.into(),
        idempotency_key: None,
        outcome: None,
        duration: None,
        polls: None,
    }
}

fn create(q: &Queue, owner: &str) -> JobId {
    q.create(job(owner)).unwrap().job.id
}

fn status(q: &Queue, id: JobId) -> JobStatus {
    q.get("t", id).unwrap().status
}

fn ids(n: u64) -> Vec<JobId> {
    (1..=n).map(JobId).collect()
}

/// Lets `ms` of (paused) time pass, then the tasks it woke run.
async fn after(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    settle().await;
}

/// Lets spawned workers run until they block on time.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn one_worker_takes_jobs_in_fifo_order() {
    let (q, _workers) = queue(faults(1000), 1, 100, 1);
    let created: Vec<JobId> = (0..3).map(|_| create(&q, "t")).collect();
    assert_eq!(created, ids(3));
    settle().await;
    assert_eq!(status(&q, JobId(1)), JobStatus::Processing);
    assert_eq!(status(&q, JobId(2)), JobStatus::Pending);
    tokio::time::sleep(Duration::from_millis(1001)).await;
    settle().await;
    assert_eq!(status(&q, JobId(1)), JobStatus::Completed);
    assert_eq!(status(&q, JobId(2)), JobStatus::Processing);
    assert_eq!(status(&q, JobId(3)), JobStatus::Pending);
    let done = q.get("t", JobId(1)).unwrap();
    assert_eq!(done.attempts, 1);
    assert_eq!(
        done.completed_at
            .unwrap()
            .duration_since(done.started_at.unwrap())
            .unwrap(),
        Duration::from_millis(1000)
    );
}

/// The driver alone ends attempts when their time comes, with no other
/// call on the queue: a create wakes it only when the new attempt ends
/// before the time it sleeps until, and its timer covers the rest.
#[tokio::test(start_paused = true)]
async fn the_driver_ends_attempts_on_time_without_other_calls() {
    let (q, _driver) = queue(faults(0), 1, 100, 3);
    let timed = |ms| NewJob {
        duration: Some(Duration::from_millis(ms)),
        outcome: Some(Outcome::Complete),
        ..job("t")
    };
    // The driver sleeps with no timer: this create must wake it.
    let a = q.create(timed(1000)).unwrap().job.id;
    settle().await;
    // It sleeps until a's end; b ends sooner, so it must be woken again.
    let b = q.create(timed(100)).unwrap().job.id;
    settle().await;
    after(150).await;
    assert_eq!(q.peek(b), Some(JobStatus::Completed));
    assert_eq!(q.peek(a), Some(JobStatus::Processing));
    // c ends after a: no wake needed, the timer chain reaches it.
    let c = q.create(timed(2000)).unwrap().job.id;
    settle().await;
    after(900).await;
    assert_eq!(q.peek(a), Some(JobStatus::Completed));
    assert_eq!(q.peek(c), Some(JobStatus::Processing));
    after(1300).await;
    assert_eq!(q.peek(c), Some(JobStatus::Completed));
}

#[tokio::test(start_paused = true)]
async fn workers_run_concurrently_up_to_their_number() {
    let (q, _workers) = queue(faults(1000), 1, 100, 3);
    for _ in 0..5 {
        create(&q, "t");
    }
    settle().await;
    let (processing, _) = q.list("t", 1, 100, Some(&JobStatus::Processing));
    assert_eq!(processing.len(), 3);
    tokio::time::sleep(Duration::from_millis(1001)).await;
    settle().await;
    let (done, _) = q.list("t", 1, 100, Some(&JobStatus::Completed));
    assert_eq!(done.len(), 3);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    settle().await;
    assert_eq!(q.list("t", 1, 100, Some(&JobStatus::Completed)).1, 5);
}

#[tokio::test(start_paused = true)]
async fn durations_come_from_the_range_and_the_seed() {
    let mut f = faults(0);
    f.processing_time = "100ms..900ms".parse().unwrap();
    let run = |seed| async move {
        let (q, _w) = queue(f, seed, 100, 6);
        for _ in 0..6 {
            create(&q, "t");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        settle().await;
        ids(6)
            .into_iter()
            .map(|id| {
                let j = q.get("t", id).unwrap();
                j.completed_at
                    .unwrap()
                    .duration_since(j.started_at.unwrap())
                    .unwrap()
            })
            .collect::<Vec<_>>()
    };
    let a = run(42).await;
    let b = run(42).await;
    assert_eq!(a, b, "same seed, same durations");
    assert!(
        a.iter()
            .all(|d| *d >= Duration::from_millis(100) && *d <= Duration::from_millis(900))
    );
    assert_ne!(a, run(43).await, "another seed, other durations");
}

#[tokio::test(start_paused = true)]
async fn failed_attempts_are_retried_until_max_attempts() {
    let mut f = faults(100);
    f.failure_rate = 1.0;
    f.max_attempts = 3;
    let (q, _w) = queue(f, 1, 100, 2);
    let id = create(&q, "t");
    settle().await;
    assert_eq!(q.get("t", id).unwrap().attempts, 1);
    tokio::time::sleep(Duration::from_millis(101)).await;
    settle().await;
    let j = q.get("t", id).unwrap();
    assert_eq!((j.status.clone(), j.attempts), (JobStatus::Processing, 2));
    tokio::time::sleep(Duration::from_millis(300)).await;
    settle().await;
    let j = q.get("t", id).unwrap();
    assert_eq!(j.status, JobStatus::Failed);
    assert_eq!(j.attempts, 3);
    assert_eq!(
        j.error.as_deref(),
        Some("Image generation failed after 3 attempts")
    );
    assert!(j.completed_at.is_some());
    assert_eq!(q.image_seed(id), None);
}

#[tokio::test(start_paused = true)]
async fn a_retried_job_goes_back_to_the_queue_tail() {
    let (q, _w) = queue(faults(100), 1, 100, 1);
    let mut first = job("t");
    first.outcome = Some(Outcome::Fail);
    let a = q.create(first).unwrap().job.id;
    let b = create(&q, "t");
    tokio::time::sleep(Duration::from_millis(101)).await;
    settle().await;
    assert_eq!(status(&q, a), JobStatus::Pending);
    assert_eq!(status(&q, b), JobStatus::Processing);
}

#[tokio::test(start_paused = true)]
async fn cancel_only_pending_jobs_and_never_start_them() {
    let (q, _w) = queue(faults(1000), 1, 100, 1);
    let a = create(&q, "t");
    let b = create(&q, "t");
    settle().await;
    assert_eq!(
        q.cancel("t", a),
        Err(CancelError::NotPending(JobStatus::Processing))
    );
    assert_eq!(q.cancel("other", b), Err(CancelError::NotFound));
    let cancelled = q.cancel("t", b).unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert!(cancelled.completed_at.is_some());
    tokio::time::sleep(Duration::from_secs(5)).await;
    settle().await;
    let b_now = q.get("t", b).unwrap();
    assert_eq!(b_now, cancelled, "terminal jobs never change");
    assert_eq!(b_now.attempts, 0);
    assert_eq!(
        q.cancel("t", b),
        Err(CancelError::NotPending(JobStatus::Cancelled))
    );
}

#[test]
fn cancel_racing_pickup_has_exactly_one_winner() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for _ in 0..300 {
            let (q, workers) = queue(faults(1), 1, 100, 1);
            let id = create(&q, "t");
            let canceller = {
                let q = q.clone();
                tokio::spawn(async move { q.cancel("t", id) })
            };
            let cancelled = canceller.await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            let j = q.get("t", id).unwrap();
            match cancelled {
                Ok(_) => {
                    assert_eq!(j.status, JobStatus::Cancelled);
                    assert_eq!(j.attempts, 0, "a cancelled job never starts");
                }
                Err(CancelError::NotPending(_)) => {
                    assert_ne!(j.status, JobStatus::Cancelled);
                    assert_eq!(j.attempts, 1);
                }
                Err(e) => panic!("unexpected {e:?}"),
            }
            drop(workers);
        }
    });
}

#[tokio::test(start_paused = true)]
async fn terminal_jobs_never_change_even_when_forced() {
    let (q, _w) = queue(faults(100), 1, 100, 1);
    let id = create(&q, "t");
    tokio::time::sleep(Duration::from_millis(200)).await;
    settle().await;
    let done = q.get("t", id).unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert!(q.force(id, Outcome::Fail, None).is_err());
    assert!(q.cancel("t", id).is_err());
    assert_eq!(q.get("t", id).unwrap(), done);
}

#[tokio::test(start_paused = true)]
async fn force_finishes_a_processing_job_and_frees_its_worker() {
    let (q, _w) = queue(faults(60_000), 1, 100, 1);
    let a = create(&q, "t");
    let b = create(&q, "t");
    settle().await;
    let forced = q
        .force(a, Outcome::Fail, Some("GPU on fire".into()))
        .unwrap();
    assert_eq!(forced.status, JobStatus::Failed);
    assert_eq!(forced.error.as_deref(), Some("GPU on fire"));
    settle().await;
    assert_eq!(
        status(&q, b),
        JobStatus::Processing,
        "the worker moved on at once"
    );
    assert_eq!(
        q.force(b, Outcome::Complete, None).unwrap().status,
        JobStatus::Completed
    );
    assert!(q.image_seed(b).is_some());
}

#[tokio::test(start_paused = true)]
async fn retention_evicts_the_oldest_terminal_jobs_and_refuses_when_none() {
    let (q, _w) = queue(faults(10), 1, 3, 3);
    let mut key = job("t");
    key.idempotency_key = Some("k1".into());
    let first = q.create(key.clone()).unwrap().job.id;
    create(&q, "t");
    create(&q, "t");
    assert_eq!(q.create(job("t")), Err(CreateError::Full));
    tokio::time::sleep(Duration::from_millis(50)).await;
    settle().await;
    let fourth = create(&q, "t");
    assert_eq!(q.len(), 3);
    assert!(
        q.get("t", first).is_none(),
        "the oldest terminal job was evicted"
    );
    assert!(q.get("t", fourth).is_some());
    // Its idempotency key went with it: the same key now makes a new job.
    tokio::time::sleep(Duration::from_millis(50)).await;
    settle().await;
    let again = q.create(key).unwrap();
    assert!(!again.replayed);
}

#[tokio::test(start_paused = true)]
async fn idempotency_keys_replay_per_owner_and_reject_mismatches() {
    let (q, _driver) = queue(faults(10), 1, 100, 4);
    let mut a = job("t");
    a.idempotency_key = Some("key".into());
    let first = q.create(a.clone()).unwrap();
    let again = q.create(a.clone()).unwrap();
    assert!(again.replayed);
    assert_eq!(again.job.id, first.job.id);
    // The same JSON spaced and ordered otherwise is the same request.
    let mut two = a.clone();
    two.idempotency_key = Some("two".into());
    two.payload = r#"{"prompt":"x","seed":7}"#.into();
    let two_first = q.create(two.clone()).unwrap();
    two.payload = "{ \"seed\" : 7 ,\n \"prompt\": \"\\u0078\" }".into();
    let two_again = q.create(two).unwrap();
    assert!(two_again.replayed);
    assert_eq!(two_again.job.id, two_first.job.id);
    let mut other_payload = a.clone();
    other_payload.payload = r#"{"prompt":"y"}"#.into();
    assert_eq!(
        q.create(other_payload),
        Err(CreateError::IdempotencyMismatch)
    );
    let mut other_kind = a.clone();
    other_kind.kind = JobKind::Legacy;
    assert_eq!(q.create(other_kind), Err(CreateError::IdempotencyMismatch));
    let mut other_owner = a;
    other_owner.owner = "u".into();
    assert_ne!(q.create(other_owner).unwrap().job.id, first.job.id);
    assert_eq!(q.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn lists_are_per_owner_newest_first_with_totals() {
    // Paused: every job stays pending, so the status filter is predictable.
    let mut paused = settings(faults(10), 1, 100, 4);
    paused.paused = true;
    let q = Queue::new(paused);
    for i in 0..25 {
        create(&q, if i % 5 == 0 { "u" } else { "t" });
    }
    let (page, total) = q.list("t", 1, 7, None);
    assert_eq!(total, 20);
    let ids: Vec<u64> = page.iter().map(|j| j.id.0).collect();
    assert_eq!(ids, [25, 24, 23, 22, 20, 19, 18]);
    let (last, _) = q.list("t", 3, 7, None);
    assert_eq!(last.len(), 6);
    assert!(q.list("t", 4, 7, None).0.is_empty());
    assert_eq!(q.list("nobody", 1, 7, None), (Vec::new(), 0));
    assert_eq!(q.list("u", 1, 100, Some(&JobStatus::Completed)).1, 0);
    assert_eq!(q.list("u", 1, 100, Some(&JobStatus::Pending)).1, 5);
}

#[tokio::test(start_paused = true)]
async fn reset_forgets_everything_and_restarts_ids() {
    let (q, _w) = queue(faults(1000), 1, 100, 1);
    create(&q, "t");
    settle().await;
    q.update_faults(|_| Ok::<_, ()>(faults(5))).unwrap();
    q.reset();
    assert_eq!(q.len(), 0);
    assert_eq!(q.faults(), faults(1000));
    let id = create(&q, "t");
    assert_eq!(id, JobId(1));
    tokio::time::sleep(Duration::from_millis(500)).await;
    settle().await;
    // The old worker's attempt must not have finished the new job 1 early.
    assert_eq!(status(&q, JobId(1)), JobStatus::Processing);
}

#[test]
fn concurrent_fault_updates_never_lose_each_other() {
    let q = Queue::new(settings(faults(10), 1, 100, 1));
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..500 {
                    q.update_faults(|f| {
                        let mut next = *f;
                        next.max_attempts += 1;
                        Ok::<_, ()>(next)
                    })
                    .unwrap();
                }
            });
        }
    });
    assert_eq!(q.faults().max_attempts, 3 + 8 * 500);
    // A refused change changes nothing.
    assert!(q.update_faults(|_| Err::<QueueFaults, _>("no")).is_err());
    assert_eq!(q.faults().max_attempts, 3 + 8 * 500);
}
