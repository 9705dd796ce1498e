//! Benchmark: waiting on 10 000 jobs at once with `Client::wait_many`,
//! against a baseline measured in the same run: the minimal hand-written
//! alternative (one tokio task per job polling in a `sleep` loop, with the
//! same cap on requests in flight).
//!
//! Run: `cargo run --release --example bench_wait_many` (`BENCH_JOBS=N` to
//! change the number of jobs, `BENCH_RUNS=N` the runs per approach).
//!
//! The mock server runs in a child process (every job completes 3 s after it
//! is created; the client polls every second), and each measured wait runs in
//! a fresh child process of its own, the two approaches taking turns first.
//! So each approach's memory is its own process's resident-set growth, on a
//! heap no earlier run grew, and nothing the server holds is counted. For
//! each approach it reports the medians of wall time, requests per job
//! (counted by the server, `/__admin/stats`, which does not count itself)
//! against the schedule's implied count, and peak RSS growth, then the
//! SDK/baseline ratios.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use vestis_client::{Client, JobId, JobKind, JobStatus, PollStrategy, WaitOptions};
use vestis_mock_server::{Config, DurationRange, MockServer};

const ROLE: &str = "BENCH_ROLE";

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

/// What one wait measured.
struct Measure {
    seconds: f64,
    requests_per_job: f64,
    rss_growth: u64,
    completed: usize,
}

/// `/api/v1` requests the server answered so far.
async fn api_requests(server_url: &str) -> anyhow::Result<u64> {
    let stats: serde_json::Value = reqwest::get(format!("{server_url}/__admin/stats"))
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
    server_url: &str,
    client: &Client,
    n: usize,
    sdk_wait: bool,
) -> anyhow::Result<Measure> {
    let ids = create_jobs(client, n).await?;
    let before_requests = api_requests(server_url).await?;
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
    let requests = api_requests(server_url)
        .await?
        .saturating_sub(before_requests);
    Ok(Measure {
        seconds,
        requests_per_job: requests as f64 / n as f64,
        rss_growth: rss_peak.saturating_sub(rss_before),
        completed,
    })
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Child role `server`: the mock server, until the parent closes stdin.
async fn serve(n: usize) -> anyhow::Result<()> {
    let mut config = Config {
        workers: n,
        max_jobs: 20 * n,
        seed: Some(1),
        ..Config::default()
    };
    config.faults.processing_time = DurationRange::fixed(PROCESSING);
    let server = MockServer::start(config).await?;
    println!("{}", server.url());
    tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await??;
    server.shutdown().await;
    Ok(())
}

/// Child roles `baseline` and `sdk`: one warm-up and one measured wait,
/// printed as one line for the parent.
async fn wait_role(server_url: &str, n: usize, sdk_wait: bool) -> anyhow::Result<()> {
    let client = Client::builder()
        .base_url(format!("{server_url}/api/v1"))
        .token("bench")
        .build()?;
    // Warm-up: connections, allocator, with the approach being measured.
    measure(server_url, &client, 200, sdk_wait).await?;
    let m = measure(server_url, &client, n, sdk_wait).await?;
    println!(
        "{} {} {} {}",
        m.seconds, m.requests_per_job, m.rss_growth, m.completed
    );
    Ok(())
}

/// Runs this program again as `role` and returns its first stdout line.
fn child(role: &str, envs: &[(&str, &str)]) -> anyhow::Result<(std::process::Child, String)> {
    let mut child = Command::new(std::env::current_exe()?)
        .env(ROLE, role)
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    anyhow::ensure!(!line.is_empty(), "the {role} process printed nothing");
    Ok((child, line.trim().to_owned()))
}

fn parse_measure(line: &str) -> anyhow::Result<Measure> {
    let f: Vec<&str> = line.split_whitespace().collect();
    anyhow::ensure!(f.len() == 4, "unexpected result line {line:?}");
    Ok(Measure {
        seconds: f[0].parse()?,
        requests_per_job: f[1].parse()?,
        rss_growth: f[2].parse()?,
        completed: f[3].parse()?,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = env_usize("BENCH_JOBS", 10_000);
    match std::env::var(ROLE).as_deref() {
        Ok("server") => return serve(n).await,
        Ok(role @ ("baseline" | "sdk")) => {
            let url = std::env::var("BENCH_SERVER")?;
            return wait_role(&url, n, role == "sdk").await;
        }
        _ => {}
    }
    let runs = env_usize("BENCH_RUNS", 3).max(1);
    let (mut server, server_url) = child("server", &[])?;
    let (mut baseline, mut ours) = (Vec::new(), Vec::new());
    for run in 0..runs {
        // The approaches take turns going first.
        let order = if run % 2 == 0 {
            ["baseline", "sdk"]
        } else {
            ["sdk", "baseline"]
        };
        for role in order {
            let (mut process, line) = child(role, &[("BENCH_SERVER", &server_url)])?;
            process.wait()?;
            let m = parse_measure(&line)?;
            if role == "sdk" {
                ours.push(m)
            } else {
                baseline.push(m)
            }
        }
    }
    drop(server.stdin.take()); // EOF: the server shuts down
    server.wait()?;

    // Each job completes ~3 s after creation; creating all of them takes a
    // while, so the first jobs are done before the wait starts. At a 1 s
    // interval the schedule implies at most 3 + 1 polls per job.
    let implied_max = PROCESSING.as_secs_f64() / INTERVAL.as_secs_f64() + 1.0;
    println!(
        "jobs: {n}, poll interval {INTERVAL:?}, processing {PROCESSING:?}, {IN_FLIGHT} requests in flight, median of {runs} runs, each in a fresh process"
    );
    println!("schedule-implied polls per job: at most {implied_max:.0}");
    let summary = |ms: &[Measure]| {
        (
            median(ms.iter().map(|m| m.seconds).collect()),
            median(ms.iter().map(|m| m.requests_per_job).collect()),
            median(ms.iter().map(|m| m.rss_growth as f64).collect()),
            ms.iter().map(|m| m.completed).min().unwrap_or(0),
        )
    };
    let rows = [
        ("baseline (task per job, sleep loop)", summary(&baseline)),
        ("vestis-client wait_many", summary(&ours)),
    ];
    for (name, (seconds, requests, rss, completed)) in rows {
        println!(
            "{name:<40} {seconds:>7.2} s  {requests:>5.2} requests/job  {:>8.1} MiB peak RSS growth ({:.0} bytes/job)  {completed} completed (fewest)",
            rss / 1_048_576.0,
            rss / n as f64,
        );
    }
    let ((bs, br, bm, _), (os, or, om, _)) = (rows[0].1, rows[1].1);
    println!(
        "ratios sdk/baseline: time {:.3} ({os:.2} / {bs:.2} s), requests {:.3} ({or:.2} / {br:.2}), memory {:.3} ({:.1} / {:.1} MiB)",
        os / bs,
        or / br,
        om / bm.max(1.0),
        om / 1_048_576.0,
        bm / 1_048_576.0
    );
    Ok(())
}
