//! The job store and its state machine: every job, every index, the
//! pending FIFO, the attempts in progress and the mock's clock.
//!
//! Workers are slots, not tasks: an attempt in progress is an entry
//! `(due, id)` in `running`, and [`Store::settle`] plays every event up to
//! a given time in order (an attempt ends at its due time, which frees a
//! slot, which starts the next pending job at that same time). The driver
//! task calls it when real time reaches the next due; an admin clock
//! advance calls it with the advanced time. Both give the same history,
//! so a manual clock reproduces what real time would have done.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustc_hash::FxHashMap;
use vestis_client::{JobId, JobKind, JobStatus};

use super::QueueFaults;
use super::clock::{Clock, ClockMode};
use super::ids::IdSet;
use super::profile::{Profile, Trajectory};
use super::{JobSnapshot, Outcome};
use crate::hash::attempt_seed;

/// Internal status: `Copy`, and an index into each owner's per-status sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Pending = 0,
    Processing = 1,
    Completed = 2,
    Failed = 3,
    Cancelled = 4,
}

impl State {
    pub(crate) fn is_terminal(self) -> bool {
        matches!(self, State::Completed | State::Failed | State::Cancelled)
    }

    pub(crate) fn public(self) -> JobStatus {
        match self {
            State::Pending => JobStatus::Pending,
            State::Processing => JobStatus::Processing,
            State::Completed => JobStatus::Completed,
            State::Failed => JobStatus::Failed,
            State::Cancelled => JobStatus::Cancelled,
        }
    }

    pub(crate) fn from_public(status: &JobStatus) -> Option<State> {
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

/// What moves a job forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pacing {
    /// Workers and the clock; `Some` fixes every attempt's duration.
    Timed(Option<Duration>),
    /// The caller's polls (`X-Mock-Polls`): terminal at poll `target`.
    Polls { target: u32, seen: u32 },
}

/// One stored job. The payload is kept as the JSON text the create sent
/// (or, for a fixture, serde_json's compact print of it): parsing it
/// gives the payload back, and what depends on its canonical form (an
/// idempotent replay's comparison, the image's seed) is worked out from
/// it when it is needed, not on every create.
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) owner: Arc<str>,
    pub(crate) kind: JobKind,
    pub(crate) state: State,
    pub(crate) created_at: SystemTime,
    pub(crate) started_at: Option<SystemTime>,
    pub(crate) completed_at: Option<SystemTime>,
    pub(crate) attempts: u32,
    pub(crate) error: Option<Box<str>>,
    pub(crate) payload: Box<str>,
    pub(crate) idempotency_key: Option<Box<str>>,
    pub(crate) outcome: Option<Outcome>,
    pub(crate) pacing: Pacing,
    /// While an attempt runs on a worker: when it ends, and whether it succeeds.
    pub(crate) running: Option<(SystemTime, bool)>,
}

impl Stored {
    pub(crate) fn snapshot(&self, id: u64) -> JobSnapshot {
        JobSnapshot {
            id: JobId(id),
            kind: self.kind,
            status: self.state.public(),
            created_at: self.created_at,
            started_at: self.started_at,
            completed_at: self.completed_at,
            attempts: self.attempts,
            error: self.error.as_deref().map(str::to_owned),
        }
    }
}

/// A token's jobs: all ids, and ids by status, each sorted so that a
/// newest-first page is read from the end.
#[derive(Debug, Default)]
pub(crate) struct Owner {
    pub(crate) all: IdSet,
    pub(crate) by_state: [IdSet; 5],
    pub(crate) idempotency: TokenMap<Box<str>, u64>,
}

/// A map keyed by caller-chosen text (tokens, idempotency keys): foldhash,
/// seeded per process, rather than std's slower SipHash: a token is
/// hashed on every state change of its jobs.
pub(crate) type TokenMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// What `settle` needs from the settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules<'a> {
    pub(crate) faults: &'a QueueFaults,
    pub(crate) seed: u64,
    pub(crate) workers: usize,
    /// `--replay`'s trajectories; `None` (every other mock) keeps each
    /// attempt's draw exactly as without replay.
    pub(crate) profile: Option<&'a Profile>,
}

impl Rules<'_> {
    /// The recorded trajectory job `id` of `kind` plays, under replay.
    fn trajectory(&self, kind: JobKind, id: u64) -> Option<&Trajectory> {
        self.profile?.pick(kind, self.seed, id)
    }
}

