//! GET one job and POST /generate on the three servers: throughput at 64
//! connections, server CPU per request, p99 latency. Every run starts a
//! fresh server; the arms take turns.

use std::collections::HashMap;

use vestis_bench::stats::{Table, median, micros, ratio, thousands};
use vestis_bench::wrk::{Load, Report};

use super::{Arm, Suite};

const TOKEN: &str = "bench";
const BODY: &str = r#"{"prompt":"a red dress on a hanger"}"#;

/// One measured wrk run, with the server's CPU time over it.
struct Sample {
    report: Report,
    cpu_us_per_request: f64,
}

/// Medians per arm for one route.
#[derive(Default)]
struct Medians {
    rps: f64,
    cpu_us: f64,
    p99_us: f64,
    /// Answers with another status than expected, summed over the runs.
    unexpected: u64,
    /// Connect/read/write errors and timeouts, summed over the runs.
    socket_errors: u64,
}

fn medians(samples: &[Sample]) -> Medians {
    let pick = |f: &dyn Fn(&Sample) -> f64| median(&samples.iter().map(f).collect::<Vec<_>>());
    Medians {
        rps: pick(&|s| s.report.rps),
        cpu_us: pick(&|s| s.cpu_us_per_request),
        p99_us: pick(&|s| s.report.p99.as_secs_f64() * 1e6),
        unexpected: samples
            .iter()
            .map(|s| s.report.non_2xx.max(s.report.unexpected))
            .sum(),
        socket_errors: samples.iter().map(|s| s.report.socket_errors).sum(),
    }
}

/// Runs `load` against `server` (after a warm-up) and reads its CPU time.
fn measure(
    suite: &Suite,
    server: &vestis_bench::server::Server,
    load: &Load,
) -> anyhow::Result<Sample> {
    suite.warm_up(load)?;
    let before = server.cpu()?;
    let report = load.run()?;
    let cpu = server.cpu()?.saturating_sub(before);
    Ok(Sample {
        cpu_us_per_request: cpu.as_secs_f64() * 1e6 / report.requests.max(1) as f64,
        report,
    })
}

/// A fresh server of `arm` and a GET of one completed job on it.
async fn get_job(suite: &Suite, arm: Arm) -> anyhow::Result<Sample> {
    let server = suite.start(arm, &["--processing-time", "0s"])?;
    let id = match arm {
        Arm::Vestis => {
            let id = suite.create(&server.base, TOKEN).await?;
            suite.completed(&server.base, TOKEN, id).await?;
            id
        }
        _ => 1,
    };
    let url = format!("{}/api/v1/jobs/{id}", server.base);
    measure(suite, &server, &Load::get(&url, TOKEN, suite.duration))
}

/// A fresh server of `arm` and POSTs that must all be `202`. The mock
/// server's store is sized so that no answer is a "store full" 503.
fn post(suite: &Suite, arm: Arm) -> anyhow::Result<Sample> {
    let server = suite.start(arm, &["--max-jobs", "20000000"])?;
    let path = match arm {
        Arm::Vestis => "/api/v1/generate?chat=true",
        _ => "/api/v1/generate",
    };
    let url = format!("{}{path}", server.base);
    measure(
        suite,
        &server,
        &Load::post(&url, TOKEN, suite.duration, BODY, 202),
    )
}

pub(crate) async fn run(suite: &mut Suite) -> anyhow::Result<Table> {
    let mut gets: HashMap<&str, Vec<Sample>> = HashMap::new();
    let mut posts: HashMap<&str, Vec<Sample>> = HashMap::new();
    for run in 0..suite.runs {
        // Interleaved: every arm once per run, the order rotating between runs.
        for k in 0..Arm::ALL.len() {
            let arm = Arm::ALL[(k + run) % Arm::ALL.len()];
            gets.entry(arm.name())
                .or_default()
                .push(get_job(suite, arm).await?);
            posts.entry(arm.name()).or_default().push(post(suite, arm)?);
        }
    }
    let get = |arm: Arm| medians(&gets[arm.name()]);
    let post = |arm: Arm| medians(&posts[arm.name()]);
    let (ga, gw, gv) = (get(Arm::Axum), get(Arm::Wiremock), get(Arm::Vestis));
    let (pa, pw, pv) = (post(Arm::Axum), post(Arm::Wiremock), post(Arm::Vestis));
    for (arm, m, route) in [
        (Arm::Axum, &ga, "GET"),
        (Arm::Wiremock, &gw, "GET"),
        (Arm::Vestis, &gv, "GET"),
        (Arm::Axum, &pa, "POST"),
        (Arm::Wiremock, &pw, "POST"),
        (Arm::Vestis, &pv, "POST"),
    ] {
        // Timeouts on a slow machine are reported, not failed: the checks
        // are that every arm answers, and answers as it should.
        suite.check(m.unexpected == 0 && m.rps > 0.0, || {
            format!(
                "{route} on {}: {} unexpected answers",
                arm.name(),
                m.unexpected
            )
        });
    }
    Ok(table(suite, [&ga, &gw, &gv], [&pa, &pw, &pv]))
}

/// The table of medians: GET and POST, each as (axum, wiremock, vestis).
fn table(suite: &Suite, get_runs: [&Medians; 3], post_runs: [&Medians; 3]) -> Table {
    let us: fn(f64) -> String = micros;
    let mut table = Table::new(
        &format!(
            "HTTP: wrk -t2 -c64, {} s per run, median of {} interleaved runs, a fresh server per run",
            suite.duration.as_secs(),
            suite.runs
        ),
        &[
            "measure",
            "bare axum",
            "wiremock-rs",
            "vestis-mock-server",
            "vestis / axum",
            "vestis / wiremock",
            "target",
        ],
    );
    // Each measure: its three values (axum, wiremock, vestis), how to show them, the target.
    type Show = fn(f64) -> String;
    let pick = |f: fn(&Medians) -> f64, [a, w, v]: [&Medians; 3]| [f(a), f(w), f(v)];
    let measures: [(&str, [f64; 3], Show, &str); 5] = [
        (
            "GET /api/v1/jobs/{id} req/s",
            pick(|m| m.rps, get_runs),
            thousands,
            "≥ 0.80 of axum; > wiremock",
        ),
        (
            "server CPU per GET",
            pick(|m| m.cpu_us, get_runs),
            us,
            "≤ 1.5× axum",
        ),
        (
            "GET p99 latency",
            pick(|m| m.p99_us, get_runs),
            us,
            "≤ 1.5× axum",
        ),
        (
            "POST /api/v1/generate req/s (all 202)",
            pick(|m| m.rps, post_runs),
            thousands,
            "≥ 0.60 of axum",
        ),
        ("server CPU per POST", pick(|m| m.cpu_us, post_runs), us, ""),
    ];
    for (name, [a, w, v], show, target) in measures {
        table.row(vec![
            name.into(),
            show(a),
            show(w),
            show(v),
            ratio(v, a, show),
            ratio(v, w, show),
            target.into(),
        ]);
    }
    let errors = |k: usize| {
        let (g, p) = (get_runs[k], post_runs[k]);
        format!(
            "{} / {}",
            g.unexpected + p.unexpected,
            g.socket_errors + p.socket_errors
        )
    };
    table.row(vec![
        "unexpected statuses / socket errors (all runs, GET + POST)".into(),
        errors(0),
        errors(1),
        errors(2),
        "".into(),
        "".into(),
        "0 / 0".into(),
    ]);
    table
}
