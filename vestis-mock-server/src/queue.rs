//! The job store and its state machine, and the workers that run jobs. No HTTP here.
//!
//! All state lives behind one `std::sync::Mutex`: every transition (create,
//! pick-up, finish, cancel, force, evict) happens in a single lock
//! acquisition, so a cancel racing a worker's pick-up has exactly one winner
//! and no read-then-write can lose an update. The lock is never held across
//! an `.await` (critical sections are short and synchronous, which is why a
//! blocking mutex beats an async one here, as in mini-redis's `Db`).
//!
//! Costs are per token, never per store: each token has an index of its job
//! ids, overall and by status, so listing a page does not scan other
//! tokens' jobs. Workers sleep on a `Notify` and are woken by new work.
//! Time comes from tokio, so tests can pause it.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use vestis_client::{JobKind, JobStatus};

use crate::config::Faults;

/// A per-request override of what every attempt of a job does (`X-Mock-Outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every attempt succeeds.
    Complete,
    /// Every attempt fails, so the job ends `failed` after `max_attempts`.
    Fail,
}

/// What a create asks for.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The caller's token: the job's owner.
    pub owner: String,
    /// The job's kind.
    pub kind: JobKind,
    /// The validated payload, kept with the job (unknown fields included).
    pub payload: serde_json::Value,
    /// The request's `Idempotency-Key`, if any.
    pub idempotency_key: Option<String>,
    /// `X-Mock-Outcome`.
    pub outcome: Option<Outcome>,
    /// `X-Mock-Duration`: every attempt takes exactly this long.
    pub duration: Option<Duration>,
}

/// A created (or idempotently replayed) job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The job.
    pub job: JobSnapshot,
    /// `true` when an `Idempotency-Key` matched an earlier create.
    pub replayed: bool,
}

/// Why a create was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateError {
    /// The `Idempotency-Key` was used before with a different kind or payload.
    IdempotencyMismatch,
    /// The store is at `max_jobs` and holds no finished job to evict.
    Full,
}

/// Why a cancel was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelError {
    /// No such job for this token.
    NotFound,
    /// The job is no longer pending (it is unchanged).
    NotPending(JobStatus),
}

/// A copy of a job's state, taken under the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSnapshot {
    /// The job id.
    pub id: u64,
    /// The job's kind.
    pub kind: JobKind,
    /// Where the job is in its lifecycle.
    pub status: JobStatus,
    /// When it was created.
    pub created_at: SystemTime,
    /// When its first attempt started.
    pub started_at: Option<SystemTime>,
    /// When it reached a terminal status.
    pub completed_at: Option<SystemTime>,
    /// Attempts started so far.
    pub attempts: u32,
    /// Why it failed (or was failed/cancelled by the admin API).
    pub error: Option<String>,
    /// Seeds the job's image (derived from its payload).
    pub image_seed: u64,
}

/// A job as the admin API shows it: its state, owner and payload.
#[derive(Debug, Clone)]
pub struct AdminJob {
    /// The job's state.
    pub job: JobSnapshot,
    /// The token that owns it.
    pub owner: Arc<str>,
    /// The payload it was created with.
    pub payload: serde_json::Value,
}

/// Internal status: `Copy`, and an index into each owner's per-status sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending = 0,
    Processing = 1,
    Completed = 2,
    Failed = 3,
    Cancelled = 4,
}

impl State {
    fn is_terminal(self) -> bool {
        matches!(self, State::Completed | State::Failed | State::Cancelled)
    }

    fn public(self) -> JobStatus {
        match self {
            State::Pending => JobStatus::Pending,
            State::Processing => JobStatus::Processing,
            State::Completed => JobStatus::Completed,
            State::Failed => JobStatus::Failed,
            State::Cancelled => JobStatus::Cancelled,
        }
    }

    fn from_public(status: &JobStatus) -> Option<State> {
        Some(match status {
            JobStatus::Pending => State::Pending,
            JobStatus::Processing => State::Processing,
            JobStatus::Completed => State::Completed,
            JobStatus::Failed => State::Failed,
            JobStatus::Cancelled => State::Cancelled,
            _ => return None,
        })
    }
}

