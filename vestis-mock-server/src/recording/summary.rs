//! `GET /__admin/recording`: what a recording holds, in numbers a person
//! can compare with the real backend's dashboards: jobs per type and
//! status, per type the median and 90th percentile of queue wait and
//! processing time, the failure rate per attempt and per job, and the error
//! messages with their counts.
//!
//! A function of the [`Recording`] alone, from the format's own measures
//! (`queue_wait`, `processing_time`, `failed_attempts`), so a recording
//! proxy and a replay of its file report the same numbers.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::format::Recording;

/// The whole summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Summary {
    /// The real API recorded.
    pub(crate) source: String,
    pub(crate) started_at: String,
    pub(crate) saved_at: String,
    /// Jobs in the recording.
    pub(crate) jobs: usize,
    /// Per job type (`chat`, `flatlay`, ...), in name order.
    pub(crate) types: BTreeMap<String, TypeSummary>,
}

/// One job type's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct TypeSummary {
    pub(crate) jobs: usize,
    /// Jobs per last-seen status.
    pub(crate) statuses: BTreeMap<String, usize>,
    /// `created_at` to `started_at`, over the jobs that started.
    pub(crate) queue_wait: Spread,
    /// `started_at` to `completed_at`, over the jobs that ended after starting.
    pub(crate) processing_time: Spread,
    /// Attempts started, and how many of them failed.
    pub(crate) attempts: u64,
    pub(crate) failed_attempts: u64,
    /// `failed_attempts / attempts`; `null` with no attempt.
    pub(crate) attempt_failure_rate: Option<f64>,
    /// Jobs that ended `failed` over jobs that ended `completed` or
    /// `failed`; `null` when none has.
    pub(crate) job_failure_rate: Option<f64>,
    /// Each error message seen, with how many times a job was seen
    /// taking it (a retried attempt's message counts once per attempt
    /// that showed it), most frequent first.
    pub(crate) errors: Vec<ErrorCount>,
}

/// A duration's distribution, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Spread {
    /// How many jobs it is measured over.
    pub(crate) samples: usize,
    /// Nearest-rank median; `null` with no sample.
    pub(crate) median_ms: Option<u64>,
    /// Nearest-rank 90th percentile; `null` with no sample.
    pub(crate) p90_ms: Option<u64>,
}

/// An error message and its count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ErrorCount {
    pub(crate) message: String,
    pub(crate) count: usize,
}

/// The `p`-th percentile (0 < p <= 100) of sorted `values`, nearest rank.
fn percentile(sorted: &[Duration], p: u32) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * p as usize).div_ceil(100).max(1);
    sorted
        .get(rank - 1)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn spread(mut values: Vec<Duration>) -> Spread {
    values.sort_unstable();
    Spread {
        samples: values.len(),
        median_ms: percentile(&values, 50),
        p90_ms: percentile(&values, 90),
    }
}

fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// What `recording` holds, per job type (the `GET /__admin/recording`
/// answer; a replay serves the same for the recording it loaded).
pub(crate) fn summary(recording: &Recording) -> Summary {
    #[derive(Default)]
    struct Acc {
        jobs: usize,
        statuses: BTreeMap<String, usize>,
        waits: Vec<Duration>,
        runs: Vec<Duration>,
        attempts: u64,
        failed_attempts: u64,
        completed: u64,
        failed: u64,
        errors: BTreeMap<String, usize>,
    }
    let mut types: BTreeMap<String, Acc> = BTreeMap::new();
    for job in &recording.jobs {
        let acc = types.entry(job.job_type.clone()).or_default();
        acc.jobs += 1;
        *acc.statuses.entry(job.last.status.clone()).or_default() += 1;
        acc.waits.extend(job.queue_wait());
        acc.runs.extend(job.processing_time());
        let (failed, attempts) = job.failed_attempts();
        acc.failed_attempts += u64::from(failed);
        acc.attempts += u64::from(attempts);
        match job.last.status.as_str() {
            "completed" => acc.completed += 1,
            "failed" => acc.failed += 1,
            _ => {}
        }
        // A message counts when it first shows, and again when a later
        // attempt shows it anew.
        let mut previous: Option<(&str, u32)> = None;
        for seen in &job.observations {
            let s = &seen.snapshot;
            if let Some(message) = s.error.as_deref() {
                if previous != Some((message, s.attempts)) {
                    *acc.errors.entry(message.to_owned()).or_default() += 1;
                }
                previous = Some((message, s.attempts));
            }
        }
    }
    let types = types
        .into_iter()
        .map(|(name, acc)| {
            let mut errors: Vec<ErrorCount> = acc
                .errors
                .into_iter()
                .map(|(message, count)| ErrorCount { message, count })
                .collect();
            errors.sort_by(|a, b| b.count.cmp(&a.count).then(a.message.cmp(&b.message)));
            let summary = TypeSummary {
                jobs: acc.jobs,
                statuses: acc.statuses,
                queue_wait: spread(acc.waits),
                processing_time: spread(acc.runs),
                attempts: acc.attempts,
                failed_attempts: acc.failed_attempts,
                attempt_failure_rate: rate(acc.failed_attempts, acc.attempts),
                job_failure_rate: rate(acc.failed, acc.completed + acc.failed),
                errors,
            };
            (name, summary)
        })
        .collect();
    Summary {
        source: recording.source.clone(),
        started_at: recording.started_at.clone(),
        saved_at: recording.saved_at.clone(),
        jobs: recording.jobs.len(),
        types,
    }
}

