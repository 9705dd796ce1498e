//! Issue 22's proof: record a "real" backend through the recording proxy,
//! replay the recording, run the same workload against the replay, and
//! compare, per job type, what the two did.
//!
//! The "real" backend is another mock with a known seeded profile: chat
//! attempts 300-600 ms, flatlay 1-2 s, 20 % of attempts failing, at most
//! 2 attempts (so a job fails for good with the backend's own message,
//! "Image generation failed after 2 attempts"), 32 workers (so jobs
//! queue). Both servers run on a manual clock and every figure comes from
//! the jobs' own timestamps, which the servers set: nothing depends on how
//! fast this machine is.

use std::path::Path;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vestis_client::Timestamp;
use vestis_mock_server::config::Proxy;
use vestis_mock_server::{ClockMode, Config, Replay};

use crate::util::{Harness, json};

const TOKEN: &str = "frontend-team-token";
/// Jobs of each type in the workload.
const JOBS: usize = 300;

/// The same workload for both: every second of the server's clock
/// (`clock`'s), 10 chats and 10 flatlays, until 300 of each; then the
/// clock runs out the rest. Sent through `api` (the recording proxy, or
/// the replay itself).
async fn workload(api: &Harness, clock: &Harness) {
    let flatlay = json!({"modelId": "1", "backgroundId": 2, "products": [{"id": 1}]});
    for second in 0..JOBS / 10 {
        for i in 0..10 {
            let prompt = format!("look {second}.{i}");
            api.create(TOKEN, "?chat=true", json!({ "prompt": prompt }))
                .await;
            api.create(TOKEN, "?flatlay=true", flatlay.clone()).await;
        }
        advance(clock, "1s").await;
    }
    advance(clock, "10m").await;
}

