//! The transport faults' state shared by every request: the jobs'
//! schedules (`X-Mock-Fault-Schedule`) and how many of each fault were
//! done (`GET /__admin/stats`). Below the state that holds it; knows
//! nothing of HTTP.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use serde_json::{Map, Value};
use vestis_client::JobId;

use crate::config::transport::{Fault, Schedule};

/// The schedules that run, and the jobs whose schedule has run out (so a
/// replayed create does not arm it again); both at most `cap` jobs.
#[derive(Debug, Default)]
struct Schedules {
    running: HashMap<JobId, Schedule>,
    spent: BTreeSet<JobId>,
}

/// The faults' shared state: the jobs' schedules and the counts.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    /// Jobs with a schedule; a poll looks only while this is not zero.
    pub(crate) scheduled: AtomicUsize,
    /// The last cap given to [`FaultState::schedule`] (`--max-jobs`).
    cap: AtomicUsize,
    schedules: Mutex<Schedules>,
    /// Faults done, by [`Fault::index`].
    counts: [AtomicU64; 6],
}

impl FaultState {
    /// Keeps `schedule` for `job` unless it has one (an idempotent replay
    /// of the create does not start it again). At most `cap` jobs keep one.
    pub(crate) fn schedule(&self, job: JobId, schedule: Schedule, cap: usize) {
        self.cap.store(cap, Ordering::Relaxed);
        let mut schedules = self
            .schedules
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if schedules.running.contains_key(&job) || schedules.spent.contains(&job) {
            return;
        }
        if schedules.running.len() >= cap.max(1) {
            // Bounded memory: the oldest ids go first (evicted jobs' too).
            if let Some(&oldest) = schedules.running.keys().min() {
                schedules.running.remove(&oldest);
            }
        }
        schedules.running.insert(job, schedule);
        self.scheduled
            .store(schedules.running.len(), Ordering::Relaxed);
    }

    /// Counts a poll of `job`: its scheduled fault, if any.
    pub(crate) fn poll(&self, job: JobId) -> Option<Fault> {
        let mut schedules = self
            .schedules
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (fault, done) = schedules.running.get_mut(&job)?.poll();
        if done {
            schedules.running.remove(&job);
            self.scheduled
                .store(schedules.running.len(), Ordering::Relaxed);
            // Remembered as spent, the oldest forgotten past the cap (the
            // same bound as the running ones': `--max-jobs`).
            schedules.spent.insert(job);
            if schedules.spent.len() > self.cap.load(Ordering::Relaxed).max(1) {
                schedules.spent.pop_first();
            }
        }
        fault
    }

    /// Counts a fault done.
    pub(crate) fn count(&self, fault: Fault) {
        self.counts[fault.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// `{"reset": n, ...}` and their total, for `GET /__admin/stats`.
    pub(crate) fn counts(&self) -> (Value, u64) {
        let mut map = Map::new();
        let mut total = 0;
        for (name, count) in Fault::NAMES.iter().zip(&self.counts) {
            let n = count.load(Ordering::Relaxed);
            total += n;
            map.insert((*name).to_owned(), Value::from(n));
        }
        (Value::Object(map), total)
    }

    /// Forgets every schedule and count (`POST /__admin/reset`).
    pub(crate) fn clear(&self) {
        let mut schedules = self
            .schedules
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        schedules.running.clear();
        schedules.spent.clear();
        self.scheduled.store(0, Ordering::Relaxed);
        for count in &self.counts {
            count.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_bounded_and_kept_once() {
        let state = FaultState::default();
        for job in 1..=5 {
            state.schedule(JobId(job), Schedule::parse("1:reset").unwrap(), 3);
        }
        assert_eq!(state.scheduled.load(Ordering::Relaxed), 3);
        assert_eq!(state.poll(JobId(1)), None, "the oldest went");
        // A replay keeps the schedule that runs.
        state.schedule(JobId(5), Schedule::parse("1:close").unwrap(), 3);
        assert_eq!(state.poll(JobId(5)), Some(Fault::Reset));
        assert_eq!(
            state.scheduled.load(Ordering::Relaxed),
            2,
            "done, no longer running"
        );
        // A replay of a create whose schedule ran out does not arm it again.
        state.schedule(JobId(5), Schedule::parse("1:close").unwrap(), 3);
        assert_eq!(state.poll(JobId(5)), None);
        assert_eq!(state.scheduled.load(Ordering::Relaxed), 2);
    }
}
