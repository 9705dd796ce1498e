//! The replay's hook in the queue: per job type, the recorded trajectories
//! a new job's attempts are drawn from (`--replay`). Plain types: the
//! recording room builds a [`Profile`] from a recording file, the queue
//! only draws from it.
//!
//! A job of a profiled type takes one recorded job of its type whole,
//! chosen by the seed and its id: its queue wait, its number of attempts,
//! its outcome and error text, and its processing time split evenly over
//! its attempts. Resampling whole jobs keeps the empirical distributions
//! (no mean, no fitted range) and what goes together (a job that failed
//! three times took three attempts' time).

use std::time::Duration;

use vestis_client::JobKind;

use crate::hash::stable_hash;

/// One recorded job of a type, as the replay plays it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Trajectory {
    /// From create to its first attempt's start.
    pub(crate) wait: Duration,
    /// From its first attempt's start to its end, every attempt and the
    /// waits between them included.
    pub(crate) processing: Duration,
    /// Attempts it took (at least 1).
    pub(crate) attempts: u32,
    /// Whether it ended `failed` (else `completed`).
    pub(crate) failed: bool,
    /// A failed job's error text, verbatim.
    pub(crate) error: Option<Box<str>>,
}

impl Trajectory {
    /// How long its attempt `attempt` (from 1) runs: the processing time
    /// split evenly, the last attempt taking the rounding's remainder; an
    /// attempt past the recorded ones (a loaded job that had more) takes
    /// one share.
    pub(crate) fn attempt_time(&self, attempt: u32) -> Duration {
        let n = u128::from(self.attempts.max(1));
        let k = u128::from(attempt.clamp(1, self.attempts.max(1)));
        let total = self.processing.as_millis();
        let ms = total * k / n - total * (k - 1) / n;
        Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    /// Whether attempt `attempt` (from 1) succeeds: only the last of a
    /// completed trajectory does.
    pub(crate) fn succeeds(&self, attempt: u32) -> bool {
        !self.failed && attempt >= self.attempts
    }

    /// Whether a failed attempt `attempt` ends the job `failed`.
    pub(crate) fn is_last(&self, attempt: u32) -> bool {
        attempt >= self.attempts
    }
}

/// The replay's trajectories, by job type; a type with none is drawn as
/// the mock's settings say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Profile {
    /// By [`JobKind::ALL`]'s order.
    by_kind: [Vec<Trajectory>; 6],
}

impl Profile {
    /// Adds one recorded job of `kind` (a kind this build does not list
    /// is ignored).
    pub(crate) fn add(&mut self, kind: JobKind, trajectory: Trajectory) {
        if let Some(i) = JobKind::ALL.iter().position(|k| *k == kind) {
            self.by_kind[i].push(trajectory);
        }
    }

    /// `kind`'s trajectories (empty when it has none).
    pub(crate) fn of(&self, kind: JobKind) -> &[Trajectory] {
        JobKind::ALL
            .iter()
            .position(|k| *k == kind)
            .map_or(&[], |i| &self.by_kind[i])
    }

    /// The trajectory job `id` of `kind` plays: fixed by the seed and the
    /// id alone, so a seeded replay draws the same job by job, whatever
    /// the order its requests arrive in. `None` for a type without any.
    pub(crate) fn pick(&self, kind: JobKind, seed: u64, id: u64) -> Option<&Trajectory> {
        let runs = self.of(kind);
        if runs.is_empty() {
            return None;
        }
        let h = stable_hash(&[b"replay", &seed.to_le_bytes(), &id.to_le_bytes()]);
        let i = usize::try_from(h % runs.len() as u64).unwrap_or(0);
        runs.get(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ms: u64, attempts: u32, failed: bool) -> Trajectory {
        Trajectory {
            wait: Duration::ZERO,
            processing: Duration::from_millis(ms),
            attempts,
            failed,
            error: failed.then(|| "GPU out of memory".into()),
        }
    }

    #[test]
    fn attempts_split_the_processing_time_and_only_the_last_can_succeed() {
        let t = run(1000, 3, false);
        let parts: Vec<u64> = (1..=3)
            .map(|k| t.attempt_time(k).as_millis() as u64)
            .collect();
        assert_eq!(parts, [333, 333, 334]);
        assert_eq!(parts.iter().sum::<u64>(), 1000);
        assert_eq!(t.attempt_time(9), Duration::from_millis(334));
        assert!(!t.succeeds(2) && t.succeeds(3) && !t.is_last(2) && t.is_last(3));
        let f = run(500, 2, true);
        assert!(!f.succeeds(2) && f.is_last(2));
    }

    #[test]
    fn the_pick_depends_on_the_seed_and_the_id_only() {
        let mut p = Profile::default();
        for ms in 0..50 {
            p.add(JobKind::Chat, run(ms, 1, false));
        }
        assert_eq!(p.pick(JobKind::Flatlay, 1, 1), None);
        let p = &p;
        let picks =
            |seed| (1..200).map(move |id| p.pick(JobKind::Chat, seed, id).unwrap().processing);
        assert!(picks(1).eq(picks(1)));
        assert!(!picks(1).eq(picks(2)));
        // Every recorded job gets drawn: a resample, not a summary.
        let distinct: std::collections::HashSet<_> = picks(1).collect();
        assert!(distinct.len() > 40, "{}", distinct.len());
    }
}