async fn advance(h: &Harness, by: &str) {
    let (status, body) = json(
        h.raw(Method::POST, "/__admin/clock/advance")
            .json(&json!({ "by": by }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Every job of the server, through the admin API.
async fn all_jobs(h: &Harness) -> Vec<Value> {
    let (status, body) = json(h.raw(Method::GET, "/__admin/jobs").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    body["jobs"].as_array().unwrap().clone()
}

/// One type's figures.
#[derive(Debug)]
struct Figures {
    jobs: usize,
    median_ms: u64,
    p90_ms: u64,
    /// Failed attempts over attempts.
    attempt_failure_rate: f64,
    /// Jobs ended `failed` over jobs ended.
    job_failure_rate: f64,
    errors: std::collections::BTreeSet<String>,
}

/// Nearest rank, as the recording's summary computes it.
fn percentile(sorted: &[u64], p: usize) -> u64 {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn figures(jobs: &[Value], kind: &str) -> Figures {
    let ms = |v: &Value| serde_json::from_value::<Timestamp>(v.clone()).unwrap();
    let of_kind: Vec<&Value> = jobs.iter().filter(|j| j["job_type"] == kind).collect();
    let mut times = Vec::new();
    let (mut attempts, mut failed_attempts, mut failed) = (0, 0, 0);
    let mut errors = std::collections::BTreeSet::new();
    for job in &of_kind {
        let status = job["status"].as_str().unwrap();
        assert!(matches!(status, "completed" | "failed"), "not ended: {job}");
        let n = job["attempts"].as_u64().unwrap();
        attempts += n;
        failed_attempts += if status == "failed" { n } else { n - 1 };
        if status == "failed" {
            failed += 1;
            errors.insert(job["error"].as_str().unwrap().to_owned());
        }
        let took = ms(&job["completed_at"]).duration_since(ms(&job["started_at"]));
        times.push(u64::try_from(took.as_millis()).unwrap());
    }
    times.sort_unstable();
    Figures {
        jobs: of_kind.len(),
        median_ms: percentile(&times, 50),
        p90_ms: percentile(&times, 90),
        attempt_failure_rate: failed_attempts as f64 / attempts as f64,
        job_failure_rate: failed as f64 / of_kind.len() as f64,
        errors,
    }
}

/// Saves through the proxy until the file holds every job, ended (the
/// follower polls them every 100 ms; bounded: 60 s).
async fn recorded(recorder: &Harness, path: &Path, jobs: usize) -> Value {
    for _ in 0..600 {
        let (status, _) = json(
            recorder
                .raw(Method::POST, "/__admin/recording")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let file: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let all = file["jobs"].as_array().unwrap();
        let ended = all
            .iter()
            .filter(|j| matches!(j["last"]["status"].as_str(), Some("completed" | "failed")))
            .count();
        if all.len() == jobs && ended == jobs {
            return file;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the recording never held {jobs} ended jobs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_behaves_like_the_recorded_backend_per_job_type() {
    // The "real" backend.
    let mut real = Config::fast();
    real.seed = Some(2026);
    real.clock = ClockMode::Manual;
    real.workers = 32;
    real.faults.failure_rate = 0.2;
    real.faults.max_attempts = 2;
    real.faults.processing_time_by_type = "chat=300ms..600ms,flatlay=1s..2s".parse().unwrap();
    let real = Harness::start(real).await;

    // Recorded through the proxy.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("staging.json");
    let mut proxy = Proxy::new(real.server.api_url());
    proxy.record = Some(path.clone());
    proxy.follow_every = Duration::from_millis(100);
    proxy.save_every = Duration::from_millis(500);
    let recorder = Harness::start(Config {
        proxy: Some(proxy),
        ..Config::fast()
    })
    .await;
    workload(&recorder, &real).await;
    let jobs = 2 * JOBS;
    let file = recorded(&recorder, &path, jobs).await;
    assert!(file["jobs"].as_array().unwrap().len() >= 200);
    recorder.server.shutdown().await;
    let original = all_jobs(&real).await;
    assert_eq!(original.len(), jobs);

    // Replayed, and the same workload run against it.
    let mut config = Config::fast();
    config.replay = Some(Replay::from_file(&path).unwrap());
    config.tokens = vec![TOKEN.to_owned()];
    config.seed = Some(22);
    config.clock = ClockMode::Manual;
    config.workers = 256;
    let replay = Harness::start(config).await;
    assert_eq!(
        all_jobs(&replay).await.len(),
        jobs,
        "the recorded jobs, loaded"
    );
    workload(&replay, &replay).await;
    let new: Vec<Value> = all_jobs(&replay)
        .await
        .into_iter()
        .filter(|j| j["job_id"].as_u64().unwrap() > jobs as u64)
        .collect();
    assert_eq!(new.len(), jobs);

    let (_, summary) = json(
        replay
            .raw(Method::GET, "/__admin/recording")
            .send()
            .await
            .unwrap(),
    )
    .await;
    for kind in ["chat", "flatlay"] {
        let (o, r) = (figures(&original, kind), figures(&new, kind));
        println!("{kind}: original {o:?}\n{kind}: replay   {r:?}");
        assert_eq!((o.jobs, r.jobs), (JOBS, JOBS));
        let within = |a: u64, b: u64| (a as f64 - b as f64).abs() <= 0.15 * a as f64;
        assert!(
            within(o.median_ms, r.median_ms),
            "{kind} median: {o:?} vs {r:?}"
        );
        assert!(within(o.p90_ms, r.p90_ms), "{kind} p90: {o:?} vs {r:?}");
        let points = |a: f64, b: f64| (a - b).abs() * 100.0;
        assert!(
            points(o.attempt_failure_rate, r.attempt_failure_rate) <= 5.0,
            "{kind} attempt failure rate: {o:?} vs {r:?}"
        );
        assert!(
            points(o.job_failure_rate, r.job_failure_rate) <= 5.0,
            "{kind} job failure rate: {o:?} vs {r:?}"
        );
        assert!(!o.errors.is_empty(), "{kind}: the backend failed some jobs");
        assert_eq!(o.errors, r.errors, "{kind}: the same messages");
        // The recording holds the original's times verbatim: its summary
        // reports the original's own figures.
        let spread = &summary["types"][kind]["processing_time"];
        assert_eq!(
            (spread["median_ms"].as_u64(), spread["p90_ms"].as_u64()),
            (Some(o.median_ms), Some(o.p90_ms)),
            "{summary}"
        );
    }
    // The queue waits, for the report (bursts of 20 jobs on 32 workers:
    // mostly none, so a relative bound means little here).
    let wait = |jobs: &[Value]| {
        let mut w: Vec<u64> = jobs
            .iter()
            .map(|j| {
                let t = |k: &str| serde_json::from_value::<Timestamp>(j[k].clone()).unwrap();
                u64::try_from(t("started_at").duration_since(t("created_at")).as_millis()).unwrap()
            })
            .collect();
        w.sort_unstable();
        (percentile(&w, 50), percentile(&w, 90))
    };
    let (o, r) = (wait(&original), wait(&new));
    println!("queue wait (median, p90) ms: original {o:?}, replay {r:?}");
}