#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) clock: Clock,
    /// While paused, no pending job starts (running attempts still end).
    pub(crate) paused: bool,
    /// The queue's settings, read under the same lock as the jobs.
    pub(crate) faults: QueueFaults,
    pub(crate) next_id: u64,
    /// Bumped by every insert, removal and transition: the dashboard's
    /// event stream compares it to see that jobs changed (one add under
    /// a lock already held, whoever listens or not).
    pub(crate) version: u64,
    /// Boxed: a map's table grows by doubling, and empty slots of a
    /// pointer cost 8 bytes where empty slots of a whole job cost ~190.
    /// FxHash: the ids are the server's own, so no caller can pick
    /// colliding keys, and SipHash was a sixth of the engine's work.
    pub(crate) jobs: FxHashMap<u64, Box<Stored>>,
    pub(crate) owners: TokenMap<Arc<str>, Owner>,
    /// Pending job ids in FIFO order. A cancelled id stays until it is
    /// popped and skipped, which keeps cancel O(1).
    queue: VecDeque<u64>,
    /// Attempts in progress, by due time (then id: ties end in id order).
    running: BTreeSet<(SystemTime, u64)>,
    /// Under replay, new jobs held `pending` until their drawn queue wait
    /// has passed, by release time; then they join `queue`. Always empty
    /// without a replay profile.
    held: BTreeSet<(SystemTime, u64)>,
    /// Terminal job ids, oldest first: the eviction order.
    terminal: IdSet,
    /// The due time the driver task sleeps until (`None`: it waits for a
    /// wake alone), set by the driver each time it goes to sleep; see
    /// [`Store::driver_is_late`].
    pub(crate) driver_due: Option<SystemTime>,
}

impl Store {
    pub(crate) fn new(mode: ClockMode, paused: bool, faults: QueueFaults) -> Store {
        Store {
            clock: Clock::new(mode),
            paused,
            faults,
            next_id: 1,
            version: 0,
            jobs: FxHashMap::default(),
            owners: TokenMap::default(),
            queue: VecDeque::new(),
            running: BTreeSet::new(),
            held: BTreeSet::new(),
            terminal: IdSet::default(),
            driver_due: None,
        }
    }