/// One stored job. Its fixed part is about 150 bytes; the payload is kept
/// as compact JSON text, so a job costs that plus its payload's size.
#[derive(Debug)]
struct Stored {
    owner: Arc<str>,
    kind: JobKind,
    state: State,
    created_at: SystemTime,
    started_at: Option<SystemTime>,
    completed_at: Option<SystemTime>,
    attempts: u32,
    error: Option<Box<str>>,
    payload: Box<str>,
    fingerprint: u64,
    idempotency_key: Option<Box<str>>,
    outcome: Option<Outcome>,
    duration: Option<Duration>,
    /// Set while processing: wakes the worker early when the admin API
    /// finishes the job or the store is reset.
    interrupt: Option<Arc<Notify>>,
}

/// A token's jobs: all ids, and ids by status, each ordered so that the
/// newest-first pages come from a reverse walk.
#[derive(Debug, Default)]
struct Owner {
    all: BTreeSet<u64>,
    by_state: [BTreeSet<u64>; 5],
    idempotency: HashMap<Box<str>, u64>,
}

#[derive(Debug)]
struct Store {
    /// Bumped by `reset`, so workers still running a job from before a reset
    /// never touch a new job that reuses its id.
    epoch: u64,
    next_id: u64,
    jobs: HashMap<u64, Stored>,
    owners: HashMap<Arc<str>, Owner>,
    /// Pending job ids in FIFO order. A cancelled id stays until a worker
    /// pops and skips it, which keeps cancel O(1).
    queue: VecDeque<u64>,
    /// Terminal job ids, oldest first: the eviction order.
    terminal: BTreeSet<u64>,
}

impl Store {
    fn new() -> Store {
        Store {
            epoch: 0,
            next_id: 1,
            jobs: HashMap::new(),
            owners: HashMap::new(),
            queue: VecDeque::new(),
            terminal: BTreeSet::new(),
        }
    }

    /// Moves a job to `to`, keeping the owner's index and the terminal set
    /// in step. The one place a job's state changes.
    fn transition(&mut self, id: u64, to: State, now: SystemTime) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let from = job.state;
        debug_assert!(!from.is_terminal(), "terminal jobs never change");
        job.state = to;
        if to.is_terminal() {
            job.completed_at = Some(now);
            job.interrupt = None;
            self.terminal.insert(id);
        }
        if let Some(owner) = self.owners.get_mut(&job.owner) {
            owner.by_state[from as usize].remove(&id);
            owner.by_state[to as usize].insert(id);
        }
    }

    fn snapshot(&self, id: u64) -> Option<JobSnapshot> {
        self.jobs.get(&id).map(|job| snapshot(id, job))
    }

    fn remove(&mut self, id: u64) {
        if let Some(job) = self.jobs.remove(&id) {
            self.terminal.remove(&id);
            if let Some(owner) = self.owners.get_mut(&job.owner) {
                owner.all.remove(&id);
                owner.by_state[job.state as usize].remove(&id);
                if let Some(key) = &job.idempotency_key {
                    owner.idempotency.remove(key);
                }
                if owner.all.is_empty() {
                    self.owners.remove(&job.owner);
                }
            }
        }
    }
}

fn snapshot(id: u64, job: &Stored) -> JobSnapshot {
    JobSnapshot {
        id,
        kind: job.kind,
        status: job.state.public(),
        created_at: job.created_at,
        started_at: job.started_at,
        completed_at: job.completed_at,
        attempts: job.attempts,
        error: job.error.as_deref().map(str::to_owned),
        image_seed: job.fingerprint,
    }
}

/// Wall-clock timestamps that follow tokio's clock, so paused-time tests
/// see timestamps that agree with the durations they advance.
#[derive(Debug, Clone, Copy)]
struct Clock {
    wall: SystemTime,
    mono: Instant,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            wall: SystemTime::now(),
            mono: Instant::now(),
        }
    }

    fn now(&self) -> SystemTime {
        self.wall + self.mono.elapsed()
    }
}

#[derive(Debug)]
struct Shared {
    store: Mutex<Store>,
    work: Notify,
    faults: RwLock<Faults>,
    initial_faults: Faults,
    clock: Clock,
    seed: u64,
    max_jobs: usize,
}

/// The job queue: a cheap, cloneable handle on the shared store.
#[derive(Debug, Clone)]
pub struct Queue {
    shared: Arc<Shared>,
}

