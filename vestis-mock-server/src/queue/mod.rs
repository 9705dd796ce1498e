//! The job queue: a cheap, cloneable handle on the store, and the driver
//! task that plays the store's events when real time reaches them. No HTTP.
//!
//! All state lives behind one `std::sync::Mutex`: every transition (create,
//! start, finish, cancel, force, poll, clock advance, evict) happens in a
//! single lock acquisition, so a cancel racing a worker's start has exactly
//! one winner and no read-then-write can lose an update. The lock is never
//! held across an `.await`: critical sections are short and synchronous,
//! which is why a blocking mutex beats an async one here (as in
//! mini-redis's `Db`).
//!
//! Costs are per token, never per store: each token has an index of its
//! job ids, overall and by status, so listing a page does not scan other
//! tokens' jobs.

mod admin;
mod clock;
mod engine;
mod ids;
mod load;
#[cfg(test)]
mod model;
mod profile;
mod settings;
mod store;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use vestis_client::{JobId, JobKind, JobStatus};

pub(crate) use admin::JobFilter;
use clock::Clock;
pub use clock::ClockMode;
pub use engine::queue_engine_run;
pub(crate) use load::{LoadError, Loaded};
pub(crate) use profile::{Profile, Trajectory};
pub(crate) use settings::QueueFaults;
pub use settings::{DurationRange, TypeTimes};
pub(crate) use store::State;
use store::{Pacing, Rules, Store, Stored};

use crate::hash::stable_hash;

/// A per-request override of what every attempt of a job does (`X-Mock-Outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every attempt succeeds.
    Complete,
    /// Every attempt fails, so the job ends `failed` after `max_attempts`.
    Fail,
}

/// What a create asks for.
#[derive(Debug, Clone)]
pub(crate) struct NewJob {
    /// The caller's token: the job's owner.
    pub(crate) owner: Arc<str>,
    pub(crate) kind: JobKind,
    /// The validated payload as the JSON text the request sent (unknown
    /// fields included), kept with the job.
    pub(crate) payload: Box<str>,
    pub(crate) idempotency_key: Option<String>,
    /// `X-Mock-Outcome`.
    pub(crate) outcome: Option<Outcome>,
    /// `X-Mock-Duration`: every attempt takes exactly this long.
    pub(crate) duration: Option<Duration>,
    /// `X-Mock-Polls` (or `--polls`): the job advances by its polls instead.
    pub(crate) polls: Option<u32>,
}

/// A created (or idempotently replayed) job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Created {
    pub(crate) job: JobSnapshot,
    /// `true` when an `Idempotency-Key` matched an earlier create.
    pub(crate) replayed: bool,
}

/// The largest job id the mock hands out or accepts: 2^53 - 1,
/// JavaScript's `Number.MAX_SAFE_INTEGER`. Past it a browser's `JSON.parse`
/// rounds an id to a neighbour's, polls the wrong job and gets 404.
pub(crate) const MAX_JOB_ID: u64 = (1 << 53) - 1;

/// Why a create was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CreateError {
    /// The `Idempotency-Key` was used before with a different kind or payload.
    IdempotencyMismatch,
    /// The store is at `max_jobs` and holds no finished job to evict.
    Full,
    /// The next id would pass [`MAX_JOB_ID`] (a job loaded with an id at
    /// the top of the range); a reset starts again at 1.
    NoIdLeft,
}

/// Why a cancel was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CancelError {
    /// No such job for this token.
    NotFound,
    /// The job is no longer pending (it is unchanged).
    NotPending(JobStatus),
}

/// Why the admin API could not finish a job now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ForceError {
    /// No such job, for any token.
    NotFound,
    /// The job is already terminal, and terminal jobs never change.
    Terminal(JobStatus),
}

/// A copy of a job's state, taken under the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobSnapshot {
    pub(crate) id: JobId,
    pub(crate) kind: JobKind,
    pub(crate) status: JobStatus,
    pub(crate) created_at: SystemTime,
    pub(crate) started_at: Option<SystemTime>,
    pub(crate) completed_at: Option<SystemTime>,
    pub(crate) attempts: u32,
    /// Why it failed (or was failed/cancelled by the admin API).
    pub(crate) error: Option<String>,
}

/// A job as the admin API shows it: its state, owner and payload.
#[derive(Debug, Clone)]
pub(crate) struct AdminJob {
    pub(crate) job: JobSnapshot,
    pub(crate) owner: Arc<str>,
    pub(crate) payload: serde_json::Value,
}

