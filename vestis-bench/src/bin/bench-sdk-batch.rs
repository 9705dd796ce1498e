//! The hand-written SDK program `vestis batch` is measured against: the
//! same rows' jobs created 64 at a time, then `wait_many` over all of
//! them, each completed image downloaded and written to a file, as a
//! person would write it without the CLI (no validation, journal,
//! manifest or resume).
//!
//! `bench-sdk-batch API TOKEN ROWS.jsonl OUT_DIR CONCURRENCY INTERVAL_MS`

use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use vestis_client::{Client, JobKind, PollStrategy, WaitOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [api, token, rows, out, concurrency, interval] = args.as_slice() else {
        anyhow::bail!(
            "usage: bench-sdk-batch API TOKEN ROWS.jsonl OUT_DIR CONCURRENCY INTERVAL_MS"
        );
    };
    let concurrency: usize = concurrency.parse()?;
    let interval = Duration::from_millis(interval.parse()?);
    let client = Client::builder().base_url(api).token(token).build()?;
    let text = std::fs::read_to_string(rows)?;
    let payloads: Vec<serde_json::Value> = text
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line)?;
            Ok(serde_json::json!({"prompt": row["prompt"]}))
        })
        .collect::<anyhow::Result<_>>()?;
    let ids: Vec<_> = futures::stream::iter(&payloads)
        .map(|payload| client.create(JobKind::Legacy, payload))
        .buffer_unordered(concurrency)
        .map(|created| created.map(|c| c.job_id))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let options = WaitOptions::new(PollStrategy::fixed().interval(interval).until_deadline())
        .deadline(Duration::from_secs(3600))
        .max_in_flight(concurrency);
    let out = std::path::Path::new(out);
    std::fs::create_dir_all(out)?;
    let mut done = client.wait_many(ids, &options);
    while let Some((id, result)) = done.next().await {
        let job = result?;
        let url = job.image_url().context("no image")?;
        let bytes = client.download(url).await?;
        std::fs::write(out.join(format!("{id}.png")), bytes)?;
    }
    Ok(())
}