/// One processing attempt, as a worker sees it.
#[derive(Debug)]
struct Attempt {
    epoch: u64,
    id: u64,
    attempt: u32,
    duration: Duration,
    succeed: bool,
    interrupt: Arc<Notify>,
}

fn hash_of(value: impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

impl Queue {
    /// A queue with these faults and limits; `seed` makes every job's
    /// durations and outcomes reproducible.
    pub fn new(faults: Faults, seed: u64, max_jobs: usize) -> Queue {
        Queue {
            shared: Arc::new(Shared {
                store: Mutex::new(Store::new()),
                work: Notify::new(),
                faults: RwLock::new(faults.clone()),
                initial_faults: faults,
                clock: Clock::new(),
                seed,
                max_jobs: max_jobs.max(1),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock would be a bug in this module; the
        // store's invariants are restored at each transition's end, so the
        // data is still usable and the server keeps serving.
        self.shared
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The current fault settings.
    pub fn faults(&self) -> Faults {
        self.shared
            .faults
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the fault settings (already validated by the caller).
    pub fn set_faults(&self, faults: Faults) {
        *self
            .shared
            .faults
            .write()
            .unwrap_or_else(PoisonError::into_inner) = faults;
    }

    /// Spawns `n` workers on the current runtime; they stop when the set is dropped.
    pub fn spawn_workers(&self, n: usize) -> JoinSet<()> {
        let mut set = JoinSet::new();
        for _ in 0..n.max(1) {
            let queue = self.clone();
            set.spawn(async move { queue.work().await });
        }
        set
    }

    async fn work(self) {
        loop {
            // Registered before looking, so a job queued in between still wakes us.
            let notified = self.shared.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.start_next() {
                Some(attempt) => self.run(attempt).await,
                None => notified.await,
            }
        }
    }

    /// Takes the oldest pending job and starts an attempt, in one lock acquisition.
    fn start_next(&self) -> Option<Attempt> {
        let faults = self.faults();
        let now = self.shared.clock.now();
        let mut store = self.lock();
        while let Some(id) = store.queue.pop_front() {
            let epoch = store.epoch;
            let Some(job) = store.jobs.get_mut(&id) else {
                continue;
            };
            if job.state != State::Pending {
                continue; // cancelled (or forced) while queued
            }
            job.attempts += 1;
            job.started_at.get_or_insert(now);
            let attempt = job.attempts;
            // Each attempt's draw depends only on (seed, job, attempt), never
            // on which worker got there first: seeded runs are reproducible.
            let mut rng = fastrand::Rng::with_seed(hash_of((self.shared.seed, id, attempt)));
            let duration = job
                .duration
                .unwrap_or_else(|| faults.processing_time.sample(&mut rng));
            let succeed = match job.outcome {
                Some(Outcome::Complete) => true,
                Some(Outcome::Fail) => false,
                None => rng.f64() >= faults.failure_rate,
            };
            let interrupt = Arc::new(Notify::new());
            job.interrupt = Some(Arc::clone(&interrupt));
            store.transition(id, State::Processing, now);
            return Some(Attempt {
                epoch,
                id,
                attempt,
                duration,
                succeed,
                interrupt,
            });
        }
        None
    }

    async fn run(&self, attempt: Attempt) {
        tokio::select! {
            () = tokio::time::sleep(attempt.duration) => {}
            () = attempt.interrupt.notified() => {}
        }
        self.finish(&attempt);
    }

    /// Ends an attempt: completed, re-queued, or failed for good.
    fn finish(&self, attempt: &Attempt) {
        let max_attempts = self.faults().max_attempts;
        let now = self.shared.clock.now();
        let mut store = self.lock();
        if store.epoch != attempt.epoch {
            return;
        }
        let Some(job) = store.jobs.get_mut(&attempt.id) else {
            return;
        };
        // The admin API may have finished the job meanwhile: then it is terminal, leave it.
        if job.state != State::Processing || job.attempts != attempt.attempt {
            return;
        }
        if attempt.succeed {
            job.error = None;
            store.transition(attempt.id, State::Completed, now);
        } else if attempt.attempt >= max_attempts {
            job.error = Some(
                format!(
                    "Image generation failed after {} attempt{}",
                    attempt.attempt,
                    if attempt.attempt == 1 { "" } else { "s" }
                )
                .into(),
            );
            store.transition(attempt.id, State::Failed, now);
        } else {
            job.interrupt = None;
            store.transition(attempt.id, State::Pending, now);
            store.queue.push_back(attempt.id);
            drop(store);
            self.shared.work.notify_one();
        }
    }

    /// Stores a new pending job (or replays an idempotent create) and wakes a worker.
    pub fn create(&self, new: NewJob) -> Result<Created, CreateError> {
        let payload = new.payload.to_string();
        // serde_json's maps are sorted, so equal payloads print equally.
        let fingerprint = hash_of((new.kind.as_str(), payload.as_str()));
        let now = self.shared.clock.now();
        let mut store = self.lock();

        if let Some(key) = &new.idempotency_key
            && let Some(&id) = store
                .owners
                .get(new.owner.as_str())
                .and_then(|o| o.idempotency.get(key.as_str()))
            && let Some(job) = store.jobs.get(&id)
        {
            if job.fingerprint != fingerprint || job.kind != new.kind {
                return Err(CreateError::IdempotencyMismatch);
            }
            return Ok(Created {
                job: snapshot(id, job),
                replayed: true,
            });
        }

        while store.jobs.len() >= self.shared.max_jobs {
            let Some(oldest) = store.terminal.first().copied() else {
                return Err(CreateError::Full);
            };
            store.remove(oldest);
        }

        let id = store.next_id;
        store.next_id += 1;
        let owner_key: Arc<str> = match store.owners.get_key_value(new.owner.as_str()) {
            Some((key, _)) => Arc::clone(key),
            None => Arc::from(new.owner.as_str()),
        };
        let owner = store.owners.entry(Arc::clone(&owner_key)).or_default();
        owner.all.insert(id);
        owner.by_state[State::Pending as usize].insert(id);
        if let Some(key) = &new.idempotency_key {
            owner.idempotency.insert(key.as_str().into(), id);
        }
        let stored = Stored {
            owner: owner_key,
            kind: new.kind,
            state: State::Pending,
            created_at: now,
            started_at: None,
            completed_at: None,
            attempts: 0,
            error: None,
            payload: payload.into_boxed_str(),
            fingerprint,
            idempotency_key: new.idempotency_key.map(String::into_boxed_str),
            outcome: new.outcome,
            duration: new.duration,
            interrupt: None,
        };
        let job = snapshot(id, &stored);
        store.jobs.insert(id, stored);
        store.queue.push_back(id);
        drop(store);
        self.shared.work.notify_one();
        Ok(Created {
            job,
            replayed: false,
        })
    }

    /// The job, if it exists and belongs to `owner`.
    pub fn get(&self, owner: &str, id: u64) -> Option<JobSnapshot> {
        let store = self.lock();
        let job = store.jobs.get(&id)?;
        (&*job.owner == owner).then(|| snapshot(id, job))
    }

    /// A page of `owner`'s jobs, newest first, and how many match in all.
    pub fn list(
        &self,
        owner: &str,
        page: u64,
        page_size: u32,
        status: Option<&JobStatus>,
    ) -> (Vec<JobSnapshot>, u64) {
        let store = self.lock();
        let Some(index) = store.owners.get(owner) else {
            return (Vec::new(), 0);
        };
        let ids = match status.and_then(State::from_public) {
            Some(state) => &index.by_state[state as usize],
            None if status.is_some() => return (Vec::new(), 0),
            None => &index.all,
        };
        let skip = usize::try_from(page.saturating_sub(1))
            .unwrap_or(usize::MAX)
            .saturating_mul(page_size as usize);
        let jobs = ids
            .iter()
            .rev()
            .skip(skip)
            .take(page_size as usize)
            .filter_map(|id| store.snapshot(*id))
            .collect();
        (jobs, ids.len() as u64)
    }

    /// Cancels a pending job of `owner`. A worker can never start it afterwards.
    pub fn cancel(&self, owner: &str, id: u64) -> Result<JobSnapshot, CancelError> {
        let now = self.shared.clock.now();
        let mut store = self.lock();
        let job = match store.jobs.get(&id) {
            Some(job) if &*job.owner == owner => job,
            _ => return Err(CancelError::NotFound),
        };
        if job.state != State::Pending {
            return Err(CancelError::NotPending(job.state.public()));
        }
        store.transition(id, State::Cancelled, now);
        store.snapshot(id).ok_or(CancelError::NotFound)
    }

    /// Admin: ends a non-terminal job now, completed or failed.
    pub fn force(
        &self,
        id: u64,
        outcome: Outcome,
        error: Option<String>,
    ) -> Result<JobSnapshot, CancelError> {
        let now = self.shared.clock.now();
        let mut store = self.lock();
        let Some(job) = store.jobs.get_mut(&id) else {
            return Err(CancelError::NotFound);
        };
        if job.state.is_terminal() {
            return Err(CancelError::NotPending(job.state.public()));
        }
        job.started_at.get_or_insert(now);
        let interrupt = job.interrupt.take();
        let to = match outcome {
            Outcome::Complete => {
                job.error = None;
                State::Completed
            }
            Outcome::Fail => {
                job.error = Some(
                    error
                        .filter(|e| !e.trim().is_empty())
                        .unwrap_or_else(|| "Image generation failed".to_owned())
                        .into(),
                );
                State::Failed
            }
        };
        store.transition(id, to, now);
        let snap = store.snapshot(id).ok_or(CancelError::NotFound);
        drop(store);
        if let Some(interrupt) = interrupt {
            interrupt.notify_one();
        }
        snap
    }

    /// Admin: every job of every token, newest first.
    pub fn all_jobs(&self) -> Vec<AdminJob> {
        let store = self.lock();
        let mut ids: Vec<u64> = store.jobs.keys().copied().collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.into_iter()
            .filter_map(|id| {
                let job = store.jobs.get(&id)?;
                Some(AdminJob {
                    job: snapshot(id, job),
                    owner: Arc::clone(&job.owner),
                    payload: serde_json::from_str(&job.payload).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Admin: forgets every job and idempotency key, restarts ids at 1, and
    /// restores the fault settings the server started with.
    pub fn reset(&self) {
        let mut store = self.lock();
        let interrupts: Vec<Arc<Notify>> = store
            .jobs
            .values_mut()
            .filter_map(|j| j.interrupt.take())
            .collect();
        let epoch = store.epoch + 1;
        *store = Store::new();
        store.epoch = epoch;
        drop(store);
        for interrupt in interrupts {
            interrupt.notify_one();
        }
        self.set_faults(self.shared.initial_faults.clone());
    }

    /// The seed of a completed job's image; `None` for any other job.
    pub fn image_seed(&self, id: u64) -> Option<u64> {
        let store = self.lock();
        let job = store.jobs.get(&id)?;
        (job.state == State::Completed).then_some(job.fingerprint)
    }

    /// How many jobs are stored.
    pub fn len(&self) -> usize {
        self.lock().jobs.len()
    }

    /// Whether no job is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DurationRange;
    use serde_json::json;

    fn faults(ms: u64) -> Faults {
        Faults {
            processing_time: DurationRange::fixed(Duration::from_millis(ms)),
            ..Faults::default()
        }
    }

    fn job(owner: &str) -> NewJob {
        NewJob {
            owner: owner.into(),
            kind: JobKind::Chat,
            payload: json!({"prompt": "x"}),
            idempotency_key: None,
            outcome: None,
            duration: None,
        }
    }

    fn create(q: &Queue, owner: &str) -> u64 {
        q.create(job(owner)).unwrap().job.id
    }

    fn status(q: &Queue, id: u64) -> JobStatus {
        q.get("t", id).unwrap().status
    }

    /// Lets spawned workers run until they block on time.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_worker_takes_jobs_in_fifo_order() {
        let q = Queue::new(faults(1000), 1, 100);
        let ids: Vec<u64> = (0..3).map(|_| create(&q, "t")).collect();
        assert_eq!(ids, [1, 2, 3]);
        let _workers = q.spawn_workers(1);
        settle().await;
        assert_eq!(status(&q, 1), JobStatus::Processing);
        assert_eq!(status(&q, 2), JobStatus::Pending);
        tokio::time::sleep(Duration::from_millis(1001)).await;
        settle().await;
        assert_eq!(status(&q, 1), JobStatus::Completed);
        assert_eq!(status(&q, 2), JobStatus::Processing);
        assert_eq!(status(&q, 3), JobStatus::Pending);
        let done = q.get("t", 1).unwrap();
        assert_eq!(done.attempts, 1);
        assert_eq!(
            done.completed_at
                .unwrap()
                .duration_since(done.started_at.unwrap())
                .unwrap(),
            Duration::from_millis(1000)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn workers_run_concurrently_up_to_their_number() {
        let q = Queue::new(faults(1000), 1, 100);
        for _ in 0..5 {
            create(&q, "t");
        }
        let _workers = q.spawn_workers(3);
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
        let run = |seed| {
            let f = f.clone();
            async move {
                let q = Queue::new(f, seed, 100);
                for _ in 0..6 {
                    create(&q, "t");
                }
                let _w = q.spawn_workers(6);
                tokio::time::sleep(Duration::from_secs(2)).await;
                settle().await;
                (1..=6)
                    .map(|id| {
                        let j = q.get("t", id).unwrap();
                        j.completed_at
                            .unwrap()
                            .duration_since(j.started_at.unwrap())
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            }
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
        let q = Queue::new(f, 1, 100);
        let id = create(&q, "t");
        let _w = q.spawn_workers(2);
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
        let q = Queue::new(faults(100), 1, 100);
        let mut first = job("t");
        first.outcome = Some(Outcome::Fail);
        let a = q.create(first).unwrap().job.id;
        let b = create(&q, "t");
        let _w = q.spawn_workers(1);
        tokio::time::sleep(Duration::from_millis(101)).await;
        settle().await;
        assert_eq!(status(&q, a), JobStatus::Pending);
        assert_eq!(status(&q, b), JobStatus::Processing);
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_only_pending_jobs_and_never_start_them() {
        let q = Queue::new(faults(1000), 1, 100);
        let a = create(&q, "t");
        let b = create(&q, "t");
        let _w = q.spawn_workers(1);
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
                let q = Queue::new(faults(1), 1, 100);
                let id = create(&q, "t");
                let workers = q.spawn_workers(1);
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
        let q = Queue::new(faults(100), 1, 100);
        let id = create(&q, "t");
        let _w = q.spawn_workers(1);
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
        let q = Queue::new(faults(60_000), 1, 100);
        let a = create(&q, "t");
        let b = create(&q, "t");
        let _w = q.spawn_workers(1);
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
        let q = Queue::new(faults(10), 1, 3);
        let mut key = job("t");
        key.idempotency_key = Some("k1".into());
        let first = q.create(key.clone()).unwrap().job.id;
        create(&q, "t");
        create(&q, "t");
        assert_eq!(q.create(job("t")), Err(CreateError::Full));
        let _w = q.spawn_workers(3);
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
        let q = Queue::new(faults(10), 1, 100);
        let mut a = job("t");
        a.idempotency_key = Some("key".into());
        let first = q.create(a.clone()).unwrap();
        let again = q.create(a.clone()).unwrap();
        assert!(again.replayed);
        assert_eq!(again.job.id, first.job.id);
        let mut other_payload = a.clone();
        other_payload.payload = json!({"prompt": "y"});
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
        assert_eq!(q.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn lists_are_per_owner_newest_first_with_totals() {
        let q = Queue::new(faults(10), 1, 100);
        for i in 0..25 {
            create(&q, if i % 5 == 0 { "u" } else { "t" });
        }
        let (page, total) = q.list("t", 1, 7, None);
        assert_eq!(total, 20);
        let ids: Vec<u64> = page.iter().map(|j| j.id).collect();
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
        let q = Queue::new(faults(1000), 1, 100);
        create(&q, "t");
        let _w = q.spawn_workers(1);
        settle().await;
        q.set_faults(faults(5));
        q.reset();
        assert!(q.is_empty());
        assert_eq!(q.faults(), faults(1000));
        let id = create(&q, "t");
        assert_eq!(id, 1);
        tokio::time::sleep(Duration::from_millis(500)).await;
        settle().await;
        // The old worker's attempt must not have finished the new job 1 early.
        assert_eq!(status(&q, 1), JobStatus::Processing);
    }
}