/// What the queue starts with, and returns to on reset.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Processing time, failure rate, attempts (the HTTP faults live elsewhere).
    pub(crate) faults: QueueFaults,
    pub(crate) seed: u64,
    pub(crate) max_jobs: usize,
    pub(crate) workers: usize,
    pub(crate) clock: ClockMode,
    pub(crate) paused: bool,
    /// `--replay`: new jobs of a recorded type replay a recorded job's
    /// wait, attempts and outcome; `None` for every other mock.
    pub(crate) profile: Option<Arc<Profile>>,
}

#[derive(Debug)]
struct Shared {
    store: Mutex<Store>,
    /// Wakes the driver: the next due time may have moved.
    wake: Notify,
    /// A copy of the store's clock, republished whenever it moves (advance,
    /// reset), so reading the time takes no lock.
    clock: ArcSwap<Clock>,
    initial: Settings,
}

/// The job queue: a cheap, cloneable handle on the shared store.
#[derive(Debug, Clone)]
pub(crate) struct Queue {
    shared: Arc<Shared>,
}

impl Queue {
    /// A queue with these settings; the seed makes every job's durations
    /// and outcomes reproducible.
    pub(crate) fn new(mut initial: Settings) -> Queue {
        initial.max_jobs = initial.max_jobs.max(1);
        initial.workers = initial.workers.max(1);
        let store = Store::new(initial.clock, initial.paused, initial.faults);
        Queue {
            shared: Arc::new(Shared {
                clock: ArcSwap::from_pointee(store.clock),
                store: Mutex::new(store),
                wake: Notify::new(),
                initial,
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

    /// Runs `f` on the store after playing every event up to now.
    fn with_settled<T>(&self, f: impl FnOnce(&mut Store, SystemTime, Rules<'_>) -> T) -> T {
        let mut store = self.lock();
        // Read under the lock already held: no second lock per call.
        let faults = store.faults;
        let rules = self.rules(&faults);
        let now = store.clock.now();
        store.settle(now, rules);
        f(&mut store, now, rules)
    }

    fn rules<'a>(&'a self, faults: &'a QueueFaults) -> Rules<'a> {
        Rules {
            faults,
            seed: self.shared.initial.seed,
            workers: self.shared.initial.workers,
            profile: self.shared.initial.profile.as_deref(),
        }
    }

    fn wake(&self) {
        self.shared.wake.notify_one();
    }

    /// The current queue settings (processing time, failure rate, attempts).
    pub(crate) fn faults(&self) -> QueueFaults {
        self.lock().faults
    }

    /// Changes the fault settings in one write: `change` sees the current
    /// settings and returns the new ones (or an error, changing nothing),
    /// all under the store's lock, so concurrent changes never lose each other.
    pub(crate) fn update_faults<E>(
        &self,
        change: impl FnOnce(&QueueFaults) -> Result<QueueFaults, E>,
    ) -> Result<QueueFaults, E> {
        let mut store = self.lock();
        let new = change(&store.faults)?;
        store.faults = new;
        drop(store);
        self.wake();
        Ok(new)
    }

    /// Spawns the driver that ends attempts when real time reaches them; it
    /// stops when the set is dropped.
    pub(crate) fn spawn_driver(&self) -> JoinSet<()> {
        let mut set = JoinSet::new();
        let queue = self.clone();
        set.spawn(async move { queue.drive().await });
        set
    }

    async fn drive(self) {
        loop {
            // Registered before looking, so a change in between still wakes us.
            let notified = self.shared.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wait = self.with_settled(|store, _, _| {
                let due = store.next_due();
                let wait = due.and_then(|due| store.clock.real_wait_until(due));
                store.driver_due = wait.and(due);
                wait
            });
            match wait {
                Some(wait) => {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Stores a new pending job (or replays an idempotent create).
    pub(crate) fn create(&self, new: NewJob) -> Result<Created, CreateError> {
        let payload = new.payload;
        // Worked out before the lock: what a replay's payload is compared by.
        let canonical = new
            .idempotency_key
            .as_ref()
            .map(|_| canonical_payload(&payload));
        let max_jobs = self.shared.initial.max_jobs;
        let (created, wake) = self.with_settled(|store, now, rules| {
            if let Some(key) = &new.idempotency_key
                && let Some(&id) = store
                    .owners
                    .get(&*new.owner)
                    .and_then(|o| o.idempotency.get(key.as_str()))
                && let Some(job) = store.jobs.get(&id)
            {
                // The stored request itself, not a hash of it: no collisions.
                let canonical = canonical.as_deref().unwrap_or_default();
                if job.kind != new.kind || !same_payload(&job.payload, &payload, canonical) {
                    return Err(CreateError::IdempotencyMismatch);
                }
                return Ok((
                    Created {
                        job: job.snapshot(id),
                        replayed: true,
                    },
                    false,
                ));
            }
            if store.next_id > MAX_JOB_ID {
                return Err(CreateError::NoIdLeft);
            }
            if !store.make_room(max_jobs) {
                return Err(CreateError::Full);
            }
            let id = store.next_id;
            let pacing = match new.polls {
                Some(target) => Pacing::Polls { target, seen: 0 },
                None => Pacing::Timed(new.duration),
            };
            let stored = Stored {
                owner: new.owner,
                kind: new.kind,
                state: State::Pending,
                created_at: now,
                started_at: None,
                completed_at: None,
                attempts: 0,
                error: None,
                payload,
                idempotency_key: new.idempotency_key.map(String::into_boxed_str),
                outcome: new.outcome,
                pacing,
                running: None,
            };
            let job = stored.snapshot(id);
            store.insert(id, stored, now, rules);
            store.settle(now, rules);
            let created = Created {
                job,
                replayed: false,
            };
            Ok((created, store.driver_is_late()))
        })?;
        if wake {
            self.wake();
        }
        Ok(created)
    }

    /// The job, if it exists and belongs to `owner` (not a poll).
    #[cfg(test)]
    pub(crate) fn get(&self, owner: &str, id: JobId) -> Option<JobSnapshot> {
        self.with_settled(|store, _, _| {
            let job = store.jobs.get(&id.0)?;
            (*job.owner == *owner).then(|| job.snapshot(id.0))
        })
    }

    /// The job's status as stored, without playing due events (a test's
    /// view of what the driver alone did).
    #[cfg(test)]
    pub(crate) fn peek(&self, id: JobId) -> Option<JobStatus> {
        self.lock().jobs.get(&id.0).map(|job| job.state.public())
    }

    /// A `GET` of the job by its owner: counts as a poll for a poll-driven
    /// job (which may move it along), then returns it.
    pub(crate) fn poll(&self, owner: &str, id: JobId) -> Option<JobSnapshot> {
        self.with_settled(|store, now, _| {
            let job = store.jobs.get(&id.0)?;
            if *job.owner != *owner {
                return None;
            }
            store.poll(id.0, now);
            store.snapshot(id.0)
        })
    }

    /// A page of `owner`'s jobs, newest first, and how many match in all.
    pub(crate) fn list(
        &self,
        owner: &str,
        page: u64,
        page_size: u32,
        status: Option<&JobStatus>,
    ) -> (Vec<JobSnapshot>, u64) {
        self.with_settled(|store, _, _| {
            let Some(index) = store.owners.get(owner) else {
                return (Vec::new(), 0);
            };
            let ids = match status.map(State::from_public) {
                Some(Some(state)) => &index.by_state[state as usize],
                Some(None) => return (Vec::new(), 0),
                None => &index.all,
            };
            let skip = usize::try_from(page.saturating_sub(1))
                .unwrap_or(usize::MAX)
                .saturating_mul(page_size as usize);
            // Sized up front: a `filter_map`'s size hint starts at 0, and
            // the vector grew (and copied) three times on a page of 20.
            let mut jobs = Vec::with_capacity((page_size as usize).min(ids.len()));
            jobs.extend(
                ids.newest(skip, page_size as usize)
                    .filter_map(|id| store.snapshot(id)),
            );
            (jobs, ids.len() as u64)
        })
    }

    /// Cancels a pending job of `owner`; no worker can start it afterwards.
    pub(crate) fn cancel(&self, owner: &str, id: JobId) -> Result<JobSnapshot, CancelError> {
        self.with_settled(|store, now, _| {
            let job = match store.jobs.get(&id.0) {
                Some(job) if *job.owner == *owner => job,
                _ => return Err(CancelError::NotFound),
            };
            if job.state != State::Pending {
                return Err(CancelError::NotPending(job.state.public()));
            }
            store.transition(id.0, State::Cancelled, now);
            store.snapshot(id.0).ok_or(CancelError::NotFound)
        })
    }

    /// Admin: ends a non-terminal job now, completed or failed (with
    /// `error`, or a default message), and frees its worker.
    pub(crate) fn force(
        &self,
        id: JobId,
        outcome: Outcome,
        error: Option<String>,
    ) -> Result<JobSnapshot, ForceError> {
        let snap = self.with_settled(|store, now, rules| {
            let Some(job) = store.jobs.get_mut(&id.0) else {
                return Err(ForceError::NotFound);
            };
            if job.state.is_terminal() {
                return Err(ForceError::Terminal(job.state.public()));
            }
            // A job forced before any attempt started gets its one attempt
            // now: the contract ties `started_at` to `attempts > 0`.
            if job.attempts == 0 {
                job.attempts = 1;
            }
            job.started_at.get_or_insert(now);
            let to = match outcome {
                Outcome::Complete => {
                    job.error = None;
                    State::Completed
                }
                Outcome::Fail => {
                    let error = error.filter(|e| !e.trim().is_empty());
                    job.error = Some(
                        error
                            .unwrap_or_else(|| "Image generation failed".to_owned())
                            .into(),
                    );
                    State::Failed
                }
            };
            store.transition(id.0, to, now);
            store.settle(now, rules);
            store.snapshot(id.0).ok_or(ForceError::NotFound)
        })?;
        self.wake();
        Ok(snap)
    }

    /// Admin: one job of any token, with its owner and payload.
    pub(crate) fn admin_job(&self, id: JobId) -> Option<AdminJob> {
        self.with_settled(|store, _, _| admin_job(store, id.0))
    }

    /// Admin: forgets every job and idempotency key, restarts ids at 1,
    /// and restores the start's queue settings, clock and pause.
    pub(crate) fn reset(&self) {
        let initial = &self.shared.initial;
        let mut store = self.lock();
        let version = store.version.wrapping_add(1);
        *store = Store::new(initial.clock, initial.paused, initial.faults);
        // Never back to an old version: a watcher would miss the reset.
        store.version = version;
        self.shared.clock.store(Arc::new(store.clock));
        drop(store);
        self.wake();
    }

    /// Admin: stops starting jobs (running attempts still end).
    pub(crate) fn pause(&self) {
        self.lock().paused = true;
    }

    /// Admin: starts jobs again, at once on every free worker.
    pub(crate) fn resume(&self) {
        self.with_settled(|store, now, rules| {
            store.paused = false;
            store.settle(now, rules);
        });
        self.wake();
    }

    /// Whether the queue is paused.
    pub(crate) fn is_paused(&self) -> bool {
        self.lock().paused
    }

    /// The time on the mock's clock (without playing due events), read
    /// without the store's lock.
    pub(crate) fn now(&self) -> SystemTime {
        self.shared.clock.load().now()
    }

    /// The mock's clock: its mode and the time it reads.
    pub(crate) fn clock(&self) -> (ClockMode, SystemTime) {
        self.with_settled(|store, now, _| (store.clock.mode(), now))
    }

    /// Moves the mock's clock forward by `by`, playing every event in that
    /// span in order, as if the time had passed; returns the new time.
    pub(crate) fn advance(&self, by: Duration) -> SystemTime {
        let now = self.with_settled(|store, _, rules| {
            store.clock.advance(by);
            self.shared.clock.store(Arc::new(store.clock));
            let now = store.clock.now();
            store.settle(now, rules);
            now
        });
        self.wake();
        now
    }

    /// The seed of a completed job's image; `None` for any other job.
    ///
    /// The seed is the stable hash of the job's kind and the canonical
    /// text of its payload (compact, keys sorted), so equal requests draw
    /// equal images however their JSON was spaced or ordered. It is worked
    /// out here, outside the lock, rather than on every create: only a
    /// completed job's image needs it.
    pub(crate) fn image_seed(&self, id: JobId) -> Option<u64> {
        let (kind, payload) = self.with_settled(|store, _, _| {
            let job = store.jobs.get(&id.0)?;
            (job.state == State::Completed).then(|| (job.kind, job.payload.clone()))
        })?;
        let canonical = canonical_payload(&payload);
        Some(stable_hash(&[
            kind.as_str().as_bytes(),
            canonical.as_bytes(),
        ]))
    }

    /// How many jobs are stored.
    pub(crate) fn len(&self) -> usize {
        self.lock().jobs.len()
    }
}

fn admin_job(store: &Store, id: u64) -> Option<AdminJob> {
    let job = store.jobs.get(&id)?;
    Some(AdminJob {
        job: job.snapshot(id),
        owner: Arc::clone(&job.owner),
        payload: serde_json::from_str(&job.payload).unwrap_or_default(),
    })
}

/// A payload's canonical text: serde_json's compact print of it, whose
/// maps are sorted, so equal payloads print equally.
fn canonical_payload(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) => value.to_string(),
        // Stored payloads were parsed before they were stored.
        Err(_) => text.to_owned(),
    }
}

/// Whether two payload texts hold the same JSON (an idempotent replay's
/// test): byte-equal, or equal once parsed, whatever their spacing and key
/// order. `new_canonical` is `new`'s [`canonical_payload`].
fn same_payload(stored: &str, new: &str, new_canonical: &str) -> bool {
    stored == new || canonical_payload(stored) == new_canonical
}