    /// Moves a job to `to`, keeping the owner's index, the running set and
    /// the terminal set in step. The one place a job's state changes.
    pub(crate) fn transition(&mut self, id: u64, to: State, now: SystemTime) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        self.version = self.version.wrapping_add(1);
        let from = job.state;
        debug_assert!(!from.is_terminal(), "terminal jobs never change");
        job.state = to;
        if let Some((due, _)) = job.running.take() {
            self.running.remove(&(due, id));
        }
        if to.is_terminal() {
            job.completed_at = Some(now);
            self.terminal.insert(id);
        }
        if let Some(owner) = self.owners.get_mut(&job.owner) {
            owner.by_state[from as usize].remove(id);
            owner.by_state[to as usize].insert(id);
        }
    }

    pub(crate) fn snapshot(&self, id: u64) -> Option<JobSnapshot> {
        self.jobs.get(&id).map(|job| job.snapshot(id))
    }

    /// Adds a job under `id` at `now`, indexed, queued if pending and
    /// timed, and counted as running if processing and timed.
    ///
    /// Under replay, a job continues from `now`, never before: a pending
    /// one (new, or loaded from the recording) waits its drawn queue wait
    /// from `now`, a processing one runs its attempt from `now`. A
    /// fixture's processing attempt runs from its `started_at`, as always.
    pub(crate) fn insert(&mut self, id: u64, mut job: Stored, now: SystemTime, rules: Rules<'_>) {
        let owner_key = match self.owners.get_key_value(&*job.owner) {
            Some((key, _)) => Arc::clone(key),
            None => Arc::clone(&job.owner),
        };
        job.owner = Arc::clone(&owner_key);
        let owner = self.owners.entry(owner_key).or_default();
        owner.all.insert(id);
        owner.by_state[job.state as usize].insert(id);
        if let Some(key) = &job.idempotency_key {
            owner.idempotency.insert(key.clone(), id);
        }
        let timed = matches!(job.pacing, Pacing::Timed(_));
        match job.state {
            State::Pending if timed => match rules.trajectory(job.kind, id) {
                Some(t) if !t.wait.is_zero() => {
                    self.held.insert((now + t.wait, id));
                }
                _ => self.queue.push_back(id),
            },
            State::Processing if timed => {
                let start = match rules.profile {
                    Some(_) => now,
                    None => job.started_at.unwrap_or(job.created_at),
                };
                let (duration, succeed) = draw(&job, id, rules);
                let due = start + duration;
                job.running = Some((due, succeed));
                self.running.insert((due, id));
            }
            state if state.is_terminal() => {
                self.terminal.insert(id);
            }
            _ => {}
        }
        self.next_id = self.next_id.max(id + 1);
        self.version = self.version.wrapping_add(1);
        self.jobs.insert(id, Box::new(job));
    }

    pub(crate) fn remove(&mut self, id: u64) {
        let Some(job) = self.jobs.remove(&id) else {
            return;
        };
        self.version = self.version.wrapping_add(1);
        self.terminal.remove(id);
        if let Some((due, _)) = job.running {
            self.running.remove(&(due, id));
        }
        if let Some(owner) = self.owners.get_mut(&job.owner) {
            owner.all.remove(id);
            owner.by_state[job.state as usize].remove(id);
            if let Some(key) = &job.idempotency_key {
                owner.idempotency.remove(key);
            }
            if owner.all.is_empty() {
                self.owners.remove(&job.owner);
            }
        }
    }

    /// Makes room for one more job by evicting the oldest terminal jobs;
    /// `false` when the store is full of live jobs.
    pub(crate) fn make_room(&mut self, max_jobs: usize) -> bool {
        while self.jobs.len() >= max_jobs {
            let Some(oldest) = self.terminal.first() else {
                return false;
            };
            self.remove(oldest);
        }
        true
    }

    /// Plays every event up to `now` in time order: each attempt due by
    /// then ends at its due time, and each freed worker starts the next
    /// pending job at that time. Then free workers start pending jobs now.
    pub(crate) fn settle(&mut self, now: SystemTime, rules: Rules<'_>) {
        if rules.profile.is_some() {
            return self.settle_replay(now, rules);
        }
        while let Some(&(due, id)) = self.running.first()
            && due <= now
        {
            self.finish_attempt(id, due, rules);
            self.start_pending(due, rules);
        }
        self.start_pending(now, rules);
    }

    /// [`Store::settle`] with held jobs: their releases are events too,
    /// played in time order with the attempts' ends (an end first on a
    /// tie, so the freed worker is there for the released job).
    fn settle_replay(&mut self, now: SystemTime, rules: Rules<'_>) {
        loop {
            let end = self.running.first().copied().filter(|e| e.0 <= now);
            let release = self.held.first().copied().filter(|r| r.0 <= now);
            match (end, release) {
                (Some((due, id)), r) if r.is_none_or(|(at, _)| due <= at) => {
                    self.finish_attempt(id, due, rules);
                    self.running.remove(&(due, id));
                    self.start_pending(due, rules);
                }
                (_, Some((at, id))) => {
                    self.held.remove(&(at, id));
                    // Cancelled or forced while held: nothing to start.
                    if self
                        .jobs
                        .get(&id)
                        .is_some_and(|j| j.state == State::Pending)
                    {
                        self.queue.push_back(id);
                    }
                    self.start_pending(at, rules);
                }
                _ => break,
            }
        }
        self.start_pending(now, rules);
    }

    /// How many attempts run on workers now.
    pub(crate) fn busy(&self) -> usize {
        self.running.len()
    }

    /// When the next attempt ends, if any runs.
    pub(crate) fn next_due(&self) -> Option<SystemTime> {
        let due = self.running.first().map(|(due, _)| *due);
        match self.held.first() {
            None => due,
            Some(&(at, _)) => Some(due.map_or(at, |due| due.min(at))),
        }
    }

    /// Whether the driver must be woken to see the next due time: an
    /// attempt now ends before the time it sleeps until (or it sleeps with
    /// no time at all). A create under load mostly adds an attempt that
    /// ends after ones already running, and then the driver's timer
    /// already covers it: no wake, no task switch. Under a manual clock
    /// only an advance reaches a due time, so the driver has nothing to do.
    pub(crate) fn driver_is_late(&self) -> bool {
        if self.clock.mode() == ClockMode::Manual {
            return false;
        }
        match (self.next_due(), self.driver_due) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(due), Some(sleeping_until)) => due < sleeping_until,
        }
    }

    /// Starts the oldest pending jobs on free workers, at `at`.
    fn start_pending(&mut self, at: SystemTime, rules: Rules<'_>) {
        while !self.paused && self.running.len() < rules.workers {
            let Some(id) = self.queue.pop_front() else {
                return;
            };
            let Some(job) = self.jobs.get_mut(&id) else {
                continue;
            };
            if job.state != State::Pending {
                continue; // cancelled (or forced) while queued
            }
            job.attempts += 1;
            job.started_at.get_or_insert(at);
            let (duration, succeed) = draw(job, id, rules);
            let due = at + duration;
            self.transition(id, State::Processing, at);
            if let Some(job) = self.jobs.get_mut(&id) {
                job.running = Some((due, succeed));
            }
            self.running.insert((due, id));
        }
    }

    /// Ends the running attempt of `id` at `at`: completed, re-queued at
    /// the tail, or failed for good after the last allowed attempt.
    fn finish_attempt(&mut self, id: u64, at: SystemTime, rules: Rules<'_>) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let Some((_, succeed)) = job.running else {
            return;
        };
        // Under replay, the recorded job says when failing stops and
        // with which words (unless `X-Mock-Outcome` took the draw over).
        let replayed = match job.outcome {
            None => rules.trajectory(job.kind, id),
            Some(_) => None,
        };
        let last = match replayed {
            Some(t) => t.is_last(job.attempts),
            None => job.attempts >= rules.faults.max_attempts,
        };
        if succeed {
            job.error = None;
            self.transition(id, State::Completed, at);
        } else if last {
            let error = replayed.and_then(|t| t.error.clone());
            job.error = Some(error.unwrap_or_else(|| failure_message(job.attempts).into()));
            self.transition(id, State::Failed, at);
        } else {
            self.transition(id, State::Pending, at);
            self.queue.push_back(id);
        }
    }

    /// Counts one `GET` of a poll-driven job and moves it along: with a
    /// target of N polls, polls `1..=(N-1)/2` show `pending`, the rest
    /// before N show `processing`, and poll N shows the terminal status.
    pub(crate) fn poll(&mut self, id: u64, now: SystemTime) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let Pacing::Polls { target, seen } = &mut job.pacing else {
            return;
        };
        if job.state.is_terminal() {
            return;
        }
        *seen += 1;
        let (target, seen) = (*target, *seen);
        let to = if seen >= target {
            match job.outcome {
                Some(Outcome::Fail) => {
                    job.error = Some(failure_message(job.attempts.max(1)).into());
                    State::Failed
                }
                _ => State::Completed,
            }
        } else if seen > (target - 1) / 2 {
            State::Processing
        } else {
            return;
        };
        if job.state == State::Pending {
            job.attempts += 1;
            job.started_at.get_or_insert(now);
        }
        if to != job.state {
            self.transition(id, to, now);
        }
    }
}

