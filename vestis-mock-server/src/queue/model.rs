//! The queue checked against a small reference model (proptest): random
//! sequences of creates (with and without idempotency keys), cancels,
//! admin forces, manual clock advances (which run worker pickups and
//! attempts that succeed or fail and retry), pause, resume and reset, on
//! a store small enough to evict. After every step the queue must agree
//! with the model and keep its invariants: no job lost or duplicated,
//! terminal jobs never change, `attempts <= max_attempts`, a cancelled job
//! never started, list totals and order as the model's, each token sees
//! only its own jobs, and an idempotency key maps to one job.
//!
//! The model is a plain simulation: jobs in a `BTreeMap`, a FIFO of ids,
//! and at each time step the attempt with the earliest `(due, id)` ends,
//! freeing a worker for the queue's head. Every attempt's outcome is
//! fixed per job (`X-Mock-Outcome`, or none with a 0 failure rate) and
//! its duration too (`X-Mock-Duration`, or the fixed processing time), so
//! the model knows the exact history and compares timestamps as well.
//!
//! Normal runs try 1,000 sequences of up to 40 steps; `PROPTEST_CASES=200000 cargo test -p
//! vestis-mock-server --lib queue::model` runs a long one.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::json;
use vestis_client::{JobId, JobKind, JobStatus};

use super::{
    CancelError, ClockMode, CreateError, ForceError, JobFilter, JobSnapshot, NewJob, Outcome,
    Queue, Settings,
};
use super::{DurationRange, QueueFaults};

const OWNERS: [&str; 3] = ["alice", "bob", "carol"];
/// Processing time of a job without `X-Mock-Duration`, in ms.
const DEFAULT_MS: u64 = 300;

/// One step a test takes.
#[derive(Debug, Clone)]
enum Op {
    Create {
        owner: usize,
        /// An idempotency key out of a small set, so they repeat.
        key: Option<u8>,
        /// Stands for the payload: equal numbers, equal payloads.
        payload: u8,
        flatlay: bool,
        /// `Some(true)`: every attempt completes; `Some(false)`: every one fails.
        outcome: Option<bool>,
        duration_ms: Option<u64>,
    },
    /// Cancels a job (picked among every id so far, plus one never used) as `owner`.
    Cancel {
        owner: usize,
        pick: Index,
    },
    Force {
        pick: Index,
        complete: bool,
    },
    Advance {
        ms: u64,
    },
    Pause,
    Resume,
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    let create = (
        0..OWNERS.len(),
        prop::option::weighted(0.4, 0u8..4),
        0u8..3,
        any::<bool>(),
        prop::option::of(any::<bool>()),
        prop::option::of(prop::sample::select(vec![0u64, 100, 250, 500])),
    )
        .prop_map(
            |(owner, key, payload, flatlay, outcome, duration_ms)| Op::Create {
                owner,
                key,
                payload,
                flatlay,
                outcome,
                duration_ms,
            },
        );
    prop_oneof![
        6 => create,
        2 => (0..OWNERS.len(), any::<Index>()).prop_map(|(owner, pick)| Op::Cancel { owner, pick }),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(pick, complete)| Op::Force { pick, complete }),
        4 => prop::sample::select(vec![0u64, 50, 100, 250, 300, 700, 2000]).prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::Pause),
        1 => Just(Op::Resume),
        1 => Just(Op::Reset),
    ]
}

/// The queue's settings for one sequence.
#[derive(Debug, Clone, Copy)]
struct Setup {
    workers: usize,
    max_jobs: usize,
    max_attempts: u32,
    paused: bool,
}

