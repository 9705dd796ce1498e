//! Create a chat job and wait for its image: the five-line quick start.
//!
//! Runs against the bundled mock server started in-process, so it needs
//! nothing else: `cargo run --example chat`. To use a real backend, drop the
//! mock server and build the client with `Client::from_env()` instead.

use std::time::Duration;

use vestis_client::{ChatRequest, Client, JobKind, WaitOptions};
use vestis_mock_server::{Config, DurationRange, MockServer};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut config = Config::default();
    config.faults.processing_time = DurationRange::fixed(Duration::from_secs(1));
    let server = MockServer::start(config).await?;

    let client = Client::builder()
        .base_url(server.api_url())
        .token("demo")
        .build()?;
    let created = client
        .create(JobKind::Chat, &ChatRequest::new("a linen summer dress"))
        .await?;
    let job = client.wait(created.job_id, &WaitOptions::default()).await?;
    let url = job.result.map(|r| r.image_url).unwrap_or_default();
    println!("job {} completed: {url}", created.job_id);

    server.shutdown().await;
    Ok(())
}
