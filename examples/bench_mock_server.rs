//! Benchmark: the mock server's speed and memory, against baselines
//! measured in the same run.
//!
//! Run: `cargo run --release --example bench_mock_server`
//! (`BENCH_REQUESTS`, `BENCH_STORED` to change the sizes).
//!
//! 1. Throughput of `GET /api/v1/jobs/{id}` (a completed job, with auth,
//!    the whole contract path) against a bare axum handler returning a fixed
//!    job and against wiremock-rs serving the same body: what a frontend
//!    test suite pays for a real queue instead of canned answers.
//! 2. Listing a page (`GET /jobs?page=1&page_size=20`) for a token with 100
//!    jobs, on a server that stores nothing else and on one that also stores
//!    100 000 jobs of 1 000 other tokens: the per-token index makes the
//!    ratio about 1.
//! 3. Memory per stored job: resident-memory growth while 100 000 jobs are
//!    created, divided by their number.
//!
//! The load generator shares the process (and the 2 cores) with the
//! servers, so absolute figures are conservative; the ratios are the point.

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use vestis_mock_server::{Config, DurationRange, MockServer};

const CONCURRENCY: usize = 32;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Sends `n` GETs to `url`, `CONCURRENCY` at a time; returns requests per second.
async fn load(http: &reqwest::Client, url: &str, n: usize, token: &str) -> anyhow::Result<f64> {
    let start = Instant::now();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..n)
        .map(|_| async {
            let res = http.get(url).bearer_auth(token).send().await?;
            anyhow::ensure!(res.status() == 200, "{url} answered {}", res.status());
            res.bytes().await?;
            Ok(())
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<()>>()?;
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// The median of three runs of `load`, to damp the noise of a shared machine.
async fn median_load(
    http: &reqwest::Client,
    url: &str,
    n: usize,
    token: &str,
) -> anyhow::Result<f64> {
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(load(http, url, n, token).await?);
    }
    runs.sort_by(f64::total_cmp);
    Ok(runs[1])
}

/// Creates `n` jobs for `tokens` (round robin); returns nothing, checks 202s.
async fn create(http: &reqwest::Client, api: &str, n: usize, tokens: usize) -> anyhow::Result<()> {
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..n)
        .map(|i| async move {
            let res = http
                .post(format!("{api}/generate?chat=true"))
                .bearer_auth(format!("token-{}", i % tokens))
                .json(&json!({"prompt": format!("look number {i}")}))
                .send()
                .await?;
            anyhow::ensure!(res.status() == 202, "create answered {}", res.status());
            Ok(())
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn vestis_server(workers: usize) -> anyhow::Result<MockServer> {
    let mut config = Config {
        workers,
        seed: Some(1),
        ..Config::default()
    };
    config.faults.processing_time = DurationRange::fixed(Duration::ZERO);
    Ok(MockServer::start(config).await?)
}

/// A completed job as the contract shows it, for the canned baselines.
fn canned_job(base: &str) -> Value {
    json!({
        "job_id": 1, "status": "completed", "job_type": "chat",
        "created_at": "2026-11-28T10:00:00.000Z", "started_at": "2026-11-28T10:00:00.000Z",
        "completed_at": "2026-11-28T10:00:03.000Z", "attempts": 1,
        "result": {"image_url": format!("{base}/images/1.png"),
                   "generated_at": "2026-11-28T10:00:03.000Z", "message": "Image generated successfully"},
        "error": null
    })
}

async fn bare_axum() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let body = canned_job(&base);
    let app = axum::Router::new().route(
        "/api/v1/jobs/{id}",
        axum::routing::get(move || {
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let requests = env_usize("BENCH_REQUESTS", 20_000);
    let stored = env_usize("BENCH_STORED", 100_000);
    let http = reqwest::Client::new();

    // 1. GET one job: vestis vs bare axum vs wiremock.
    let vestis = vestis_server(4).await?;
    let api = vestis.api_url();
    let created: Value = http
        .post(format!("{api}/generate?chat=true"))
        .bearer_auth("bench")
        .json(&json!({"prompt": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let id = created["job_id"].as_u64().unwrap_or(1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let axum_base = bare_axum().await?;
    let wiremock = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path_regex(r"^/api/v1/jobs/\d+$"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(canned_job(&wiremock.uri())),
        )
        .mount(&wiremock)
        .await;

    let warm = requests / 10;
    for url in [
        format!("{axum_base}/api/v1/jobs/1"),
        format!("{}/api/v1/jobs/1", wiremock.uri()),
        format!("{api}/jobs/{id}"),
    ] {
        load(&http, &url, warm, "bench").await?;
    }
    let axum_url = format!("{axum_base}/api/v1/jobs/1");
    let wiremock_url = format!("{}/api/v1/jobs/1", wiremock.uri());
    let vestis_url = format!("{api}/jobs/{id}");
    let axum_rps = median_load(&http, &axum_url, requests, "bench").await?;
    let wiremock_rps = median_load(&http, &wiremock_url, requests, "bench").await?;
    let vestis_rps = median_load(&http, &vestis_url, requests, "bench").await?;

    // 2 and 3. Listing with and without 100 000 other jobs; memory per job.
    let bench_jobs = |http: &reqwest::Client, api: String| {
        let http = http.clone();
        async move {
            // token-0 is the listing token on both servers: 100 jobs.
            create(&http, &api, 100, 1).await
        }
    };
    let empty = vestis_server(4).await?;
    bench_jobs(&http, empty.api_url()).await?;
    let loaded = vestis_server(4).await?;
    bench_jobs(&http, loaded.api_url()).await?;
    let rss_before = support::rss_bytes();
    create(&http, &loaded.api_url(), stored, 1000).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = support::rss_bytes();
    // Listing as token-0: 100 jobs on the empty server, 100 + stored/1000
    // on the loaded one; page 1 of 20 either way.
    let list_url = |api: &str| format!("{api}/jobs?page=1&page_size=20");
    load(&http, &list_url(&empty.api_url()), warm, "token-0").await?;
    load(&http, &list_url(&loaded.api_url()), warm, "token-0").await?;
    let list_empty = median_load(&http, &list_url(&empty.api_url()), requests, "token-0").await?;
    let list_loaded = median_load(&http, &list_url(&loaded.api_url()), requests, "token-0").await?;

    println!("GET /api/v1/jobs/{{id}}, {requests} requests, {CONCURRENCY} concurrent:");
    println!("  bare axum handler (canned JSON)   {axum_rps:>9.0} req/s");
    println!("  wiremock-rs (canned JSON)         {wiremock_rps:>9.0} req/s");
    println!("  vestis-mock-server (real queue)   {vestis_rps:>9.0} req/s");
    println!(
        "  ratios: vestis/axum {:.2}, vestis/wiremock {:.2}",
        vestis_rps / axum_rps,
        vestis_rps / wiremock_rps
    );
    println!("GET /api/v1/jobs?page=1&page_size=20 for a token with 100+ jobs:");
    println!("  server holding only them          {list_empty:>9.0} req/s");
    println!("  server also holding {stored} jobs {list_loaded:>9.0} req/s");
    println!("  ratio loaded/empty {:.2}", list_loaded / list_empty);
    println!(
        "memory: {:.1} MiB for {stored} stored jobs = {:.0} bytes/job (payload ~30 bytes)",
        rss_after.saturating_sub(rss_before) as f64 / 1_048_576.0,
        rss_after.saturating_sub(rss_before) as f64 / stored as f64
    );
    vestis.shutdown().await;
    empty.shutdown().await;
    loaded.shutdown().await;
    Ok(())
}