#[cfg(test)]
mod tests {
    use super::super::format::{Observation, RecordedJob, Snapshot};
    use super::*;

    fn job(
        id: u64,
        job_type: &str,
        status: &str,
        attempts: u32,
        run_ms: u64,
        error: Option<&str>,
    ) -> RecordedJob {
        let end = format!("2026-12-06T10:00:01.{run_ms:03}Z");
        let last = Snapshot {
            status: status.into(),
            attempts,
            created_at: Some("2026-12-06T10:00:00.500Z".into()),
            started_at: Some("2026-12-06T10:00:01.000Z".into()),
            completed_at: Some(end),
            error: error.map(Into::into),
            image_url: None,
            message: None,
        };
        let mut retry = last.clone();
        retry.status = "pending".into();
        retry.attempts = 1;
        retry.error = error.map(Into::into);
        RecordedJob {
            job_id: id,
            owner: "fp:0".into(),
            job_type: job_type.into(),
            payload: None,
            observations: vec![
                Observation {
                    seen_at: "x".into(),
                    snapshot: retry,
                },
                Observation {
                    seen_at: "y".into(),
                    snapshot: last.clone(),
                },
            ],
            last,
            image: None,
            image_error: None,
        }
    }

    #[test]
    fn percentiles_rates_and_messages() {
        let mut r = Recording::new("http://h/api/v1".into(), "t".into());
        for (i, ms) in (100..=1000).step_by(100).enumerate() {
            r.jobs.push(std::sync::Arc::new(job(
                i as u64,
                "chat",
                "completed",
                2,
                ms as u64 % 1000,
                None,
            )));
        }
        r.jobs.push(std::sync::Arc::new(job(
            20,
            "flatlay",
            "failed",
            2,
            0,
            Some("boom"),
        )));
        let s = summary(&r);
        let chat = &s.types["chat"];
        assert_eq!(chat.jobs, 10);
        assert_eq!(chat.statuses["completed"], 10);
        assert_eq!(chat.queue_wait.median_ms, Some(500));
        // 0, 100, ..., 900 ms: nearest rank.
        assert_eq!(
            (chat.processing_time.median_ms, chat.processing_time.p90_ms),
            (Some(400), Some(800))
        );
        assert_eq!((chat.attempts, chat.failed_attempts), (20, 10));
        assert_eq!(chat.attempt_failure_rate, Some(0.5));
        assert_eq!(chat.job_failure_rate, Some(0.0));
        let flatlay = &s.types["flatlay"];
        assert_eq!(flatlay.job_failure_rate, Some(1.0));
        // Attempt 1's message and attempt 2's: two sightings.
        assert_eq!(
            flatlay.errors,
            [ErrorCount {
                message: "boom".into(),
                count: 2
            }]
        );
        assert_eq!(s.jobs, 11);
    }

    #[test]
    fn nothing_measured_is_null() {
        let s = spread(Vec::new());
        assert_eq!((s.samples, s.median_ms, s.p90_ms), (0, None, None));
        assert_eq!(rate(0, 0), None);
    }
}
