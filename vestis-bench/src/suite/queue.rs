//! The queue engine alone, no HTTP: create → pickup → complete on one
//! thread (the mock server's own engine, called in this process), with the
//! default `--max-jobs` so that past it every create also evicts.

use vestis_bench::stats::{Table, median, thousands};

use super::Suite;

/// The mock server's default `--max-jobs`.
const MAX_JOBS: usize = 100_000;

pub(crate) fn run(suite: &mut Suite) -> anyhow::Result<Table> {
    let jobs = suite.size(2_000_000, 20_000) as u64;
    let mut rates = Vec::new();
    for _ in 0..suite.runs {
        let (elapsed, completed) = vestis_mock_server::queue_engine_run(jobs, MAX_JOBS);
        suite.check(completed == jobs, || {
            format!("queue engine: {completed} of {jobs} jobs completed")
        });
        rates.push(jobs as f64 / elapsed.as_secs_f64().max(1e-9));
    }
    let rate = median(&rates);
    let mut table = Table::new(
        &format!(
            "Queue engine, no HTTP: {} jobs created, picked up and completed on one thread, \
             --max-jobs {MAX_JOBS}, median of {} runs",
            thousands(jobs as f64),
            suite.runs
        ),
        &["measure", "vestis-mock-server", "target"],
    );
    table.row(vec![
        "jobs per second".into(),
        thousands(rate),
        "≥ 1 000 000".into(),
    ]);
    Ok(table)
}
