//! The queue as the dashboard sees it: a filtered page of every token's
//! jobs, counts by status and workers, and cancelling any live job.
//!
//! Each call is one short lock acquisition, like every other transition;
//! nothing here runs unless an admin route (or a dashboard) asks.

use std::collections::BTreeSet;
use std::time::SystemTime;

use vestis_client::{JobId, JobKind};

use super::store::State;
use super::{AdminJob, ClockMode, ForceError, JobSnapshot, Queue, admin_job};
use crate::hash::owner_fingerprint;

/// Which jobs an admin listing shows; `None` fields match every job.
#[derive(Debug, Clone, Default)]
pub(crate) struct JobFilter {
    pub(crate) status: Option<State>,
    pub(crate) kind: Option<JobKind>,
    /// A token's fingerprint (`fp:0123456789abcdef`), never the token.
    pub(crate) token: Option<String>,
    /// 1-based.
    pub(crate) page: usize,
    /// `None`: every matching job on one page.
    pub(crate) page_size: Option<usize>,
}

/// The queue at a glance, for the dashboard's header.
#[derive(Debug, Clone)]
pub(crate) struct Overview {
    /// Jobs by status, in [`State`] order: pending, processing, completed,
    /// failed, cancelled.
    pub(crate) counts: [usize; 5],
    /// Attempts running on workers (poll-driven jobs use none).
    pub(crate) busy: usize,
    pub(crate) workers: usize,
    pub(crate) paused: bool,
    pub(crate) clock: ClockMode,
    pub(crate) now: SystemTime,
    /// Changes whenever any job does (see `Store::version`).
    pub(crate) version: u64,
    /// Each token's fingerprint and how many jobs it has, most jobs first.
    pub(crate) tokens: Vec<(String, usize)>,
}

/// The most tokens an overview lists (a load test may use thousands).
const MAX_TOKENS: usize = 50;

impl Queue {
    /// Admin: one page of every token's jobs matching `filter`, newest
    /// first, and how many match in all.
    pub(crate) fn admin_page(&self, filter: &JobFilter) -> (Vec<AdminJob>, usize) {
        self.with_settled(|store, _, _| {
            let mut ids = BTreeSet::new();
            for (owner, index) in &store.owners {
                if filter
                    .token
                    .as_deref()
                    .is_some_and(|fp| owner_fingerprint(owner) != fp)
                {
                    continue;
                }
                match filter.status {
                    Some(state) => ids.extend(index.by_state[state as usize].iter()),
                    None => ids.extend(index.all.iter()),
                }
            }
            let matching = ids.into_iter().rev().filter(|id| {
                filter
                    .kind
                    .is_none_or(|kind| store.jobs.get(id).is_some_and(|j| j.kind == kind))
            });
            let page_size = filter.page_size.unwrap_or(usize::MAX);
            let skip = filter.page.saturating_sub(1).saturating_mul(page_size);
            let mut total = 0;
            let mut jobs = Vec::new();
            for id in matching {
                if total >= skip && jobs.len() < page_size {
                    jobs.extend(admin_job(store, id));
                }
                total += 1;
            }
            (jobs, total)
        })
    }

    /// Admin: counts by status, workers, pause, clock and tokens.
    pub(crate) fn overview(&self) -> Overview {
        let workers = self.shared.initial.workers;
        self.with_settled(|store, now, _| {
            let mut counts = [0; 5];
            let mut tokens = Vec::with_capacity(store.owners.len().min(MAX_TOKENS));
            for (owner, index) in &store.owners {
                for (count, ids) in counts.iter_mut().zip(&index.by_state) {
                    *count += ids.len();
                }
                tokens.push((owner, index.all.len()));
            }
            tokens.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            tokens.truncate(MAX_TOKENS);
            Overview {
                counts,
                busy: store.busy(),
                workers,
                paused: store.paused,
                clock: store.clock.mode(),
                now,
                version: store.version,
                tokens: tokens
                    .into_iter()
                    .map(|(owner, n)| (owner_fingerprint(owner), n))
                    .collect(),
            }
        })
    }

    /// The jobs' version alone: one short lock, no settling.
    pub(crate) fn version(&self) -> u64 {
        self.lock().version
    }

    /// Admin: cancels a pending or processing job of any token now (a
    /// running attempt is dropped and its worker freed).
    pub(crate) fn admin_cancel(&self, id: JobId) -> Result<JobSnapshot, ForceError> {
        let snap = self.with_settled(|store, now, rules| {
            let Some(job) = store.jobs.get(&id.0) else {
                return Err(ForceError::NotFound);
            };
            if job.state.is_terminal() {
                return Err(ForceError::Terminal(job.state.public()));
            }
            store.transition(id.0, State::Cancelled, now);
            store.settle(now, rules);
            store.snapshot(id.0).ok_or(ForceError::NotFound)
        })?;
        self.wake();
        Ok(snap)
    }
}
