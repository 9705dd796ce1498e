//! `Client::get(id)` against the minimal alternative: a bare reqwest GET and
//! a serde decode into the same `Job` type, on the same URL. The server is
//! the bare axum process, so the client side dominates; requests are
//! sequential on one kept-alive connection; the two arms alternate.

use std::time::{Duration, Instant};

use vestis_bench::stats::{Table, median, micros, ratio};
use vestis_client::{Client, Job, JobId};

use super::{Arm, Suite};

const TOKEN: &str = "bench";

async fn sdk_gets(client: &Client, n: usize) -> anyhow::Result<Duration> {
    let start = Instant::now();
    for _ in 0..n {
        let job = client.get(JobId(1)).await?;
        std::hint::black_box(job);
    }
    Ok(start.elapsed())
}

async fn bare_gets(http: &reqwest::Client, url: &str, n: usize) -> anyhow::Result<Duration> {
    let start = Instant::now();
    for _ in 0..n {
        let job: Job = http
            .get(url)
            .bearer_auth(TOKEN)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        std::hint::black_box(job);
    }
    Ok(start.elapsed())
}

pub(crate) async fn run(suite: &mut Suite) -> anyhow::Result<Table> {
    let server = suite.start(Arm::Axum, &[])?;
    let client = Client::builder()
        .base_url(format!("{}/api/v1", server.base))
        .token(TOKEN)
        .build()?;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/jobs/1", server.base);
    let n = suite.size(5_000, 100);
    let runs = suite.size(7, 1);
    sdk_gets(&client, n / 10).await?;
    bare_gets(&http, &url, n / 10).await?;
    let (mut sdk, mut bare) = (vec![], vec![]);
    let per_request = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    for run in 0..runs {
        if run % 2 == 0 {
            sdk.push(per_request(sdk_gets(&client, n).await?));
            bare.push(per_request(bare_gets(&http, &url, n).await?));
        } else {
            bare.push(per_request(bare_gets(&http, &url, n).await?));
            sdk.push(per_request(sdk_gets(&client, n).await?));
        }
    }
    let (sdk, bare) = (median(&sdk), median(&bare));
    let us = micros;
    let mut table = Table::new(
        &format!(
            "SDK: {n} sequential GETs of one job from the bare axum process, median of {runs} alternating runs"
        ),
        &[
            "measure",
            "Client::get",
            "reqwest + serde",
            "ratio",
            "target",
        ],
    );
    table.row(vec![
        "wall time per GET".into(),
        us(sdk),
        us(bare),
        ratio(sdk, bare, us),
        "≤ 1.10".into(),
    ]);
    Ok(table)
}
