//! Start-up to the first answered request, and resident memory when idle,
//! for each server: a process spawned, `GET /health` sent as soon as it
//! prints its address (the connection waits in the listen backlog until it
//! serves), the answer timed from the spawn.

use std::time::Duration;

use vestis_bench::stats::{Table, median, mib, ratio};

use super::{Arm, Suite};

pub(crate) fn run(suite: &mut Suite) -> anyhow::Result<Table> {
    let runs = suite.size(7, 1);
    let mut startup = [vec![], vec![], vec![]];
    let mut idle = [vec![], vec![], vec![]];
    for run in 0..runs {
        for k in 0..Arm::ALL.len() {
            let i = (k + run) % Arm::ALL.len();
            let server = suite.start(Arm::ALL[i], &[])?;
            startup[i].push(server.first_answer()?.as_secs_f64() * 1e3);
            std::thread::sleep(Duration::from_millis(300));
            idle[i].push(server.rss()? as f64);
        }
    }
    let ms = |v: f64| format!("{v:.1} ms");
    let mib = |v: f64| mib(v);
    let mut table = Table::new(
        &format!(
            "Start-up (spawn to first answered GET /health) and idle RSS, median of {runs} interleaved runs"
        ),
        &[
            "measure",
            "bare axum",
            "wiremock-rs",
            "vestis-mock-server",
            "vestis / axum",
            "target",
        ],
    );
    let [a, w, v] = startup.map(|s| median(&s));
    table.row(vec![
        "start-up to first answer".into(),
        ms(a),
        ms(w),
        ms(v),
        ratio(v, a, ms),
        "≤ 50 ms".into(),
    ]);
    let [a, w, v] = idle.map(|s| median(&s));
    table.row(vec![
        "idle RSS".into(),
        mib(a),
        mib(w),
        mib(v),
        ratio(v, a, mib),
        "≤ 10 MiB".into(),
    ]);
    Ok(table)
}
