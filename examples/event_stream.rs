//! Watch a job's wait as a stream of events: every poll, each status
//! change, retries with their delay and cause, and the final outcome.
//!
//! `cargo run --example event_stream` (uses the in-process mock server,
//! with random 503s injected so retries show up).

use std::time::Duration;

use futures::StreamExt;
use vestis_client::{ChatRequest, Client, JobKind, WaitEvent, WaitOptions};
use vestis_mock_server::{Config, DurationRange, MockServer};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut config = Config::default();
    config.faults.processing_time = DurationRange::fixed(Duration::from_secs(3));
    config.faults.http_error_rate = 0.3;
    config.seed = Some(7);
    let server = MockServer::start(config).await?;
    let client = Client::builder()
        .base_url(server.api_url())
        .token("demo")
        .build()?;

    let created = client
        .create(JobKind::Chat, &ChatRequest::new("a wool coat"))
        .await?;
    let mut events = client.wait_stream(created.job_id, &WaitOptions::default());
    while let Some(event) = events.next().await {
        match event {
            WaitEvent::Polled { poll, elapsed, job } => {
                println!("poll {poll} after {elapsed:.1?}: {}", job.status)
            }
            WaitEvent::StatusChanged { job, previous } => {
                println!(
                    "status {} -> {}",
                    previous.map(|p| p.to_string()).unwrap_or("-".into()),
                    job.status
                )
            }
            WaitEvent::RetryScheduled { delay, cause, .. } => {
                println!("retry in {delay:?}: {cause}")
            }
            WaitEvent::Finished(result) => match result {
                Ok(job) => println!(
                    "done: {}",
                    job.result.map(|r| r.image_url).unwrap_or_default()
                ),
                Err(e) => println!("not done: {e}"),
            },
            _ => {}
        }
    }
    server.shutdown().await;
    Ok(())
}
