//! Listing a page with many other tokens' jobs stored, the memory those
//! jobs take, and memory under endless creates with the default store size.

use std::time::Duration;

use anyhow::bail;
use vestis_bench::server::Server;
use vestis_bench::stats::{Table, median, mib, ratio, thousands};
use vestis_bench::wrk::Load;

use super::{Arm, Suite};

const LISTER: &str = "lister";
/// The listing token's own jobs, on both servers.
const OWN_JOBS: usize = 100;
const BODY: &str = r#"{"prompt":"a red dress"}"#;

/// Creates jobs for `other-0..other-999` with wrk until `base` stores at
/// least `target` jobs. The listing token is not among them.
async fn fill(suite: &Suite, server: &Server, target: u64) -> anyhow::Result<()> {
    let url = format!("{}/api/v1/generate?chat=true", server.base);
    let mut load = Load::post(&url, "other-", suite.duration, BODY, 202);
    load.rotate = Some(1000);
    for _ in 0..200 {
        if suite.stored(&server.base).await? >= target {
            return Ok(());
        }
        let report = load.run()?;
        if report.unexpected > 0 {
            bail!(
                "{} creates were not answered 202 while filling",
                report.unexpected
            );
        }
    }
    bail!("could not store {target} jobs")
}

/// A mock server whose jobs never finish (so the store does not churn), with
/// the listing token's own jobs created.
async fn lister_server(suite: &Suite) -> anyhow::Result<Server> {
    let server = suite.start(
        Arm::Vestis,
        &[
            "--max-jobs",
            "20000000",
            "--processing-time",
            "1h",
            "--workers",
            "1",
        ],
    )?;
    for _ in 0..OWN_JOBS {
        suite.create(&server.base, LISTER).await?;
    }
    Ok(server)
}

pub(crate) async fn run(suite: &mut Suite) -> anyhow::Result<Table> {
    let others = suite.size(1_000_000, 5_000) as u64;
    let axum = suite.start(Arm::Axum, &[])?;
    let empty = lister_server(suite).await?;
    let loaded = lister_server(suite).await?;
    let rss_empty = loaded.rss()?;
    fill(suite, &loaded, others + OWN_JOBS as u64).await?;
    let stored = suite.stored(&loaded.base).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_loaded = loaded.rss()?;

    let page = "/api/v1/jobs?page=1&page_size=20";
    let loads = [
        Load::get(
            &format!("{}/api/v1/jobs/1", axum.base),
            LISTER,
            suite.duration,
        ),
        Load::get(&format!("{}{page}", empty.base), LISTER, suite.duration),
        Load::get(&format!("{}{page}", loaded.base), LISTER, suite.duration),
    ];
    let mut rps = [vec![], vec![], vec![]];
    for run in 0..suite.runs {
        for k in 0..loads.len() {
            let i = (k + run) % loads.len();
            suite.warm_up(&loads[i])?;
            let report = loads[i].run()?;
            suite.check(report.non_2xx == 0 && report.requests > 0, || {
                format!("list load {i}: {} non-2xx answers", report.non_2xx)
            });
            rps[i].push(report.rps);
        }
    }
    let [axum_rps, empty_rps, loaded_rps] = rps.map(|r| median(&r));
    let per_job = (rss_loaded.saturating_sub(rss_empty)) as f64 / (stored as f64 - OWN_JOBS as f64);
    let mut table = Table::new(
        &format!(
            "Listing and memory: {} other tokens' jobs stored, wrk -t2 -c64, median of {} interleaved runs",
            thousands(stored as f64 - OWN_JOBS as f64),
            suite.runs
        ),
        &["measure", "figure", "against", "ratio", "target"],
    );
    table.row(vec![
        "GET /api/v1/jobs?page_size=20, loaded store, req/s".into(),
        thousands(loaded_rps),
        format!("bare axum GET job: {}", thousands(axum_rps)),
        ratio(loaded_rps, axum_rps, thousands),
        "≥ 0.50".into(),
    ]);
    table.row(vec![
        "same page, store holding only the token's 100 jobs, req/s".into(),
        thousands(empty_rps),
        format!("loaded: {}", thousands(loaded_rps)),
        ratio(loaded_rps, empty_rps, thousands),
        "≈ 1.00 (no slowdown)".into(),
    ]);
    table.row(vec![
        format!("server RSS with {} jobs stored", thousands(stored as f64)),
        mib(rss_loaded as f64),
        format!("with 100 jobs: {}", mib(rss_empty as f64)),
        format!("{per_job:.0} bytes per stored job"),
        if suite.smoke {
            "".into()
        } else {
            "≤ 400 MiB at 1 000 000".into()
        },
    ]);
    Ok(table)
}

/// Endless creates on a server with the default `--max-jobs` (100 000) and
/// instant processing, so old finished jobs must be evicted: RSS after each
/// stretch of load.
pub(crate) async fn churn(suite: &mut Suite) -> anyhow::Result<Table> {
    let max_jobs = suite.size(100_000, 1_000).to_string();
    let server = suite.start(
        Arm::Vestis,
        &["--max-jobs", &max_jobs, "--processing-time", "0s"],
    )?;
    let url = format!("{}/api/v1/generate?chat=true", server.base);
    let mut load = Load::post(&url, "churn-", suite.duration, BODY, 202);
    load.rotate = Some(100);
    let mut table = Table::new(
        &format!(
            "Endless creates, --max-jobs {max_jobs}, instant processing: server RSS after each {} s of wrk -c64",
            suite.duration.as_secs()
        ),
        &[
            "after",
            "creates answered",
            "not 202",
            "jobs stored",
            "server RSS",
        ],
    );
    let (mut total, mut refused) = (0, 0);
    for stretch in 1..=suite.size(6, 2) {
        let report = load.run()?;
        total += report.requests;
        refused += report.unexpected;
        table.row(vec![
            format!("{} s", stretch as u64 * suite.duration.as_secs()),
            thousands(total as f64),
            thousands(refused as f64),
            thousands(suite.stored(&server.base).await? as f64),
            mib(server.rss()? as f64),
        ]);
    }
    suite.check(total > 0, || "churn: no create answered".to_owned());
    Ok(table)
}
