//! The queue engine measured alone, with no HTTP: what `vestis-bench`'s
//! `queue` measure runs (`bench/run.sh --only queue`). Lives in the crate
//! because the queue is private; exposed as one hidden function.

use std::time::{Duration, Instant};

use vestis_client::JobKind;

use super::{ClockMode, NewJob, Queue, Settings};
use super::{DurationRange, QueueFaults};

/// Runs `jobs` jobs through the queue engine on the calling thread, one
/// after another: each create stores a pending job, and the next call
/// picks it up on the free worker and completes it (a manual clock and a
/// zero processing time, so no timer is involved). The store holds at most
/// `max_jobs`, so past that every create also evicts the oldest finished
/// job, as under endless load.
///
/// Returns the wall time of the whole run and how many jobs were created:
/// `jobs` when the engine works, 0 when any job still stored did not end
/// `completed` (the evicted ones had, or they could not have been evicted).
///
/// # Examples
///
/// ```
/// let (elapsed, completed) = vestis_mock_server::queue_engine_run(1_000, 100);
/// assert_eq!(completed, 1_000);
/// println!("{:.0} jobs/s", 1_000.0 / elapsed.as_secs_f64());
/// ```
#[doc(hidden)]
pub fn queue_engine_run(jobs: u64, max_jobs: usize) -> (Duration, u64) {
    let queue = Queue::new(Settings {
        faults: QueueFaults {
            processing_time: DurationRange::fixed(Duration::ZERO),
            ..QueueFaults::default()
        },
        seed: 1,
        max_jobs,
        workers: 1,
        clock: ClockMode::Manual,
        paused: false,
        profile: None,
    });
    let owner: std::sync::Arc<str> = "bench".into();
    // What a create's handler passes on: the request body's text.
    let payload: Box<str> = r#"{"prompt":"a red dress on a hanger"}"#.into();
    let mut completed = 0;
    let start = Instant::now();
    for _ in 0..jobs {
        let created = queue.create(NewJob {
            owner: owner.clone(),
            kind: JobKind::Chat,
            payload: payload.clone(),
            idempotency_key: None,
            outcome: None,
            duration: None,
            polls: None,
        });
        if created.is_ok() {
            completed += 1;
        }
    }
    // Plays the last pickup's end.
    let (_, done) = queue.list("bench", 1, 1, Some(&vestis_client::JobStatus::Completed));
    let elapsed = start.elapsed();
    // Every create succeeded, and the store holds only finished jobs.
    let finished = if done as usize == queue.len().min(max_jobs) {
        completed
    } else {
        0
    };
    (elapsed, finished)
}