/// One attempt's duration and outcome: they depend only on (seed, job,
/// attempt), never on which worker got there first, so seeded runs replay.
///
/// The attempt's random generator is seeded only when a draw needs it: a
/// fixed duration takes none, and neither does the outcome when it is set
/// or the failure rate is 0 (`f64()` is in `[0, 1)`, so it always
/// succeeds). Skipping a draw that cannot change the answer keeps every
/// seeded run as it was, and saves the seed's SipHash on every attempt
/// with a single processing time and no failure rate (the default rate
/// is 0) or an `X-Mock-Outcome`.
fn draw(job: &Stored, id: u64, rules: Rules<'_>) -> (Duration, bool) {
    if let Some(t) = rules.trajectory(job.kind, id) {
        return draw_replayed(job, t);
    }
    // Seeded on first use: the draws come from the same sequence either way.
    let seeded = || fastrand::Rng::with_seed(attempt_seed(rules.seed, id, job.attempts));
    let mut rng = None;
    let by_type = &rules.faults.by_type;
    let range = match by_type.is_empty() {
        true => rules.faults.processing_time,
        false => by_type
            .get(job.kind)
            .unwrap_or(rules.faults.processing_time),
    };
    let duration = match job.pacing {
        Pacing::Timed(Some(fixed)) => fixed,
        // `sample` draws nothing for a single duration.
        _ if range.max <= range.min => range.min,
        _ => range.sample(rng.get_or_insert_with(seeded)),
    };
    let succeed = match job.outcome {
        Some(Outcome::Complete) => true,
        Some(Outcome::Fail) => false,
        None if rules.faults.failure_rate <= 0.0 => true,
        None => rng.get_or_insert_with(seeded).f64() >= rules.faults.failure_rate,
    };
    (duration, succeed)
}

/// An attempt of a replayed job: its share of the recorded processing
/// time and the recorded outcome, unless `X-Mock-Duration` or
/// `X-Mock-Outcome` says otherwise (they override the draw, as always).
fn draw_replayed(job: &Stored, t: &Trajectory) -> (Duration, bool) {
    let duration = match job.pacing {
        Pacing::Timed(Some(fixed)) => fixed,
        _ => t.attempt_time(job.attempts),
    };
    let succeed = match job.outcome {
        Some(Outcome::Complete) => true,
        Some(Outcome::Fail) => false,
        None => t.succeeds(job.attempts),
    };
    (duration, succeed)
}

pub(crate) fn failure_message(attempts: u32) -> String {
    format!(
        "Image generation failed after {attempts} attempt{}",
        if attempts == 1 { "" } else { "s" }
    )
}
