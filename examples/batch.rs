//! A batch: create 50 jobs and wait on all of them at once, with at most 8
//! polls in flight; outcomes arrive as each job finishes.
//!
//! `cargo run --example batch` (uses the in-process mock server, where
//! one attempt in five fails so some jobs end failed).

use std::time::Duration;

use futures::StreamExt;
use vestis_client::{ChatRequest, Client, Error, JobKind, PollStrategy, WaitOptions};
use vestis_mock_server::{Config, DurationRange, MockServer};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut config = Config {
        workers: 16,
        ..Config::default()
    };
    config.faults.processing_time = DurationRange {
        min: Duration::from_millis(500),
        max: Duration::from_secs(2),
    };
    config.faults.failure_rate = 0.2;
    config.faults.max_attempts = 1;
    let server = MockServer::start(config).await?;
    let client = Client::builder()
        .base_url(server.api_url())
        .token("demo")
        .build()?;

    let mut ids = Vec::new();
    for i in 0..50 {
        let req = ChatRequest::new(format!("look #{i}"));
        ids.push(client.create(JobKind::Chat, &req).await?.job_id);
    }
    let options = WaitOptions::new(PollStrategy::fixed().interval(Duration::from_millis(500)))
        .max_in_flight(8);
    let (mut completed, mut failed) = (0, 0);
    let mut outcomes = client.wait_many(ids, &options);
    while let Some((id, result)) = outcomes.next().await {
        match result {
            Ok(_) => completed += 1,
            Err(Error::JobFailed(job)) => {
                failed += 1;
                println!("job {id} failed: {}", job.error.unwrap_or_default());
            }
            Err(e) => return Err(e.into()),
        }
    }
    println!("{completed} completed, {failed} failed");
    server.shutdown().await;
    Ok(())
}
