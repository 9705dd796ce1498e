//! A flat-lay job waited on with the guide's exponential back-off
//! (1 s, ×1.2, capped at 5 s) and a 2-minute deadline; the PNG is saved.
//!
//! `cargo run --example flatlay_backoff` (uses the in-process mock server).

use std::time::Duration;

use serde_json::json;
use vestis_client::{Client, FlatlayRequest, JobKind, PollStrategy, WaitOptions};
use vestis_mock_server::{Config, DurationRange, MockServer};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut config = Config::default();
    config.faults.processing_time = DurationRange {
        min: Duration::from_secs(2),
        max: Duration::from_secs(4),
    };
    let server = MockServer::start(config).await?;
    let client = Client::builder()
        .base_url(server.api_url())
        .token("demo")
        .build()?;

    let request = FlatlayRequest::new(
        "1",
        "2",
        vec![json!({"sku": "TEE-01"}), json!({"sku": "JEANS-7"})],
    );
    let created = client.create(JobKind::Flatlay, &request).await?;
    let options = WaitOptions::new(PollStrategy::backoff()).deadline(Duration::from_secs(120));
    let job = client.wait(created.job_id, &options).await?;

    if let Some(result) = &job.result {
        let png = client.download(&result.image_url).await?;
        let path = std::env::temp_dir().join(format!("flatlay-{}.png", job.job_id));
        std::fs::write(&path, &png)?;
        println!("saved {} bytes to {}", png.len(), path.display());
    }
    server.shutdown().await;
    Ok(())
}