fn setup() -> impl Strategy<Value = Setup> {
    (1usize..=3, 1usize..=8, 1u32..=3, prop::bool::weighted(0.2)).prop_map(
        |(workers, max_jobs, max_attempts, paused)| Setup {
            workers,
            max_jobs,
            max_attempts,
            paused,
        },
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Pending,
    Processing,
    Completed,
    Failed,
    Cancelled,
}

impl St {
    fn terminal(self) -> bool {
        matches!(self, St::Completed | St::Failed | St::Cancelled)
    }

    fn public(self) -> JobStatus {
        match self {
            St::Pending => JobStatus::Pending,
            St::Processing => JobStatus::Processing,
            St::Completed => JobStatus::Completed,
            St::Failed => JobStatus::Failed,
            St::Cancelled => JobStatus::Cancelled,
        }
    }
}

const ALL: [St; 5] = [
    St::Pending,
    St::Processing,
    St::Completed,
    St::Failed,
    St::Cancelled,
];

#[derive(Debug, Clone)]
struct MJob {
    owner: usize,
    state: St,
    attempts: u32,
    succeed: bool,
    duration: u64,
    created: u64,
    started: Option<u64>,
    completed: Option<u64>,
    /// While processing: when the attempt ends (ms on the model's clock).
    due: Option<u64>,
    key: Option<u8>,
    payload: u8,
    flatlay: bool,
}

/// The reference: what the queue should hold, by a plain simulation.
#[derive(Debug)]
struct Model {
    setup: Setup,
    now: u64,
    paused: bool,
    next_id: u64,
    jobs: BTreeMap<u64, MJob>,
    fifo: VecDeque<u64>,
    keys: HashMap<(usize, u8), u64>,
}

impl Model {
    fn new(setup: Setup) -> Model {
        Model {
            setup,
            now: 0,
            paused: setup.paused,
            next_id: 1,
            jobs: BTreeMap::new(),
            fifo: VecDeque::new(),
            keys: HashMap::new(),
        }
    }

    fn running(&self) -> usize {
        self.jobs.values().filter(|j| j.due.is_some()).count()
    }

    /// Plays every attempt end up to `until`, in `(due, id)` order, each
    /// freed worker taking the queue's head at that time; then fills free
    /// workers at `until`.
    fn settle(&mut self, until: u64) {
        loop {
            let next = self
                .jobs
                .iter()
                .filter_map(|(id, j)| j.due.map(|d| (d, *id)))
                .min();
            match next.filter(|(due, _)| *due <= until) {
                Some((due, id)) => {
                    self.finish(id, due);
                    self.start(due);
                }
                // Zero-length attempts started now end now: every read
                // of the queue settles first, so none is ever seen running.
                None if self.start(until) => {}
                None => break,
            }
        }
        self.now = until;
    }

    fn finish(&mut self, id: u64, at: u64) {
        let max_attempts = self.setup.max_attempts;
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.due = None;
        if job.succeed {
            job.state = St::Completed;
            job.completed = Some(at);
        } else if job.attempts >= max_attempts {
            job.state = St::Failed;
            job.completed = Some(at);
        } else {
            job.state = St::Pending;
            self.fifo.push_back(id);
        }
    }

    /// Starts queued jobs on free workers at `at`; `true` if one of them
    /// is already due.
    fn start(&mut self, at: u64) -> bool {
        let mut due_now = false;
        while !self.paused && self.running() < self.setup.workers {
            let Some(id) = self.fifo.pop_front() else {
                break;
            };
            let Some(job) = self.jobs.get_mut(&id) else {
                continue;
            };
            if job.state != St::Pending {
                continue;
            }
            job.state = St::Processing;
            job.attempts += 1;
            job.started.get_or_insert(at);
            job.due = Some(at + job.duration);
            due_now |= job.duration == 0;
        }
        due_now
    }

    /// The expected result of a create: the job's id (and whether it is a
    /// replay), or the refusal.
    fn create(&mut self, op: &Op) -> Result<(u64, bool), CreateError> {
        let Op::Create {
            owner,
            key,
            payload,
            flatlay,
            outcome,
            duration_ms,
        } = *op
        else {
            unreachable!("only creates");
        };
        if let Some(k) = key
            && let Some(&id) = self.keys.get(&(owner, k))
        {
            let job = &self.jobs[&id];
            if job.payload != payload || job.flatlay != flatlay {
                return Err(CreateError::IdempotencyMismatch);
            }
            return Ok((id, true));
        }
        while self.jobs.len() >= self.setup.max_jobs {
            let oldest = self
                .jobs
                .iter()
                .find(|(_, j)| j.state.terminal())
                .map(|(id, _)| *id);
            let Some(oldest) = oldest else {
                return Err(CreateError::Full);
            };
            let gone = self.jobs.remove(&oldest).expect("just found");
            if let Some(k) = gone.key {
                self.keys.remove(&(gone.owner, k));
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.jobs.insert(
            id,
            MJob {
                owner,
                state: St::Pending,
                attempts: 0,
                succeed: outcome != Some(false),
                duration: duration_ms.unwrap_or(DEFAULT_MS),
                created: self.now,
                started: None,
                completed: None,
                due: None,
                key,
                payload,
                flatlay,
            },
        );
        if let Some(k) = key {
            self.keys.insert((owner, k), id);
        }
        self.fifo.push_back(id);
        self.settle(self.now);
        Ok((id, false))
    }

    fn cancel(&mut self, owner: usize, id: u64) -> Result<(), CancelError> {
        let job = match self.jobs.get_mut(&id) {
            Some(job) if job.owner == owner => job,
            _ => return Err(CancelError::NotFound),
        };
        if job.state != St::Pending {
            return Err(CancelError::NotPending(job.state.public()));
        }
        job.state = St::Cancelled;
        job.completed = Some(self.now);
        Ok(())
    }

    fn force(&mut self, id: u64, complete: bool) -> Result<(), ForceError> {
        let now = self.now;
        let Some(job) = self.jobs.get_mut(&id) else {
            return Err(ForceError::NotFound);
        };
        if job.state.terminal() {
            return Err(ForceError::Terminal(job.state.public()));
        }
        // A job forced before any attempt counts its one attempt now.
        job.attempts = job.attempts.max(1);
        job.started.get_or_insert(now);
        job.state = if complete { St::Completed } else { St::Failed };
        job.completed = Some(now);
        job.due = None;
        self.settle(now);
        Ok(())
    }

    fn reset(&mut self) {
        *self = Model::new(self.setup);
    }
}

/// The queue under test, its model, and what must never change.
struct Harness {
    queue: Queue,
    model: Model,
    /// The model clock's zero on the queue's clock (moves on reset).
    epoch: SystemTime,
    /// Each terminal job's first terminal snapshot.
    terminal: HashMap<u64, JobSnapshot>,
}

impl Harness {
    fn new(setup: Setup) -> Harness {
        let queue = Queue::new(Settings {
            faults: QueueFaults {
                processing_time: DurationRange::fixed(Duration::from_millis(DEFAULT_MS)),
                failure_rate: 0.0,
                max_attempts: setup.max_attempts,
                by_type: Default::default(),
            },
            seed: 7,
            max_jobs: setup.max_jobs,
            workers: setup.workers,
            clock: ClockMode::Manual,
            paused: setup.paused,
            profile: None,
        });
        let epoch = queue.now();
        Harness {
            queue,
            model: Model::new(setup),
            epoch,
            terminal: HashMap::new(),
        }
    }

    /// Turns a pick into an id: any id used so far, or the next unused one.
    fn pick(&self, pick: &Index) -> u64 {
        pick.index(usize::try_from(self.model.next_id).unwrap_or(usize::MAX)) as u64 + 1
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Create {
                owner,
                key,
                payload,
                flatlay,
                outcome,
                duration_ms,
            } => {
                let expected = self.model.create(op);
                let got = self.queue.create(NewJob {
                    owner: OWNERS[*owner].into(),
                    kind: if *flatlay {
                        JobKind::Flatlay
                    } else {
                        JobKind::Chat
                    },
                    payload: json!({ "prompt": format!("p{payload}") })
                        .to_string()
                        .into(),
                    idempotency_key: key.map(|k| format!("key-{k}")),
                    outcome: outcome.map(|ok| if ok { Outcome::Complete } else { Outcome::Fail }),
                    duration: duration_ms.map(Duration::from_millis),
                    polls: None,
                });
                let got = got.map(|c| (c.job.id.0, c.replayed));
                prop_assert_eq!(got, expected, "create {:?}", op);
            }
            Op::Cancel { owner, pick } => {
                let id = self.pick(pick);
                let got = self.queue.cancel(OWNERS[*owner], JobId(id)).map(|_| ());
                prop_assert_eq!(got, self.model.cancel(*owner, id), "cancel {}", id);
            }
            Op::Force { pick, complete } => {
                let id = self.pick(pick);
                let outcome = if *complete {
                    Outcome::Complete
                } else {
                    Outcome::Fail
                };
                let got = self.queue.force(JobId(id), outcome, None).map(|_| ());
                prop_assert_eq!(got, self.model.force(id, *complete), "force {}", id);
            }
            Op::Advance { ms } => {
                let now = self.queue.advance(Duration::from_millis(*ms));
                let until = self.model.now + ms;
                self.model.settle(until);
                prop_assert_eq!(now, self.at(until));
            }
            Op::Pause => {
                self.queue.pause();
                self.model.paused = true;
            }
            Op::Resume => {
                self.queue.resume();
                self.model.paused = false;
                self.model.settle(self.model.now);
            }
            Op::Reset => {
                self.queue.reset();
                self.model.reset();
                self.epoch = self.queue.now();
                self.terminal.clear();
            }
        }
        Ok(())
    }

    fn at(&self, ms: u64) -> SystemTime {
        self.epoch + Duration::from_millis(ms)
    }

    /// Every invariant, after a step.
    fn check(&mut self) -> Result<(), TestCaseError> {
        let setup = self.model.setup;
        // No job lost or duplicated: exactly the model's ids, each once.
        let (stored, _) = self.queue.admin_page(&JobFilter::default());
        let all: Vec<u64> = stored.iter().map(|j| j.job.id.0).collect();
        let expected: Vec<u64> = self.model.jobs.keys().rev().copied().collect();
        prop_assert_eq!(&all, &expected, "stored ids");
        prop_assert!(self.queue.len() <= setup.max_jobs);
        let running = stored
            .iter()
            .filter(|j| j.job.status == JobStatus::Processing)
            .count();
        prop_assert!(running <= setup.workers, "{} running", running);
        let jobs: Vec<(u64, MJob)> = self
            .model
            .jobs
            .iter()
            .map(|(id, j)| (*id, j.clone()))
            .collect();
        for (id, m) in &jobs {
            self.check_job(*id, m)?;
        }
        // Terminal jobs that are still stored never changed.
        for now in &stored {
            if let Some(first) = self.terminal.get(&now.job.id.0) {
                prop_assert_eq!(&now.job, first, "terminal job changed");
            }
        }
        for owner in 0..OWNERS.len() {
            self.check_lists(owner)?;
        }
        Ok(())
    }

    fn check_job(&mut self, id: u64, m: &MJob) -> Result<(), TestCaseError> {
        let got = self.queue.get(OWNERS[m.owner], JobId(id));
        let Some(got) = got else {
            return Err(TestCaseError::fail(format!("job {id} lost")));
        };
        prop_assert_eq!(&got.status, &m.state.public(), "job {} status", id);
        prop_assert_eq!(got.attempts, m.attempts, "job {} attempts", id);
        prop_assert!(got.attempts <= self.model.setup.max_attempts);
        prop_assert_eq!(got.created_at, self.at(m.created));
        prop_assert_eq!(
            got.started_at,
            m.started.map(|t| self.at(t)),
            "job {} start",
            id
        );
        prop_assert_eq!(got.completed_at, m.completed.map(|t| self.at(t)));
        prop_assert_eq!(
            got.error.is_some(),
            m.state == St::Failed,
            "job {} error",
            id
        );
        if m.state == St::Cancelled {
            // Cancelled while pending: never started, or only before (a
            // retry waiting its turn); the terminal check below proves it
            // never starts again.
            prop_assert_eq!(got.started_at.is_some(), got.attempts > 0, "job {}", id);
            prop_assert!(got.attempts < self.model.setup.max_attempts.max(1) || got.attempts == 0);
        }
        if m.state.terminal() {
            self.terminal.entry(id).or_insert(got);
        }
        // Per-token isolation: no other token sees it.
        for other in (0..OWNERS.len()).filter(|o| *o != m.owner) {
            prop_assert!(self.queue.get(OWNERS[other], JobId(id)).is_none());
        }
        Ok(())
    }

    /// Every page of every filter: the model's ids, newest first, and its totals.
    fn check_lists(&self, owner: usize) -> Result<(), TestCaseError> {
        let filters = std::iter::once(None).chain(ALL.map(Some));
        for filter in filters {
            let expected: Vec<u64> = self
                .model
                .jobs
                .iter()
                .rev()
                .filter(|(_, j)| j.owner == owner && filter.is_none_or(|s| j.state == s))
                .map(|(id, _)| *id)
                .collect();
            let status = filter.map(St::public);
            let mut seen = Vec::new();
            // Every page, and the empty one after the last.
            for page in 1..=expected.len().div_ceil(3) as u64 + 1 {
                let (jobs, total) = self.queue.list(OWNERS[owner], page, 3, status.as_ref());
                prop_assert_eq!(total, expected.len() as u64, "total of {:?}", filter);
                seen.extend(jobs.iter().map(|j| j.id.0));
            }
            prop_assert_eq!(&seen, &expected, "pages of {:?} for {}", filter, owner);
        }
        Ok(())
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn the_queue_agrees_with_the_model(setup in setup(), ops in prop::collection::vec(op(), 1..40)) {
        let mut h = Harness::new(setup);
        h.check()?;
        for op in &ops {
            h.apply(op)?;
            h.check()?;
        }
    }
}
