//! Benchmark: waiting on 10 000 jobs at once with `Client::wait_many`,
//! against a baseline measured in the same run: the minimal hand-written
//! alternative (one tokio task per job polling in a `sleep` loop, with the
//! same cap on requests in flight).
//!
//! Run: `cargo run --release --example bench_wait_many` (`BENCH_JOBS=N` to
//! change the number of jobs). It starts the mock server in-process, with
//! enough workers that every job completes 3 s after it is created, and
//! polls every second. For each approach it reports wall time, requests per
//! job (counted by the server, `/__admin/stats`) against the schedule's
//! implied count, and the peak growth of the process's resident memory
//! during the wait, then the SDK/baseline ratios.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use vestis_client::{Client, JobId, JobKind, JobStatus, PollStrategy, WaitOptions};
use vestis_mock_server::{Config, DurationRange, MockServer};

const INTERVAL: Duration = Duration::from_secs(1);
const PROCESSING: Duration = Duration::from_secs(3);
const IN_FLIGHT: usize = 64;

/// Samples RSS every 5 ms on a thread until stopped; returns the peak.
struct PeakRss {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeakRss {
    fn start() -> PeakRss {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(support::rss_bytes()));
        let (s, p) = (Arc::clone(&stop), Arc::clone(&peak));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(support::rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        PeakRss {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

struct Measure {
    name: &'static str,
    seconds: f64,
    requests_per_job: f64,
    rss_growth: u64,
    completed: usize,
}

async fn api_requests(server: &MockServer) -> anyhow::Result<u64> {
    let stats: serde_json::Value = reqwest::get(format!("{}/__admin/stats", server.url()))
        .await?
        .json()
        .await?;
    Ok(stats["api_requests"].as_u64().unwrap_or(0))
}

async fn create_jobs(client: &Client, n: usize) -> anyhow::Result<Vec<JobId>> {
    let created: Vec<_> = futures::stream::iter(0..n)
        .map(|i| {
            let client = client.clone();
            async move {
                client
                    .create(JobKind::Legacy, &serde_json::json!({ "i": i }))
                    .await
                    .map(|c| c.job_id)
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    Ok(created.into_iter().collect::<Result<_, _>>()?)
}

/// The baseline: what a user writes without the SDK's waits.
async fn naive(client: &Client, ids: Vec<JobId>) -> usize {
    let permits = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let tasks: Vec<_> = ids
        .into_iter()
        .map(|id| {
            let (client, permits) = (client.clone(), Arc::clone(&permits));
            tokio::spawn(async move {
                loop {
                    let job = {
                        let _permit = permits.acquire().await;
                        client.get(id).await
                    };
                    match job {
                        Ok(job) if job.status == JobStatus::Completed => return true,
                        Ok(job) if job.status.is_terminal() => return false,
                        _ => tokio::time::sleep(INTERVAL).await,
                    }
                }
            })
        })
        .collect();
    let mut completed = 0;
    for t in tasks {
        if matches!(t.await, Ok(true)) {
            completed += 1;
        }
    }
    completed
}

async fn sdk(client: &Client, ids: Vec<JobId>) -> usize {
    let options = WaitOptions::new(PollStrategy::fixed().interval(INTERVAL))
        .deadline(Duration::from_secs(600))
        .max_in_flight(IN_FLIGHT);
    client
        .wait_many(ids, &options)
        .filter(|(_, r)| futures::future::ready(r.is_ok()))
        .count()
        .await
}

async fn measure(
    name: &'static str,
    server: &MockServer,
    client: &Client,
    n: usize,
    sdk_wait: bool,
) -> anyhow::Result<Measure> {
    let ids = create_jobs(client, n).await?;
    let before_requests = api_requests(server).await?;
    let rss_before = support::rss_bytes();
    let peak = PeakRss::start();
    let start = Instant::now();
    let completed = if sdk_wait {
        sdk(client, ids).await
    } else {
        naive(client, ids).await
    };
    let seconds = start.elapsed().as_secs_f64();
    let rss_peak = peak.finish();
    let requests = api_requests(server).await? - before_requests - 1;
    Ok(Measure {
        name,
        seconds,
        requests_per_job: requests as f64 / n as f64,
        rss_growth: rss_peak.saturating_sub(rss_before),
        completed,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let config = Config {
        workers: n,
        max_jobs: 4 * n,
        seed: Some(1),
        ..Config::default()
    };
    let mut config = config;
    config.faults.processing_time = DurationRange::fixed(PROCESSING);
    let server = MockServer::start(config).await?;
    let client = Client::builder()
        .base_url(server.api_url())
        .token("bench")
        .build()?;

    // Warm-up: connections, allocator.
    measure("warm-up", &server, &client, 200, true).await?;
    let baseline = measure(
        "baseline (task per job, sleep loop)",
        &server,
        &client,
        n,
        false,
    )
    .await?;
    let ours = measure("vestis-client wait_many", &server, &client, n, true).await?;

    // Each job completes ~3 s after creation; creating all of them takes a
    // while, so the first jobs are done before the wait starts. At a 1 s
    // interval the schedule implies at most 3 + 1 polls per job.
    let implied_max = PROCESSING.as_secs_f64() / INTERVAL.as_secs_f64() + 1.0;
    println!(
        "jobs: {n}, poll interval {INTERVAL:?}, processing {PROCESSING:?}, {IN_FLIGHT} requests in flight"
    );
    println!("schedule-implied polls per job: at most {implied_max:.0}");
    for m in [&baseline, &ours] {
        println!(
            "{:<40} {:>7.2} s  {:>5.2} requests/job  {:>8.1} MiB peak RSS growth ({:.0} bytes/job)  {} completed",
            m.name,
            m.seconds,
            m.requests_per_job,
            m.rss_growth as f64 / 1_048_576.0,
            m.rss_growth as f64 / n as f64,
            m.completed
        );
    }
    println!(
        "ratios sdk/baseline: time {:.3}, requests {:.3}, memory {:.3}",
        ours.seconds / baseline.seconds,
        ours.requests_per_job / baseline.requests_per_job,
        ours.rss_growth as f64 / baseline.rss_growth.max(1) as f64
    );
    server.shutdown().await;
    Ok(())
}
