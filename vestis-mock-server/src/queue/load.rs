//! Loading jobs in any state (fixtures): the whole batch is checked
//! before any of it is stored, and what an entry leaves out gets the
//! values a job of that status would have had.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use vestis_client::{JobId, JobKind};

use super::store::{Pacing, State, Store, Stored, failure_message};
use super::{JobSnapshot, Queue};

/// A job loaded from fixtures, in any state, for any token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Loaded {
    /// `None`: the next free id.
    pub(crate) id: Option<JobId>,
    pub(crate) owner: Arc<str>,
    pub(crate) kind: JobKind,
    pub(crate) state: State,
    pub(crate) payload: serde_json::Value,
    /// `None`: the mock's clock at load time (and derived for the others).
    pub(crate) created_at: Option<SystemTime>,
    pub(crate) started_at: Option<SystemTime>,
    pub(crate) completed_at: Option<SystemTime>,
    pub(crate) attempts: Option<u32>,
    pub(crate) error: Option<String>,
}

/// Why fixtures could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LoadError {
    /// An entry's id is already taken (by a stored job or an earlier entry).
    #[error("entry {entry}: job_id {id} is already taken")]
    DuplicateId { entry: usize, id: JobId },
    /// The store would exceed `--max-jobs`.
    #[error("entry {entry}: the store is full (--max-jobs)")]
    Full { entry: usize },
    /// An entry without `job_id` would get an id past
    /// [`MAX_JOB_ID`](super::MAX_JOB_ID), after one loaded at the top.
    #[error(
        "entry {entry}: no job_id left for it: ids stop at {max} (2^53 - 1, the largest integer JavaScript holds exactly); give it a job_id",
        max = super::MAX_JOB_ID
    )]
    NoIdLeft { entry: usize },
}

impl Queue {
    /// Admin and `--fixtures`: stores jobs in any state, all or none.
    ///
    /// # Errors
    ///
    /// [`LoadError::DuplicateId`] when an id is taken, [`LoadError::Full`]
    /// past `--max-jobs`; then nothing was stored.
    pub(crate) fn load(&self, jobs: Vec<Loaded>) -> Result<Vec<JobSnapshot>, LoadError> {
        let max_jobs = self.shared.initial.max_jobs;
        let loaded = self.with_settled(|store, now, rules| {
            check_load(store, &jobs, max_jobs)?;
            let mut loaded = Vec::with_capacity(jobs.len());
            for job in jobs {
                let id = job.id.map_or(store.next_id, |id| id.0);
                let stored = stored_from(job, now);
                loaded.push(stored.snapshot(id));
                store.insert(id, stored, now, rules);
            }
            store.settle(now, rules);
            Ok(loaded)
        })?;
        self.wake();
        Ok(loaded)
    }
}

/// Checks a whole load before storing any of it: ids free and distinct,
/// and room without evicting anything.
fn check_load(store: &Store, jobs: &[Loaded], max_jobs: usize) -> Result<(), LoadError> {
    let mut next = store.next_id;
    let mut taken = HashSet::new();
    for (entry, job) in jobs.iter().enumerate() {
        let id = job.id.map_or(next, |id| id.0);
        if id > super::MAX_JOB_ID {
            return Err(LoadError::NoIdLeft { entry });
        }
        if store.jobs.contains_key(&id) || !taken.insert(id) {
            return Err(LoadError::DuplicateId {
                entry,
                id: JobId(id),
            });
        }
        next = next.max(id + 1);
        if store.jobs.len() + taken.len() > max_jobs {
            return Err(LoadError::Full { entry });
        }
    }
    Ok(())
}

/// A loaded job with sensible values for what the entry left out.
fn stored_from(job: Loaded, now: SystemTime) -> Stored {
    let payload = job.payload.to_string();
    let created_at = job.created_at.unwrap_or(now);
    let started = job.state != State::Pending && job.state != State::Cancelled;
    let started_at = job
        .started_at
        .or_else(|| started.then_some(created_at))
        .filter(|_| job.state != State::Pending || job.attempts.unwrap_or(0) > 0);
    let completed_at = match job.state.is_terminal() {
        true => Some(job.completed_at.or(started_at).unwrap_or(created_at)),
        false => None,
    };
    let attempts = job.attempts.unwrap_or(u32::from(started));
    let error = match job.state {
        State::Failed => Some(
            job.error
                .unwrap_or_else(|| failure_message(attempts.max(1))),
        ),
        State::Cancelled => job.error,
        _ => None,
    };
    Stored {
        owner: job.owner,
        kind: job.kind,
        state: job.state,
        created_at,
        started_at,
        completed_at,
        attempts,
        error: error.map(String::into_boxed_str),
        payload: payload.into_boxed_str(),
        idempotency_key: None,
        outcome: None,
        pacing: Pacing::Timed(None),
        running: None,
    }
}
